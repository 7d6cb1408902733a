"""Shapes: a draft's blob drawn again as the shape its words ask for, read back from pixels."""

import numpy as np
import pytest

from kino.data.toyworld import Actor, Claim, Obj, Scene, Shot, readback, render
from kino.director import layout, shaping
from kino.pipelines.text_to_video import Request

PROMPT = "A {style}: a blue {shape} on the left stays still. A red square on the right stays still."


def drafted(style: str, shape: str, prompt: str = PROMPT) -> tuple[np.ndarray, list]:
    """A toyworld clip standing in for a model's still draft: the blue object drawn as a circle a
    little off its planned (first) box, the red one as planned; and the plan."""
    placements = layout.plan(prompt.format(style=style, shape=shape), 4)
    centre = {p.color: ((p.boxes[0, 0, 0] + p.boxes[0, 0, 2]) / 2, (p.boxes[0, 0, 1] + p.boxes[0, 0, 3]) / 2)
              for p in placements}  # fmt: skip
    objs = (Obj(0, "blue", "circle"), Obj(1, "red", "square"))
    actors = (Actor(0, centre["blue"][0] + 0.02, centre["blue"][1] + 0.02), Actor(1, *centre["red"]))
    return render(Scene(style, objs, (Shot(actors),), seconds=0.5), width=256, height=256, fps=8), placements


def test_the_plan_says_each_objects_shape():
    placements = layout.plan("Two small green triangles stay still. A red ball moves to the right.", 8)
    assert {p.color: p.shape for p in placements} == {"green": "triangle", "red": "circle"}


@pytest.mark.parametrize("style", ["cartoon", "realistic"])
@pytest.mark.parametrize("shape", ["triangle", "square"])
def test_reshape_draws_the_asked_shape_over_the_blob_and_leaves_the_rest(style, shape):
    frames, placements = drafted(style, shape)
    assert readback.check(frames, [Claim("shape", color="blue", shape=shape)]).ok is False
    # The red square's shape is not said here, so it is left as drawn.
    placements = [p if p.color == "blue" else layout.Placement(p.color, p.spans, p.boxes) for p in placements]
    out = shaping.reshape(frames, placements, style)
    claims = [Claim("shape", color=c, shape=s) for c, s in (("blue", shape), ("red", "square"))]
    claims += [Claim("count", color="blue", count=1), Claim("style", value=style)]
    report = readback.check(out, claims)
    assert report.ok, report.failures
    red = readback.color_masks(frames) == readback.PALETTE.index("red")
    assert np.array_equal(out[red], frames[red])  # the other object is left as it was drawn
    # The circle is gone: no blue pixel lies outside the new shape's box, grown by its outline.
    box = placements[[p.color for p in placements].index("blue")].boxes[0, 0] * 256
    blue = readback.color_masks(out) == readback.PALETTE.index("blue")
    ys, xs = np.nonzero(blue.any(0))
    assert xs.min() >= box[0] - 3 and xs.max() <= box[2] + 3 and ys.min() >= box[1] - 9 and ys.max() <= box[3] + 3


@pytest.mark.parametrize("style", ["cartoon", "realistic"])
def test_the_style_the_model_chose_is_read_off_its_rims(style):
    frames, placements = drafted(style, "square")
    assert shaping.style_of(frames[0], placements) == style


def test_a_plan_without_shapes_changes_nothing():
    frames, placements = drafted("cartoon", "square")
    plain = [layout.Placement(p.color, p.spans, p.boxes) for p in placements]
    assert not shaping.shaped(plain)
    assert np.array_equal(shaping.reshape(frames, plain, "cartoon"), frames)


@pytest.mark.parametrize(
    "prompt, color, shape",
    [("A cartoon: a big purple square at the top center stays still.", "purple", "square"),
     ("A realistic render: a big green triangle in the middle stays still.", "green", "triangle")],
)  # fmt: skip
def test_the_shipped_model_draws_the_shape_asked_for(prompt, color, shape):
    """The model alone (no layout) draws these as blobs that read as another shape; the pipeline's read right."""
    from kino.cli import DEFAULT_MODEL
    from kino.pipelines.text_to_video import TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(DEFAULT_MODEL)
    claim = [Claim("shape", color=color, shape=shape)]
    alone = pipe(Request(prompt, seed=0, steps=10, seconds=1, layout=False)).frames
    assert not readback.check(alone, claim).ok
    assert readback.check(pipe(Request(prompt, seed=0, steps=10, seconds=1)).frames, claim).ok


def test_a_moving_shape_is_drawn_at_its_box_in_every_frame():
    """The still draft's blob is taken out once, at the first box; the triangle the moving plan
    names is drawn at each frame's box, so it travels as the plan says and keeps its shape."""
    moving_prompt = "A {style}: a blue {shape} on the left moves down. A red square on the right stays still."
    frames, _ = drafted("cartoon", "triangle", moving_prompt)
    frames = np.repeat(frames[:1], 9, axis=0)  # a still draft of 9 frames
    moving_prompt = moving_prompt.format(style="cartoon", shape="triangle")
    plan = layout.plan(moving_prompt, 9)
    still = [layout.Placement(p.color, p.spans, np.repeat(p.boxes[:1], 9, axis=0), p.change, p.shape) for p in plan]
    drawn = shaping.travellers(plan)
    assert [p.color for p in drawn] == ["blue"]
    out = shaping.reshape(frames, still, "cartoon", drawn)
    report = readback.check(out, [Claim("shape", color="blue", shape="triangle"), Claim("count", color="blue"),
                                  Claim("motion", color="blue", value="down")])  # fmt: skip
    assert report.ok, report.failures
    blue = readback.color_masks(out) == readback.PALETTE.index("blue")
    ys, xs = np.nonzero(blue[0])
    first = np.array([xs.min(), ys.min(), xs.max(), ys.max()])
    for f in (4, 8):  # the same triangle, moved as its box moved
        ys, xs = np.nonzero(blue[f])
        shift = (drawn[0].boxes[f, 0] - drawn[0].boxes[0, 0]) * 256
        assert np.allclose([xs.min(), ys.min(), xs.max(), ys.max()], first + shift, atol=1.5), f


def test_only_shapes_that_travel_unchanged_under_a_still_camera_are_drawn_moving():
    plan = layout.plan("A green square starts on the left and moves right. A red ball stays still. "
                       "A blue triangle spins.", 9)  # fmt: skip
    assert [p.color for p in shaping.travellers(plan)] == ["green"]
    assert shaping.travellers(plan, camera=True) == []
    shapeless = [layout.Placement(p.color, p.spans, p.boxes, p.change) for p in plan]
    assert shaping.travellers(shapeless) == []


def test_strays_of_a_shaped_objects_colour_are_taken_out():
    """A piece of the blue object's colour far from its box (a fragment the model drew, cells
    carried in from an earlier shot) goes; only the drawn shape is left blue."""
    frames, placements = drafted("realistic", "square")
    frames[:, 20:34, 100:130] = (40, 70, 220)  # toyworld's blue
    out = shaping.reshape(frames, placements, "realistic")
    report = readback.check(out, [Claim("count", color="blue"), Claim("shape", color="blue", shape="square")])
    assert report.ok, report.failures
    blue = readback.color_masks(out) == readback.PALETTE.index("blue")
    assert not blue[:, 10:44, 90:140].any()


def test_strays_of_two_shaped_objects_that_touch_do_not_keep_each_other():
    """Where both models' blobs left smears that run into each other (a blue one touching a red one,
    away from both boxes), both go: each object is drawn again, so neither's pixels need keeping."""
    frames, placements = drafted("realistic", "square")
    frames[:, 200:214, 100:115] = (40, 70, 220)  # toyworld's blue
    frames[:, 200:214, 115:130] = (220, 50, 50)  # and red, touching it
    out = shaping.reshape(frames, placements, "realistic")
    masks = readback.color_masks(out)
    assert not np.isin(masks[:, 190:224, 90:140], [readback.PALETTE.index(c) for c in ("blue", "red")]).any()
    claims = [Claim("shape", color=c, shape="square") for c in ("blue", "red")]
    claims += [Claim("count", color=c, count=1) for c in ("blue", "red")]
    report = readback.check(out, claims)
    assert report.ok, report.failures


def test_a_small_triangle_is_drawn_with_longer_tips_so_it_reads_as_one_after_the_autoencoder():
    """The shipped autoencoder rounds a small triangle's tip off: drawn as toyworld draws it (as it is
    under a moving camera), this one comes back a circle by the readback; drawn with shaping.TIPS
    (under a still camera, the default), a triangle."""
    from kino.cli import DEFAULT_MODEL
    from kino.pipelines.text_to_video import TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(DEFAULT_MODEL)
    set_ = render(Scene("realistic", (), (Shot(()),), seconds=1.0), width=256, height=256, fps=8)
    plan = layout.plan("A realistic render: a small purple triangle on the right stays still.", len(set_))
    claim = [Claim("shape", color="purple", shape="triangle")]
    assert shaping.tips(camera=False) == shaping.TIPS > 0
    assert readback.check(pipe.reconstruct(shaping.draw(set_, plan, "realistic")), claim).ok
    bare = shaping.draw(set_, plan, "realistic", tips=shaping.tips(camera=True))
    assert not readback.check(pipe.reconstruct(bare), claim).ok
    assert np.array_equal(bare, shaping.draw(set_, plan, "realistic", tips=0.0))
