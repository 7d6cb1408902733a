import numpy as np
import pytest

from kino.data import toyworld
from kino.evaluation import adherence


@pytest.fixture(scope="module")
def cases():
    return adherence.suite(4)


def render_truth(case_by_prompt):
    def generate(prompt, seed):
        return toyworld.render(case_by_prompt[prompt].scene, width=256, height=256, fps=8), 8.0

    return generate


def test_suite_covers_every_dimension_with_stated_claims(cases):
    assert {c.dimension for c in cases} == set(adherence.DIMENSIONS)
    for c in cases:
        assert c.claims and all(adherence.DIMENSIONS[c.dimension].selects(cl) for cl in c.claims)
    assert len({c.prompt for c in cases}) > len(cases) // 2  # held-out prompts are varied


def test_ground_truth_renders_score_perfectly(cases):
    outcomes = adherence.run(cases, render_truth({c.prompt: c for c in cases}))
    assert all(row["pass_rate"] == 1.0 for row in adherence.summarize(outcomes).values())


def test_mismatched_renders_score_low(cases):
    """Each prompt scored on the render of another prompt's scene (same dimension, shifted by one)."""
    by_dim = {}
    for c in cases:
        by_dim.setdefault(c.dimension, []).append(c)
    wrong = {}
    for group in by_dim.values():
        for c, other in zip(group, group[1:] + group[:1]):
            wrong[c.prompt] = other
    outcomes = adherence.run(cases, render_truth(wrong))
    assert np.mean([o.passed for o in outcomes]) < 0.5
