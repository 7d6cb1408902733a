"""Prompt adherence measured from pixels: generate from held-out toyworld prompts, read the
frames back with ``toyworld.readback`` and score each dimension by the contract's thresholds.

A prompt is the canonical description of a held-out scene; it is scored only on the claims
its text states (e.g. places at the start of a move, not where the move ends).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from kino.data import toyworld
from kino.data.datasets import step_seed
from kino.data.toyworld import Claim, readback

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


def _count(c: Claim) -> bool:
    return c.kind == "count" and 1 <= c.count <= 3


@dataclass(frozen=True)
class Dimension:
    name: str
    kind: str  # the toyworld scene kind that exercises it
    selects: Callable[[Claim], bool]


DIMENSIONS = {
    d.name: d
    for d in (
        Dimension("color", "color", _color),
        Dimension("shape", "shape", _shape),
        Dimension("place", "place", _place),
        Dimension("motion_direction", "motion", _motion),
        Dimension("left_right", "relation", _relation),
        Dimension("count_1_3", "count", _count),
    )
}


@dataclass
class Case:
    dimension: str
    prompt: str
    scene: toyworld.Scene
    claims: list[Claim]


def suite(per_dimension: int, dims: Iterable[str] | None = None, seed: int = EVAL_SEED) -> list[Case]:
    """``per_dimension`` held-out prompts per dimension, each stating at least one claim it scores."""
    cases = []
    for d_index, name in enumerate(dims or DIMENSIONS):
        if name not in DIMENSIONS:
            raise ValueError(f"unknown dimension {name!r}; choose from {', '.join(DIMENSIONS)}")
        dim = DIMENSIONS[name]
        i = 0
        while sum(c.dimension == name for c in cases) < per_dimension:
            rng = np.random.default_rng(step_seed(seed, d_index, i))
            i += 1
            scene = toyworld.sample_scene(rng, kinds=[dim.kind])
            chosen = [c for c in toyworld.claims(scene) if dim.selects(c)]
            if chosen:
                cases.append(Case(name, toyworld.describe(scene), scene, chosen))
    return cases


@dataclass
class Outcome:
    case: Case
    seed: int
    passed: bool
    details: list[str] = field(default_factory=list)


def score(frames: np.ndarray, case: Case, fps: float) -> tuple[bool, list[str]]:
    report = readback.check(frames, case.claims, fps=fps)
    return report.ok, [f"{r.claim.kind} {r.claim.color} {r.claim.value}: {'ok' if r.ok else 'FAIL'} {r.detail}"
                       for r in report.results]


def summarize(outcomes: list[Outcome]) -> dict[str, dict[str, float]]:
    table = {}
    for name in dict.fromkeys(o.case.dimension for o in outcomes):
        mine = [o for o in outcomes if o.case.dimension == name]
        table[name] = {"n": len(mine), "pass_rate": sum(o.passed for o in mine) / len(mine)}
    return table


Generate = Callable[[str, int], tuple[np.ndarray, float]]  # (prompt, seed) -> frames (T, H, W, 3), fps


def run(cases: list[Case], generate: Generate, seeds: Iterable[int] = (0,), progress=None) -> list[Outcome]:
    outcomes = []
    for case in cases:
        for seed in seeds:
            frames, fps = generate(case.prompt, seed)
            passed, details = score(frames, case, fps)
            outcomes.append(Outcome(case, seed, passed, details))
            if progress:
                progress(1)
    return outcomes


def outcome_record(o: Outcome) -> dict:
    return {"dimension": o.case.dimension, "prompt": o.case.prompt, "seed": o.seed, "passed": o.passed,
            "checks": o.details}
