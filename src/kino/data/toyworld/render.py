"""Toyworld renderer: frames as a pure function of (scene, width, height, fps), numpy only.

Each object is drawn from its signed distance field on a crop around it, with a 1-px
soft edge. Every blend is linear in RGB between an object colour and a grey (or, in
the cartoon style, between the fill and its dark grey outline), which keeps the hue of
the palette colour: the contract's colour rule reads the same colour back.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Iterator

import numpy as np

from kino.data.toyworld.scene import (
    BACKDROPS,
    COLORS,
    OUTLINE,
    Actor,
    Obj,
    Pose,
    Scene,
    Shot,
    bite_center,
    bite_radius,
    camera_at,
    extent,
    pose,
    sample_scene,
    timeline,
    world_pose,
)

OUTLINE_GREY = 38.0  # value 0.15 < 0.25: never read as colour
DOT_CELL = 1 / 12  # background texture: one dot per cell at most, cell side fraction of W
DOT_DEPTH = 20.0  # grey levels a dot is darker than the ground
SHADOW = 0.5  # darkest drop shadow: value x (1 - SHADOW)


def render(scene: Scene, *, width: int = 256, height: int = 256, fps: float = 8) -> np.ndarray:
    """Frames (T, H, W, 3) uint8, T = round(seconds * fps) + 1, from t=0 to t=seconds."""
    times = timeline(scene.seconds, fps, len(scene.shots))
    frames = np.empty((len(times), height, width, 3), np.uint8)
    for k, shot in enumerate(scene.shots):
        idx = [i for i, (kk, _) in enumerate(times) if kk == k]
        ss = [times[i][1] for i in idx]
        for i, s, ground in zip(idx, ss, _grounds(scene, k, ss, width, height)):
            frame = frames[i]
            frame[...] = ground[..., None]
            poses = [pose(scene, shot, actor, s) for actor in shot.actors]
            if scene.style == "realistic":
                for actor, p in zip(shot.actors, poses):
                    _shadow(frame, scene.objects[actor.obj], shot, actor, p, s)
            for actor, p in zip(shot.actors, poses):
                _draw(frame, scene.objects[actor.obj], actor, p, scene.style)
    return frames


def render_fps(width: int = 256, height: int = 256, n_clips: int = 8, seed: int = 0) -> float:
    """Frames per second rendering clips of the default mixture (for `kino bench`)."""
    rng = np.random.default_rng(seed)
    scenes = [sample_scene(rng) for _ in range(n_clips)]
    t0 = time.perf_counter()
    n = sum(len(render(scene, width=width, height=height)) for scene in scenes)
    return n / max(time.perf_counter() - t0, 1e-9)


# ---------------------------------------------------------------------------------------
# Background: achromatic sky over a floor band, with dots fixed in the world.


def _grounds(scene: Scene, k: int, ss: list[float], width: int, height: int) -> Iterator[np.ndarray]:
    """The (H, W) uint8 background of each frame of shot k, seen through its camera."""
    cams = [camera_at(scene.shots[k].camera, s) for s in ss]
    px = (np.arange(width) + 0.5) / width - 0.5
    py = (np.arange(height) + 0.5) / height - 0.5
    if not cams:
        return
    if all(c == cams[0] for c in cams):
        cx, z = cams[0]
        ground = _backdrop(scene, k, px / z + 0.5 + cx, py / z + 0.5, width * z, width, height)
        yield from (ground for _ in cams)
        return
    # Moving camera: draw the world once, densely enough for the closest view, and sample it.
    zmax = max(z for _, z in cams)
    x_lo = min(px[0] / z + 0.5 + cx for cx, z in cams)
    x_hi = max(px[-1] / z + 0.5 + cx for cx, z in cams)
    y_lo = min(py[0] / z + 0.5 for _, z in cams)
    y_hi = max(py[-1] / z + 0.5 for _, z in cams)
    nx, ny = width * zmax, height * zmax  # canvas pixels per unit of W / H
    gx = x_lo + (np.arange(math.ceil((x_hi - x_lo) * nx) + 1) + 0.5) / nx
    gy = y_lo + (np.arange(math.ceil((y_hi - y_lo) * ny) + 1) + 0.5) / ny
    canvas = _backdrop(scene, k, gx, gy, nx, width, height)
    for cx, z in cams:
        cols = np.clip(((px / z + 0.5 + cx - x_lo) * nx).astype(np.int64), 0, len(gx) - 1)
        rows = np.clip(((py / z + 0.5 - y_lo) * ny).astype(np.int64), 0, len(gy) - 1)
        yield canvas[rows[:, None], cols[None, :]]


def _hash(i: np.ndarray, j: np.ndarray, seed: int) -> np.ndarray:
    """Four uniform [0, 1) numbers per integer cell (i, j): (4, len(j), len(i))."""
    h = i.astype(np.uint64)[None, :] * np.uint64(0x9E3779B1) + j.astype(np.uint64)[:, None] * np.uint64(0x85EBCA77)
    h = h ^ np.uint64(seed & 0xFFFFFFFF)
    out = []
    for salt in (0x27D4EB2F, 0x165667B1, 0xD3A2646C, 0xFD7046C5):
        g = h * np.uint64(salt)
        g ^= g >> np.uint64(29)
        g *= np.uint64(0xBF58476D1CE4E5B9)
        g ^= g >> np.uint64(32)
        out.append((g & np.uint64(0xFFFFFF)).astype(np.float32) / np.float32(1 << 24))
    return np.stack(out)


def _backdrop(scene: Scene, k: int, gx: np.ndarray, gy: np.ndarray, density: float, width: int, height: int):
    """Background grey (len(gy), len(gx)) uint8 at world points gx (fraction of W), gy (of H).

    `density` is pixels per unit of W at which the points are spaced (for the soft edges).
    """
    sky, floor, horizon = BACKDROPS[scene.shots[k].backdrop]
    if scene.style == "realistic":  # soft light: sky darker towards the horizon
        sky_row = sky + 12 - 18 * np.clip(gy / horizon, 0, 1)
        floor_row = floor + 8 * np.clip((gy - horizon) / (1 - horizon), 0, 1)
    else:
        sky_row, floor_row = np.full_like(gy, sky), np.full_like(gy, floor)
    edge = np.clip((gy - horizon) * density * height / width + 0.5, 0, 1)
    base = (sky_row * (1 - edge) + floor_row * edge).astype(np.float32)
    cover = dots(gx, gy * height / width, density, scene.seed + 7919 * k)
    return (base[:, None] - DOT_DEPTH * cover + 0.5).astype(np.uint8)


def dots(gx: np.ndarray, gy: np.ndarray, density: float, seed: int) -> np.ndarray:
    """(len(gy), len(gx)) float32 in [0, 1]: how much of each world point (gx, gy, both fractions
    of W) a background dot covers. Dots lie on a jittered grid of square cells, fixed in the world,
    and ``seed`` places them; ``density`` is pixels per unit of W (for the soft edges)."""
    i = np.floor(gx / DOT_CELL).astype(np.int64)
    j = np.floor(gy / DOT_CELL).astype(np.int64)
    ui, ii = np.unique(i, return_inverse=True)
    uj, jj = np.unique(j, return_inverse=True)
    r = _hash(ui, uj, seed)[:, jj[:, None], ii[None, :]]  # (4, len(gy), len(gx))
    dx = gx[None, :] - (i[None, :] + 0.25 + 0.5 * r[1]) * DOT_CELL
    dy = gy[:, None] - (j[:, None] + 0.25 + 0.5 * r[2]) * DOT_CELL
    radius = DOT_CELL * (0.12 + 0.1 * r[3])
    return np.clip((radius - np.sqrt(dx * dx + dy * dy)) * density + 0.5, 0, 1) * (r[0] < 0.75)


# ---------------------------------------------------------------------------------------
# Objects.


@functools.lru_cache(maxsize=None)
def _hsv_parts(color: str) -> tuple[np.ndarray, float, float]:
    """(pure hue RGB in [0, 1], saturation, value) of a palette colour: rgb = V (1 - S (1 - p))."""
    rgb = np.array(COLORS[color], np.float32)
    hi, lo = rgb.max(), rgb.min()
    return (rgb - lo) / (hi - lo), float((hi - lo) / hi), float(hi / 255)


def _crop(cx: float, cy: float, reach: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, x1 = max(int(cx - reach), 0), min(int(cx + reach) + 2, width)
    y0, y1 = max(int(cy - reach), 0), min(int(cy + reach) + 2, height)
    return (x0, x1, y0, y1) if x0 < x1 and y0 < y1 else None


def _sdf(shape: str, x: np.ndarray, y: np.ndarray, h: float, angle: float, tips: float = 0.0) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) to a shape of half size h centred at the origin.

    ``tips`` (pixels; renders use 0): a triangle's corners reach this much further out from its centre
    and the middles of its sides come in half as far, a hexagon. kino's pipeline draws so for its
    autoencoder, which rounds a corner off by about as much (kino.director.shaping.TIPS)."""
    if shape == "circle":
        return np.sqrt(x * x + y * y) - h
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    xl, yl = c * x + s * y, -s * x + c * y
    if shape == "square":
        dx, dy = np.abs(xl) - h, np.abs(yl) - h
        outside = np.sqrt(np.maximum(dx, 0) ** 2 + np.maximum(dy, 0) ** 2)
        return outside + np.minimum(np.maximum(dx, dy), 0)
    verts = [(0.0, -4 / 3 * h), (h, 2 / 3 * h), (-h, 2 / 3 * h)]
    return _polygon_sdf(_tipped(verts, tips) if tips else verts, xl, yl)


def _tipped(verts: list[tuple[float, float]], tips: float) -> list[tuple[float, float]]:
    """A polygon centred at the origin with each corner ``tips`` further out and, between corners,
    each side's middle ``tips / 2`` further in (see ``_sdf``)."""
    def along(x: float, y: float, d: float) -> tuple[float, float]:
        r = math.hypot(x, y)
        return x + d * x / r, y + d * y / r

    out = []
    for (ax, ay), (bx, by) in zip(verts, verts[1:] + verts[:1]):
        out += [along(ax, ay, tips), along((ax + bx) / 2, (ay + by) / 2, -tips / 2)]
    return out


def _polygon_sdf(verts: list[tuple[float, float]], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Signed distance (pixels, < 0 inside) to a simple polygon, convex or not (even-odd rule)."""
    d2, inside = None, np.zeros(np.broadcast(x, y).shape, bool)
    for (ax, ay), (bx, by) in zip(verts, verts[1:] + verts[:1]):
        ex, ey, wx, wy = bx - ax, by - ay, x - ax, y - ay
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0, 1)
        qx, qy = wx - ex * t, wy - ey * t
        d2 = qx * qx + qy * qy if d2 is None else np.minimum(d2, qx * qx + qy * qy)
        if ay != by:  # a ray to the left of each point crosses this side
            inside ^= ((ay <= y) != (by <= y)) & (x < ax + (y - ay) * ex / ey)
    return np.where(inside, -1.0, 1.0) * np.sqrt(d2)


def _shade(shape: str, color: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Realistic colour (h, w, 3) at offsets (u, v) in half sizes: light from the top left.

    Only value and saturation vary (saturation stays >= 0.6 of the palette's, value >= 0.55
    of it), so the hue is the palette hue everywhere.
    """
    p, s0, v0 = _hsv_parts(color)
    if shape == "circle":  # a lit sphere
        nz = np.sqrt(np.clip(1 - u * u - v * v, 0, 1))
        lam = np.clip(-0.45 * u - 0.5 * v + 0.74 * nz, 0, 1)
        val = v0 * (0.58 + 0.5 * lam)
        spec = lam**24
    else:  # a lit face with a soft highlight
        val = v0 * np.clip(0.95 - 0.16 * (u + v), 0.55, 1.3)
        spec = np.exp(-((u + 0.45) ** 2 + (v + 0.45) ** 2) / 0.18)
    sat = s0 * (1 - 0.4 * spec)
    val = np.minimum(val + 0.3 * spec, 1.0)
    return (255 * val[..., None] * (1 - sat[..., None] * (1 - p))).astype(np.float32)


def _draw(frame: np.ndarray, obj: Obj, actor: Actor, p: Pose, style: str, tips: float = 0.0) -> None:
    height, width = frame.shape[:2]
    h, cx, cy = p.half * width, p.x * width, p.y * height
    ow = OUTLINE * width * p.zoom if style == "cartoon" else 0.0
    reach = h * {"circle": 1.0, "square": math.sqrt(2), "triangle": 4 / 3}[obj.shape] + ow + 2 + tips
    box = _crop(cx, cy, reach, width, height)
    if box is None:
        return
    x0, x1, y0, y1 = box
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
    sdf = _sdf(obj.shape, xs, ys, h, p.angle, tips)
    if p.bitten:  # the bite mark: a disc cut out of the side that was bitten
        bx, by = bite_center(obj.shape, h, actor.bite_side)
        a = math.radians(p.angle)
        bx, by = bx * math.cos(a) - by * math.sin(a), bx * math.sin(a) + by * math.cos(a)
        sdf = np.maximum(sdf, bite_radius(obj.shape) * h - np.sqrt((xs - bx) ** 2 + (ys - by) ** 2))
    fill = np.clip(0.5 - sdf, 0, 1)[..., None]
    crop = frame[y0:y1, x0:x1].astype(np.float32)
    if style == "cartoon":
        edge = np.clip(0.5 - (sdf - ow), 0, 1)[..., None]
        crop += (OUTLINE_GREY - crop) * edge
        crop += (np.array(COLORS[p.color], np.float32) - crop) * fill
    else:
        crop += (_shade(obj.shape, p.color, xs / h, ys / h) - crop) * fill
    frame[y0:y1, x0:x1] = (crop + 0.5).astype(np.uint8)


def _shadow(frame: np.ndarray, obj: Obj, shot: Shot, actor: Actor, p: Pose, s: float) -> None:
    """A soft grey ellipse on the floor under the object (darkens only: stays achromatic)."""
    height, width = frame.shape[:2]
    horizon = BACKDROPS[shot.backdrop][2]
    _, wy, scale, angle = world_pose(actor, s)
    _, _, _, down = extent(obj.shape, obj.half * scale, angle)
    bottom = wy + down * width / height
    ground = min(max(horizon + 0.1, bottom + 0.03), 0.95)
    fade = 1 - min(max(ground - bottom, 0) / 0.6, 0.6)
    a = 0.65 * obj.half * scale * p.zoom * width
    b = max(0.3 * a, 0.012 * width * p.zoom)
    cx, cy = p.x * width, (0.5 + (ground - 0.5) * p.zoom) * height
    box = _crop(cx, cy, max(a, b) + 1, width, height)
    if box is None:
        return
    x0, x1, y0, y1 = box
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :] / a
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None] / b
    dark = SHADOW * fade * np.clip(1 - xs * xs - ys * ys, 0, 1) ** 0.5
    crop = frame[y0:y1, x0:x1].astype(np.float32) * (1 - dark[..., None])
    frame[y0:y1, x0:x1] = (crop + 0.5).astype(np.uint8)
