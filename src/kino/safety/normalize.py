"""Prompt normalisation that undoes common obfuscation before lexical matching.

``normalize(prompt)`` returns ``Views``: the cleaned text and several token streams over it.

1. ``clean``: drop zero-width and other invisible characters, NFKC (fullwidth, mathematical
   alphanumerics, circled letters), map homoglyphs (Cyrillic, Greek, small capitals, ...) to
   Latin, casefold, strip accents, and join letters written apart ("k i l l", "k.i.l.l",
   "k-i-l-l" -> "kill").
2. ``tokens``: the plain word view; punctuation separates words, digits are kept
   ("12 year old" stays), "*" is kept inside a word as a masked letter ("s*x").
3. leet views: words that mix letters with leet characters ("k1ll", "$ex", "p0rn") rewritten
   to letters; one view reads "1" and "|" as "i", the other as "l".
4. ``collapsed``: each run of spaced-out letters joined without spaces ("s e x y t e e n" ->
   "sexyteen"), searched for terms inside it. Only these runs are searched by substring, so
   ordinary words ("Essex", "therapist") never produce hits inside themselves.
5. ``native``: the words of every script, for the Russian, Arabic, Chinese and Japanese terms.
   The views above map Cyrillic and Greek look-alikes to Latin ("kіll" with a Cyrillic "і" is
   "kill") and keep only Latin letters and digits, so a Russian word there is Latin debris.
   ``native`` is cleaned the same way except that Cyrillic and Greek letters stay themselves,
   so "убить" is still "убить"; the two readings are matched separately, and a prompt is judged
   on both (an obfuscated English word and a real Russian one are each found in their view).
   Arabic is read without its optional marks (harakat, tatweel; hamza forms and alef maqsura
   folded), as Arabic writers often leave them out. Chinese and Japanese have no spaces between
   words, so each Han, Hiragana or Katakana character is a token of its own: a CJK term is
   matched as a phrase of characters, which is a substring search within CJK text only.

Repeated letters ("killlll") and misspellings are handled at match time (``lexicon``), where
the vocabulary of terms is known.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Characters that render as nothing (or almost nothing) and are used to split words invisibly.
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x200B, 0x200C, 0x200D, 0x200E,
     0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0x206A,
     0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0xFE00, 0xFE10))  # variation selectors
    + list(range(0xE0000, 0xE0080)),  # tag characters
    None,
)

# Look-alikes that NFKC leaves alone. Capitals are mapped before casefolding because Greek
# "Η" looks like H while its lowercase "η" looks like n.
_HOMOGLYPHS = {
    # Cyrillic capitals and lowercase
    "А": "A", "В": "B", "Е": "E", "Ё": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ї": "I", "Ј": "J", "Ԛ": "Q", "Ԝ": "W", "Ү": "Y",
    "Һ": "H", "Ӏ": "I", "Ь": "b", "З": "3", "Д": "D", "Л": "N", "П": "N", "Г": "r", "Ш": "W", "Щ": "W",
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԛ": "q", "ԝ": "w", "ү": "y",
    "һ": "h", "ӏ": "l", "ԁ": "d", "ь": "b", "ъ": "b", "г": "r", "п": "n", "л": "n", "д": "d", "ш": "w",
    "щ": "w", "з": "3", "ч": "4", "ц": "u", "и": "u", "й": "u", "я": "r", "э": "e", "ɡ": "g",
    # Greek capitals and lowercase
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ϲ": "C", "Ϳ": "J",
    "α": "a", "β": "b", "γ": "y", "δ": "d", "ε": "e", "ζ": "z", "η": "n", "ι": "i", "κ": "k", "μ": "u",
    "ν": "v", "ο": "o", "π": "n", "ρ": "p", "σ": "o", "ς": "s", "τ": "t", "υ": "u", "χ": "x", "ω": "w",
    "ϲ": "c", "ϳ": "j", "ϐ": "b", "ϱ": "p",
    # Latin letters NFKD does not decompose, and IPA / small capitals
    "ı": "i", "ȷ": "j", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ħ": "h", "ŧ": "t",
    "ð": "d", "þ": "th", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ŋ": "n", "ɑ": "a", "ɩ": "i",
    "ɪ": "i", "ɛ": "e", "ɔ": "o", "ʋ": "u", "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ғ": "f",
    "ɢ": "g", "ʜ": "h", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n", "ᴏ": "o", "ᴘ": "p", "ʀ": "r",
    "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
}
# Squared, negative circled/squared and regional-indicator letters: A..Z blocks NFKC keeps.
for _start in (0x1F130, 0x1F150, 0x1F170, 0x1F1E6):
    for _i in range(26):
        _HOMOGLYPHS[chr(_start + _i)] = chr(ord("a") + _i)
_HOMOGLYPH_TABLE = str.maketrans(_HOMOGLYPHS)
# The same without Cyrillic and Greek letters, for the view that reads Russian as Russian.
_LATIN_HOMOGLYPH_TABLE = str.maketrans({
    k: v for k, v in _HOMOGLYPHS.items() if not unicodedata.name(k, "").startswith(("CYRILLIC", "GREEK"))
})
# Cyrillic and Greek letters that look like no Latin letter: a word holding one is no disguise.
_TELLING = frozenset(
    c for c in map(chr, range(0x370, 0x530))
    if unicodedata.name(c, "").startswith(("CYRILLIC", "GREEK")) and c.isalpha() and c not in _HOMOGLYPHS
)
_WORD = re.compile(r"[^\W\d_]+")
# Arabic letters written several ways: alef maqsura as ya, ta marbuta as ha; tatweel (the
# elongation stroke) is dropped. Hamza forms lose their hamza with the other marks (NFKD).
_ARABIC_FOLD = str.maketrans({"ى": "ي", "ة": "ه", "\u0640": None})
# The Japanese voicing marks, which NFKD splits off kana and which change the word ("か"/"が").
_KANA_MARKS = frozenset("\u3099\u309a")
_CJK = "\u3005\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NATIVE_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:\*+[^\W_{_CJK}]+)*\**")
_CJK_CHAR = re.compile(rf"[{_CJK}]")

# Leet characters and what they stand for; "1" and "|" are ambiguous (i or l).
_LEET = {"0": "o", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b", "9": "g",
         "@": "a", "$": "s", "!": "i", "+": "t", "€": "e"}
_LEET_CHARS = set(_LEET) | {"1", "|"}

# Separators used to write a word one letter at a time.
_SEP = r"[\s.\-_*·•|/\\,~+'\"`:;]+"
# Three or more single characters, each pair split by the same separator: "k i l l", "s.e.x",
# "k-i-l-l". The same separator throughout keeps "s*l*i*t*s a woman" from swallowing the "a".
_SPACED_RUN = re.compile(
    rf"(?<![a-z0-9@$])[a-z0-9@$](?P<sep>{_SEP})(?:[a-z0-9@$](?P=sep))+[a-z0-9@$](?![a-z0-9@$])"
)
_POSSESSIVE = re.compile(r"(?<=[a-z])['’]s\b")
_LEET_WORD = re.compile(r"[a-z0-9@$!|+€]+")
_TOKEN = re.compile(r"[a-z0-9]+(?:\*+[a-z0-9]+)*\**")


@dataclass(frozen=True)
class Views:
    """What the matcher reads: ``token_views[0]`` is the plain view, later ones are leet views."""

    text: str
    token_views: tuple[tuple[str, ...], ...]
    collapsed: tuple[str, ...]
    native_text: str = ""
    native: tuple[str, ...] = ()

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.token_views[0]


def visible(text: str) -> str:
    """``text`` as a person sees it, for every check and for storing: invisible (format) and control
    characters out, newlines and tabs kept, the ends stripped. A prompt of zero-width spaces is empty."""
    text = text.translate(_INVISIBLE)
    text = "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co"))
    return text.strip()


def clean(text: str, scripts: bool = False) -> str:
    """Invisible characters out, NFKC, homoglyphs to Latin, casefold, accents off.

    ``scripts=True`` keeps Cyrillic and Greek letters (other look-alikes are still mapped) and
    folds Arabic spellings: the text of the ``native`` view.
    """
    text = text.translate(_INVISIBLE)
    text = unicodedata.normalize("NFKC", text)
    if scripts:
        text = text.translate(_LATIN_HOMOGLYPH_TABLE).casefold().translate(_LATIN_HOMOGLYPH_TABLE)
    else:
        text = _WORD.sub(_latin_lookalikes, text).casefold()
    text = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c) or c in _KANA_MARKS
    )
    text = unicodedata.normalize("NFC", text)  # kana with their voicing marks again
    if scripts:
        text = text.translate(_ARABIC_FOLD)
    return _POSSESSIVE.sub("", text)


def _latin_lookalikes(m: re.Match) -> str:
    """A word with its look-alikes read as Latin ("kіll" with a Cyrillic "і" is "kill"), unless it
    is a Russian or Greek word: one with a letter that looks like no Latin letter ("Симба" has
    "б") and no Latin letter. Mapped, such a word leaves Latin debris ("cum", "a") in the Latin
    views; the native view reads it as the word it is."""
    word = m.group(0)
    if any(c in _TELLING for c in word) and not any("a" <= c <= "z" for c in word.casefold()):
        return word
    return word.translate(_HOMOGLYPH_TABLE).casefold().translate(_HOMOGLYPH_TABLE)


def join_spaced(text: str) -> tuple[str, list[str]]:
    """Join letters written apart; returns the new text and the joined runs.

    A leading article stays a word ("a s e x" -> "a sex"); the run list keeps both readings.
    """
    runs: list[str] = []

    def join(m: re.Match) -> str:
        run = re.sub(_SEP, "", m.group(0))
        if run.isdigit():  # "3 2 1" is a count, not a word
            return m.group(0)
        runs.append(run)
        if run[0] in "ai" and len(run) > 3 and m.group(0)[1].isspace():
            runs.append(run[1:])
            return f"{run[0]} {run[1:]}"
        return run

    return _SPACED_RUN.sub(join, text), runs


def tokens(text: str) -> tuple[str, ...]:
    """Plain word view: lowercase alphanumeric words, "*" kept inside a word as a mask."""
    return tuple(t for t in _TOKEN.findall(text) if t.strip("*"))


def native_tokens(text: str) -> tuple[str, ...]:
    """Words of any script, each CJK character a word of its own ("一只猫" -> "一", "只", "猫")."""
    return tuple(t for t in _NATIVE_TOKEN.findall(text) if t.strip("*"))


def is_cjk(token: str) -> bool:
    return bool(_CJK_CHAR.match(token))


def deleet(text: str, one: str = "i") -> str:
    """Rewrite words that mix letters and leet characters ("k1ll" -> "kill"); others unchanged."""

    def fix(m: re.Match) -> str:
        word = m.group(0)
        core = word.rstrip("!|")  # sentence punctuation, not a letter
        if not any(c.isalpha() for c in core) or not any(c in _LEET_CHARS for c in core):
            return word
        return "".join(one if c in "1|" else _LEET.get(c, c) for c in core) + word[len(core):]

    return _LEET_WORD.sub(fix, text)


def squeeze(word: str, keep: int = 1) -> str:
    """Collapse runs of one letter to at most ``keep`` ("killlll" -> "kil" or "kill")."""
    return re.sub(r"(.)\1+", lambda m: m.group(1) * min(keep, len(m.group(0))), word)


def _view(text: str, one: str | None) -> tuple[tuple[str, ...], list[str]]:
    if one is not None:
        text = deleet(text, one)
    joined, runs = join_spaced(text)
    if one is not None:  # again, now that "s 3 x" has become one word
        joined, runs = deleet(joined, one), [deleet(r, one) for r in runs]
    return tokens(joined), runs


def normalize(prompt: str) -> Views:
    text = clean(prompt)
    joined, _ = join_spaced(text)
    views: list[tuple[str, ...]] = []
    runs: list[str] = []
    for one in (None, "i", "l"):
        view, view_runs = _view(text, one)
        if view not in views:
            views.append(view)
        runs += view_runs
    native_text = clean(prompt, scripts=True)
    return Views(
        text=joined,
        token_views=tuple(views),
        collapsed=tuple(dict.fromkeys(runs)),
        native_text=native_text,
        native=native_tokens(native_text),
    )
