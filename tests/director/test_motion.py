"""Motion from a still (kino.director.motion): which plans move, the still caption, the camera
path, and the latent move itself on latents whose content is known."""

import numpy as np
import pytest
import torch

from kino.data.toyworld.scene import COLORS, PAN, ZOOM
from kino.director.layout import plan
from kino.director.motion import (
    T0, T0_CAMERA, T0_CAST, _warp, camera_path, held, move, moving, start_time, still_prompt,
)
from kino.pipelines.text_to_video import Request


@pytest.mark.parametrize(
    ("prompt", "moves"),
    [
        ("a red ball on the left stays still", False),
        ("two blue squares", False),
        ("a red ball starts on the left and moves right", True),
        ("a small green triangle in the middle grows", True),
        ("a red ball on the left. The camera pans right.", True),
        ("a red ball in the middle. The camera zooms in.", True),
    ],
)
def test_a_plan_moves_when_a_box_travels_or_changes_size(prompt, moves):
    assert moving(plan(prompt, 33)) is moves


def test_the_still_prompt_holds_every_object_where_it_starts():
    still = still_prompt("A realistic render: a big purple square starts at the top right and moves left. "
                         "The camera pans left.")  # fmt: skip
    assert still == "A realistic render: a big purple square at the top right stays still."
    prompt = "a red ball starts on the left and moves right"
    (moved,) = plan(prompt, 33)
    (kept,) = held(plan(prompt, 33), still_prompt(prompt))
    assert np.allclose(kept.boxes, moved.boxes[:1])  # every frame: the first frame's box
    assert still_prompt(prompt)[slice(*kept.spans[0])].lower() == "a red ball"  # its words, in the still caption


def test_the_camera_path_follows_toyworlds_camera():
    pan = camera_path("a red ball. The camera pans right.", 33)
    assert pan[0].tolist() == [0.0, 1.0] and pan[-1] == pytest.approx([PAN, 1.0])
    zoom = camera_path("a red ball. The camera zooms out.", 33)
    assert zoom[-1] == pytest.approx([0.0, ZOOM**-1])
    part = camera_path("a red ball. The camera pans left.", 17, start=16, total=33)  # a later chunk: from its start
    assert part[0].tolist() == [0.0, 1.0] and part[-1, 0] == pytest.approx(-PAN / 2)
    assert not camera_path("a red ball on the left", 33).any(axis=0)[0]
    assert start_time("a red ball. The camera pans right.") == T0_CAMERA
    assert start_time("a red ball moves right") == T0
    assert start_time("a red ball moves right", cast=True) == min(T0, T0_CAST)


@pytest.mark.parametrize("prompt, way", [
    ("a red ball and a blue cube, the camera sweeps to the right", 1),
    ("a red ball and a blue cube. Panning shot to the left.", -1),
    ("a yellow ball and a red cube, camera pans to the right", 1),
    ("a green triangle in the middle; the camera moves to the left", -1),
])  # fmt: skip
def test_a_pan_said_any_way_moves_the_whole_view(prompt, way):
    """The set (the camera path) and every object (its box) go the same way by the same amount:
    objects sliding over a still set is object motion, not a pan."""
    assert camera_path(prompt, 33)[-1] == pytest.approx([way * PAN, 1.0])
    for p in plan(prompt, 33):
        travel = (p.boxes[-1, :, 0] + p.boxes[-1, :, 2] - p.boxes[0, :, 0] - p.boxes[0, :, 2]) / 2
        assert travel == pytest.approx(-way * PAN, abs=1e-4)
    assert start_time(prompt) == T0_CAMERA


def test_a_pan_slides_the_frame_and_brings_in_its_own_rows_shuffled():
    frame = torch.arange(2 * 4 * 8, dtype=torch.float32).reshape(2, 4, 8)
    right = _warp(frame, 0.25, 1.0)  # the camera moves right a quarter: content moves 2 of 8 cells left
    assert torch.allclose(right[:, :, :6], frame[:, :, 2:])
    for col in right[:, :, 6:].unbind(2):  # what comes in: columns of the same rows, not the ones that left
        assert any(torch.equal(col, c) for c in frame.unbind(2))
        assert (col[:, 1:] > col[:, :-1]).all()  # a column, not a mix of rows
    assert not torch.equal(right[:, :, 6:], frame[:, :, :2])
    assert _warp(frame, 0.0, 1.0) is frame
    zoomed = _warp(frame, 0.0, 2.0)  # zooming in 2x: the middle half fills the frame
    assert zoomed[:, 1:3, 2:6].mean() == pytest.approx(frame[:, 1:3, 2:6].mean(), abs=0.5)
    bare = torch.zeros_like(frame)
    out = _warp(frame, 0.0, 0.5, bare)  # zooming out: what comes in on every side is ``around``
    assert (out[:, 0] == 0).all() and (out[:, :, 0] == 0).all() and out[:, 1:3, 2:6].abs().sum() > 0


@pytest.mark.parametrize("camera, shift, zoom", [("pans right", -0.3, 1.0), ("pans left", 0.3, 1.0),
                                                 ("zooms in", 0.0, 1.45), ("zooms out", 0.0, 1 / 1.45)])  # fmt: skip
def test_the_camera_view_moves_a_toyworld_background_as_its_readback_sees_it(camera, shift, zoom):
    """In pixels the dots of the backdrop move and scale with the camera (in latent cells they
    blur away); no copy of the object comes in at the edges."""
    from kino.data.toyworld import Actor, Obj, Scene, Shot, readback, render
    from kino.director.motion import camera_view

    prompt = f"a big red ball at the top left. The camera {camera}."
    still = render(Scene("cartoon", (Obj(0, "red", "circle", "big"),), (Shot((Actor(0, 0.25, 0.3),)),)),
                   width=256, height=256, fps=8)[0]  # fmt: skip
    path = camera_path(prompt, 33)
    view = camera_view(still, plan(prompt, 33), path, 0, 8)
    assert view.shape == (33, 256, 256, 3) and np.array_equal(view[0], still)
    found, scale, match = readback.camera_motion(view)
    assert found == pytest.approx(shift, abs=0.03) and scale == pytest.approx(zoom, rel=0.05) and match > 0.8
    red = (readback.color_masks(view) == readback.PALETTE.index("red")).sum(axis=(1, 2))
    assert red[-1] <= red[0] * max(1.0, zoom**2) * 1.05  # the ball may leave or grow, never come in again


def test_move_takes_every_frame_from_the_camera_view_when_given(tiny_pipeline, monkeypatch):
    """The still frame too: the view's set is textured (backdrop.textured), and a first frame
    without its dots would not match the rest (a pan read as 3 of 6 that way). A clip's first
    chunk is textured with its seed; a chunk that continues given frames keeps their set."""
    from kino.director import backdrop, motion
    from kino.pipelines.long_video import generate

    prompt = "a big red ball at the top left. The camera pans left."
    view = torch.randn(1, 3, 9, 8, 8)
    out = move(torch.zeros(1, 3, 9, 8, 8), [], 33, camera=camera_path(prompt, 33), view=view)
    assert torch.equal(out, view)
    textures = []
    real = motion.camera_view
    monkeypatch.setattr(motion, "camera_view", lambda f, *a, **k: textures.append(f.copy()) or real(f, *a, **k))
    seeds = []
    monkeypatch.setattr(backdrop, "textured", lambda f, seed: seeds.append(seed) or f)
    generate(tiny_pipeline, Request(prompt, seed=7, seconds=6, steps=2, width=128, height=128), chunk_seconds=2)
    assert seeds == [7] and len(textures) >= 3  # every chunk moves the camera; only the first presses dots


def test_move_carries_an_objects_cells_along_its_path_and_fills_where_it_was():
    prompt = "a red ball starts on the left and moves right"
    frames, (placement,) = 33, plan(prompt, 33)
    h = w = 32
    z = torch.zeros(1, 3, 9, h, w)
    z[:, :, :, ::2, ::2] = 1.0  # a background texture the fill can copy
    x0, y0, x1, y1 = placement.boxes[0, 0]
    rows, cols = slice(int(y0 * h), int(np.ceil(y1 * h))), slice(int(x0 * w), int(np.ceil(x1 * w)))
    z[:, :, :, rows, cols] = 5.0  # the object, held still at its first box
    out = move(z, [placement], frames)
    assert torch.equal(out[:, :, 0], z[:, :, 0])  # the first frame is where the object starts
    centre = lambda t: (out[0, 0, t] == 5.0).nonzero().float().mean(0)  # noqa: E731
    bx0, _, bx1, _ = placement.boxes[-1, 0]
    assert centre(8)[1].item() == pytest.approx((bx0 + bx1) / 2 * w, abs=1.0)  # at the end of its path
    assert centre(8)[0].item() == pytest.approx(centre(0)[0].item(), abs=0.5)  # moving right, not down
    assert centre(0)[1] < centre(4)[1] < centre(8)[1]
    left = out[0, 0, 8, rows, cols]
    assert (left != 5.0).all() and set(left.unique().tolist()) == {0.0, 1.0}  # filled with the texture


def test_a_moving_prompt_is_drawn_still_then_moved(tiny_pipeline, monkeypatch):
    from kino.director import motion

    calls = []
    real = motion.move
    monkeypatch.setattr(motion, "move", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    ticks = []
    req = Request("a red ball starts on the left and moves right", seed=3, seconds=1, steps=4)
    first = tiny_pipeline(req, progress=lambda i, n: ticks.append((i, n))).frames
    assert ticks[-1][0] == ticks[-1][1]  # both passes (and the drafts, VAE calls and checks) fill the bar
    assert [i for i, _ in ticks] == sorted(i for i, _ in ticks) and len(ticks) > 4
    # The ball's shape is said and it travels: it is drawn at each frame's box (kino.director.shaping),
    # so no latent cells are moved. Under a moving camera its cells move with the rest.
    assert calls == [[]]
    assert np.array_equal(tiny_pipeline(req).frames, first)  # deterministic for a seed
    tiny_pipeline(Request("a red ball starts on the left and moves right. The camera pans left.", seed=3, seconds=1,
                          steps=4))
    assert [p.color for p in calls[-1]] == ["red"]
    tiny_pipeline(Request("a red ball on the left", seed=3, seconds=1, steps=4))
    assert len(calls) == 4  # a still plan is drawn still too, so its ball can be drawn as one (kino.director.shaping)
    tiny_pipeline(Request("a red ball starts on the left and moves right", seed=3, seconds=1, steps=4, layout=False))
    tiny_pipeline(Request("a quiet afternoon", seed=3, seconds=1, steps=4))
    assert len(calls) == 4  # layout off, or nothing planned: one pass


def test_recast_draws_a_character_as_an_earlier_clip_drew_it():
    from kino.director.motion import looks, recast

    (there,) = plan("a big red ball at the top left", 33)
    (here,) = plan("a big red ball at the bottom right", 33)
    source = torch.zeros(1, 2, 5, 32, 32)
    x0, y0, x1, y1 = there.boxes[0, 0]
    source[:, :, :, int(y0 * 32) : int(np.ceil(y1 * 32)), int(x0 * 32) : int(np.ceil(x1 * 32))] = 7.0
    target = torch.ones(1, 2, 9, 32, 32)
    out = recast(target, [here], looks(source, [there]))
    hx0, hy0, hx1, hy1 = here.boxes[0, 0]
    for t in (0, 4, 8):  # every latent frame, the 5-frame source's last one repeated
        ys, xs = (out[0, 0, t] == 7.0).nonzero().float().unbind(1)
        assert ys.mean().item() == pytest.approx((hy0 + hy1) / 2 * 32, abs=1.0)
        assert xs.mean().item() == pytest.approx((hx0 + hx1) / 2 * 32, abs=1.0)
    assert (out[0, 0, :, :8, :8] == 1.0).all()  # nothing else changed
    assert torch.equal(recast(target, [here], {}), target)  # no look for that colour: left alone


def test_a_storyboard_carries_each_character_into_later_shots(tiny_pipeline, monkeypatch):
    from kino.director import motion
    from kino.pipelines.storyboard import from_prompt, render_story

    casts = []
    real = motion.recast
    monkeypatch.setattr(motion, "recast", lambda *a, **k: casts.append(sorted(a[2])) or real(*a, **k))
    story = from_prompt("Shot 1: a red ball on the left. Shot 2: a red ball on the right and a blue square.", 2.0)
    carried = render_story(tiny_pipeline, story, steps=2, width=128, height=128)
    assert casts == [["red"]]  # shot 2 draws the red ball from shot 1; the blue square is new
    plain = render_story(tiny_pipeline, story, steps=2, width=128, height=128, carry=False)
    assert casts == [["red"]] and len(plain.frames) == len(carried.frames)
    assert not np.array_equal(plain.frames[plain.cuts[0]:], carried.frames[carried.cuts[0]:])
    assert np.array_equal(plain.frames[: plain.cuts[0]], carried.frames[: carried.cuts[0]])  # shot 1 is the same


def test_later_chunks_of_a_long_clip_carry_the_motion_on_from_their_given_frames(tiny_pipeline, monkeypatch):
    from kino.director import motion
    from kino.pipelines.long_video import generate

    firsts = []
    real = motion.move
    monkeypatch.setattr(motion, "move", lambda *a, **k: firsts.append(k.get("first", 0)) or real(*a, **k))
    ticks = []
    request = Request("a red ball starts on the left and moves right", seconds=6, steps=2, width=128, height=128)
    video = generate(tiny_pipeline, request, chunk_seconds=2, progress=lambda i, n: ticks.append((i, n))).frames
    assert len(video) == 25 and len(firsts) >= 3  # 6 s at the tiny model's 4 fps, in 2 s chunks
    assert firsts[0] == 0 and all(f >= 1 for f in firsts[1:])  # each later chunk moves on from its last given latent
    firsts.clear()  # a still plan too: each later chunk holds its last given latent and redraws from there
    generate(tiny_pipeline, Request("a red ball on the left", seconds=6, steps=2, width=128, height=128),
             chunk_seconds=2)  # fmt: skip
    assert len(firsts) >= 3 and firsts[0] == 0 and all(f >= 1 for f in firsts[1:])
    assert ticks[-1][0] == ticks[-1][1] and [i for i, _ in ticks] == sorted(i for i, _ in ticks)


def _square_clip(n: int = 9, size: int = 128, step: int = 3) -> np.ndarray:
    """A red square moving right ``step`` px a frame on a grey ground."""
    clip = np.full((n, size, size, 3), 200, np.uint8)
    for t in range(n):
        clip[t, 50:70, 20 + step * t : 40 + step * t] = COLORS["red"]
    return clip


def test_follow_carries_a_found_object_on_at_its_velocity():
    from kino.director.motion import follow

    clip = _square_clip()
    (ahead,) = follow("a red square moves right", clip, 17)
    centre = (ahead.boxes[:, 0, 0] + ahead.boxes[:, 0, 2]) / 2 * 128
    assert centre[8] == pytest.approx(20 + 24 + 10, abs=0.5)  # the last given frame: where the square is
    assert np.diff(centre) == pytest.approx(np.full(16, 3.0), abs=1e-3)  # then 3 px a frame on
    assert (ahead.boxes[:, 0, 2] - ahead.boxes[:, 0, 0]) * 128 == pytest.approx(np.full(17, 20.0), abs=0.5)
    (behind,) = follow("a red square moves right", clip, 9, before=True)
    back = (behind.boxes[:, 0, 0] + behind.boxes[:, 0, 2]) / 2 * 128
    assert back[-1] == pytest.approx(30, abs=0.5) and np.diff(back) == pytest.approx(np.full(8, 3.0), abs=1e-3)
    assert follow("a blue square moves right", clip, 17) == []  # not in the frames: no plan
    assert follow("a dog runs", clip, 17) == []


def test_carry_sets_an_object_down_as_it_looks_at_each_frames_box():
    """Its own pixels, cut out of the still frame and shifted with its box in whole pixels; where it
    was takes the set around it."""
    from kino.director.motion import follow
    from kino.director.shaping import carry

    clip = _square_clip()
    clip[-1, 55:65, 50:52] = (40, 40, 40)  # a dark stripe: whatever it looks like, it goes with it
    (ahead,) = follow("a red square moves right", clip, 17)
    out, carried = carry(clip[-1], [ahead], [ahead], 8)
    assert carried == [ahead] and out.shape == (17, 128, 128, 3) and np.array_equal(out[8], clip[-1])
    for f in (12, 16):
        dx = round((f - 8) * 3.0)
        assert np.array_equal(out[f][48:72, 40 + dx : 66 + dx], clip[-1][48:72, 40:66])
        assert (out[f][50:70, 44:44 + dx] == 200).all()  # where it was: the set
    noisy = np.random.default_rng(0).integers(0, 255, clip[-1].shape, dtype=np.uint8)  # a photograph's clutter
    noisy[50:70, 44:64] = clip[-1][50:70, 44:64]
    _, carried = carry(noisy, [ahead], [ahead], 8)
    assert carried == []  # no set to cut it out of: its latent cells are moved instead


def test_clear_strays_takes_away_pieces_of_a_moving_object_drawn_off_its_box():
    from kino.director.motion import clear_strays

    placements = plan("a big red ball starts on the left and moves right", 33)
    x0, y0, x1, y1 = placements[0].boxes[0, 0]
    latents = torch.zeros(1, 4, 3, 16, 16)
    latents[..., 6:10, int(x0 * 16) : int(x1 * 16) + 1] = 5.0  # the ball, in its box
    latents[..., 13:15, 13:15] = 5.0  # a red piece far from it
    frame = np.full((128, 128, 3), 200, np.uint8)
    frame[48:80, int(x0 * 128) : int(x1 * 128)] = COLORS["red"]
    frame[104:120, 104:120] = COLORS["red"]
    out = clear_strays(latents, placements, frame)
    assert (out[..., 13:15, 13:15] == 0).all()  # the piece took background cells
    assert torch.equal(out[..., :12, :], latents[..., :12, :])  # the ball and the rest are as drawn
    still = plan("a big red ball on the left stays still", 33)
    assert clear_strays(latents, still, frame) is latents  # nothing moves: nothing to leave behind


@pytest.mark.parametrize("backward", [False, True])
def test_an_extension_carries_its_inputs_motion_on(tiny_pipeline, monkeypatch, backward):
    from kino.director import motion
    from kino.pipelines.extend import extend

    from kino.pipelines.text_to_video import TextToVideoPipeline

    firsts, moved, plans = [], [], []
    real = motion.move
    monkeypatch.setattr(motion, "move",
                        lambda *a, **k: firsts.append(k.get("first", 0)) or moved.append(a[1]) or real(*a, **k))  # fmt: skip
    call = TextToVideoPipeline.__call__
    monkeypatch.setattr(TextToVideoPipeline, "__call__",
                        lambda self, r, *a, **k: plans.append(k.get("follow")) or call(self, r, *a, **k))  # fmt: skip
    clip = _square_clip()
    out = extend(tiny_pipeline, clip, 4, 2.0, "a red square moves right", backward=backward, steps=2)
    assert len(out) > len(clip) and len(firsts) == 1
    assert firsts[0] == (3 if backward else 2)  # held from the given latent frame next to the new ones (of 4)
    assert moved[0] == []  # the square is carried in pixels (shaping.carry), not as latent cells
    if backward:  # it reaches its given place where the last latent frame's still copies start, and waits
        (square,) = plans[0]
        assert np.array_equal(square.boxes[-4:], np.repeat(square.boxes[-4:-3], 4, axis=0))
        assert not np.array_equal(square.boxes[-5], square.boxes[-4])
    extend(tiny_pipeline, clip, 4, 2.0, "a red square moves right", backward=backward, steps=2, layout=False)
    extend(tiny_pipeline, np.full_like(clip, 200), 4, 2.0, "a red square moves right", backward=backward, steps=2)
    assert len(firsts) == 1  # layout off, or nothing of that colour to follow: the model alone
