import numpy as np
import torch
import pytest

from kino.pipelines.text_to_video import Request, RequestError, num_frames_for


def test_frame_count_is_one_plus_multiple_of_four():
    assert num_frames_for(4.0, 8, 4) == 33
    assert num_frames_for(1.0, 8, 4) == 9
    assert num_frames_for(0.1, 8, 4) == 5


def test_defaults_shape_and_dtype(tiny_pipeline):
    result = tiny_pipeline(Request("a red ball rolls to the right", seed=1))
    d = tiny_pipeline.cfg.sample
    assert result.frames.shape == (num_frames_for(d.seconds, d.fps, 4), d.height, d.width, 3)
    assert result.frames.dtype == np.uint8
    assert set(result.timings) >= {"text_encoding", "transformer", "vae_decode"}


def test_same_seed_same_video_other_seed_other_video(tiny_pipeline):
    a = tiny_pipeline(Request("a blue square", seed=7)).frames
    b = tiny_pipeline(Request("a blue square", seed=7)).frames
    c = tiny_pipeline(Request("a blue square", seed=8)).frames
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_prompt_changes_the_video(tiny_pipeline):
    a = tiny_pipeline(Request("a blue square", seed=7)).frames
    b = tiny_pipeline(Request("three green triangles on the left", seed=7)).frames
    assert not np.array_equal(a, b)


def test_non_square_size_and_duration(tiny_pipeline):
    result = tiny_pipeline(Request("a cyan ball", width=192, height=128, seconds=1.0, fps=8, steps=2, sampler="heun"))
    assert result.frames.shape == (9, 128, 192, 3)


def test_progress_reports_every_step(tiny_pipeline):
    seen = []
    tiny_pipeline(Request("a cyan glow", steps=3), progress=lambda i, n: seen.append((i, n)))
    # One pass of 3 steps (the planner reads nothing; two passes: test_motion), the decode, the frame checks.
    assert seen == sorted(seen) and sorted(set(seen)) == [(0, 5), (1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert seen[-1] == (5, 5)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "ball " * 100}, "tokens long"),
        ({"width": 50}, "width 50 is not allowed"),
        ({"height": 4096}, "height 4096 is not allowed"),
        ({"height": 64}, "height 64 is not allowed; use a multiple of 16 from 128 to 1024"),  # the watermark's floor
        ({"seconds": 0}, "duration 0 s is not allowed"),
        ({"seconds": float("nan")}, "is not allowed"),
        ({"seconds": 600}, "duration 600 s is not allowed"),
        ({"fps": 0}, "fps 0 is not allowed"),
        ({"steps": 0}, "steps 0 is not allowed"),
        ({"guidance": -1}, "guidance -1 is not allowed"),
        ({"sampler": "ddim"}, "sampler 'ddim' is not allowed"),
        ({"seed": -1}, "seed -1 is not allowed"),
    ],
)
def test_bad_requests_say_what_is_allowed(tiny_pipeline, change, message):
    req = Request(**{"prompt": "a red ball", **change})
    with pytest.raises(RequestError, match=message):
        tiny_pipeline.resolve(req)


def test_given_first_and_last_images_are_kept_in_latent_space(tiny_pipeline):
    rng = np.random.default_rng(0)
    first = rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)  # another size: scaled and cropped
    last = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    req = tiny_pipeline.resolve(Request("a red ball", image=first, last_image=last, steps=2))
    out = tiny_pipeline(req)
    with torch.inference_mode():
        want_first = tiny_pipeline.image_latent(first, req, "first").float()
        want_last = tiny_pipeline.image_latent(last, req, "last").float()
    assert torch.allclose(out.latents[:, :, 0], want_first)
    assert torch.allclose(out.latents[:, :, -1], want_last)
    plain = tiny_pipeline(Request("a red ball", steps=2))
    assert not torch.allclose(plain.latents[:, :, 1:-1], out.latents[:, :, 1:-1])  # the middle follows the ends


def test_fit_image_covers_and_crops():
    from kino.pipelines.text_to_video import fit_image

    img = np.zeros((100, 50, 3), np.uint8)
    img[:, :25] = 255
    out = fit_image(img, 64, 32)
    assert out.shape == (32, 64, 3)
    assert out[:, :30].mean() > 200 and out[:, 34:].mean() < 50


@pytest.mark.parametrize("image", [np.zeros((4, 4, 3), np.uint8), np.zeros((32, 32), np.uint8),
                                   np.zeros((32, 32, 3), np.float32)])
def test_bad_images_are_refused(tiny_pipeline, image):
    with pytest.raises(RequestError, match="RGB picture"):
        tiny_pipeline.resolve(Request("a red ball", image=image))


def test_the_director_runs_only_for_models_that_learnt_toyworlds_words(tiny_pipeline, tiny_model_dir, tmp_path):
    """A model folder whose config declares another vocabulary never gets the toyworld director, even
    when a request asks for it; one that declares toyworld's (or says nothing: kino's own) does."""
    import dataclasses
    import json
    import shutil

    from kino.pipelines.text_to_video import Request, TextToVideoPipeline

    req = Request("a big red ball on the left moves to the right", layout=True)
    assert tiny_pipeline.resolve(req).layout
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(dict(cfg, vocabulary="cities")))
    pipe = TextToVideoPipeline.from_pretrained(other)
    assert pipe.cfg.vocabulary == "cities" and not pipe.resolve(req).layout
    assert not tiny_pipeline.resolve(dataclasses.replace(req, layout=False)).layout


@pytest.mark.parametrize("prompt", ["\u200b", "\ufeff \u2060", "\u200d\x00\x07"])
def test_a_prompt_of_invisible_characters_is_empty(tiny_pipeline, prompt):
    from kino.pipelines.text_to_video import Request, RequestError

    with pytest.raises(RequestError, match="prompt is empty"):
        tiny_pipeline.resolve(Request(prompt))
    assert tiny_pipeline.resolve(Request("a red\u200b ball\x00")).prompt == "a red ball"


def test_a_duration_of_no_frame_is_refused(tiny_pipeline):
    from kino.pipelines.text_to_video import Request, RequestError

    with pytest.raises(RequestError, match=r"1e-09 s is no frame at 8 fps; use at least one frame \(0.125 s\)"):
        tiny_pipeline.resolve(Request("a ball", seconds=1e-9, fps=8))
    assert tiny_pipeline.resolve(Request("a ball", seconds=0.1, fps=8)).seconds == 0.1  # one frame: made as five


def test_the_model_alone_takes_its_own_default_steps(tiny_model_dir, tmp_path):
    import json
    import shutil

    from kino.pipelines.text_to_video import Request, TextToVideoPipeline

    folder = tmp_path / "m"
    shutil.copytree(tiny_model_dir, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["sample"].update(steps=3, steps_alone=7)
    (folder / "config.json").write_text(json.dumps(cfg))
    pipe = TextToVideoPipeline.from_pretrained(folder)
    assert pipe.resolve(Request("a red ball")).steps == 3
    assert pipe.resolve(Request("a red ball", layout=False)).steps == 7
    assert pipe.resolve(Request("a red ball", layout=False, steps=2)).steps == 2
