import pytest

from kino.data.toyworld import Actor, Obj, Scene, Shot, describe
from kino.pipelines.prompting import (
    CAMERA_PHRASES, camera_in, camera_moves, enhance, read_shot, split_shots, with_camera,
)
from kino.pipelines.text_to_video import RequestError


@pytest.mark.parametrize(
    "camera, phrase", [("pan-left", "The camera pans left."), ("zoom-out", "The camera zooms out.")]
)
def test_camera_adds_the_caption_phrase(camera, phrase):
    assert with_camera("a red ball", camera) == f"a red ball. {phrase}"
    assert camera_in(with_camera("a red ball", camera)) == {camera}


def test_camera_moves_leaves_a_still_camera_out():
    assert camera_moves("a red ball. The camera pans left.") == {"pan-left"}
    assert camera_moves("a red ball, still camera") == set() == camera_moves("a red ball")


def test_camera_still_adds_nothing_and_agreeing_words_are_not_repeated():
    assert with_camera("a red ball", "still") == "a red ball"
    assert with_camera("the camera pans to the right over a red ball", "pan-right").count("pans") == 1


@pytest.mark.parametrize(
    "prompt, camera",
    [("the camera zooms in on a ball", "pan-left"), ("a ball, camera pans left", "still"),
     ("a ball, still camera", "zoom-in")],
)
def test_camera_conflicts_with_the_prompt_are_errors(prompt, camera):
    with pytest.raises(RequestError, match="conflicts"):
        with_camera(prompt, camera)


PANS = [
    ("a red ball and a blue cube, the camera pans left", "pan-left"),
    ("a red ball and a blue cube, the camera sweeps to the right", "pan-right"),
    ("a red ball and a blue cube. Panning shot to the left.", "pan-left"),
    ("a green triangle in the middle; the camera moves to the left", "pan-left"),
    ("a yellow ball and a red cube, camera pans to the right", "pan-right"),
    ("the view slowly slides right over a red ball", "pan-right"),
    ("a red ball, pan from left to right", "pan-right"),
    ("a leftward pan across a red ball and a blue cube", "pan-left"),
]


@pytest.mark.parametrize("prompt, camera", PANS)
def test_a_pan_said_any_way_is_the_cameras_way_not_an_objects(prompt, camera):
    """"The camera sweeps to the right" was read as the blue cube moving right over a still set."""
    assert camera_moves(prompt) == {camera}
    _, shot = read_shot(prompt)
    assert shot.camera == camera and all(not a.segments for a in shot.actors)
    assert CAMERA_PHRASES[camera] in enhance(prompt) and " moves " not in enhance(prompt)


def test_an_objects_own_way_stays_beside_a_pan():
    _, shot = read_shot("a red ball moves to the right. The camera pans to the left.")
    assert shot.camera == "pan-left" and [a.motion for a in shot.actors] == ["right"]
    assert camera_in("a frying pan to the left of a red ball") == set()


def test_camera_words_match_toyworld_captions():
    obj = Obj(0, "red", "circle")
    for camera in ("pan-left", "pan-right", "zoom-in", "zoom-out"):
        caption = describe(Scene("cartoon", (obj,), (Shot((Actor(0, 0.5, 0.5),), camera=camera),)))
        assert camera_in(caption) == {camera}


@pytest.mark.parametrize(
    "short, detailed",
    [
        ("red ball going right", "A red ball starts on the left and moves right."),
        ("a cartoon of two small blue boxes", "A cartoon: two small blue squares."),
        ("purple ball falls", "A purple ball starts at the top center and falls."),
        ("a small cyan ball at the bottom left", "A small cyan ball at the bottom left."),  # both words of a corner
        ("a green box at the top center stays put", "A green square at the top center stays still."),
        ("a red ball rolls to the right", "A red ball starts on the left and moves right."),  # a way, not a place
        ("a blue ball on the right rolls to the left", "A blue ball starts on the right and moves left."),
        ("Shot 1: red ball moves left Shot 2: red ball bounces",
         "Shot 1: A red ball starts on the right and moves left. Shot 2: The red ball starts in the middle and "
         "bounces."),
        ("first a red ball goes left, then a blue box falls", "First a red ball moves left, then a blue square falls."),
    ],
)
def test_enhance_writes_the_training_caption_style(short, detailed):
    assert enhance(short) == detailed
    assert enhance(short) == enhance(short)


@pytest.mark.parametrize("prompt", ["a dog runs", "a red ball hits a blue box", "a red ball and a red box",
                                    "a red ball pushes a blue box to the left", "first a red ball moves left, then it stops",
                                    "a red ball to the left of a blue box", "a red ball above a green box"])
def test_enhance_keeps_what_it_cannot_read(prompt):
    assert enhance(prompt).lower() == prompt.lower() + "."


def test_split_shots():
    assert split_shots("A cartoon: Shot 1: a red ball. Shot 2: a blue box") == (
        "A cartoon:", ["a red ball.", "a blue box"])
    assert split_shots("a red ball") == ("a red ball", [])
    with pytest.raises(RequestError, match="in order"):
        split_shots("Shot 2: a. Shot 1: b")
    with pytest.raises(RequestError, match="shot 2 is empty"):
        split_shots("Shot 1: a. Shot 2:")


def test_first_then_is_planned_as_toyworld_orders_events():
    from kino.data.toyworld import readback
    from kino.data.toyworld.captions import Claim
    from kino.data.toyworld import Scene, render
    from kino.pipelines.prompting import FIRST, THEN, read_shot

    for prompt in ("first a red ball moves left, then a blue square moves down",
                   "a red ball moves up first, and then a blue square moves up"):  # fmt: skip
        objs, shot = read_shot(prompt)
        (a, b), (event,) = shot.actors, shot.events
        assert (event.kind, event.a, event.b) == ("order", a.obj, b.obj)
        assert (a.segments[0].start, a.segments[0].end, b.segments[0].start, b.segments[0].end) == (*FIRST, *THEN)
        # Rendered as planned, toyworld's own readback sees the order, and both objects all along.
        frames = render(Scene("cartoon", tuple(objs), (shot,)), width=256, height=256, fps=8)
        way_a, way_b = ("left", "down") if "left" in prompt else ("up", "up")
        claim = Claim("order", "red", value=way_a, other="blue", other_value=way_b)
        assert readback.check(frames, [claim], fps=8).ok


@pytest.mark.parametrize("prompt, way", [("a green ball pushes a red square", "right"),
                                         ("a green ball pushes a red square to the left", "left"),
                                         ("a green ball moves right and pushes a red square along", "right")])  # fmt: skip
def test_a_push_is_planned_as_toyworld_pushes(prompt, way):
    from kino.data.toyworld import Scene, readback, render
    from kino.data.toyworld.captions import Claim
    from kino.director.motion import still_prompt
    from kino.pipelines.prompting import read_shot

    objs, shot = read_shot(prompt)
    (a, b), (event,) = shot.actors, shot.events
    assert event.kind == "push" and a.motion == way and (b.x > a.x) == (way == "right")
    frames = render(Scene("cartoon", tuple(objs), (shot,)), width=256, height=256, fps=8)
    report = readback.check(frames, [Claim("push", "green", other="red")], fps=8)
    assert report.ok, report.failures[0].detail
    assert "push" not in still_prompt(prompt) and "stays still" in still_prompt(prompt)


@pytest.mark.parametrize("prompt, claim", [
    ("a small red triangle hits a yellow square and the yellow square turns blue",
     dict(kind="hit_turn", color="red", other="yellow", value="blue")),
    ("a red ball moves left and hits a blue box, which turns green",
     dict(kind="hit_turn", color="red", other="blue", value="green")),
    ("a big yellow square bites a blue square", dict(kind="bite", color="yellow", other="blue")),
    ("a red ball takes a bite out of a green ball", dict(kind="bite", color="red", other="green")),
])  # fmt: skip
def test_hits_and_bites_are_planned_as_toyworld_has_them(prompt, claim):
    """Rendered as read, toyworld's readback sees the event; and a render without the event's
    effect, changed in pixels as the pipeline changes its moved clip (motion.changed), does too."""
    import dataclasses

    from kino.data.toyworld import Scene, readback, render
    from kino.data.toyworld.captions import Claim
    from kino.director.layout import plan
    from kino.director.motion import changed

    objs, shot = read_shot(prompt)
    scene = Scene("cartoon", tuple(objs), (shot,))
    frames = render(scene, width=256, height=256, fps=8)
    c = Claim(claim.pop("kind"), claim.pop("color"), **claim)
    assert readback.check(frames, [c], fps=8).ok
    plain = tuple(dataclasses.replace(a, turn="", bite_at=2.0) for a in shot.actors)
    before = render(dataclasses.replace(scene, shots=(dataclasses.replace(shot, actors=plain, events=()),)),
                    width=256, height=256, fps=8)  # fmt: skip
    assert not readback.check(before, [c], fps=8).ok
    after = changed(before, plan(prompt, len(before)))
    report = readback.check(after, [c], fps=8)
    assert report.ok, report.failures[0].detail


@pytest.mark.parametrize("prompt", ["a red ball hits a blue box", "a red ball hits a blue box and it turns red",
                                    "a red ball bites a blue box and the blue box turns green"])
def test_a_hit_without_a_new_colour_is_not_planned(prompt):
    assert read_shot(prompt) is None


@pytest.mark.parametrize("prompt, shape", [("a big red square spins", "square"),
                                           ("a cartoon: a blue triangle on the left spins", "triangle")])  # fmt: skip
def test_a_spin_is_drawn_in_by_turning_the_still_object(prompt, shape):
    """A render of the object held still, turned frame by frame as the pipeline turns its moved
    clip (motion.changed), spins as toyworld's readback reads a spin; its place stays."""
    import dataclasses

    from kino.data.toyworld import Scene, readback, render
    from kino.data.toyworld.captions import Claim
    from kino.director.layout import plan
    from kino.director.motion import changed, moving

    objs, shot = read_shot(prompt)
    placements = plan(prompt, 33)
    assert placements[0].change.kind == "spin" and abs(placements[0].change.angles[-1]) >= 90 and moving(placements)
    still = tuple(dataclasses.replace(a, segments=()) for a in shot.actors)
    frames = render(Scene("cartoon", tuple(objs), (dataclasses.replace(shot, actors=still),)), width=256, height=256,
                    fps=8)  # fmt: skip
    claim = Claim("motion", objs[0].color, value="spins")
    assert not readback.check(frames, [claim], fps=8).ok
    report = readback.check(changed(frames, placements), [claim], fps=8)
    assert report.ok, report.failures[0].detail


@pytest.mark.parametrize("prompt, way", [("a cyan square passes behind a green square", 1),
                                         ("a red ball moves left, passing behind a big blue box", -1),
                                         ("a yellow triangle slides behind a purple square", 1)])  # fmt: skip
def test_passing_behind_is_planned_as_toyworld_lays_it_out(prompt, way):
    from kino.data.toyworld import Scene, readback, render
    from kino.data.toyworld.captions import Claim

    objs, shot = read_shot(prompt)
    (a, b), (event,) = shot.actors, shot.events
    assert event.kind == "behind" and a.segments[0].dx * way > 0 and not b.segments
    frames = render(Scene("cartoon", tuple(objs), (shot,)), width=256, height=256, fps=8)
    report = readback.check(frames, [Claim("behind", objs[0].color, other=objs[1].color)], fps=8)
    assert report.ok, report.failures[0].detail


def test_a_still_object_in_front_hides_the_one_moving_behind_it():
    """motion.move sets objects down back to front, as toyworld draws them: B, still and named
    second, is set down again over A where A's path crosses it (and only there)."""
    import numpy as np
    import torch

    from kino.director.layout import plan
    from kino.director.motion import move

    prompt = "a cyan square passes behind a green square"
    placements = plan(prompt, 33)
    z = torch.zeros(1, 1, 9, 32, 32)
    for p, value in zip(placements, (1.0, 2.0)):
        x0, y0, x1, y1 = p.boxes[0, 0]
        z[:, :, :, int(y0 * 32) : int(np.ceil(y1 * 32)), int(x0 * 32) : int(np.ceil(x1 * 32))] = value
    out = move(z, placements, 33)
    gx0, gy0, gx1, gy1 = placements[1].boxes[0, 0]
    inner = out[0, 0, 4, int(np.ceil(gy0 * 32)) : int(gy1 * 32), int(np.ceil(gx0 * 32)) : int(gx1 * 32)]
    assert (inner == 2.0).all()  # mid-clip, A is behind B: B's cells show
    assert (out[0, 0, 4] == 1.0).any()  # and A's top still shows above it
