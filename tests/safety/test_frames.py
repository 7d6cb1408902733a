"""Frame moderation with NudeNet's shipped detector, on real photographs.

No explicit image ships in any package this project installs, so no test shows the detector
finding real nudity. What is tested with the real model: benign photographs and toyworld
renders pass; the detector localises a real class (a face) on a real photograph; and every
refusal path (input image, input video, output frames; pipeline, extend and the CLI) fires,
using either a guard whose refused class is a face, or the detector's one known false positive
among scikit-image's pictures (the synthetic colour wheel, BUTTOCKS_EXPOSED 0.83), which the
default classes and threshold refuse.
"""

import numpy as np
import pytest
from photos import astronaut, camera, chelsea, coffee, color_wheel, grace_hopper, resized

from kino.cli import main
from kino.pipelines.extend import extend
from kino.pipelines.text_to_video import Request
from kino.safety import audit
from kino.safety.frames import NUDITY_CLASSES, NUDITY_THRESHOLD, default_nudity_detector, sample_indices
from kino.safety.guard import Guard
from kino.safety.moderation import SafetyRefusal, moderate_prompt

FACE = frozenset({"FACE_FEMALE"})


@pytest.mark.parametrize("n, fps", [(33, 8), (1, 8), (9, 8), (121, 30), (61, 60), (17, 2), (5, 1), (100, 24)])
def test_at_least_two_frames_per_second_are_checked_first_and_last_included(n, fps):
    idx = sample_indices(n, fps)
    assert idx[0] == 0 and idx[-1] == n - 1 and idx == sorted(set(idx))
    gaps = np.diff(idx) if len(idx) > 1 else np.array([1])
    assert gaps.max() <= max(1, fps / 2)  # half a second at most between checked frames (all when fps < 2)


@pytest.mark.parametrize("photo", [astronaut, grace_hopper, coffee, chelsea, camera])
def test_benign_photographs_pass(photo):
    scores = default_nudity_detector()([photo()])[0]
    assert max(scores[c] for c in NUDITY_CLASSES) < NUDITY_THRESHOLD


def test_toyworld_renders_pass():
    from kino.data.toyworld.render import render
    from kino.data.toyworld.scene import sample_scene

    rng = np.random.default_rng(1)
    for _ in range(3):
        frames = render(sample_scene(rng, seconds=1.0), width=128, height=128)
        assert default_nudity_detector().find(frames, sample_indices(len(frames), 8)) is None


def test_detector_localises_a_real_class_on_a_real_photograph():
    detector = default_nudity_detector()
    face, cat = detector([astronaut(), chelsea()])
    assert face["FACE_FEMALE"] > 0.7 and cat["FACE_FEMALE"] < 0.3
    found = detector.find(np.stack([coffee()[:400, :400], astronaut()[:400, :400]]), [0, 1], FACE, 0.5)
    assert (found.index, found.label) == (1, "FACE_FEMALE")
    assert found.describe("output") == f"face female {found.score:.2f} (output frame 1)"


def test_in_a_video_a_middling_score_must_persist(monkeypatch):
    from kino.safety import frames as frames_module

    detector = default_nudity_detector()
    a, c = astronaut()[:400, :400], coffee()[:400, :400]
    score = detector([a])[0]["FACE_FEMALE"]
    monkeypatch.setattr(frames_module, "NUDITY_CERTAIN", score + 0.05)  # the face is a middling score now
    once, twice = np.stack([c, a, c]), np.stack([c, a, a])
    assert detector.find(once, [0, 1, 2], FACE, 0.5) is None  # one flickering frame of three
    assert detector.find(twice, [0, 1, 2], FACE, 0.5).index == 1  # held for two sampled frames
    assert detector.find(once, [1], FACE, 0.5).index == 1  # a single image is judged alone
    monkeypatch.setattr(frames_module, "NUDITY_CERTAIN", score - 0.05)
    assert detector.find(once, [0, 1, 2], FACE, 0.5).index == 1  # a certain frame is refused alone


def test_a_middling_score_counts_only_on_skin():
    """Two frames of a zooming shot of a cyan ball the shipped model made (kino eval, camera zoom):
    the detector gives the whole frame BUTTOCKS_EXPOSED 0.56 and 0.58, which held over two frames
    was refused. No skin is in them, so the scores do not count; a face keeps its score (it is
    skin), and a certain score counts on any pixels (the colour wheel, 0.83)."""
    from pathlib import Path

    from PIL import Image

    from kino.safety.frames import NUDITY_CERTAIN, preprocess, skin_shares

    here = Path(__file__).parent / "data"
    ball = np.stack([np.asarray(Image.open(here / f"cyan_ball_zoom_{i:02d}.png")) for i in (2, 16)])
    detector = default_nudity_detector()
    raw = [row["BUTTOCKS_EXPOSED"] for row in detector(list(ball), skin_gate=False)]
    assert all(NUDITY_THRESHOLD <= s < NUDITY_CERTAIN for s in raw)  # a false positive, held in both frames
    assert detector.find(ball, [0, 1]) is None
    assert max(detector(list(ball))[0][c] for c in NUDITY_CLASSES) < NUDITY_THRESHOLD
    gated, plain = detector([astronaut()])[0], detector([astronaut()], skin_gate=False)[0]
    assert gated["FACE_FEMALE"] == plain["FACE_FEMALE"] > 0.7
    assert detector([color_wheel()])[0]["BUTTOCKS_EXPOSED"] >= NUDITY_CERTAIN
    whole = np.array([[160.0], [160.0], [320.0], [320.0]])
    assert skin_shares(preprocess(ball[0]), whole)[0] < 0.01 and skin_shares(preprocess(chelsea()), whole)[0] > 0.5


def face_guard(tmp_path) -> Guard:
    """A guard that refuses a female face as if it were nudity: the plumbing with the real model."""
    return Guard(moderate_prompt, default_nudity_detector(), audit_log=tmp_path / "audit.jsonl", nudity_classes=FACE)


def test_pipeline_refuses_an_input_image_before_generating(tiny_pipeline, tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_pipeline, "guard", face_guard(tmp_path))
    with pytest.raises(SafetyRefusal) as e:
        tiny_pipeline(Request("a red ball", image=astronaut(), steps=1, seconds=0.5, user="ann"))
    assert e.value.verdict.category == "sexual" and "input image frame 0" in e.value.verdict.matched
    (entry,) = audit.read(tmp_path / "audit.jsonl")
    assert (entry["category"], entry["stage"], entry["user"]) == ("sexual", "input", "ann")
    tiny_pipeline(Request("a red ball", image=coffee(), steps=1, seconds=0.5))  # a benign picture passes


def test_output_frames_are_checked_after_decoding(tiny_pipeline, tmp_path, monkeypatch):
    guard = face_guard(tmp_path)
    guard.nudity_classes, guard.nudity_threshold = NUDITY_CLASSES, 0.0  # every frame scores >= 0
    monkeypatch.setattr(tiny_pipeline, "guard", guard)
    with pytest.raises(SafetyRefusal) as e:
        tiny_pipeline(Request("a red ball", steps=1, seconds=0.5, fps=8))
    assert "output frame 0" in e.value.verdict.matched
    assert audit.read(tmp_path / "audit.jsonl")[0]["stage"] == "output"


def test_extend_checks_the_whole_input_clip(tiny_pipeline, tmp_path, monkeypatch):
    monkeypatch.setattr(tiny_pipeline, "guard", face_guard(tmp_path))
    clip = np.stack([resized(coffee(), 128, 128)] * 17)
    clip[2:5] = resized(astronaut(), 128, 128)  # early (far from the frames that condition the extension),
    # and held for half a second: a middling score must persist over two sampled frames
    with pytest.raises(SafetyRefusal) as e:
        extend(tiny_pipeline, clip, 8, 0.5, "more", steps=1)
    assert "input video frame 2" in e.value.verdict.matched


def test_cli_refuses_an_input_image_with_exit_3_one_line_and_no_file(capsys, tmp_path, tiny_model_dir, monkeypatch):
    from PIL import Image

    log = tmp_path / "audit.jsonl"
    monkeypatch.setenv("KINO_AUDIT_LOG", str(log))
    Image.fromarray(color_wheel()).save(tmp_path / "wheel.png")
    out = tmp_path / "clip.mp4"
    code = main(["generate", "a spinning disc", "-o", str(out), "--image", str(tmp_path / "wheel.png"),
                 "--model", str(tiny_model_dir), "--steps", "1"])
    err = capsys.readouterr().err.strip()
    assert code == 3 and len(err.splitlines()) == 1
    assert err.startswith("kino: refused: sexual (matched: buttocks exposed 0.8")
    assert not out.exists()
    (entry,) = audit.read(log)
    assert entry["category"] == "sexual" and entry["stage"] == "input"
