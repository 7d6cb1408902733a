"""Curated term lists (``data/``) compiled into a phrase index with tolerant token matching.

Every data file holds one entry per line; ``#`` starts a comment line. An entry is a word or a
phrase, optionally with brace alternatives (``kill {himself|herself}``). A leading ``~`` marks
an ambiguous entry that weighs 0.5: it needs a second signal before a prompt is refused. In
``public_figures.txt`` and ``ip_characters.txt`` a line is ``Canonical name | alias | ~alias``
and every match reports the canonical name.

A prompt token matches a term token when it is equal to it, or after
1. inflection: "kills", "killed", "killing" -> "kill";
2. repeated letters: "killlll", "kiiill" -> "kill";
3. a masked letter: "s*x" -> "sex" (only if exactly one term fits);
4. a misspelling: optimal-string-alignment distance 1 (hand-written, no dependency) from the
   term or a regular inflection of it, keeping the first letter (Latin words only). Ordinary words
   (``common_words*.txt``) are never corrected, so "nodes" stays "nodes". A misspelt word of
   5-6 letters only counts inside a phrase whose other words match ("Tayler Swift"), or when
   two letters are swapped ("rapign"); alone it must have 7 letters ("beheeding"), because
   names and foreign words sit one edit from short terms ("Behdad"/"behead", "Mulder"/"murder").
5. a stem: a term token written with a trailing ``*`` ("убий*") matches every word that starts
   with it, for languages that inflect the end of a word (Russian cases, Portuguese verb forms);
6. Arabic clitics: "and", "the", "with", "for" are written onto the word ("والاطفال" = "and the
   children"), so a word is also read without them, and a verb without its person prefix and
   suffix ("يمارسان" -> "مارس"), matching the past-tense form listed;
7. names: a Russian name in any case ("Путину", "Илоном Маском") and a Spanish or Portuguese
   diminutive of a name ("Shakirita", "Neymarzinho") match the name as listed.
Terms are tokenized like the ``native`` view (``normalize``): Russian stays Cyrillic, and each
Chinese or Japanese character is a token, so a CJK term is a phrase of characters.
Phrases are matched greedily, longest first, so "suicide bomber" wins over "suicide" and the
allow-list ("kill the engine", "shooting star") consumes its words before any term sees them.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kino.safety.normalize import clean, native_tokens, squeeze

DATA_DIR = Path(__file__).parent / "data"

# In priority order: when several categories fire, the first one is reported.
CATEGORIES = (
    "sexual_minors",
    "terrorism_extremism",
    "hate",
    "self_harm",
    "violence_extreme",
    "sexual",
    "celebrity_likeness",
    "ip_character",
)
ALLOW = "allow"
STRONG, WEAK = 1.0, 0.5
EXACT, VARIANT, FUZZY = 0, 1, 10  # token match costs; a phrase may hold at most one FUZZY token
_END = ""  # trie key holding the entries of a phrase that ends at this node
_MIN_FUZZY = 5  # a misspelt word in a phrase
_MIN_FUZZY_WORD = 7  # a misspelt word on its own, unless the mistake is two swapped letters
NAME_LABELS = frozenset({"celebrity_likeness", "ip_character"})
_ALT_CACHE_SIZE = 100_000
_FIELD_BAR = re.compile(r"\|(?![^{}]*\})")  # a bar between aliases, not inside "{a|b}"
_MIN_STEM = 3  # letters before the "*" of a stem term
_FROM = re.compile(r" from ")
# Arabic clitics written onto the word, longest first: conjunctions, prepositions and the article.
_ARABIC_PREFIXES = ("وبال", "وال", "فال", "بال", "كال", "لل", "ال", "و", "ف", "ب", "ل", "ك")
_ARABIC_SUFFIXES = ("هما", "هم", "هن", "ها", "ه", "ون", "ين", "ات", "ان", "وا")
_ARABIC_VERB_PREFIXES = ("وي", "وت", "ي", "ت", "ن")  # the present tense: "يقطع", "تعذب" -> "قطع", "عذب"
# Russian case endings of nouns and names, longest first ("Путину", "Илоном Маском" -> "путин", "илон маск").
_RUSSIAN_CASE_ENDINGS = ("ами", "ями", "ого", "его", "ому", "ему", "ой", "ей", "ом", "ем", "ым", "им", "ую", "ю",
                         "а", "я", "у", "е", "ы", "и")
# Spanish and Portuguese diminutives of names ("Shakirita", "Neymarzinho", "Anittinha").
_DIMINUTIVES = ("zinho", "zinha", "inho", "inha", "cito", "cita", "ito", "ita")
_MIN_NAME_STEM = 4  # letters left before a diminutive ("bonito" is no diminutive of Bono)


@dataclass(frozen=True)
class Entry:
    """One meaning of a phrase: a category, a context set ("minor", "human", ...) or "allow"."""

    label: str
    canonical: str
    weight: float
    phrase: str = ""  # the alias as written, when it differs from the canonical name


@dataclass(frozen=True)
class Match:
    """An entry found at tokens[start:end]; start is -1 for hits inside a spaced-out run."""

    entry: Entry
    start: int
    end: int
    fuzzy: bool = False


def expand(pattern: str) -> list[str]:
    """Brace alternatives: "kill {him|her}self" -> ["kill himself", "kill herself"]."""
    parts = re.split(r"\{([^{}]*)\}", pattern)
    choices = [[p] if i % 2 == 0 else p.split("|") for i, p in enumerate(parts)]
    return [re.sub(r"\s+", " ", "".join(c)).strip() for c in itertools.product(*choices)]


def read_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def parse_terms(path: Path, label: str) -> list[tuple[str, Entry]]:
    """A term list: one phrase per line; ``~`` marks a weak (ambiguous) term."""
    out = []
    for line in read_lines(path):
        weight = WEAK if line.startswith("~") else STRONG
        for phrase in expand(line.lstrip("~").strip()):
            out.append((phrase, Entry(label, phrase, weight)))
    return out


def parse_names(path: Path, label: str) -> list[tuple[str, Entry]]:
    """A name list: ``Canonical | alias | ~weak alias`` per line; matches report the canonical.
    An alias may have brace alternatives too ("Лавров{|а|у|ым|е}", Russian case endings), and an
    alias with "from" is also read with the word for it in French, Spanish, Portuguese and German
    ("Elsa from Frozen", "Elsa de Frozen", "Elsa aus Frozen")."""
    out = []
    for line in read_lines(path):
        fields = [f.strip() for f in _FIELD_BAR.split(line) if f.strip()]
        canonical = fields[0].lstrip("~").strip()
        for field in fields:
            weight = WEAK if field.startswith("~") else STRONG
            alias = _FROM.sub(" {from|de|du|da|do|aus|von} ", field.lstrip("~").strip())
            for phrase in expand(alias):
                out.append((phrase, Entry(label, canonical, weight, phrase)))
    return out


def osa_at_most_one(a: str, b: str) -> bool:
    """Optimal string alignment distance <= 1 (one substitution, insertion, deletion or swap)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    i = 0
    while i < min(la, lb) and a[i] == b[i]:
        i += 1
    if la == lb:
        if a[i + 1:] == b[i + 1:]:
            return True
        return i + 1 < la and a[i] == b[i + 1] and a[i + 1] == b[i] and a[i + 2:] == b[i + 2:]
    return a[i + 1:] == b[i:] if la > lb else a[i:] == b[i + 1:]


def inflections(word: str) -> set[str]:
    """Regular English inflections of a term token ("plow" -> "plows", "plowed", "plowing");
    an already inflected token ("plows") is inflected from its stems."""
    if word.endswith(("s", "ed", "ing")):
        return set().union(*(_inflect(stem) for stem in lemmas(word))) if len(word) > 4 else set()
    return _inflect(word)


def _inflect(word: str) -> set[str]:
    out = {word + "s", word + "es", word + "ed", word + "ing"}
    if word.endswith("e"):
        out |= {word + "d", word[:-1] + "ing"}
    if len(word) >= 3 and word[-1] not in "aeiouwxy" and word[-2] in "aeiou" and word[-3] not in "aeiou":
        out |= {word + word[-1] + "ed", word + word[-1] + "ing"}  # "stab" -> "stabbed"
    return out


def _is_swap(a: str, b: str) -> bool:
    """Do a and b differ by two adjacent letters swapped ("rapign" / "raping")?"""
    if len(a) != len(b) or a == b:
        return False
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]


def lemmas(word: str) -> set[str]:
    """Crude English inflection stripping; callers keep only forms that are term tokens."""
    out = set()
    if len(word) < 4:
        return out
    if word.endswith("ies"):
        out.add(word[:-3] + "y")
    if word.endswith("es"):
        out |= {word[:-2], word[:-1]}
    elif word.endswith("s") and not word.endswith("ss"):
        out.add(word[:-1])
    for suffix in ("ed", "ing"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            out |= {stem, stem + "e"}
            if len(stem) > 3 and stem[-1] == stem[-2]:
                out.add(stem[:-1])  # "stabbed" -> "stab"
    if word.endswith("ly"):
        out.add(word[:-2])
    return out


def arabic_forms(word: str) -> set[str]:
    """An Arabic word without its clitics ("والاطفال" -> "اطفال", "قتلها" -> "قتل"); callers keep
    only forms that are term tokens. Two letters of the word always remain."""
    if not ("\u0621" <= word[:1] <= "\u064a"):
        return set()
    stems = {word} | {word[len(p):] for p in _ARABIC_PREFIXES if word.startswith(p) and len(word) - len(p) >= 2}
    stems |= {word[len(p):] for p in _ARABIC_VERB_PREFIXES if word.startswith(p) and len(word) - len(p) >= 3}
    out = set(stems)
    for stem in stems:
        out |= {stem[: -len(x)] for x in _ARABIC_SUFFIXES if stem.endswith(x) and len(stem) - len(x) >= 2}
    out.discard(word)
    return out


def name_forms(word: str) -> set[str]:
    """A name without its Russian case ending or its Spanish or Portuguese diminutive ("путину" ->
    "путин", "shakirita" -> "shakira"); callers keep only forms that are name tokens."""
    out = set()
    if "\u0430" <= word[:1] <= "\u044f":
        for end in _RUSSIAN_CASE_ENDINGS:
            if word.endswith(end) and len(word) - len(end) >= 3:
                stem = word[: -len(end)]
                out |= {stem, stem + "а", stem + "я"}  # feminine names: "Анну" -> "анна"
    for end in _DIMINUTIVES:
        if word.isascii() and word.endswith(end) and len(word) - len(end) >= _MIN_NAME_STEM:
            stem = word[: -len(end)]
            out |= {stem, stem + "a", stem + "o", stem + "e", stem.rstrip("z")}
    out.discard(word)
    return out


class Lexicon:
    """Phrase index over normalised tokens, with inflection, repeat, mask and misspelling tolerance."""

    def __init__(self, phrases: list[tuple[str, Entry]], common_words: frozenset[str],
                 english_words: frozenset[str] | None = None, function_words: frozenset[str] = frozenset()):
        self.common = common_words
        self.english = common_words if english_words is None else english_words
        self.ordinary = common_words | function_words  # words that show a text is language, not gibberish
        self.trie: dict = {}
        self.vocab: set[str] = set()
        self.by_label: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        compact: dict[str, list[Entry]] = defaultdict(list)
        term_tokens: set[str] = set()  # words of terms, which inflect; names do not
        for phrase, entry in phrases:
            toks = native_tokens(clean(phrase, scripts=True))
            if not toks:
                continue
            if entry.label not in NAME_LABELS:
                term_tokens |= set(toks)
            self._add(toks, entry)
            self.by_label[entry.label].add(toks)
            joined = "".join(toks)
            if len(toks) > 1 and len(joined) >= 6 and joined not in common_words and entry.label != ALLOW:
                compact[joined].append(entry)  # "#TaylorSwift", "s e l f h a r m"
        for joined, entries in compact.items():
            for entry in entries:
                self._add((joined,), entry)
        self.singles = {k for k in self.trie if _END in self.trie[k]}
        self.stems = {w[:-1] for w in self.vocab if w.endswith("*") and len(w) > _MIN_STEM and "*" not in w[:-1]}
        name_tokens = self.vocab - term_tokens
        self.name_tokens = frozenset(name_tokens)
        self._squeezed: dict[str, set[str]] = defaultdict(set)
        self._deletions: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for word in self.vocab:
            self._squeezed[squeeze(word)].add(word)
            if len(word) < 3 or not word.isalpha() or not word.isascii():  # misspellings: Latin only
                continue
            forms = {word} | (set() if word in name_tokens else inflections(word))
            for form in {f for f in forms if len(f) >= _MIN_FUZZY}:
                for key in {form} | {form[:i] + form[i + 1:] for i in range(len(form))}:
                    self._deletions[key].add((form, word))
        self._alt_cache: dict[str, tuple[tuple[str, int, int], ...]] = {}

    @classmethod
    def load(cls, data_dir: Path = DATA_DIR) -> "Lexicon":
        phrases: list[tuple[str, Entry]] = []
        for path in sorted((data_dir / "lexicon").glob("*.txt")):
            phrases += parse_terms(path, path.stem)
        for path in sorted((data_dir / "context").glob("*.txt")):
            phrases += parse_terms(path, path.stem)
        phrases += parse_terms(data_dir / "allow.txt", ALLOW)
        phrases += parse_names(data_dir / "public_figures.txt", "celebrity_likeness")
        phrases += parse_names(data_dir / "ip_characters.txt", "ip_character")
        english = read_lines(data_dir / "common_words.txt")
        common = english + read_lines(data_dir / "common_words_fr_es_de.txt")
        function = [w for line in read_lines(data_dir / "function_words.txt") for w in line.split()]
        return cls(phrases, frozenset(common), frozenset(english), frozenset(function))

    def _add(self, toks: tuple[str, ...], entry: Entry) -> None:
        node = self.trie
        for tok in toks:
            node = node.setdefault(tok, {})
            self.vocab.add(tok)
        bucket = node.setdefault(_END, [])
        if entry not in bucket:
            bucket.append(entry)

    # -- token alternatives -------------------------------------------------------------------

    def alternatives(self, token: str) -> tuple[tuple[str, int, int, bool], ...]:
        """(term token, cost, misspelt length, spelt as written) for each term token this prompt token
        may stand for; cost is EXACT, VARIANT (inflected, repeated letters, masked) or FUZZY
        (misspelt). A misspelling is spelt as written unless it is one edit from the token with its
        double letters made single: "violettes" read as "violetes" is one edit from "violees", but
        double letters are ordinary spelling in French and German; only runs of three are emphasis."""
        cached = self._alt_cache.get(token)
        if cached is None:
            if len(self._alt_cache) >= _ALT_CACHE_SIZE:
                self._alt_cache.clear()  # a long-running service sees unbounded vocabularies
            cached = self._alt_cache[token] = self._alternatives(token)
        return cached

    def _alternatives(self, token: str) -> tuple[tuple[str, int, int, bool], ...]:
        if "*" in token:
            return tuple((w, VARIANT, 0, True) for w in sorted(self._unmask(token)))
        forms = {token} | lemmas(token) | arabic_forms(token)
        ordinary = not token.isalpha() or any(f in self.common for f in forms)
        variants: set[str] = set()
        repeated = not ordinary and len(squeeze(token)) >= 3 and re.search(r"(.)\1", token)
        if repeated:
            forms |= {squeeze(token, 2), squeeze(token, 1)}
        for form in list(forms):
            forms |= lemmas(form)
        if repeated:
            for form in forms:
                variants |= self._squeezed.get(squeeze(form), set())
        variants |= forms & self.vocab
        if not ordinary:
            variants |= name_forms(token) & self.name_tokens
        variants.discard(token)
        fuzzy: dict[str, int] = {}
        kept_spelling: dict[str, bool] = {}
        if not ordinary and token not in self.vocab and not variants:
            for spelling in {token, squeeze(token, 2), squeeze(token, 1)}:
                kept = spelling != squeeze(token, 1) or spelling == squeeze(token, 2)
                for word, length in self._near(spelling).items():
                    fuzzy[word] = max(fuzzy.get(word, 0), length)
                    kept_spelling[word] = kept_spelling.get(word, False) or kept
        if not ordinary:
            variants |= {s + "*" for s in self._stems_of(forms)}
        out = [(token, EXACT, 0, True)] if token in self.vocab else []
        out += [(w, VARIANT, 0, True) for w in sorted(variants)]
        out += [(w, FUZZY, n, kept_spelling[w]) for w, n in sorted(fuzzy.items()) if w not in variants]
        return tuple(out)

    def _stems_of(self, forms: set[str]) -> set[str]:
        """The stem terms ("убий*") that one of ``forms`` starts with."""
        return {f[:k] for f in forms for k in range(_MIN_STEM, len(f) + 1) if f[:k] in self.stems}

    def _near(self, typed: str) -> dict[str, int]:
        """Term tokens with a spelling (the term or an inflection of it, >= 5 letters) one edit
        away from ``typed`` and the same first letter, mapped to that spelling's length (a swap
        of two letters counts as long enough to stand alone)."""
        keys = {typed} | {typed[:i] + typed[i + 1:] for i in range(len(typed))}
        found = set().union(*(self._deletions.get(k, set()) for k in keys))
        out: dict[str, int] = {}
        for form, word in found:
            if form[0] == typed[0] and osa_at_most_one(typed, form):
                score = len(form) if len(form) >= _MIN_FUZZY_WORD or not _is_swap(typed, form) else _MIN_FUZZY_WORD
                out[word] = max(out.get(word, 0), score)
        return out

    def _unmask(self, token: str) -> set[str]:
        """"s*x" -> {"sex"} when the mask fits exactly one term token and most letters are given."""
        core = token.strip("*") if token.endswith("*") and not token.startswith("*") else token
        letters = sum(c != "*" for c in core)
        if letters < 2 or core.count("*") > 2:
            return set()
        pattern = re.compile(core.replace("*", "[a-z]") + "$")
        fits = {(w, form) for w in self.vocab for form in (w, w + "s", w + "es", w + "ed", w + "d", w + "ing")
                if len(form) == len(core) and pattern.match(form)}
        return {w for w, _ in fits} if len({form for _, form in fits}) == 1 else set()

    # -- phrase matching ----------------------------------------------------------------------

    def match(self, toks: tuple[str, ...], lone_fuzzy: bool = True) -> list[Match]:
        """Greedy longest-first matches over a token view; allow-list phrases are dropped.

        ``lone_fuzzy=False`` reads a misspelt word on its own only as written (``alternatives``):
        in a text that is not English, a word one edit from a term is more often a word of that
        language than a misspelling."""
        alts = [self.alternatives(t) for t in toks]
        out: list[Match] = []
        i = 0
        while i < len(toks):
            end, cost, entries = self._longest(alts, i, lone_fuzzy)
            if end == i:
                i += 1
                continue
            out += [Match(e, i, end, cost >= FUZZY) for e in entries if e.label != ALLOW]
            i = end
        return out

    def _longest(self, alts: list, i: int, lone_fuzzy: bool = True) -> tuple[int, int, list[Entry]]:
        """The longest phrase starting at token i, with the entries of all its readings.

        Readings of equal length are merged (an exact "kills" and the inflected "kill" both
        count), except that misspelt readings only count when nothing spelt right reaches as far,
        and an allow-list phrase wins when it is the cheapest reading.
        """
        ends: list[tuple[int, int, list[Entry]]] = []
        stack: list = [(self.trie, i, 0, None)]
        while stack:
            node, j, cost, misspelt = stack.pop()
            if j > i and _END in node:
                entries = node[_END] if not misspelt else self._misspelling_ok(node[_END], *misspelt, j - i, lone_fuzzy)
                if entries:
                    ends.append((j, cost, entries))
            if j == len(alts):
                continue
            for form, step, length, same in alts[j]:
                child = node.get(form)
                if child is not None and (cost + step) // FUZZY <= 1:
                    stack.append((child, j + 1, cost + step, (length, same) if step == FUZZY else misspelt))
        if not ends:
            return i, 0, []
        end = max(e[0] for e in ends)
        readings = sorted(((cost, entries) for j, cost, entries in ends if j == end), key=lambda r: r[0])
        cheapest = readings[0][0]
        if any(e.label == ALLOW for e in readings[0][1]):
            return end, cheapest, [e for e in readings[0][1] if e.label == ALLOW]
        merged: list[Entry] = []
        for cost, entries in readings:
            if cost // FUZZY == cheapest // FUZZY:
                merged += [e for e in entries if e not in merged and e.label != ALLOW]
        return end, cheapest, merged

    @staticmethod
    def _misspelling_ok(entries: list[Entry], length: int, as_written: bool, n_tokens: int,
                        lone_fuzzy: bool = True) -> list[Entry]:
        """A misspelt word alone must be long (names and foreign words sit one edit from short
        terms: "Behdad"/"behead", "Mulder"/"murder"), and where ``lone_fuzzy`` is off, spelt as
        written; inside a phrase the other words vouch."""
        return entries if n_tokens > 1 or (length >= _MIN_FUZZY_WORD and (lone_fuzzy or as_written)) else []

    def search_run(self, run: str, short_words: frozenset[str] = frozenset()) -> list[Match]:
        """Terms inside a run of spaced-out letters ("killhim" -> "kill"); whole run first.

        A term inside the run counts only when the rest of the run reads as words too (terms,
        ``common`` or ``short_words``): "killhim" is "kill" + "him", while "morderischen" (German
        "murderous", spaced out) is not "mord" + "erischen"."""
        if run in self.singles:
            return [Match(e, -1, -1) for e in self.trie[run][_END] if e.label != ALLOW]
        if run in self.common:
            return []
        out = []
        for a in range(len(run)):
            for b in range(a + 3, len(run) + 1):
                node = self.trie.get(run[a:b])
                if node and _END in node and self._words(run[:a], short_words) and self._words(run[b:], short_words):
                    out += [Match(e, -1, -1) for e in node[_END] if e.label != ALLOW]
        return out

    def _words(self, text: str, short_words: frozenset[str]) -> bool:
        """Can ``text`` be cut into ordinary words and term words (the empty text can)?"""
        ok = [True] + [False] * len(text)
        for end in range(1, len(text) + 1):
            ok[end] = any(ok[start] and (w in self.common or w in short_words or w in self.singles)
                          for start in range(end) for w in (text[start:end],))
        return ok[-1]
