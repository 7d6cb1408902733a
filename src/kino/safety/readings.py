"""What the prompt classifier reads: every way a prompt may be meant, each in its own script.

``readings(prompt) -> list[str]``, the prompt first, duplicates dropped:

1. decodings: the prompt as written, its shots joined without their markers (in any of the nine
   languages: "Shot 2:", "Cena 2:", "镜头2：", "シーン2："), reversed (whole, and the part after an
   instruction such as "read this backwards:"), in ROT13, and each run of base64 decoded as UTF-8
   (``decodings``, which the lexicon reads too); base64 of Chinese or Russian decodes to Chinese or Russian;
2. ``repair``: look-alike letters mapped into the script of the word they sit in (a Latin "o" in
   a Russian word becomes Cyrillic, a Cyrillic "е" in an English word Latin), leet characters read
   as letters of that script ("k1ll", "тр@мплин@"), and letters written apart joined ("g o r e",
   "毛 泽 东", "H o m e m  d e  F e r r o"); accents and case are kept, since the encoder reads them;
3. pieces: each reading whole, and each of its sentences and shots, so a request buried in a
   long benign prompt is read on its own.
Readings are additive: a prompt is judged by its most harmful piece, so a reading that is
gibberish (ROT13 of plain words) only has to look harmless to the classifier, which it learns
from benign prompts read the same way.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

from kino.safety.normalize import visible

MAX_PIECES = 48  # per prompt: the whole readings first, then sentences

_CJK = "\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# "Shot 1:", "Cena 2 :", "Szene 3:", "Сцена 1:", "المشهد 2:", and the CJK words for a shot.
SHOT_MARKER = re.compile(
    rf"(?:(?<![^\W\d_])[^\W\d_{_CJK}]{{3,14}}|镜头|鏡頭|场景|場景|分镜|シーン|カット|ショット)\s?\d{{1,2}}\s?[:：.)]"
)
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；])\s+|(?<=[。！？；])|\n+")
_INSTRUCTION = re.compile(r"^[^:：]{3,80}[:：]\s*")  # "read this backwards and render it: "
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{12,}={0,2}")

# Latin letters that look like Cyrillic ones, and the reverse: a word is written in the script
# of its other letters ("бoмбy" is Russian, "seхo" Portuguese).
_LATIN_TO_CYRILLIC = dict(zip("aceopxykmhtbABCEHKMOPTXY", "асеорхукмнтвАВСЕНКМОРТХУ"))
_CYRILLIC_TO_LATIN = {c: l for l, c in _LATIN_TO_CYRILLIC.items()}
_CYRILLIC_TO_LATIN.update({"і": "i", "ѕ": "s", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "І": "I",
                           "Ѕ": "S", "Ј": "J", "ӏ": "l"})
_GREEK_TO_LATIN = dict(zip("αβεικνορτυχΑΒΕΖΗΙΚΜΝΟΡΤΥΧ", "abeiknoptuxABEZHIKMNOPTYX"))
_LEET_LATIN = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
_LEET_CYRILLIC = {"0": "о", "3": "е", "4": "а", "6": "б", "@": "а", "$": "с"}
_WORD = re.compile(r"[\w@$!|]+")
_NUMBER_WITH_UNIT = re.compile(r"^\d+[^\W\d_]{0,4}$")  # "4k", "1080p", "24fps", "3D": not leet
_BASE64_LIKE = re.compile(r"^(?=.*\d)(?=.*[A-Z])[A-Za-z0-9+/]{12,}$")
_SPACED = re.compile(r"(?<!\S)(?:[^\W_](?P<sep>[ .\-_*·]))(?:[^\W_](?P=sep)){2,}[^\W_](?!\S)")
_LETTERS_APART = re.compile(r"(?<!\S)[^\W_](?: [^\W_])+(?!\S)")  # "H o m e m  d e  F e r r o"
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])[ \u3000]+(?=[{_CJK}])")


def script(ch: str) -> str:
    """"latin", "cyrillic", "greek" or "" for a letter; "" for anything else."""
    if not ch.isalpha():
        return ""
    name = unicodedata.name(ch, "")
    for s in ("LATIN", "CYRILLIC", "GREEK"):
        if name.startswith(s):
            return s.lower()
    return ""


def _word_script(word: str, default: str) -> str:
    """The script of a word's letters that have no look-alike in the other script; else ``default``."""
    telling = [script(c) for c in word if c not in _LATIN_TO_CYRILLIC and c not in _CYRILLIC_TO_LATIN
               and c not in _GREEK_TO_LATIN]
    telling = [s for s in telling if s]
    if telling:
        return max(set(telling), key=telling.count)
    scripts = [script(c) for c in word if script(c)]
    return max(set(scripts), key=scripts.count) if scripts and default not in scripts else default


def _repair_word(word: str, default: str) -> str:
    letters = sum(c.isalpha() for c in word)
    if letters == 0 or _BASE64_LIKE.match(word) or any(c.isalpha() and not script(c) for c in word):
        return word  # numbers, base64 runs (decoded elsewhere), Arabic and CJK words as they are
    target = _word_script(word, default)
    if target == "cyrillic":
        table, leet = _LATIN_TO_CYRILLIC, _LEET_CYRILLIC
    else:
        table, leet = {**_CYRILLIC_TO_LATIN, **_GREEK_TO_LATIN}, _LEET_LATIN
    if target == "greek":
        return word
    if letters < 2 or _NUMBER_WITH_UNIT.match(word):
        leet = {}
    core = word.rstrip("!|")  # sentence punctuation, not a letter
    return "".join(table.get(c, leet.get(c, c)) for c in core) + word[len(core):]


def repair(text: str) -> str:
    """Look-alikes into each word's script, leet read as letters, spaced-out letters joined."""
    text = unicodedata.normalize("NFKC", text)
    text = _CJK_GAP.sub("", text)
    if "  " in text:  # letters one space apart, words two: "d e" is a word too
        text = _LETTERS_APART.sub(lambda m: m.group(0).replace(" ", "") if "  " in text[max(0, m.start() - 2):m.end() + 2]
                                  else m.group(0), text)
    text = _SPACED.sub(lambda m: re.sub(re.escape(m.group("sep")), "", m.group(0)), text)
    scripts = [script(c) for c in text if script(c)]
    default = "cyrillic" if scripts.count("cyrillic") > scripts.count("latin") else "latin"
    return _WORD.sub(lambda m: _repair_word(m.group(0), default), text)


def decodings(prompt: str) -> list[tuple[str, str]]:
    """What an obfuscator may hide in ``prompt``, each as (how it was read, text): its shots joined
    without their markers, reversed and in ROT13 (whole, and the part after an instruction), and
    each run of base64 decoded as UTF-8 when that gives printable text."""
    out = []
    joined = SHOT_MARKER.sub(" ", prompt)
    if joined != prompt:
        out.append(("across its shots", joined))
    out += [("reversed", prompt[::-1]), ("in ROT13", codecs.encode(prompt, "rot13"))]
    tail = _INSTRUCTION.sub("", prompt, count=1)
    if tail != prompt and tail:
        out += [("reversed", tail[::-1]), ("in ROT13", codecs.encode(tail, "rot13"))]
    for m in _BASE64_RUN.finditer(prompt):
        run = m.group(0)
        try:
            text = base64.b64decode(run + "=" * (-len(run) % 4), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            continue
        if text and sum(c.isprintable() for c in text) >= 0.9 * len(text):
            out.append(("in base64", text))
    return out


def decoded(prompt: str) -> list[str]:
    """The prompt and what an obfuscator may hide in it (``decodings``)."""
    return [prompt] + [text for _, text in decodings(prompt)]


def sentences(text: str) -> list[str]:
    """The sentences and shots of a text, markers taken out."""
    parts = [p for chunk in SHOT_MARKER.split(text) for p in _SENTENCE_END.split(chunk)]
    return [p.strip(" ,:;-") for p in parts if p and len(p.strip(" ,:;-")) > 1]


def readings(prompt: str) -> list[str]:
    """Every text the classifier scores for ``prompt``: whole readings first, then their sentences."""
    prompt = visible(prompt)
    wholes: list[str] = []
    for text in decoded(prompt):
        for t in (text, repair(text)):
            t = " ".join(t.split())
            if t and t not in wholes:
                wholes.append(t)
    out = list(wholes)
    for whole in wholes:
        parts = sentences(whole)
        if len(parts) > 1:
            out += [p for p in parts if p not in out]
    return out[:MAX_PIECES] or [""]
