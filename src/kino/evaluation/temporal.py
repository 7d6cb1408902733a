"""Temporal quality of a clip read off its pixels, in the spirit of VBench (Huang et al., 2024,
"VBench: Comprehensive Benchmark Suite for Video Generative Models"): temporal flickering,
subject consistency, motion smoothness and dynamic degree.

VBench measures these with learned models (DINO features, RAFT optical flow, an AMT frame
interpolator). Toyworld needs none: ``toyworld.readback`` finds the objects and the
background exactly, so each figure here is a short function of frames (T, H, W, 3) uint8,
exact on renders and cheap enough to run on every generated clip.

    figures(frames, fps)        -> {"flicker": ..., "subject_consistency": ..., ...}  one clip
    aggregate([figures, ...])   -> the same names, averaged over a run (+ "dynamic_clips")
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

import numpy as np

from kino.data.toyworld import readback

NEAR = 0.03  # object surroundings left out of the background (outlines, soft edges), fraction of W
CAMERA_SHIFT, CAMERA_ZOOM = 0.03, 0.05  # a shot's background moving more than this: a moving camera
CAMERA_MATCH = 0.6  # below this the background cannot be read (camera_motion's correlation)
CAMERA_BLUR = 5  # box blur (pixels a side) before reading the camera: pixel noise must not look like a pan
MOVING = 0.10  # share of the object pixels that change over one second: real motion
MAX_STEP = 0.1  # farthest a tracked object moves between frames, fraction of W
MIN_SPEED = 0.005  # slower than this (fraction of W per frame) a step is left out: pixel rounding
ROUNDING = 1.0  # pixels of acceleration forgiven: a mask's centroid snaps by up to half a pixel a frame
BLOCK = 4  # cuts are found on block means of this many pixels a side, where pixel noise averages out
MAX_CUTS = 1 / 3  # a clip that "cuts" at more than this share of its frames is flickering instead

FIGURES = {
    "flicker": "mean absolute frame-to-frame change (grey levels, 0-255) of the still background: "
    "pixels away from every object and below none, in shots whose camera holds still; lower is better",
    "subject_consistency": "share of frames whose objects (colour and count of each) match the most "
    "common set in their shot; 1 is steady",
    "motion_smoothness": "1 - |acceleration| / (|v_in| + |v_out|) summed over moving object tracks "
    "(centroids); 1 is constant velocity, 0 is reversing every frame",
    "dynamic_degree": "share of frames where an object changes >= 10% of its pixels over the next "
    "second (moves, turns, grows, camera); 0 is a still picture",
}


def figures(frames: np.ndarray, fps: float = 8.0) -> dict[str, float | None]:
    """All temporal figures of one clip (T, H, W, 3) uint8; None where a figure cannot be read."""
    frames = np.asarray(frames)
    objs = readback.objects(frames)
    shots = segments(frames)
    return {
        "flicker": flicker(frames, objs=objs, shots=shots),
        "subject_consistency": subject_consistency(frames, objs=objs, shots=shots),
        "motion_smoothness": motion_smoothness(frames, objs=objs, shots=shots),
        "dynamic_degree": dynamic_degree(frames, fps, objs=objs, shots=shots),
    }


def aggregate(per_clip: Iterable[dict[str, float | None]]) -> dict[str, float | int | None]:
    """Means over the clips where each figure was read, the clip count, and ``dynamic_clips``:
    the share of clips with any real motion (VBench's dynamic degree is this share)."""
    rows = list(per_clip)
    out: dict[str, float | int | None] = {"clips": len(rows)}
    for name in FIGURES:
        values = [r[name] for r in rows if r.get(name) is not None]
        out[name] = float(np.mean(values)) if values else None
    moving = [r["dynamic_degree"] > 0 for r in rows if r.get("dynamic_degree") is not None]
    out["dynamic_clips"] = float(np.mean(moving)) if moving else None
    return out


# ---------------------------------------------------------------------------------------
# The figures. Each takes the readback's objects and shots when the caller has them.


def flicker(
    frames: np.ndarray, *, objs: readback.Components | None = None, shots: list[tuple[int, int]] | None = None
) -> float | None:
    """Mean absolute change between consecutive frames on the still background (grey levels).

    Still background: pixels farther than NEAR from every object and not below one (drop
    shadows travel with their objects), in both frames of a pair; pairs across a cut and
    shots whose camera moves are left out. None when nothing qualifies.
    """
    frames = np.asarray(frames)
    w = frames.shape[2]
    objs = readback.objects(frames) if objs is None else objs
    shots = segments(frames) if shots is None else shots
    near = _dilate(objs.labels >= 0, max(2, math.ceil(NEAR * w)))
    background = ~np.logical_or.accumulate(near, axis=1)  # nothing coloured at or above, in the column
    total, count = 0.0, 0
    for f0, f1 in shots:
        if f1 <= f0 or _camera_moves(frames, f0, f1):
            continue
        for f in range(f0, f1):
            still = background[f] & background[f + 1]
            n = int(still.sum())
            if n:
                diff = np.abs(frames[f + 1].astype(np.int16) - frames[f].astype(np.int16)).mean(-1)
                total += float(diff[still].sum())
                count += n
    return total / count if count else None


def subject_consistency(
    frames: np.ndarray, *, objs: readback.Components | None = None, shots: list[tuple[int, int]] | None = None
) -> float:
    """Share of frames whose objects (a count per palette colour) equal their shot's most common set.

    A change the prompt asks for (a hit that turns an object's colour) counts as a change too.
    """
    frames = np.asarray(frames)
    objs = readback.objects(frames) if objs is None else objs
    shots = segments(frames) if shots is None else shots
    agree = 0
    for f0, f1 in shots:
        sets = [tuple(sorted(Counter(objs.color[objs.frame == f].tolist()).items())) for f in range(f0, f1 + 1)]
        agree += Counter(sets).most_common(1)[0][1]
    return agree / len(frames)


def motion_smoothness(
    frames: np.ndarray, *, objs: readback.Components | None = None, shots: list[tuple[int, int]] | None = None
) -> float | None:
    """1 - sum |v_out - v_in| / sum (|v_in| + |v_out|) over consecutive centroid steps of moving tracks.

    The ratio is in [0, 1] (triangle inequality): 0 for constant velocity, 1 for an object
    that jumps back and forth. Each |v_out - v_in| is first reduced by ROUNDING pixels, the
    jitter that pixel-rounded masks give any motion. Steps where the object is still
    (< MIN_SPEED) are left out; None when nothing moves. A bounce, a push or a bite changes
    velocity at each contact, so true renders of those score a little below 1.
    """
    frames = np.asarray(frames)
    w = frames.shape[2]
    objs = readback.objects(frames) if objs is None else objs
    shots = segments(frames) if shots is None else shots
    accel = scale = 0.0
    for track in _tracks(objs, shots, w):
        v = np.diff(np.stack([objs.cx[track], objs.cy[track]], 1), axis=0)  # (n - 1, 2) pixels per frame
        speed = np.hypot(v[:, 0], v[:, 1])
        for i in range(len(v) - 1):
            if max(speed[i], speed[i + 1]) >= MIN_SPEED * w:
                accel += max(float(np.hypot(*(v[i + 1] - v[i]))) - ROUNDING, 0.0)
                scale += float(speed[i] + speed[i + 1])
    return 1 - accel / scale if scale > 0 else None


def dynamic_degree(
    frames: np.ndarray,
    fps: float = 8.0,
    *,
    objs: readback.Components | None = None,
    shots: list[tuple[int, int]] | None = None,
) -> float:
    """Share of frames where some object changes by MOVING or more of its pixels over the next
    second (of the frames that have one in their shot).

    Compared a second apart (or across the whole shot when it is shorter), so motion slow
    enough to hide between neighbouring frames still counts and pixel noise does not
    (it does not build up). Objects are told apart by palette colour.
    """
    frames = np.asarray(frames)
    objs = readback.objects(frames) if objs is None else objs
    shots = segments(frames) if shots is None else shots
    color = np.append(objs.color, -1)[objs.labels]  # (T, H, W) palette index; label -1 picks the -1
    moving = windows = 0
    for f0, f1 in shots:
        gap = min(max(1, round(fps)), f1 - f0)
        if gap < 1:  # a one-frame shot
            continue
        for f in range(f0, f1 + 1 - gap):
            moving += _changes(color[f], color[f + gap])
            windows += 1
    return moving / windows if windows else 0.0


# ---------------------------------------------------------------------------------------
# Helpers.


def segments(frames: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) frame of each shot, as ``readback.segments`` finds them on block means.

    Averaging BLOCK x BLOCK pixels keeps a cut (the whole backdrop changes grey) and drops
    per-pixel noise, which would otherwise read as a cut at every frame and hide its own
    flicker; a clip that still seems to cut at more than MAX_CUTS of its frames is taken as
    one flickering shot.
    """
    f = np.asarray(frames)
    t, h, w = f.shape[:3]
    k = BLOCK if min(h, w) >= BLOCK else 1
    hb, wb = h // k, w // k
    small = f[:, : hb * k, : wb * k].reshape(t, hb, k, wb, k, 3).mean((2, 4)).round().astype(np.uint8)
    cuts = readback.cuts(small)
    if len(cuts) > MAX_CUTS * max(t - 1, 1):
        cuts = []
    bounds = [0, *cuts, t]
    return [(a, b - 1) for a, b in zip(bounds[:-1], bounds[1:])]


def _changes(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the pixels of some colour in palette-index maps a, b (H, W) differ by MOVING of its area."""
    for c in np.union1d(np.unique(a), np.unique(b)):
        if c < 0:
            continue
        in_a, in_b = a == c, b == c
        if (in_a != in_b).sum() >= MOVING * max(in_a.sum(), in_b.sum()):
            return True
    return False


def _camera_moves(frames: np.ndarray, f0: int, f1: int) -> bool:
    """Whether the background moved from frame f0 to f1 (read on blurred frames; unreadable: no)."""
    shift, zoom, match = readback.camera_motion(_blur(frames[[f0, f1]], CAMERA_BLUR), 0, 1)
    return match >= CAMERA_MATCH and (abs(shift) > CAMERA_SHIFT or abs(math.log(zoom)) > CAMERA_ZOOM)


def _blur(frames: np.ndarray, k: int) -> np.ndarray:
    """k x k box blur of (T, H, W, 3) uint8 frames (edges repeated)."""
    x = np.pad(frames.astype(np.float32), ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)), mode="edge")
    for axis in (1, 2):
        c = np.cumsum(x, axis=axis)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)
        n = c.shape[axis]
        x = np.take(c, np.arange(k, n), axis=axis) - np.take(c, np.arange(0, n - k), axis=axis)
    return (x / (k * k) + 0.5).astype(np.uint8)


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square dilation by r pixels of each (H, W) slice of a (T, H, W) mask (running sums)."""
    out = mask
    for axis in (1, 2):
        n = out.shape[axis]
        c = np.cumsum(out, axis=axis, dtype=np.int32)
        c = np.concatenate([np.zeros_like(np.take(c, [0], axis=axis)), c], axis=axis)  # c[i] = sum of out[:i]
        hi = np.take(c, np.minimum(np.arange(n) + r + 1, n), axis=axis)
        lo = np.take(c, np.maximum(np.arange(n) - r, 0), axis=axis)
        out = hi > lo
    return out


def _tracks(objs: readback.Components, shots: list[tuple[int, int]], w: int) -> list[np.ndarray]:
    """Objects followed frame to frame within each shot: runs of component indices (one per frame).

    Each component joins the nearest unclaimed same-colour component of the previous frame
    within MAX_STEP; a track ends where its object is missed for a frame.
    """
    done: list[list[int]] = []
    for f0, f1 in shots:
        live: list[list[int]] = []
        for f in range(f0, f1 + 1):
            comps = np.flatnonzero(objs.frame == f)
            pairs = sorted(
                (math.hypot(objs.cx[i] - objs.cx[tr[-1]], objs.cy[i] - objs.cy[tr[-1]]), n, int(i))
                for n, tr in enumerate(live)
                for i in comps
                if objs.color[i] == objs.color[tr[-1]]
            )
            taken_t, taken_c, grown = set(), set(), []
            for dist, n, i in pairs:
                if n not in taken_t and i not in taken_c and dist <= MAX_STEP * w:
                    taken_t.add(n)
                    taken_c.add(i)
                    grown.append(live[n] + [i])
            done += [tr for n, tr in enumerate(live) if n not in taken_t]
            live = grown + [[int(i)] for i in comps if int(i) not in taken_c]
        done += live
    return [np.array(tr) for tr in done if len(tr) >= 3]
