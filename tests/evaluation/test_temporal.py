import numpy as np
import pytest

from kino.data import toyworld
from kino.evaluation import temporal

SIZE, FPS = 128, 8


def first_scene(kind, want):
    for seed in range(200):
        scene = toyworld.sample_scene(np.random.default_rng(seed), kinds=[kind])
        if want(scene):
            return scene
    raise AssertionError(f"no {kind} scene found")  # pragma: no cover


def render(scene):
    return toyworld.render(scene, width=SIZE, height=SIZE, fps=FPS)


def noisy(frames, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(frames + rng.normal(0, sigma, frames.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def still():
    scene = first_scene("color", lambda s: all(not a.segments for a in s.shots[0].actors))
    return render(scene)


@pytest.fixture(scope="module")
def moving():
    scene = first_scene("motion", lambda s: s.shots[0].actors[0].motion in ("left", "right"))
    return render(scene)


def test_a_still_render_has_no_flicker_and_no_motion(still):
    fig = temporal.figures(still, FPS)
    assert fig["flicker"] == pytest.approx(0, abs=0.01)
    assert fig["dynamic_degree"] == 0 and fig["subject_consistency"] == 1
    assert fig["motion_smoothness"] is None  # nothing moves: nothing to judge


def test_a_moving_render_is_dynamic_and_smooth(moving):
    fig = temporal.figures(moving, FPS)
    assert fig["dynamic_degree"] > 0.5 and fig["motion_smoothness"] > 0.9
    assert fig["flicker"] == pytest.approx(0, abs=0.5) and fig["subject_consistency"] == 1


def test_per_frame_noise_raises_flicker_but_is_not_motion(still, moving):
    for clip in (still, moving):
        base = temporal.figures(clip, FPS)["flicker"]
        low, high = (temporal.figures(noisy(clip, s), FPS)["flicker"] for s in (4, 12))
        assert base < 0.5 < low < high
    assert temporal.figures(noisy(still, 12), FPS)["dynamic_degree"] == 0


def test_back_and_forth_motion_is_not_smooth(moving):
    order = np.arange(len(moving) - 1).reshape(-1, 2)[:, ::-1].ravel()  # 1, 0, 3, 2, ...: a step back each time
    assert temporal.motion_smoothness(moving[order]) < 0.5 < 0.9 < temporal.motion_smoothness(moving)


def test_objects_that_come_and_go_lower_subject_consistency(still):
    grey = still.copy()
    grey[::3] = still[::3].mean(-1, keepdims=True).astype(np.uint8)  # every third frame loses its colours
    lost = len(range(0, len(still), 3)) / len(still)
    assert temporal.subject_consistency(grey) == pytest.approx(1 - lost)


def test_cuts_split_shots_and_noise_does_not():
    scene = first_scene("multishot", lambda s: len(s.shots) == 2)
    clip = render(scene)
    assert len(temporal.segments(clip)) == 2 and len(temporal.segments(noisy(clip, 12))) == 2
    assert temporal.figures(clip, FPS)["subject_consistency"] == 1  # judged within each shot


def test_aggregate_averages_what_was_read():
    rows = [
        {"flicker": 1.0, "subject_consistency": 1.0, "motion_smoothness": None, "dynamic_degree": 0.0},
        {"flicker": 3.0, "subject_consistency": 0.5, "motion_smoothness": 0.9, "dynamic_degree": 0.5},
    ]
    agg = temporal.aggregate(rows)
    assert agg == pytest.approx({"clips": 2, "flicker": 2.0, "subject_consistency": 0.75, "motion_smoothness": 0.9,
                                 "dynamic_degree": 0.25, "dynamic_clips": 0.5})  # fmt: skip
    assert temporal.aggregate([])["flicker"] is None
