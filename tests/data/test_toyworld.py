"""Toyworld against its contract (/work/shared/toyworld.md), read back from pixels."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest

from kino.data.toyworld import (
    COLORS,
    KINDS,
    SHAPES,
    Actor,
    Obj,
    Scene,
    Shot,
    captions,
    describe,
    readback,
    render,
    render_fps,
    sample_scene,
)
from kino.data.toyworld.captions import Claim, claims
from kino.data.toyworld.scene import HUES, MIXTURE, MOTIONS, fits

SIZES_WH = [(256, 256), (320, 192), (160, 160)]
SIMPLE = {"color", "shape", "count", "place", "relation", "motion"}


def scene_of(kind: str, seed: int) -> Scene:
    return sample_scene(np.random.default_rng(seed), kinds=[kind])


def find(kind: str, pred, start: int = 0) -> Scene:
    """The first sampled scene of a kind that satisfies pred (sampling alone is cheap)."""
    for seed in range(start, start + 400):
        scene = scene_of(kind, seed)
        if pred(scene):
            return scene
    raise AssertionError(f"no {kind} scene found")


def one(color: str, shape: str, size: str = "medium", style: str = "cartoon", x=0.5, y=0.5, **actor) -> Scene:
    return Scene(style, (Obj(0, color, shape, size),), (Shot((Actor(0, x, y, **actor),)),))


def assert_background_achromatic(frames: np.ndarray) -> None:
    """Every pixel more than 2 px from an object's colour (outline, shadow, ground) is grey."""
    masks = readback.color_masks(frames)
    _, sat, _ = readback.hsv(frames)
    for f in range(len(frames)):
        assert sat[f][~readback._dilate(masks[f] >= 0, 2)].max() < 0.15


def failures(report: readback.Report) -> list[str]:
    return [f"{r.claim.kind} {r.claim.color} {r.claim.value}: {r.detail}" for r in report.failures]


# ---------------------------------------------------------------------------------------
# Determinism, data, sampling.


def test_same_seed_same_scene_frames_captions():
    a, b = scene_of("hit_turn", 3), scene_of("hit_turn", 3)
    assert a == b
    assert np.array_equal(render(a, width=96, height=96), render(b, width=96, height=96))
    assert captions(a, np.random.default_rng(1)) == captions(b, np.random.default_rng(1))
    assert describe(a) == describe(b)
    assert sample_scene(np.random.default_rng(0)) == sample_scene(np.random.default_rng(0))


@pytest.mark.parametrize("kind", KINDS)
def test_scene_json_round_trip_and_layout(kind):
    for seed in range(3):
        scene = scene_of(kind, seed)
        assert scene.kind == kind
        assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene
        assert fits(scene)
        assert [o.id for o in scene.objects] == list(range(len(scene.objects)))


def test_frame_count_and_times():
    scene = one("red", "circle")
    assert render(scene, width=64, height=64).shape == (33, 64, 64, 3)
    assert render(dataclasses.replace(scene, seconds=2.0), width=48, height=32, fps=12).shape == (25, 32, 48, 3)


def test_kinds_restrict_and_default_mixture_is_mostly_simple():
    with pytest.raises(ValueError):
        sample_scene(np.random.default_rng(0), kinds=["dance"])
    rng = np.random.default_rng(0)
    got = [sample_scene(rng).kind for _ in range(300)]
    assert set(got) == set(KINDS)
    assert 0.5 <= np.mean([k in SIMPLE for k in got]) <= 0.7
    assert abs(sum(MIXTURE[k] for k in SIMPLE) - 0.6) < 0.02
    simple = [sample_scene(np.random.default_rng(s), kinds=sorted(SIMPLE)) for s in range(60)]
    assert all(len({o.color for o in sc.objects}) <= 2 for sc in simple)


def test_render_fps_is_positive():
    assert render_fps(width=64, height=64, n_clips=1) > 0


# ---------------------------------------------------------------------------------------
# Pixels: palette, background, shapes, sizes, styles.


def test_palette_follows_the_hue_rule():
    swatch = np.array([[list(COLORS.values())]], np.uint8)
    assert [readback.PALETTE[i] for i in readback.color_masks(swatch)[0, 0]] == list(COLORS)
    hue, sat, val = readback.hsv(swatch)
    for h, name in zip(hue[0, 0], COLORS):
        assert abs((h - HUES[name] + 180) % 360 - 180) <= 5
    assert (sat >= 0.35).all() and (val >= 0.25).all()


@pytest.mark.parametrize("style", ["cartoon", "realistic"])
@pytest.mark.parametrize("color", list(COLORS))
def test_each_colour_reads_back_and_the_background_is_achromatic(color, style):
    frames = render(one(color, "circle", "big", style, y=0.45), width=128, height=128, fps=1)
    masks = readback.color_masks(frames)
    names = {readback.PALETTE[i] for i in np.unique(masks) if i >= 0}
    assert names == {color}
    objs = readback.objects(frames)
    assert len(objs) == len(frames)  # one object in every frame
    assert_background_achromatic(frames)


def test_anti_aliased_edges_keep_the_hue():
    frames = render(one("yellow", "triangle", "small", "realistic"), width=200, height=200, fps=1)
    hue, sat, val = readback.hsv(frames)
    colourful = (sat >= 0.35) & (val >= 0.25)
    assert colourful.sum() > 100
    assert np.abs((hue[colourful] - HUES["yellow"] + 180) % 360 - 180).max() <= 25


def test_realistic_has_a_drop_shadow_and_cartoon_an_outline():
    cartoon = one("blue", "square", "big", "cartoon", y=0.5)
    realistic = dataclasses.replace(cartoon, style="realistic")
    fc, fr = (render(s, width=160, height=160, fps=1)[0] for s in (cartoon, realistic))
    _, sat, val = readback.hsv(fr[None])
    floor = np.zeros((160, 160), bool)
    floor[125:, :] = True  # the floor band, below the object
    shadow = floor & (sat[0] < 0.15) & (fr.astype(int).sum(-1) < fc.astype(int).sum(-1) - 90)
    assert shadow.sum() > 50
    assert readback.check(fc[None], [Claim("style", value="cartoon")]).ok
    assert readback.check(fr[None], [Claim("style", value="realistic")]).ok
    assert not readback.check(fr[None], [Claim("style", value="cartoon")]).ok


@pytest.mark.parametrize("shape,lo,hi", [("circle", 0.74, 0.83), ("square", 0.92, 1.0), ("triangle", 0.44, 0.56)])
def test_shapes_fill_their_bounding_box(shape, lo, hi):
    for style in ("cartoon", "realistic"):
        for size in ("small", "big"):
            objs = readback.objects(render(one("green", shape, size, style), width=256, height=256, fps=1)[:1])
            assert len(objs) == 1 and lo <= objs.fill[0] <= hi, (style, size, objs.fill)


@pytest.mark.parametrize("wh", SIZES_WH)
def test_sizes_are_fractions_of_the_width(wh):
    w, h = wh
    for size, frac in [("small", 0.10), ("medium", 0.15), ("big", 0.22)]:
        objs = readback.objects(render(one("cyan", "square", size, x=0.5, y=0.5), width=w, height=h, fps=1)[:1])
        assert abs((objs.x1[0] - objs.x0[0] + 1) / w - frac) <= 0.012
        assert abs((objs.y1[0] - objs.y0[0] + 1) / w - frac) <= 0.012


def test_same_scene_shows_the_same_thing_at_any_size():
    scene = scene_of("relation", 4)
    spots = []
    for w, h in [(256, 256), (320, 192)]:
        objs = readback.objects(render(scene, width=w, height=h, fps=1)[:1])
        spots.append(sorted((readback.PALETTE[c], x / w, y / h) for c, x, y in zip(objs.color, objs.cx, objs.cy)))
        assert readback.check(render(scene, width=w, height=h), scene).ok
    for (c1, x1, y1), (c2, x2, y2) in zip(*spots):
        assert c1 == c2 and abs(x1 - x2) < 0.01 and abs(y1 - y2) < 0.01


def test_components_are_four_connected():
    mask = np.zeros((8, 8), bool)
    mask[1:3, 1:3] = True
    mask[3, 3] = True  # diagonal neighbour only: a separate component
    mask[5:7, 2:7] = True
    comps = readback.components(mask)
    assert sorted(comps.area.tolist()) == [1, 4, 10]
    assert comps.labels[0, 5, 2] == comps.labels[0, 6, 6] != comps.labels[0, 1, 1]


# ---------------------------------------------------------------------------------------
# Every claim of every kind holds on the render, read back from pixels.


@pytest.mark.parametrize("kind", KINDS)
def test_contract_claims_hold(kind):
    for seed in range(3):
        scene = scene_of(kind, seed)
        w, h = SIZES_WH[seed % 3]
        frames = render(scene, width=w, height=h)
        report = readback.check(frames, scene)
        assert report.ok, (kind, seed, (w, h), failures(report))
        assert len(report.results) >= 4
        assert_background_achromatic(frames[::4])


@pytest.mark.parametrize("motion", MOTIONS)
def test_every_motion(motion):
    kind = {"grows": "size_change", "shrinks": "size_change", "spins": "spin"}.get(motion, "motion")
    scene = find(kind, lambda s: any(a.motion == motion for a in s.shots[0].actors))
    frames = render(scene, width=192, height=192)
    got = readback.check(frames, [c for c in claims(scene) if c.kind == "motion" and c.value == motion])
    assert got.ok and got.results, failures(got)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_counts_one_to_five(n):
    scene = find("count", lambda s: sum(o.color == s.objects[0].color for o in s.objects) == n)
    frames = render(scene, width=256, height=256, fps=2)
    assert readback.check(frames, [Claim("count", scene.objects[0].color, count=n)]).ok
    assert not readback.check(frames, [Claim("count", scene.objects[0].color, count=n + 1)]).ok


@pytest.mark.parametrize("camera", ["pan-left", "pan-right", "zoom-in", "zoom-out"])
def test_camera_moves_the_background(camera):
    kind = "camera_pan" if camera.startswith("pan") else "camera_zoom"
    scene = find(kind, lambda s: s.camera == camera)
    frames = render(scene, width=256, height=256)
    shift, zoom, match = readback.camera_motion(frames)
    assert match > 0.5
    if camera == "pan-right":
        assert shift <= -0.2
    elif camera == "pan-left":
        assert shift >= 0.2
    else:
        assert (zoom >= 1.3) if camera == "zoom-in" else (zoom <= 1 / 1.3)
    assert readback.check(frames, [Claim("camera", value=camera)]).ok
    still = readback.camera_motion(render(scene_of("place", 1), width=256, height=256))
    assert abs(still[0]) < 0.02 and abs(still[1] - 1) < 0.05


def test_objects_sliding_over_a_still_set_are_not_a_pan():
    """A pan moves the whole view, the set's texture included. The same objects slid the same way
    over a still set are object motion, even when each drags the ground right around it along (as
    kino's director did with whole latent cells over a plain set, which read as a pan)."""
    from kino.data.toyworld.scene import PAN, Segment

    pan = find("camera_pan", lambda s: s.camera == "pan-left" and s.style == "cartoon" and len(s.objects) > 1)
    true = render(pan, width=192, height=192, fps=2)
    assert readback.check(true, [Claim("camera", value="pan-left")]).ok
    shot = pan.shots[0]
    slid_scene = dataclasses.replace(pan, shots=(dataclasses.replace(shot, camera="still", actors=tuple(
        dataclasses.replace(a, segments=(Segment("move", 0.0, 1.0, dx=PAN),)) for a in shot.actors)),))  # fmt: skip
    slid = render(slid_scene, width=192, height=192, fps=2)
    assert np.abs(readback.objects(slid).cx - readback.objects(true).cx).max() < 2  # the objects go alike
    # The set without its dots (each row's ground grey), and each object with the ground 0.04 W around it
    # cut from the true pan: the only texture in view travels with the objects.
    rgb = true[0].astype(np.int16)
    value = rgb.max(-1)
    is_set = (value - rgb.min(-1) < 0.15 * value) & (value >= 120)  # light grey: the set
    ground = np.where(is_set, value, 0).max(axis=1)
    plain = np.where(is_set[..., None], ground[:, None, None], true[0]).astype(np.uint8)
    dragged = np.repeat(plain[None], len(true), axis=0)
    pad = round(0.04 * 192)
    objs = readback.objects(true)
    for i in range(len(objs)):
        f, y0, x0 = objs.frame[i], max(objs.y0[i] - pad, 0), max(objs.x0[i] - pad, 0)
        y1, x1 = objs.y1[i] + pad + 1, objs.x1[i] + pad + 1
        dragged[f, y0:y1, x0:x1] = true[f, y0:y1, x0:x1]
    for frames in (slid, dragged):
        assert not readback.check(frames, [Claim("camera", value="pan-left")]).ok
    assert readback.camera_motion(slid)[0] == pytest.approx(0.0, abs=0.02)
    assert "object motion" in readback.check(slid, [Claim("camera", value="pan-left")]).results[0].detail
    assert readback.check(slid, [Claim("camera", value="still")]).ok


def test_bite_mark_stays():
    scene = scene_of("bite", 5)
    frames = render(scene, width=256, height=256)
    objs = readback.objects(frames)
    b = readback.PALETTE.index(scene.objects[scene.events[0].b].color)
    area = np.array([objs.area[(objs.frame == f) & (objs.color == b)][0] for f in range(len(frames))])
    kept = area / area[0]
    bitten = int(np.argmax(kept < 0.9))
    assert 0 < bitten < len(frames) - 4
    assert ((kept[bitten:] >= 0.65) & (kept[bitten:] <= 0.80)).all()  # and never grows back
    assert (kept[:bitten] > 0.97).all()


def test_multishot_cuts_and_characters_keep_their_look():
    scene = find("multishot", lambda s: len(s.shots) == 3)
    frames = render(scene, width=256, height=256)
    segs = readback.segments(frames)
    assert len(segs) == 3 and len(readback.cuts(frames)) == 2
    hero = scene.objects[0]
    looks = set()
    for shot in range(3):
        rep = readback.check(
            frames,
            [Claim("shape", hero.color, hero.shape, shot=shot), Claim("size", hero.color, size=hero.size, shot=shot)],
        )
        assert rep.ok, failures(rep)
        looks.add(tuple(r.detail for r in rep.results))
    assert len(looks) == 1
    assert readback.cuts(render(scene_of("motion", 0), width=256, height=256)) == []
    (track, comps), *_ = readback.tracks(frames, hero.color, shot=1)
    assert (track >= 0).all() and len(track) == segs[1][1] - segs[1][0] + 1


def test_readback_survives_mild_blur_and_noise():
    rng = np.random.default_rng(0)
    for kind in ("color", "relation", "motion", "camera_pan"):
        scene = scene_of(kind, 2)
        f = render(scene, width=192, height=192).astype(np.float32)
        f = (f + np.roll(f, 1, 1) + np.roll(f, 1, 2) + np.roll(np.roll(f, 1, 1), 1, 2)) / 4  # 2x2 box blur
        f = np.clip(f + rng.normal(0, 3, f.shape), 0, 255).astype(np.uint8)
        report = readback.check(f, scene)
        assert report.ok, (kind, failures(report))


# ---------------------------------------------------------------------------------------
# Honesty: wrong claims fail.

_FLIP = {"left": "right", "right": "left", "up": "down", "down": "up", "top": "bottom", "bottom": "top",
         "left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above",
         "pan-left": "pan-right", "pan-right": "pan-left", "zoom-in": "zoom-out", "zoom-out": "zoom-in",
         "still": "pan-right", "cartoon": "realistic", "realistic": "cartoon", "middle": "left",
         "grows": "shrinks", "shrinks": "grows", "falls": "up", "bounces": "left", "spins": "grows"}  # fmt: skip


def _lies(scene: Scene) -> list[Claim]:
    absent = next(c for c in COLORS if c not in {o.color for o in scene.objects} | {e.color for e in scene.events})
    out = []
    for c in claims(scene):
        if c.kind == "color":
            out.append(dataclasses.replace(c, color=absent))
        elif c.kind == "count":
            out.append(dataclasses.replace(c, count=c.count + 1))
        elif c.kind == "shape":
            out.append(dataclasses.replace(c, shape=SHAPES[(SHAPES.index(c.shape) + 1) % 3]))
        elif c.kind == "size":
            out.append(dataclasses.replace(c, size={"small": "big", "medium": "big", "big": "small"}[c.size]))
        elif c.kind == "cuts":
            out.append(dataclasses.replace(c, count=c.count + 1))
        elif c.kind == "order":
            out.append(dataclasses.replace(c, color=c.other, other=c.color, value=c.other_value, other_value=c.value))
        elif c.kind in ("hit_turn", "push", "bite", "behind"):
            out.append(dataclasses.replace(c, color=c.other, other=c.color))
        elif c.kind == "motion" and c.value == "still":
            out.append(dataclasses.replace(c, value="right"))
        elif c.kind == "camera" and c.value == "still":
            out += [dataclasses.replace(c, value=v) for v in ("pan-right", "pan-left", "zoom-in", "zoom-out")]
        elif c.value in _FLIP:
            out.append(dataclasses.replace(c, value=_FLIP[c.value]))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_false_claims_fail(kind):
    for seed in range(2):
        scene = scene_of(kind, seed)
        frames = render(scene, width=160, height=160)
        report = readback.check(frames, _lies(scene))  # each claim is judged on its own
        assert report.results and not any(r.ok for r in report.results), [r.claim for r in report.results if r.ok]


def test_another_scenes_claims_fail():
    scenes = [sample_scene(np.random.default_rng(100 + i)) for i in range(16)]
    frames = [render(s, width=128, height=128) for s in scenes]
    passed = sum(readback.check(frames[i], scenes[(i + 1) % 16]).ok for i in range(16))
    assert passed <= 1
    for event in ("hit_turn", "push", "bite", "behind"):  # an event claim on a clip without it
        scene = scene_of(event, 0)
        a, b = (scene.objects[i].color for i in (0, 1))
        other = render(dataclasses.replace(scene_of("relation", 0)), width=160, height=160)
        assert not readback.check(other, [Claim(event, a, other=b, value="yellow")]).ok
    swapped = {"hit_turn": "push", "push": "bite", "bite": "hit_turn", "behind": "push"}
    for event, wrong in swapped.items():
        scene = scene_of(event, 1)
        frames = render(scene, width=160, height=160)
        e = scene.events[0]
        lie = Claim(wrong, scene.objects[e.a].color, other=scene.objects[e.b].color, value="green")
        assert not readback.check(frames, [lie]).ok, (event, wrong)


# ---------------------------------------------------------------------------------------
# Captions.

NUMBER = re.compile(r"\b(two|three|four|five)\b", re.IGNORECASE)


@pytest.mark.parametrize("kind", KINDS)
def test_captions_are_varied_and_name_only_what_is_there(kind):
    for seed in range(3):
        scene = scene_of(kind, seed)
        caps = captions(scene, np.random.default_rng(seed))
        assert len(caps) >= 3 and len(set(caps)) == len(caps)
        assert min(map(len, caps)) < max(map(len, caps))  # short and detailed
        shown = {o.color for o in scene.objects} | {e.color for e in scene.events}
        for text in [*caps, describe(scene)]:
            said = {c for c in COLORS if re.search(rf"\b{c}\b", text)}
            assert said and said <= shown, (text, shown)
            if len(scene.shots) > 1:
                assert all(f"Shot {k + 1}:" in text for k in range(len(scene.shots)))
        if scene.camera != "still":
            verb, way = {"pan": "pans", "zoom": "zooms"}[scene.camera.split("-")[0]], scene.camera.split("-")[1]
            assert all(re.search(rf"{verb} (to the )?{way}\b", t) for t in caps), caps
        if kind == "style":
            assert all(scene.style in t.lower() for t in caps)


def test_captions_use_number_words_synonyms_and_both_ways_relations():
    scene = find("count", lambda s: len(s.objects) >= 3 and len({o.color for o in s.objects}) == 1)
    caps = captions(scene, np.random.default_rng(0))
    assert all(NUMBER.search(c) for c in caps)
    many = [c for seed in range(40) for c in captions(scene_of("motion", seed), np.random.default_rng(seed))]
    text = " ".join(many)
    for phrase in ("ball", "circle", "box", "block", "square", "moves right", "slides rightward", "rolls to the right"):
        assert phrase in text, phrase
    scene = find("relation", lambda s: any(c.kind == "relation" and c.value == "left_of" for c in claims(s)))
    caps = " ".join(captions(scene, np.random.default_rng(0)))
    assert ("to the left of" in caps or "left of" in caps) and "right of" in caps
    for kind, phrase in [("hit_turn", " turns "), ("push", "push"), ("bite", "bite"), ("behind", "behind"),
                         ("order", "first")]:  # fmt: skip
        assert phrase in describe(scene_of(kind, 0)).lower(), kind


def test_a_tipped_triangle_reaches_further_at_its_corners_and_less_far_at_its_sides():
    """``tips`` (kino's drawing for its autoencoder): each corner 2 px further from the centre, each
    side's middle 1 px in; with tips near 0, the triangle itself."""
    import sys

    r = sys.modules["kino.data.toyworld.render"]

    def sdf(x, y, tips):
        return float(r._sdf("triangle", np.float32([[x]]), np.float32([[y]]), 12.0, 0.0, tips)[0, 0])

    grid = np.arange(-30, 30, dtype=np.float32)[None] + 0.5
    plain = r._sdf("triangle", grid, grid.T, 12.0, 20.0)
    assert np.abs(r._sdf("triangle", grid, grid.T, 12.0, 20.0, 1e-6) - plain).max() < 1e-4
    assert sdf(0.0, -16.0, 0.0) == pytest.approx(0.0, abs=1e-4)  # the top corner, as drawn for renders
    assert sdf(0.0, -18.0, 2.0) == pytest.approx(0.0, abs=1e-4)  # ... 2 px further up with tips
    assert sdf(0.0, -17.0, 2.0) < 0 < sdf(0.0, -17.0, 0.0)
    assert sdf(0.0, 8.0, 0.0) == pytest.approx(0.0, abs=1e-4)  # the bottom side's middle
    assert sdf(0.0, 7.0, 2.0) == pytest.approx(0.0, abs=1e-4)  # ... 1 px in with tips
    assert sdf(0.0, 7.5, 0.0) < 0 < sdf(0.0, 7.5, 2.0)
