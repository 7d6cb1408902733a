import functools

import numpy as np
import pytest

from kino.data import toyworld
from kino.evaluation import adherence

SIZE, FPS = 256, 8  # the default model's frames

ABILITIES = {  # what the suite must cover, and the dimension that scores it
    "colour": "color", "shape": "shape", "count 1-3": "count_1_3", "count 4-5": "count_4_5",
    "place": "place", "left/right": "left_right", "above/below": "above_below",
    "motion direction": "motion_direction", "grows/shrinks": "size_change", "spin": "spin",
    "first ... then": "order", "hits and turns": "hit_turn", "pushes": "push", "bite mark": "bite",
    "passes behind": "behind", "camera pan": "camera_pan", "camera zoom": "camera_zoom",
    "multi-shot characters": "multishot", "style": "style",
    "each colour at its own place": "binding",
}  # fmt: skip


@pytest.fixture(scope="module")
def cases():
    return adherence.suite(3)


@functools.lru_cache(maxsize=None)
def render(scene, size=SIZE):
    return toyworld.render(scene, width=size, height=size, fps=FPS)


def render_truth(case_by_prompt):
    def generate(prompt, seed):
        return render(case_by_prompt[prompt].scene), float(FPS)

    return generate


def test_suite_covers_every_dimension_with_stated_claims(cases):
    assert {c.dimension for c in cases} == set(adherence.DIMENSIONS)
    for c in cases:
        assert c.claims and all(adherence.DIMENSIONS[c.dimension].selects(cl) for cl in c.claims)
    assert len({c.prompt for c in cases}) > len(cases) // 2  # held-out prompts are varied


def test_default_suite_covers_every_ability_with_300_prompts():
    cases = adherence.default_suite()
    assert set(ABILITIES.values()) == set(adherence.DIMENSIONS)
    counts = {name: sum(c.dimension == name for c in cases) for name in adherence.DIMENSIONS}
    assert len(cases) >= 300 and set(counts.values()) == {adherence.DEFAULT_PER_DIMENSION}
    assert len({c.prompt for c in cases}) > 0.9 * len(cases)


def test_a_dimension_asks_the_same_prompts_whatever_else_is_asked():
    alone = adherence.suite(2, ["spin"])
    together = [c for c in adherence.suite(2, ["color", "spin"]) if c.dimension == "spin"]
    assert [c.prompt for c in alone] == [c.prompt for c in together]


def test_scored_claims_are_stated_in_the_prompt(cases):
    for c in cases:
        text = c.prompt.lower()
        for cl in c.claims:
            assert all(color in text for color in (cl.color, cl.other) if color), (c.prompt, cl)
        if c.dimension == "multishot":
            cuts = [cl for cl in c.claims if cl.kind == "cuts"]
            assert cuts and f"shot {cuts[0].count + 1}:" in text
            assert any(cl.kind == "color" and cl.shot > 0 for cl in c.claims)  # a character seen again
    words = {"style": ("cartoon", "realistic"), "camera_pan": ("pans",), "camera_zoom": ("zooms",),
             "bite": ("bite",), "push": ("push",), "behind": ("behind",), "order": ("first",),
             "hit_turn": ("turns",), "spin": ("spin", "rotat", "turns around")}  # fmt: skip
    for c in cases:
        if c.dimension in words:
            assert any(w in c.prompt.lower() for w in words[c.dimension]), c.prompt


def test_ground_truth_renders_score_perfectly(cases):
    assert len({c.prompt for c in cases}) == len(cases)
    outcomes = adherence.run(cases, render_truth({c.prompt: c for c in cases}))
    summary = adherence.summarize(outcomes)
    assert set(summary) == set(adherence.DIMENSIONS)
    assert all(row["pass_rate"] >= 0.98 for row in summary.values()), summary


def test_mismatched_renders_score_low():
    """Each prompt scored on the render of another prompt's scene of its dimension that states
    something else (same dimension, so only the scored ability tells them apart)."""
    pairs = adherence.mismatched(adherence.suite(8))
    chosen = {}
    for case, other in pairs:
        chosen.setdefault(case.dimension, [])
        if len(chosen[case.dimension]) < 3:
            chosen[case.dimension].append((case, other))
    assert set(chosen) == set(adherence.DIMENSIONS)
    rates = {}
    for name, group in chosen.items():
        rates[name] = np.mean([adherence.score(render(other.scene, 128), case, FPS)[0] for case, other in group])
    assert max(rates.values()) <= 1 / 3 and np.mean(list(rates.values())) < 0.1, rates


def test_mismatched_partners_state_something_else():
    for case, other in adherence.mismatched(adherence.suite(4, ["style", "camera_zoom", "count_4_5"])):
        assert case.dimension == other.dimension and case is not other
        assert not set(case.claims) <= set(other.claims)


def test_inspect_sees_each_clip_once_before_it_is_dropped(cases):
    few = cases[:2]
    seen = []

    def inspect(outcome, frames, fps):
        seen.append((outcome.case.prompt, outcome.seed, frames.shape, fps))
        outcome.temporal = {"flicker": 0.0}
        outcome.sheet = "sheets/x.png"

    outcomes = adherence.run(few, render_truth({c.prompt: c for c in few}), seeds=(0, 1), inspect=inspect)
    assert [(p, s) for p, s, *_ in seen] == [(c.prompt, s) for c in few for s in (0, 1)]
    record = adherence.outcome_record(outcomes[0])
    assert record["temporal"] == {"flicker": 0.0} and record["sheet"] == "sheets/x.png" and record["seed"] == 0


def test_a_refused_clip_fails_and_the_run_goes_on(cases):
    from kino.safety.moderation import SafetyRefusal, Verdict

    few = cases[:3]
    truth = render_truth({c.prompt: c for c in few})

    def generate(prompt, seed):
        if prompt == few[1].prompt:
            raise SafetyRefusal(Verdict(False, "sexual", "female genitalia exposed 0.51 (output frame 26)", {}))
        return truth(prompt, seed)

    ticks = []
    outcomes = adherence.run(few, generate, progress=ticks.append)
    assert [o.passed for o in outcomes] == [True, False, True] and len(ticks) == 3
    assert outcomes[1].details == ["refused by the safety layer: refused: sexual (matched: female genitalia "
                                   "exposed 0.51 (output frame 26))"]


def test_paraphrased_prompts_keep_their_scenes_and_leave_the_caption_words():
    """Issue 25's held-out phrasing: every prompt of the six core dimensions is said otherwise, in
    words no training caption uses, and still states what its scene's claims score."""
    from kino.data.toyworld.vocabulary import unseen

    cases = adherence.suite(34, ["color", "shape", "place", "motion_direction", "left_right", "count_1_3"])
    for case, para in zip(cases, adherence.paraphrased(cases), strict=True):
        assert para.prompt != case.prompt and unseen(para.prompt), para.prompt
        assert para.scene is case.scene and para.claims == case.claims
        for colour in ("red", "green", "blue", "yellow", "purple", "cyan"):  # colours keep their names
            assert case.prompt.count(colour) == para.prompt.count(colour)
