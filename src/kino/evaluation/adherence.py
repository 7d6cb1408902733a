"""Prompt adherence measured from pixels: generate from held-out toyworld prompts, read the
frames back with ``toyworld.readback`` and score each dimension by the contract's thresholds.

A prompt is the canonical description of a held-out scene; it is scored only on the claims
its text states (e.g. places at the start of a move, not where the move ends). Each
dimension samples scenes of one toyworld kind and scores one sort of claim, so a failure
says which ability is missing.

    cases = default_suite()                      # DEFAULT_PER_DIMENSION prompts per dimension
    outcomes = run(cases, generate, seeds=(0,))  # generate(prompt, seed) -> (frames, fps)
    summarize(outcomes)                          # {dimension: {"n", "pass_rate"}}
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from kino.data import toyworld
from kino.data.datasets import step_seed
from kino.data.toyworld import Claim, readback
from kino.safety.moderation import SafetyRefusal

log = logging.getLogger(__name__)

EVAL_SEED = 7_000_003  # a seed namespace the training data never uses

DIRECTIONS = {"left", "right", "up", "down"}


def _color(c: Claim) -> bool:
    return c.kind == "color"


def _shape(c: Claim) -> bool:
    return c.kind == "shape"


def _place(c: Claim) -> bool:
    return c.kind == "place" and c.when in ("middle", "start")


def _motion(c: Claim) -> bool:
    return c.kind == "motion" and c.value in DIRECTIONS


def _relation(c: Claim) -> bool:
    return c.kind == "relation" and c.value in ("left_of", "right_of")


def _above_below(c: Claim) -> bool:
    return c.kind == "relation" and c.value in ("above", "below")


def _binding(c: Claim) -> bool:
    # A place scene's relation sentences: each object's place is said in its own sentence, so the
    # pair's order checks that each colour went to its own place, not only that both places are filled.
    return c.kind == "relation"


def _count(c: Claim) -> bool:
    return c.kind == "count" and 1 <= c.count <= 3


def _count_4_5(c: Claim) -> bool:
    return c.kind == "count" and 4 <= c.count <= 5


def _size_change(c: Claim) -> bool:
    return c.kind == "motion" and c.value in ("grows", "shrinks")


def _spin(c: Claim) -> bool:
    return c.kind == "motion" and c.value == "spins"


def _kind(name: str) -> Callable[[Claim], bool]:
    return lambda c: c.kind == name


def _camera(*values: str) -> Callable[[Claim], bool]:
    return lambda c: c.kind == "camera" and c.value in values


def _multishot(c: Claim) -> bool:
    return (c.kind == "cuts" and c.count >= 1) or c.kind in ("color", "shape", "size")


def _recurring(claims: list[Claim]) -> list[Claim]:
    """Multi-shot scoring: the cuts, and colour / shape / size of each character named in
    several shots, in every shot it is in (an unspecified size states "medium")."""
    shots: dict[str, set[int]] = {}
    for c in claims:
        if c.kind == "color":
            shots.setdefault(c.color, set()).add(c.shot)
    return [c for c in claims if c.kind == "cuts" or len(shots.get(c.color, ())) >= 2]


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # the toyworld scene kind that exercises it
    selects: Callable[[Claim], bool]  # the claims of a scene it scores...
    keep: Callable[[list[Claim]], list[Claim]] = list  # ...and which of those, seen together


DIMENSIONS = {
    d.name: d
    for d in (
        Dimension("color", "color", _color),
        Dimension("shape", "shape", _shape),
        Dimension("place", "place", _place),
        Dimension("motion_direction", "motion", _motion),
        Dimension("left_right", "relation", _relation),
        Dimension("count_1_3", "count", _count),
        Dimension("count_4_5", "count", _count_4_5),
        Dimension("above_below", "relation", _above_below),
        Dimension("size_change", "size_change", _size_change),
        Dimension("spin", "spin", _spin),
        Dimension("order", "order", _kind("order")),
        Dimension("hit_turn", "hit_turn", _kind("hit_turn")),
        Dimension("push", "push", _kind("push")),
        Dimension("bite", "bite", _kind("bite")),
        Dimension("behind", "behind", _kind("behind")),
        Dimension("camera_pan", "camera_pan", _camera("pan-left", "pan-right")),
        Dimension("camera_zoom", "camera_zoom", _camera("zoom-in", "zoom-out")),
        Dimension("multishot", "multishot", _multishot, _recurring),
        Dimension("style", "style", _kind("style")),
        Dimension("binding", "place", _binding),
    )
}
DEFAULT_PER_DIMENSION = 17  # x 20 dimensions = 340 prompts


@dataclass
class Case:
    dimension: str
    prompt: str
    scene: toyworld.Scene
    claims: list[Claim]


def suite(per_dimension: int, dims: Iterable[str] | None = None, seed: int = EVAL_SEED) -> list[Case]:
    """``per_dimension`` held-out prompts per dimension, each stating at least one claim it scores.

    Scene sampling only (no rendering). A dimension's prompts depend on its name's place in
    DIMENSIONS, not on which other dimensions are asked for.
    """
    names = list(dims or DIMENSIONS)
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension {unknown[0]!r}; choose from {', '.join(DIMENSIONS)}")
    cases = []
    for name in dict.fromkeys(names):
        dim = DIMENSIONS[name]
        d_index = list(DIMENSIONS).index(name)
        found, i = 0, 0
        while found < per_dimension:
            rng = np.random.default_rng(step_seed(seed, d_index, i))
            i += 1
            scene = toyworld.sample_scene(rng, kinds=[dim.kind])
            chosen = dim.keep([c for c in toyworld.claims(scene) if dim.selects(c)])
            if chosen:
                cases.append(Case(name, toyworld.describe(scene), scene, chosen))
                found += 1
    return cases


# How people write what toyworld's caption templates say, in words the captions never use (issue 25's
# held-out phrasing): applied in order, each (pattern, replacement) on the whole prompt. Colours keep
# their names; shapes, sizes, places, motions, relations, counts and styles are said otherwise.
PARAPHRASES: tuple[tuple[str, str], ...] = (
    (r"\bA cartoon: (?=(?:a|an|two|three|four|five)\b)", "Cartoon style, showing "),
    (r"\bA cartoon: ", "Cartoon style. "),
    (r"\bA realistic render: (?=(?:a|an|two|three|four|five)\b)", "Photoreal shot of "),
    (r"\bA realistic render: ", "Photoreal style. "),
    (r"\b(?:balls|spheres|circles|discs|disks|dots)\b", "orbs"),
    (r"\b(?:ball|sphere|circle|disc|disk|dot)\b", "orb"),
    (r"\b(?:squares|cubes|boxes|blocks)\b", "tiles"), (r"\b(?:square|cube|box|block)\b", "tile"),
    (r"\b(?:triangles|pyramids)\b", "wedges"), (r"\b(?:triangle|pyramid)\b", "wedge"),
    (r"\b(?:big|large|huge)\b", "hefty"), (r"\b(?:small|little|tiny)\b", "wee"),
    (r"\bat the top left\b", "up in the left-hand corner"), (r"\bat the top right\b", "up in the right-hand corner"),
    (r"\bat the bottom left\b", "down in the left-hand corner"),
    (r"\bat the bottom right\b", "down in the right-hand corner"),
    (r"\bat the top (?:center|centre)\b", "near the upper edge, halfway across"),
    (r"\bat the bottom (?:center|centre)\b", "near the lower edge, halfway across"),
    (r"\bon the left\b", "over by the left-hand edge"), (r"\bon the right\b", "over by the right-hand edge"),
    (r"\bin the (?:middle|center|centre)\b", "smack in the heart of the frame"),
    (r"\bstarts\b", "begins"), (r"\bmoves left\b", "heads toward the left-hand edge"),
    (r"\bmoves right\b", "heads toward the right-hand edge"),
    (r"\bmoves up\b", "climbs"), (r"\bmoves down\b", "descends"),
    (r"\bstays still\b", "remains motionless"), (r"\bstay still\b", "remain motionless"),
    (r"\bis to the left of\b", "is positioned left of"), (r"\bis to the right of\b", "is positioned right of"),
    (r"\bis above\b", "is located over"), (r"\bis below\b", "is located underneath"),
    (r"\btwo\b", "a pair of"), (r"\bthree\b", "a trio of"),
)


def paraphrase(prompt: str) -> str:
    """``prompt`` (a toyworld caption) said as people write it, in words the captions never use."""
    import re

    for pattern, replacement in PARAPHRASES:
        prompt = re.sub(pattern, replacement, prompt)
    return prompt


def paraphrased(cases: list[Case]) -> list[Case]:
    """The same scenes and claims, each prompt paraphrased (held out: no training caption says them)."""
    return [Case(c.dimension, paraphrase(c.prompt), c.scene, c.claims) for c in cases]


def default_suite(dims: Iterable[str] | None = None) -> list[Case]:
    """The suite ``kino eval`` runs without ``--limit``: DEFAULT_PER_DIMENSION prompts per dimension."""
    return suite(DEFAULT_PER_DIMENSION, dims)


def mismatched(cases: list[Case]) -> list[tuple[Case, Case]]:
    """(case, stand-in) pairs within each dimension, to show the stand-in's scene for the case's
    prompt: an honest scorer fails nearly all of them.

    Each stand-in shares as few scored facts as possible (compared without shape and size,
    which some checks do not read); a case with no partner that differs gets no pair.
    """

    def facts(case: Case) -> set[tuple]:
        return {(c.kind, c.color, c.count, c.value, c.other, c.other_value, c.shot) for c in case.claims}

    pairs = []
    for name in dict.fromkeys(c.dimension for c in cases):
        group = [c for c in cases if c.dimension == name]
        for i, case in enumerate(group):
            mine = facts(case)
            others = [o for o in group[i + 1 :] + group[:i] if not mine <= facts(o)]
            if others:
                pairs.append((case, min(others, key=lambda o: len(mine & facts(o)))))
    return pairs


@dataclass
class Outcome:
    case: Case
    seed: int
    passed: bool
    details: list[str] = field(default_factory=list)
    temporal: dict[str, float | None] = field(default_factory=dict)  # set by an `inspect` callback
    sheet: str = ""  # contact sheet, relative to the report folder


def score(frames: np.ndarray, case: Case, fps: float) -> tuple[bool, list[str]]:
    report = readback.check(frames, case.claims, fps=fps)
    return report.ok, [f"{_claim_text(r.claim)}: {'ok' if r.ok else 'FAIL'} {r.detail}" for r in report.results]


def _claim_text(c: Claim) -> str:
    """A claim in a few words: its kind and the fields that say what it states."""
    parts = [c.kind, c.color, c.shape if c.kind == "shape" else "", c.size if c.kind == "size" else "",
             str(c.count) if c.kind in ("count", "cuts") else "", c.value, c.other, c.other_value,
             c.when if c.kind == "place" else "", f"shot {c.shot + 1}" if c.shot else ""]  # fmt: skip
    return " ".join(p for p in parts if p)


def summarize(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    table = {}
    for name in dict.fromkeys(o.case.dimension for o in outcomes):
        mine = [o for o in outcomes if o.case.dimension == name]
        table[name] = {"n": len(mine), "pass_rate": sum(o.passed for o in mine) / len(mine)}
    return table


Generate = Callable[[str, int], tuple[np.ndarray, float]]  # (prompt, seed) -> frames (T, H, W, 3), fps
Inspect = Callable[[Outcome, np.ndarray, float], None]  # (outcome, frames, fps): look before they go


def run(
    cases: list[Case],
    generate: Generate,
    seeds: Iterable[int] = (0,),
    progress: Callable[[int], object] | None = None,
    inspect: Inspect | None = None,
) -> list[Outcome]:
    """Generate and score every (case, seed). Frames live only for one clip: ``inspect`` may
    measure them or draw a contact sheet (and fill in the outcome) before they are dropped.

    A clip the safety layer refuses (a benign prompt whose frames a detector flags) gave the
    user nothing: it fails, with the refusal as its detail, and the run goes on.
    """
    outcomes = []
    seeds = list(seeds)
    for case in cases:
        for seed in seeds:
            try:
                frames, fps = generate(case.prompt, seed)
            except SafetyRefusal as e:
                outcomes.append(Outcome(case, seed, False, [f"refused by the safety layer: {e}"]))
                if progress:
                    progress(1)
                continue
            passed, details = score(frames, case, fps)
            outcome = Outcome(case, seed, passed, details)
            if inspect:
                inspect(outcome, frames, fps)
            del frames
            outcomes.append(outcome)
            if progress:
                progress(1)
    return outcomes


def outcome_record(o: Outcome) -> dict:
    record = {"dimension": o.case.dimension, "prompt": o.case.prompt, "seed": o.seed, "passed": o.passed,
              "checks": o.details}  # fmt: skip
    if o.temporal:
        record["temporal"] = o.temporal
    if o.sheet:
        record["sheet"] = o.sheet
    return record
