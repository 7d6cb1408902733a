"""kino's own model behind the Backend interface (kino.backends.native), checked as the open models
are: found and loaded by the registry, its rules and defaults, every capability it declares, the
frames it returns, progress counted to the end, cancel, and the core's long video made on it."""

from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest

from kino import core
from kino.backends.base import (CAPABILITIES, NATIVE_CAPABILITIES, REFERENCE, Cancelled, CapabilityError, Clip,
                                RequestError)
from kino.progress import Progress

PROMPT = "a big red ball on the left moves to the right"


@pytest.fixture(scope="module")
def native(tiny_model_dir):
    from kino.backends.registry import load, locate

    return load(locate(tiny_model_dir), "fp32", "cpu")


def clip(**given) -> Clip:  # the tiny model's default clip: 128 px, 9 frames at 4 fps, 4 steps
    return Clip(**{**dict(prompt=PROMPT, seed=3, width=128, height=128, frames=9, fps=4, steps=4, guidance=4.0),
                   **given})


def made(backend, c: Clip) -> tuple[np.ndarray, Progress]:
    seen = []
    progress = Progress(lambda done, total: seen.append((done, total)))
    frames = backend.generate(c, progress)
    assert seen and seen[-1][0] == seen[-1][1] == progress.total  # the bar ends full
    assert all(b[0] >= a[0] for a, b in itertools.pairwise(seen))  # and never goes back
    return frames, progress


def test_the_registry_finds_loads_and_describes_a_kino_folder(tiny_model_dir, native):
    from kino.backends.native import NativeBackend
    from kino.backends.registry import checker, locate

    info = locate(tiny_model_dir)
    assert info.backend == "native" and info.capabilities == NATIVE_CAPABILITIES
    assert isinstance(native, NativeBackend) and native.capabilities == NATIVE_CAPABILITIES
    described = checker(info)
    assert described.rules == native.rules and described.defaults == native.defaults
    d = native.defaults  # the folder's own sampling defaults (config "tiny")
    assert (d.width, d.height, d.seconds, d.fps, d.steps, d.guidance) == (128, 128, 2.0, 4, 4, 4.0)
    assert native.rules.size_multiple == 16 and native.rules.frame_step == 4 and native.rules.max_side == 1024
    assert native.count_tokens(PROMPT) > 0


def test_a_damaged_folder_is_a_request_error(tmp_path):
    from kino.backends.registry import load, locate

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(RequestError):
        load(locate(tmp_path), "fp32", "cpu")


@pytest.mark.parametrize("layout", [True, False])
def test_text_to_video_is_the_size_asked_and_the_same_for_the_same_seed(tiny_model_dir, layout):
    from kino.backends.native import NativeBackend
    from kino.backends.registry import locate

    backend = NativeBackend.load(locate(tiny_model_dir), "fp32", "cpu", layout=layout)
    assert backend.layout is layout  # the tiny model declares toyworld's vocabulary
    a, _ = made(backend, clip())
    assert a.shape == (9, 128, 128, 3) and a.dtype == np.uint8 and a.std() > 1
    assert np.array_equal(a, backend.generate(clip()))
    assert not np.array_equal(a, backend.generate(clip(seed=4)))
    wide = backend.generate(clip(width=160, frames=5))
    assert wide.shape == (5, 128, 160, 3)


def test_the_director_runs_only_for_a_model_of_toyworlds_vocabulary(tiny_pipeline):
    import dataclasses

    from kino.backends.base import ModelInfo
    from kino.backends.native import NativeBackend

    info = ModelInfo("tiny", ".", "native", "kino DiT + causal video VAE", NATIVE_CAPABILITIES)
    assert NativeBackend(info, tiny_pipeline, layout=True).layout is True
    elsewhere = dataclasses.replace(tiny_pipeline.cfg, vocabulary="open")
    pipe = type(tiny_pipeline)(elsewhere, tiny_pipeline.vae, tiny_pipeline.dit, tiny_pipeline.text_encoder)
    assert NativeBackend(info, pipe, layout=True).layout is False


def test_every_declared_capability_makes_frames(native):
    image = np.full((96, 160, 3), (200, 40, 40), np.uint8)
    source = native.generate(clip(seed=1))
    mask = np.zeros((128, 128), bool)
    mask[32:96, 32:96] = True
    calls = {
        "image to video": clip(image=image),
        "first-last frame": clip(last_image=image),
        "extend": clip(prefix=source[-5:]),
        "video to video": clip(video=source, strength=0.5),
        "masked edit": clip(video=source, mask=mask, strength=0.5),
    }
    for capability, c in calls.items():
        assert c.needs == capability
        frames, _ = made(native, c)
        assert frames.shape == (9, 128, 128, 3) and frames.dtype == np.uint8, capability
    masked = native.generate(calls["masked edit"])
    assert np.array_equal(masked[:, :16], source[:, :16])  # outside the mask: the input's pixels
    assert set(CAPABILITIES) - set(native.capabilities) == {REFERENCE}


def test_a_negative_prompt_is_the_unconditional_text_of_its_guidance(native):
    """What guidance steers away from: the empty prompt (as trained) unless one is given, on a clip,
    a long video (Backend.video) and a storyboard (Backend.story) alike."""
    plain = native.generate(clip())
    assert np.array_equal(plain, native.generate(clip(negative_prompt="")))
    assert not np.array_equal(plain, native.generate(clip(negative_prompt="a small blue square")))
    job = core.Job(PROMPT, seed=2, seconds=6, steps=1)
    long, steered = (core.gather(core.stream(native, core.resolve(native, j), allow_all()))
                     for j in (job, dataclasses.replace(job, negative_prompt="a small blue square")))
    assert long.shape == steered.shape and not np.array_equal(long, steered)
    from kino.pipelines.storyboard import from_prompt

    story = from_prompt("Shot 1: a red ball. Shot 2: a blue ball", 2, 0)
    shots = [core.gather(core.storyboard(native, story, allow_all(), steps=1, width=None, height=None, fps=None,
                                         guidance=None, **given)) for given in ({}, {"negative_prompt": "a green"})]
    assert shots[0].shape == shots[1].shape and not np.array_equal(*shots)


def test_it_declares_the_options_it_honours_and_says_which_it_ignores(tiny_model_dir):
    from kino.backends.base import (
        COMPILE,
        NEGATIVE_PROMPT,
        OFFLOAD,
        VAE_TILING,
        ignored,
    )
    from kino.backends.registry import locate

    info = locate(tiny_model_dir)
    assert info.options == (NEGATIVE_PROMPT,) and info.vocabulary == "toyworld"
    notes = ignored(info, {"--offload": OFFLOAD, "--vae-tiling": VAE_TILING, "--compile": COMPILE,
                           "--negative-prompt": NEGATIVE_PROMPT})
    assert notes == [
        f"--offload has no effect on {tiny_model_dir}: the model is small enough to load whole onto one device",
        f"--vae-tiling has no effect on {tiny_model_dir}: the model's VAE decodes whole",
        f"--compile has no effect on {tiny_model_dir}: the model runs eagerly"]


def test_requests_are_checked_against_its_rules(native):
    for c, message in ((clip(width=136), "width 136 is not allowed; use a multiple of 16 from 128 to 1024"),
                       (clip(frames=8), "8 frames in one call is not allowed; use 1 + 4k frames"),
                       (clip(prompt="a ball " * 60), "this model reads at most 64")):
        with pytest.raises(RequestError, match=re.escape(message)):
            native.generate(c)
    with pytest.raises(CapabilityError, match="cannot do reference images"):
        native.generate(clip(references=(np.zeros((64, 64, 3), np.uint8),)))


def test_cancel_stops_it_at_the_next_unit_of_work(native):
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 2

    with pytest.raises(Cancelled):
        native.generate(clip(), cancelled=cancelled)


def allow_all():
    from kino.safety.guard import Guard
    from kino.safety.moderation import Verdict

    return Guard(moderate=lambda text: Verdict(True, None, None, {}), nudity=None)


def test_the_cores_long_video_and_loop_are_its_pipelines_own(native):
    """kino.core hands a whole video to the model's own way (Backend.video): kino.pipelines.long_video,
    chunks laid out as one video by the director, the same frames as that pipeline makes."""
    from kino.pipelines import long_video
    from kino.pipelines.text_to_video import Request

    for job, frames in ((core.Job(PROMPT, seed=2, seconds=6), 25), (core.Job(PROMPT, seed=2, loop=True), 8)):
        r = core.resolve(native, job)
        progress = Progress()
        video = core.gather(core.stream(native, r, allow_all(), progress))
        assert video.shape == (frames, 128, 128, 3), job
        assert progress.done == progress.total
        direct = long_video.generate(native.pipe, Request(PROMPT, seed=2, seconds=job.seconds, steps=4),
                                     loop=job.loop).frames
        assert np.array_equal(video, direct)


def test_the_cores_extend_is_its_pipelines_own(native):
    """kino.core hands extend (and connect, edit) to the model's own way (Backend.continued):
    kino.pipelines.extend, the director following the clip's motion, the same frames as that makes;
    without the fade the input's frames are kept exactly."""
    from kino.backends.native import NativeBackend
    from kino.pipelines.extend import extend

    source = native.generate(clip(seed=1))
    job = core.Job("the red ball moves on", seed=5, seconds=2)
    video = core.continue_video(native, job, source, 4, allow_all())
    direct = extend(native.guarded(allow_all()), source, 4, 2, job.prompt, seed=5, layout=True)
    assert video.shape == (17, 128, 128, 3) and np.array_equal(video, direct)
    kept = core.continue_video(NativeBackend(native.info, native.pipe, fade=False), job, source, 4, allow_all())
    assert kept.shape == (17, 128, 128, 3) and np.array_equal(kept[:9], source)


def test_kino_generate_on_it_names_the_backend_and_its_weights_and_refuses_before_loading(tiny_model_dir, tmp_path,
                                                                                         capsys):
    import json
    import shutil

    from kino.backends.registry import weights_sha256
    from kino.cli import main

    out = tmp_path / "out.mp4"
    assert main(["generate", PROMPT, "-o", str(out), "--model", str(tiny_model_dir), "--steps", "1"]) == 0
    assert "(native, 1 steps, with the toyworld director)" in capsys.readouterr().err
    assert main(["verify", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    c2pa = report["c2pa"]
    assert c2pa["status"] == "valid" and report["watermark"]["present"]
    assert c2pa["summary"]["backend"] == "native"
    assert c2pa["summary"]["weights_sha256"] == weights_sha256(tiny_model_dir)
    broken = tmp_path / "broken"  # its weights are gone: loading it would exit 2
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    assert main(["generate", "a man stabs a woman to death, blood everywhere", "-o", str(out), "--model",
                 str(broken)]) == 3
    assert main(["generate", PROMPT, "-o", str(out), "--model", str(broken)]) == 2


def test_a_storyboard_on_it_is_moderated_before_loading_and_names_the_backend(tiny_model_dir, tmp_path, capsys):
    """Its shots are still made by its storyboard pipeline (the director's characters and backdrops),
    but checked and signed as every model's are."""
    import json
    import shutil

    from kino.cli import main

    broken = tmp_path / "broken"  # its weights are gone: loading it would exit 2
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    story = tmp_path / "s.yaml"
    story.write_text("shots:\n  - a red ball\n  - a man stabs a woman to death, blood everywhere\n")
    out = tmp_path / "out.mp4"
    assert main(["storyboard", str(story), "-o", str(out), "--model", str(broken)]) == 3
    assert main(["generate", "Shot 1: a red ball. Shot 2: a man stabs a woman to death, blood everywhere", "-o",
                 str(out), "--model", str(broken)]) == 3
    assert not out.exists()
    assert main(["generate", "Shot 1: a red ball. Shot 2: a blue ball", "-o", str(out), "--model", str(tiny_model_dir),
                 "--seconds", "2", "--steps", "1"]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["c2pa"]["summary"]["backend"] == "native"


def test_extend_connect_and_edit_on_it_are_moderated_before_loading_and_name_the_backend(tiny_model_dir, tmp_path,
                                                                                       capsys):
    """Still made by its own extend, connect and edit (the director follows a clip's motion), but
    checked and signed as every model's are."""
    import json
    import shutil

    from kino.cli import main
    from kino.data.video_io import write_video

    clip_file = tmp_path / "in.mp4"
    write_video(clip_file, np.full((9, 128, 128, 3), 120, np.uint8), 4)
    broken = tmp_path / "broken"  # its weights are gone: loading it would exit 2
    shutil.copytree(tiny_model_dir, broken)
    (broken / "model.safetensors").unlink()
    out = tmp_path / "out.mp4"
    harmful = "a man stabs a woman to death, blood everywhere"
    for argv in (["extend", clip_file, harmful], ["connect", clip_file, clip_file, harmful],
                 ["edit", clip_file, harmful]):
        assert main([*map(str, argv), "-o", str(out), "--model", str(broken)]) == 3, argv[0]
    assert not out.exists()
    assert main(["extend", str(clip_file), "the ball moves on", "-o", str(out), "--seconds", "1", "--steps", "1",
                 "--model", str(tiny_model_dir)]) == 0
    capsys.readouterr()
    assert main(["verify", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["c2pa"]["summary"]
    assert summary["backend"] == "native"
