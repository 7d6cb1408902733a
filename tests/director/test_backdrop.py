"""Backdrops: read off toyworld renders, moved to another, and asked of the pipeline."""

import numpy as np
import pytest

from kino.data.toyworld import Actor, Obj, Scene, Shot, readback, render
from kino.data.toyworld.scene import BACKDROPS
from kino.director import backdrop
from kino.pipelines.text_to_video import Request, RequestError


def scene(index: int, style: str = "cartoon") -> Scene:
    objs = (Obj(0, "red", "circle", "big"), Obj(1, "blue", "square", "small"))
    actors = (Actor(0, 0.3, 0.5), Actor(1, 0.7, 0.8))
    return Scene(style, objs, (Shot(actors, backdrop=index),), seconds=1.0)


@pytest.mark.parametrize("style", ["cartoon", "realistic"])
def test_the_backdrop_and_horizon_are_read_off_renders(style):
    for index, (_, _, horizon) in enumerate(BACKDROPS):
        drawn, row = backdrop.read(render(scene(index, style), width=256, height=192, fps=4)[0])
        assert drawn == index and abs(row - horizon * 192) <= 3


@pytest.mark.parametrize("style", ["cartoon", "realistic"])
def test_regrade_moves_the_set_and_leaves_objects_alone(style):
    frames = render(scene(0, style), width=256, height=256, fps=4)
    objects = readback.color_masks(frames) >= 0
    for index in (1, 2):
        moved = backdrop.regrade(frames, index)
        assert backdrop.read(moved[0])[0] == index
        assert np.array_equal(moved[objects], frames[objects])
        truth = render(scene(index, style), width=256, height=256, fps=4).astype(int)
        _, is_set = backdrop.set_pixels(truth)
        # Above the horizon the set is the render's to a grey level or two (the horizons differ by a few rows).
        sky = is_set & (np.arange(256) < 0.65 * 256)[None, :, None]
        assert np.abs(moved.astype(int) - truth)[sky].mean() < 2
        assert readback.cuts(np.concatenate([frames, moved])) == [len(frames)]  # the change reads as a cut


def test_regrade_keeps_what_it_cannot_read_and_refuses_unknown_backdrops():
    red = np.zeros((2, 64, 64, 3), np.uint8)
    red[..., 0] = 220
    assert backdrop.read(red[0]) is None and backdrop.regrade(red, 1) is red
    with pytest.raises(ValueError, match="backdrop 3 is not known; use 0 to 2"):
        backdrop.regrade(red, 3)


@pytest.mark.parametrize("bad", [3, -1, True, 1.5])
def test_a_request_names_an_allowed_backdrop(tiny_pipeline, bad):
    with pytest.raises(RequestError, match=f"backdrop {bad!r} is not allowed; use 0 to 2"):
        tiny_pipeline.resolve(Request("a red ball", backdrop=bad))


@pytest.mark.parametrize("prompt", ["a big red ball moves to the right", "a quiet afternoon"])
def test_the_shipped_model_draws_a_shot_against_the_backdrop_asked_for(prompt):
    """The model alone always draws backdrop 0; asked for 2 (planned or not), the whole shot stands
    against it, and the change between the two reads as a cut."""
    from kino.cli import DEFAULT_MODEL
    from kino.pipelines.text_to_video import TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(DEFAULT_MODEL)
    own = pipe(Request(prompt, seed=0, steps=6, seconds=1)).frames
    lighter = pipe(Request(prompt, seed=0, steps=6, seconds=1, backdrop=2)).frames
    assert [backdrop.read(f)[0] for f in (own[0], own[-1])] == [0, 0]
    assert [backdrop.read(f)[0] for f in (lighter[0], lighter[-1])] == [2, 2]
    assert readback.cuts(np.concatenate([own, lighter])) == [len(own)]


def test_textured_presses_toyworlds_own_dots_into_the_set_and_leaves_objects_alone():
    """A plain set gets the dots toyworld draws for that seed; an object and its outline keep their pixels."""
    truth = render(Scene("cartoon", scene(0).objects, scene(0).shots, seconds=1.0, seed=11), width=256, height=256,
                   fps=4)[0]  # fmt: skip
    sky = BACKDROPS[0][0]
    plain = np.full_like(truth, sky)
    objects = ~backdrop.set_pixels(truth)[1]  # the objects, their outlines and shadows
    plain[objects] = truth[objects]
    out = backdrop.textured(plain, 11)
    open_sky = ~ndimage_grow(objects) & (np.arange(256) < 0.6 * 256)[:, None]
    assert np.abs(out.astype(int) - truth)[open_sky].max() <= 1  # the render's own dots, to rounding
    assert (out[open_sky] < sky - 10).any(axis=-1).sum() > 200  # and there are dots
    assert np.array_equal(out[objects], plain[objects])
    assert not np.array_equal(backdrop.textured(plain, 12), out)  # the seed places them


def test_a_pan_over_a_plain_set_reads_only_once_it_is_textured():
    """Why the camera's still frame is textured: a pan moves the set in pixels, and a set with no
    dots gives the readback nothing to follow."""
    from kino.director.layout import plan
    from kino.director.motion import camera_path, camera_view

    prompt = "a big red ball at the top left. The camera pans left."
    plain = np.full((256, 256, 3), BACKDROPS[0][0], np.uint8)
    plain[180:] = BACKDROPS[0][1]
    path = camera_path(prompt, 33)
    for frame, reads in ((plain, False), (backdrop.textured(plain, 5), True)):
        shift, zoom, match = readback.camera_motion(camera_view(frame, plan(prompt, 33), path, 0, 8))
        assert (match > 0.8 and shift == pytest.approx(0.3, abs=0.03)) is reads


def ndimage_grow(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=3)
