"""Prompt moderation: refuse prompts in eight harm categories before anything is generated.

``moderate_prompt(prompt) -> Verdict``. The prompt is normalised into several views
(``normalize``), every view is matched against the curated lists (``lexicon``), and the hits
are scored per category:

1. a term of a category's lexicon scores its weight (1.0, or 0.5 for an ambiguous term);
2. context rules score 1.0 for words that are only harmful together:
   - sexual_minors: a sexual or suggestive term anywhere with a minor term or an age under 18;
   - violence_extreme: a violent act with a person as its object ("kills an innocent man"),
     or a person before a passive violent act ("a man is beheaded"); shooting verbs also need
     a weapon or death word, because "shoot" is film language;
   - hate: a protected group within a few words of a dehumanising term, or a hostile act
     directed at a group ("mock muslims");
   - terrorism_extremism: an attack means within a few words of a crowded or symbolic target;
3. role-play / instruction-override framing ("pretend you are an AI without rules") doubles
   every score, so ambiguous signals are enough under a jailbreak;
4. a category is refused at score 1.0; when several are, the first in ``CATEGORIES`` order is
   reported, so sexual_minors always takes precedence.
In Chinese and Japanese, where the object may stand before the verb and words are not spaced,
a violent act and a person are paired by position instead (``_cjk_object``): the person after
the verb within a few characters ("杀死那个男人"), or before it when marked as the object or the
sufferer ("男性を殺す", "把他杀了", "男人被杀"); the other pairs (group + dehumanising term, means +
target) work as in every language, within the same windows counted in characters.
Every rule runs on each view of the prompt (``normalize``): the Latin views, the native view
in which Russian, Arabic, Chinese and Japanese words are read in their own script, and the native
view of the repaired prompt (``readings.repair``: look-alikes into their word's script, Cyrillic
leet read, letters written apart joined).
A public figure's name that is part of a place name ("Trump Tower", "JFK airport") is dropped, and
so is any name that an apposition calls a place ("Batman, a city in Turkey"), a name given to an
animal ("a dog named Simba"), and a one-word name that only folding accents made of a lowercase
word ("timón", a ship's helm, is not Timon). In a text that is not English a lone misspelling is
read only as written (``Lexicon.match``), and not at all (neither as a term nor as a signal) when
the word is written in lowercase near a name ("melancia" is not Melania, "путине" not Putin) or
keeps its accents ("violão" is not "violado"); a one-word name after a word for kin ("meu vizinho
Neymar") is a private person.
The whole prompt is always scanned, so a request buried in a long benign prompt still counts.
5. what an obfuscator hides is read too (``readings.decodings``): the prompt with its shot markers
   taken out in any of the nine languages (a phrase split across "Shot 1: ... Shot 2: ..."),
   reversed, in ROT13 (whole, and after an instruction such as "read backwards:"), and each run of
   base64 in it decoded; each reading that reads as language (``reads_as_language``) is judged as
   the prompt is, and the first refusal stands.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from kino.safety.lexicon import CATEGORIES, NAME_LABELS, STRONG, Lexicon, Match
from kino.safety.normalize import Views, clean, is_cjk, native_tokens, normalize
from kino.safety.readings import decodings, repair, script

REFUSE_AT = 1.0
ENGLISH_SHARE = 0.6  # of a text's words in the English word list: it reads as English (others: under 0.5)
DECODED_WORDS = 0.3  # share of ordinary words in a reversed or ROT13 Latin text that is worth judging
JAILBREAK_FACTOR = 2.0
HATE_WINDOW = 6  # words between a group and a dehumanising term
ATTACK_WINDOW = 8  # words between an attack means and its target
MAX_SKIP = 3  # filler words between a verb and its object

# Words that may stand between a verb and its object: "kills [an innocent] man".
FILLERS = frozenset(
    "a an the this that these those his her their my your our its some all every each any both two "
    "three four five several many few other another innocent young old little small poor helpless "
    "defenceless defenseless unarmed random unsuspecting nearby whole entire local elderly pregnant "
    "sleeping screaming crying terrified begging kneeling bound tied of dirty filthy stupid damn homeless "
    "blind disabled wounded injured black white asian jewish muslim christian gay mexican teenage "
    "un une le la les des l el los las unos unas una uno ein eine einen einem der die das den dem alle "
    "um uma o os as uns umas este esta esse essa aquele aquela todos todas inocente inocentes pobre "  # Portuguese
    "в этого этот эту эта этих того ту тех всех одного одну двух трех невинного невинную невинных "  # Russian
    "молодого молодую маленького маленькую беззащитного беззащитную мирных случайного случайную "
    "هذا هذه ذلك تلك كل بعض احد".split()  # Arabic
)
# Chinese and Japanese: particles that mark the person before the verb as its object or sufferer.
CJK_OBJECT_AFTER = frozenset("を 被".split())  # "男性を殺す", "男人被杀"
CJK_OBJECT_BEFORE = frozenset("把 将".split())  # "把男人杀了"
CJK_WINDOW = 6  # characters between a verb and its object
# What may follow "her" when it is the object ("kill her slowly"), not a possessive ("hangs her coat").
OBJECT_FOLLOWERS = frozenset(
    "in with to and then while on at from by for again dead until before after because as so over under "
    "into inside outside near behind alive now first quickly too also but or when who if that there here "
    "off up down out".split()
)
AMBIGUOUS_OBJECTS = frozenset({"her"})
AUXILIARIES = frozenset("is are was were be being been gets get got getting gotten".split())
IRREGULAR_PARTICIPLES = frozenset("shot hung slain stabbed beaten burnt struck cut slit thrown run".split())

# Frequent words under four letters (the common-word list starts at four).
SHORT_WORDS = frozenset(
    "a an the is are was be am of to in on at by for and or but not no yes it its he she we you they i me him "
    "her his our my who how why all any one two six ten man men boy kid guy dad mom son old new big red hot "
    "cut gun die dies war kid off out up get got has had did do does can may let put run ran see saw set "
    "sex way day car bus dog cat eat ate hit key job act use fun top end god".split()
)

# Words that give a name to someone else: "a dog named Simba" is a pet, not the lion of the film.
NAMING = frozenset(
    "named called nicknamed llamado llamada apodado apodada nomme nommee appele appelee surnomme "
    "surnommee namens genannt chamado chamada apelidado apelidada кличке прозвищу зовут اسمه اسمها "
    "المسمى المسماه 叫".split()
)
# Words that introduce a private person by a one-word name: "my neighbour Neymar, a retired man".
KIN = frozenset(
    "neighbour neighbor friend uncle aunt cousin grandpa grandma grandfather grandmother granddad colleague "
    "classmate roommate flatmate landlord landlady nephew niece vizinho vizinha amigo amiga tio tia primo prima "
    "avo colega sobrinho sobrinha vecino vecina tio tia abuelo abuela companero companera sobrino sobrina "
    "voisin voisine ami amie oncle tante cousine grand-pere grand-mere papi mamie collegue neveu niece "
    "nachbar nachbarin freund freundin onkel tante opa oma kollege kollegin neffe nichte "
    "сосед соседка друг подруга дядя тетя дедушка бабушка коллега".split()
)
NAMING_AFTER = (("と", "い", "う"), ("っ", "て"))  # Japanese: "シンバという名前の犬"
ANIMALS = frozenset(
    "dog dogs puppy cat cats kitten horse pony cow parrot hamster rabbit goldfish turtle tortoise goat pig "
    "retriever labrador poodle terrier spaniel beagle bulldog collie "
    "perro perra perrito gato gata caballo vaca loro conejo chien chienne chat chatte chaton cheval vache "
    "perroquet lapin hund hunde katze kater pferd kuh papagei hase kaninchen cao cachorro cadela gatinho "
    "cavalo papagaio coelho собака собаку пес пса кошка кошку кот кота котенок щенок лошадь корова попугай "
    "кролик كلب كلبه قطه قط حصان بقره ببغاء ارنب 狗 犬 猫 马 馬 牛 兔 鸟".split()
)
ANIMAL_WINDOW = 4  # words (characters in Chinese and Japanese) between the animal and the name
# Places named after a person or character follow a name: "Batman, a city in Turkey".
PLACE_NOUNS = frozenset(
    "town city village island resort port suburb region province county district ville village ile "
    "ciudad pueblo isla villa stadt dorf insel cidade vila aldeia ilha город городок деревня село остров".split()
)
ARTICLES = frozenset("a an une un una eine ein um uma".split())

_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen".split())}
_NUM = r"(\d{1,2}|" + "|".join(_NUMBER_WORDS) + r")"
_AGE_PATTERNS = [
    re.compile(rf"\b{_NUM}[\s-]*(?:years?|yrs?|yr)[\s-]*old\b"),
    re.compile(r"\b(\d{1,2})[\s-]*(?:yo|y\s?o)\b"),
    re.compile(rf"\baged?\s+{_NUM}\b"),
    re.compile(r"\b(\d{1,2})\s*(?:ans|anos)\b"),  # French, Spanish (accents stripped)
    re.compile(r"\b(\d{1,2})[\s-]*(?:jahrige\w*|jahre\s+alt)\b"),  # German
]
# Ages in the native view's text (Cyrillic, Arabic and CJK kept): "12 лет", "12岁", "12歳", "12 سنة".
_NATIVE_AGE_PATTERNS = [
    re.compile(r"(?<!\d)(\d{1,2})[\s-]*(?:лет|летн\w*|год\w*)"),  # Russian
    re.compile(r"(?<!\d)(\d{1,2})\s*(?:岁|歲|歳|才)"),  # Chinese, Japanese
    re.compile(r"(?<!\d)(\d{1,2})\s*(?:سنه|سنوات|عاما|عام)"),  # Arabic (ta marbuta folded)
]


@dataclass(frozen=True)
class Verdict:
    """The moderation decision; ``scores`` holds every category's score in [0, 1]."""

    allowed: bool
    category: str | None
    matched: str | None
    scores: dict[str, float]


class SafetyRefusal(Exception):
    """Raised by callers that refuse a prompt; carries the verdict."""

    def __init__(self, verdict: Verdict):
        self.verdict = verdict
        super().__init__(f"refused: {verdict.category} (matched: {verdict.matched})")


@dataclass(frozen=True)
class Hit:
    category: str
    matched: str
    weight: float
    key: str = ""  # distinct keys are summed; the same alias twice counts once


def minor_age(text: str, patterns: list[re.Pattern] = _AGE_PATTERNS) -> str | None:
    """An age under 18 written in the prompt ("12-year-old", "13yo", "12 ans"), if any."""
    for pattern in patterns:
        for m in pattern.finditer(text):
            value = m.group(1)
            age = int(value) if value.isdigit() else _NUMBER_WORDS[value]
            if age < 18:
                return m.group(0)
    return None


class Moderator:
    """Scores prompts against a ``Lexicon``; stateless apart from the lexicon's caches."""

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self.places_after = lexicon.by_label["place"]
        self.places_before = lexicon.by_label["place_before"]

    def __call__(self, prompt: str) -> Verdict:
        verdict = self.judge(prompt)
        if not verdict.allowed:
            return verdict
        for how, text in decodings(prompt):
            if text == prompt or not self.reads_as_language(how, text, prompt):
                continue  # gibberish (as ROT13 of plain words is): what it happens to spell is chance
            hidden = self.judge(text)
            if not hidden.allowed:
                return Verdict(False, hidden.category, f"{hidden.matched} ({how})", hidden.scores)
        return verdict

    def reads_as_language(self, how: str, text: str, prompt: str) -> bool:
        """Is a decoding worth judging? Shots joined and base64 decoded always (neither makes
        gibberish of plain words: base64 of plain words does not decode to printable UTF-8). A
        reversed or ROT13 Latin text when it has more ordinary words than the prompt as written
        (and at least ``DECODED_WORDS`` of them); one in another script always: there are no word
        lists for it, and its terms are phrases of several letters that chance rarely spells."""
        if how not in ("reversed", "in ROT13"):
            return True
        letters = [script(c) or "other" for c in text if c.isalpha()]
        if letters.count("latin") <= len(letters) / 2:
            return True
        known = self.wordlike(text)
        return known >= DECODED_WORDS and known > self.wordlike(prompt)

    def wordlike(self, text: str) -> float:
        """The share of ``text``'s Latin words (accents off) that are ordinary words."""
        return _share_known(re.findall(r"[a-z]+", clean(text)), self.lexicon.ordinary)

    def english_share(self, text: str) -> float:
        """The share of ``text``'s Latin words that are English words."""
        return _share_known(re.findall(r"[a-z]+", clean(text)), self.lexicon.english)

    def judge(self, prompt: str) -> Verdict:
        """The verdict on the prompt's own words (no decodings)."""
        views = normalize(prompt)
        hits: list[Hit] = []
        signals: dict[str, str] = {}  # context label -> first phrase seen, over all views
        repaired = native_tokens(clean(repair(prompt), scripts=True))  # "Г.а.р.р.и", "бoмбy", "п0k0н4u7ь"
        readings = views.token_views + tuple(dict.fromkeys(v for v in (views.native, repaired) if v not in views.token_views))
        english = self.english_share(prompt) >= ENGLISH_SHARE
        lower = {} if english else lowercase_words(prompt)
        for toks in readings:
            matches = [m for m in self.lexicon.match(toks, lone_fuzzy=english) if not _own_word(toks, m, lower)]
            hits += self._term_hits(toks, matches, lower)
            hits += self._context_hits(toks, matches)
            for m in matches:
                if m.entry.weight >= STRONG:
                    signals.setdefault(m.entry.label, m.entry.canonical)
        for run in views.collapsed:
            for m in self.lexicon.search_run(run, SHORT_WORDS):
                if m.entry.label in CATEGORIES:
                    hits.append(_term_hit(m))
                if m.entry.weight >= STRONG:
                    signals.setdefault(m.entry.label, m.entry.canonical)
        hits += self._minor_hits(views, signals)
        return self._verdict(hits, jailbreak="jailbreak" in signals)

    # -- hits -----------------------------------------------------------------------------------

    def _term_hits(self, toks: tuple[str, ...], matches: list[Match], lower: dict[str, set[str]]) -> list[Hit]:
        return [
            _term_hit(m)
            for m in matches
            if m.entry.label in CATEGORIES
            and not (m.entry.label == "celebrity_likeness" and self._is_place(toks, m))
            and not (m.entry.label in NAME_LABELS and (_is_pet(toks, m) or _is_kin(toks, m) or _other_word(toks, m, lower)
                                                       or _place_by_apposition(toks, m)))
        ]

    def _is_place(self, toks: tuple[str, ...], m: Match) -> bool:
        """A name in a place's name ("Trump Tower", "Place Charles de Gaulle", "the city of X")."""
        after = any(toks[m.end:m.end + len(p)] == p for p in self.places_after)
        return after or any(m.start >= len(p) and toks[m.start - len(p):m.start] == p for p in self.places_before)

    def _context_hits(self, toks: tuple[str, ...], matches: list[Match]) -> list[Hit]:
        starts: dict[int, dict[str, Match]] = defaultdict(dict)
        for m in matches:
            starts[m.start].setdefault(m.entry.label, m)
        by_label: dict[str, list[Match]] = defaultdict(list)
        for m in matches:
            by_label[m.entry.label].append(m)
        out = []
        weapon = bool(by_label["weapon"])
        for act in by_label["violent_act"] + (by_label["firing"] if weapon else []):
            if is_cjk(toks[act.start]):
                target = _cjk_object(toks, act, by_label["human"])
            else:
                target = self._object_after(toks, starts, act.end, "human")
            if target is not None:
                out.append(_combo_hit("violence_extreme", act, target))
        for act in by_label["violent_act"]:
            target = self._subject_before_passive(toks, starts, act)
            if target is not None:
                out.append(_combo_hit("violence_extreme", target, act))
        for act in by_label["hostile_act"]:
            if is_cjk(toks[act.start]):
                group = _cjk_object(toks, act, by_label["group"])
            else:
                group = self._object_after(toks, starts, act.end, "group")
            if group is not None:
                out.append(_combo_hit("hate", act, group))
        pair = _near(by_label["group"], by_label["dehumanizing"], HATE_WINDOW)
        if pair:
            out.append(_combo_hit("hate", *pair))
        pair = _near(by_label["attack_means"], by_label["attack_target"], ATTACK_WINDOW)
        if pair:
            out.append(_combo_hit("terrorism_extremism", *pair))
        return out

    def _object_after(self, toks, starts, j: int, label: str) -> Match | None:
        """The ``label`` match that is the object of a verb ending at j, skipping filler words."""
        for _ in range(MAX_SKIP + 1):
            if j >= len(toks):
                return None
            m = starts.get(j, {}).get(label)
            if m is not None and not (toks[j] in AMBIGUOUS_OBJECTS and self._possessive(toks, m)):
                return m
            if toks[j] not in FILLERS and not toks[j].endswith("ly"):
                return None
            j += 1
        return None

    def _possessive(self, toks, m: Match) -> bool:
        """Is "her" at m a possessive ("hangs her coat") rather than the object ("kill her now")?"""
        nxt = m.end
        return not (nxt >= len(toks) or toks[nxt] in OBJECT_FOLLOWERS or toks[nxt].endswith("ly"))

    def _subject_before_passive(self, toks, starts, act: Match) -> Match | None:
        """"a man is beheaded": a person, an auxiliary, then a participle."""
        word = toks[act.start]
        if not (word.endswith(("ed", "en")) or word in IRREGULAR_PARTICIPLES):
            return None
        k = act.start - 1
        while k >= 0 and toks[k].endswith("ly"):
            k -= 1
        if k < 0 or toks[k] not in AUXILIARIES:
            return None
        for i in range(max(0, k - 4), k):
            m = starts.get(i, {}).get("human")
            if m is not None and m.end <= k:
                return m
        return None

    def _minor_hits(self, views: Views, signals: dict[str, str]) -> list[Hit]:
        sexual = signals.get("sexual") or signals.get("suggestive")
        minor = signals.get("minor") or minor_age(views.text) or minor_age(views.native_text, _NATIVE_AGE_PATTERNS)
        if sexual and minor:
            return [Hit("sexual_minors", f"{sexual} + {minor}", STRONG, "combo")]
        return []

    # -- verdict --------------------------------------------------------------------------------

    def _verdict(self, hits: list[Hit], jailbreak: bool) -> Verdict:
        factor = JAILBREAK_FACTOR if jailbreak else 1.0
        by_category: dict[str, dict[str, Hit]] = defaultdict(dict)
        for hit in hits:
            best = by_category[hit.category].get(hit.key)
            if best is None or hit.weight > best.weight:
                by_category[hit.category][hit.key] = hit
        scores = {c: min(1.0, factor * sum(h.weight for h in by_category[c].values())) for c in CATEGORIES}
        for category in CATEGORIES:
            if scores[category] >= REFUSE_AT:
                return Verdict(False, category, _describe(list(by_category[category].values())), scores)
        return Verdict(True, None, None, scores)


def lowercase_words(prompt: str) -> dict[str, set[str]]:
    """Latin and Cyrillic words written in lowercase, by their folded spelling: {"timon": {"timón"},
    "melancia": {"melancia"}, "путине": {"путине"}}."""
    out: dict[str, set[str]] = defaultdict(set)
    for word in re.findall(r"[^\W\d_]+", unicodedata.normalize("NFC", prompt)):
        if word.islower():
            out["".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))].add(word)
    return out


def _other_word(toks: tuple[str, ...], m: Match, lower: dict[str, set[str]]) -> bool:
    """Is a one-word name match an ordinary word that folding accents made the name ("timón", a
    ship's helm, is not Timon)? The name lists are written without accents, so a name written with
    them and capitalised ("Beyoncé", "Astérix") still matches; a lowercase accented word does not."""
    alias = unicodedata.normalize("NFC", m.entry.phrase or m.entry.canonical).casefold()
    word = toks[m.start]
    return m.end - m.start == 1 and any(w != word and w not in alias for w in lower.get(word, ()))


def _own_word(toks: tuple[str, ...], m: Match, lower: dict[str, set[str]]) -> bool:
    """Is a word that is one edit, a case ending or a diminutive from a term, in a text that is not
    English, a word of its own language? So it is when the term is a name and the word is written
    in lowercase ("melancia", a watermelon, is not Melania; "путине", in the fishing season, is not
    Putin), or when a misspelling keeps its accents ("violão", a guitar, is not "violado"): a word
    spelt with care."""
    word = toks[m.start]
    if m.end - m.start != 1:
        return False
    if m.entry.label in NAME_LABELS:
        return word in lower and word != clean(m.entry.phrase or m.entry.canonical, scripts=True)
    return m.fuzzy and any(w != word for w in lower.get(word, ()))


def _place_by_apposition(toks: tuple[str, ...], m: Match) -> bool:
    """A name that an apposition says is a place: "Obama, a small town in Fukui", "Batman, a city"."""
    nxt = toks[m.end:m.end + 5]
    return bool(nxt) and nxt[0] in ARTICLES and any(t in PLACE_NOUNS for t in nxt[1:])


def _share_known(words: list[str], vocabulary: frozenset[str]) -> float:
    """The share of ``words`` in ``vocabulary`` or among the short words (0 for none)."""
    return sum(w in SHORT_WORDS or w in vocabulary for w in words) / len(words) if words else 0.0


def _is_pet(toks: tuple[str, ...], m: Match) -> bool:
    """A name given to an animal: "a dog named Simba", "кошка по кличке Симба", "シンバという名前の犬"."""
    named = m.start > 0 and toks[m.start - 1] in NAMING
    named = named or any(toks[m.end:m.end + len(p)] == p for p in NAMING_AFTER)
    around = toks[max(0, m.start - ANIMAL_WINDOW - 1):m.end + ANIMAL_WINDOW + 4]
    return named and any(t in ANIMALS for t in around)


def _is_kin(toks: tuple[str, ...], m: Match) -> bool:
    """A one-word name after a word for a relative or acquaintance ("meu vizinho Neymar"): a private person."""
    return m.end - m.start == 1 and m.start > 0 and toks[m.start - 1] in KIN


def _term_hit(m: Match) -> Hit:
    e = m.entry
    return Hit(e.label, e.canonical, e.weight, e.phrase or e.canonical)


def _combo_hit(category: str, a: Match, b: Match) -> Hit:
    return Hit(category, f"{a.entry.canonical} + {b.entry.canonical}", STRONG, "combo")


def _cjk_object(toks: tuple[str, ...], act: Match, targets: list[Match]) -> Match | None:
    """The target that is the object of a CJK verb: after it within ``CJK_WINDOW`` characters, or
    before it and marked as object or sufferer ("を", "被" after it; "把", "将" before it)."""
    for m in targets:
        if act.end <= m.start <= act.end + CJK_WINDOW:
            return m
        if act.start - CJK_WINDOW <= m.end <= act.start:
            marked_after = m.end < len(toks) and toks[m.end] in CJK_OBJECT_AFTER
            marked_before = m.start > 0 and toks[m.start - 1] in CJK_OBJECT_BEFORE
            if marked_after or marked_before:
                return m
    return None


def _near(a: list[Match], b: list[Match], window: int) -> tuple[Match, Match] | None:
    for x in a:
        for y in b:
            if x is not y and (abs(x.start - y.end) <= window or abs(y.start - x.end) <= window):
                return x, y
    return None


def _describe(hits: list[Hit]) -> str:
    strong = [h for h in hits if h.weight >= STRONG]
    if strong:
        return strong[0].matched
    return " + ".join(dict.fromkeys(h.matched for h in hits))


@functools.cache
def default_moderator() -> Moderator:
    """The moderator over the shipped lists, built once per process (the lists are read-only)."""
    return Moderator(Lexicon.load())


def moderate_prompt(prompt: str) -> Verdict:
    return default_moderator()(prompt)
