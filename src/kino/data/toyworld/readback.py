"""Reading toyworld claims back off pixels (contract: /work/shared/toyworld.md).

Every measurement here is a function of frames (T, H, W, 3) uint8 and nothing else, so
the same reader scores renders and generated videos alike. Thresholds are the
contract's; where the contract names none (touching, cuts, noise) they are set here.

    report = check(frames, scene)          # or check(frames, claims, fps=8)
    report.ok, report.score, report.failures
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from kino.data.toyworld.captions import Claim, claims as scene_claims
from kino.data.toyworld.scene import HUES, Scene

PALETTE = tuple(HUES)  # colour index -> name
MIN_AREA = 0.003  # components under this share of the frame are noise
TOUCH = 0.03  # colour regions this close (fraction of W) touch
CUT_LEVEL, CUT_SHARE = 10, 0.35  # a cut: this share of pixels changes value by more than this
# The camera is read off the background's texture this far (fraction of W) or further from where an
# object stands in either frame: the ground right around an object may travel with it (kino's director
# moves whole latent cells, a model may smear), and objects that carry it over a still set are object
# motion, not a pan. Toyworld's dots are DOT_CELL = 1/12 W apart, so several stay in view past it.
NEAR = 0.07
TURN_SECONDS = 0.5
BITE_KEEP = (0.65, 0.80)  # contract: a bite removes 20-35% of the area
FILL = ((0.64, "triangle"), (0.88, "circle"), (9.0, "square"))  # fill-ratio bounds: 0.5 / 0.785 / 1.0
SIZE_BOUNDS = ((0.125, "small"), (0.185, "medium"), (9.0, "big"))  # bounding box / W: 0.10 / 0.15 / 0.22
CLAIM_KINDS = (
    "color", "count", "shape", "size", "place", "relation", "motion", "order",
    "hit_turn", "push", "bite", "behind", "camera", "style", "cuts",
)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Pixels.


def hsv(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hue in degrees, saturation, value) of each pixel, float32, shape frames.shape[:-1]."""
    f = np.asarray(frames, np.float32) / 255
    mx, mn = f.max(-1), f.min(-1)
    c = mx - mn
    s = np.where(mx > 0, c / np.maximum(mx, 1e-6), 0).astype(np.float32)
    return _hue(f.reshape(-1, 3)).reshape(mx.shape), s, mx


def _hue(rgb: np.ndarray) -> np.ndarray:
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    mx, mn = rgb.max(1), rgb.min(1)
    c = np.maximum(mx - mn, 1e-6)
    h = np.where(mx == r, ((g - b) / c) % 6, np.where(mx == g, (b - r) / c + 2, (r - g) / c + 4))
    return (60 * h).astype(np.float32)


def _max_min(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel max and min over RGB (much faster than reducing a length-3 axis)."""
    r, g, b = frames[..., 0], frames[..., 1], frames[..., 2]
    return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


def color_masks(frames: np.ndarray) -> np.ndarray:
    """Palette index (PALETTE order) of each pixel by the contract's rule, -1 for none.

    A pixel has a colour when saturation >= 0.35, value >= 0.25 and its hue is within 25
    degrees of that colour's (the nearest one where two are).
    """
    f = np.asarray(frames)
    mx, mn = _max_min(f)
    chroma = (mx - mn).astype(np.uint16)
    sel = (chroma * 20 >= mx.astype(np.uint16) * 7) & (mx >= 64) & (chroma > 0)
    out = np.full(mx.shape, -1, np.int8)
    idx = np.flatnonzero(sel)
    if idx.size:
        hue = _hue(f.reshape(-1, 3)[idx].astype(np.float32))
        d = np.abs((hue[:, None] - np.array(list(HUES.values()), np.float32)[None, :] + 180) % 360 - 180)
        k = d.argmin(1)
        ok = d[np.arange(len(k)), k] <= 25
        out.reshape(-1)[idx[ok]] = k[ok]
    return out


def _runs(labels: np.ndarray) -> tuple[np.ndarray, ...]:
    """Horizontal runs of equal non-negative values: (row, x0, x1 exclusive, value)."""
    rows = labels.reshape(-1, labels.shape[-1])
    pad = np.full((rows.shape[0], rows.shape[1] + 2), -1, np.int32)
    pad[:, 1:-1] = rows
    r, c = np.nonzero(pad[:, 1:] != pad[:, :-1])
    starts = pad[r, c + 1] >= 0
    ends = pad[r, c] >= 0
    return r[starts], c[starts], c[ends], pad[r[starts], c[starts] + 1]


def _union(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Root of each of n nodes joined by edges (a, b): vectorised hook-and-compress."""
    parent = np.arange(n)
    while True:
        while True:
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        pa, pb = parent[a], parent[b]
        if np.array_equal(pa, pb):
            return parent
        np.minimum.at(parent, np.maximum(pa, pb), np.minimum(pa, pb))


@dataclass
class Components:
    """Connected components of equal colour index, over all frames (4-connected).

    Per component: frame, colour index, area (pixels), centroid (cx, cy, pixels from the
    top-left corner), inclusive bounding box, and the 3rd / 4th angular moments about the
    centroid (for orientation). `labels` (T, H, W) holds component indices, -1 elsewhere.
    """

    labels: np.ndarray
    frame: np.ndarray
    color: np.ndarray
    area: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    y0: np.ndarray
    y1: np.ndarray
    m3: np.ndarray
    m4: np.ndarray

    def __len__(self) -> int:
        return len(self.area)

    @property
    def fill(self) -> np.ndarray:
        return self.area / ((self.x1 - self.x0 + 1) * (self.y1 - self.y0 + 1))


def components(labels: np.ndarray, min_area: int = 1) -> Components:
    """Connected components of a mask (bool) or index image (int, -1 = nothing); (H, W) or (T, H, W)."""
    lab = np.asarray(labels)
    if lab.dtype == bool:
        lab = np.where(lab, 0, -1)
    if lab.ndim == 2:
        lab = lab[None]
    t, h, w = lab.shape
    row, x0, x1, val = _runs(lab)
    n = len(row)
    length = x1 - x0
    starts = np.cumsum(length) - length
    run_of_px = np.repeat(np.arange(n), length)
    pos = np.arange(length.sum()) - np.repeat(starts, length) + np.repeat(row * w + x0, length)
    runid = np.full(t * h * w, -1, np.int64)
    runid[pos] = run_of_px
    grid = runid.reshape(t * h, w)
    up, down = grid[:-1], grid[1:]
    same = (up >= 0) & (down >= 0)
    same[np.arange(t * h - 1) % h == h - 1] = False  # no joins across frames
    ua, da = up[same], down[same]
    keep = val[ua] == val[da]
    pairs = np.unique(ua[keep] * n + da[keep])
    root = _union(n, pairs // n, pairs % n) if n else np.zeros(0, np.int64)
    roots, comp = np.unique(root, return_inverse=True)
    k = len(roots)
    area = np.bincount(comp, length, k)
    big = area >= min_area
    new = np.cumsum(big) - 1
    comp = np.where(big[comp], new[comp], -1)
    k = int(big.sum())
    r_ok = comp >= 0
    comp_r, length_r, row_r, x0_r, x1_r = comp[r_ok], length[r_ok], row[r_ok], x0[r_ok], x1[r_ok]
    y_r = row_r % h
    area = np.bincount(comp_r, length_r, k)
    cx = np.bincount(comp_r, length_r * (x0_r + x1_r) / 2, k) / np.maximum(area, 1)
    cy = np.bincount(comp_r, length_r * (y_r + 0.5), k) / np.maximum(area, 1)
    frame = np.zeros(k, np.int64)
    frame[comp_r] = row_r // h
    color = np.zeros(k, np.int64)
    color[comp_r] = val[r_ok]
    bx0, by0 = np.full(k, w, np.int64), np.full(k, h, np.int64)
    bx1, by1 = np.full(k, -1, np.int64), np.full(k, -1, np.int64)
    np.minimum.at(bx0, comp_r, x0_r)
    np.maximum.at(bx1, comp_r, x1_r - 1)
    np.minimum.at(by0, comp_r, y_r)
    np.maximum.at(by1, comp_r, y_r)
    labels_out = np.full(t * h * w, -1, np.int64)
    px_comp = comp[run_of_px]
    labels_out[pos] = px_comp
    sel = px_comp >= 0
    p, c = pos[sel], px_comp[sel]
    dx = (p % w + 0.5) - cx[c]
    dy = ((p // w) % h + 0.5) - cy[c]
    z2 = (dx * dx - dy * dy) + 1j * (2 * dx * dy)
    z3, z4 = z2 * (dx + 1j * dy), z2 * z2
    r2 = dx * dx + dy * dy
    n3 = np.bincount(c, r2**1.5, k)
    n4 = np.bincount(c, r2 * r2, k)
    m3 = (np.bincount(c, z3.real, k) + 1j * np.bincount(c, z3.imag, k)) / np.maximum(n3, 1e-9)
    m4 = (np.bincount(c, z4.real, k) + 1j * np.bincount(c, z4.imag, k)) / np.maximum(n4, 1e-9)
    return Components(labels_out.reshape(t, h, w), frame, color, area, cx, cy, bx0, bx1, by0, by1, m3, m4)


def objects(frames: np.ndarray) -> Components:
    """The coloured objects of every frame: components of one palette colour, noise dropped."""
    t, h, w = frames.shape[:3]
    return components(color_masks(frames), min_area=max(1, math.ceil(MIN_AREA * h * w)))


def cuts(frames: np.ndarray) -> list[int]:
    """Frames that begin a new shot: most pixels change at once."""
    v = _max_min(np.asarray(frames)[:, ::2, ::2])[0].astype(np.int16)
    changed = (np.abs(np.diff(v, axis=0)) > CUT_LEVEL).mean(axis=(1, 2))
    return [int(i) + 1 for i in np.flatnonzero(changed > CUT_SHARE)]


def segments(frames: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) frame of each shot."""
    bounds = [0, *cuts(frames), len(frames)]
    return [(a, b - 1) for a, b in zip(bounds[:-1], bounds[1:])]


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    """Square (Chebyshev) dilation of a 2-D mask by r pixels."""
    out = mask.copy()
    for axis in (0, 1):
        src = out.copy()
        for d in range(1, r + 1):
            if axis == 0:
                out[d:] |= src[:-d]
                out[:-d] |= src[d:]
            else:
                out[:, d:] |= src[:, :-d]
                out[:, :-d] |= src[:, d:]
    return out


def _profile(frame: np.ndarray, near: np.ndarray) -> np.ndarray:
    """Column profile (W,) of the achromatic background's texture outside the ``near`` (H, W) mask
    (the objects and the ground around them), nan where unseen."""
    h, w = frame.shape[:2]
    mx, mn = _max_min(frame)
    v = mx.astype(np.float32)
    achromatic = (v - mn) < 0.15 * v
    valid = achromatic & (v > 0.45 * 255) & ~near
    n = valid.sum(1)
    ranked = np.sort(np.where(valid, v, -1.0), axis=1)  # the ground level: a high quantile per row
    q = np.clip(w - 1 - (0.2 * n).astype(np.int64), 0, w - 1)
    base = ranked[np.arange(h), q]
    res = v - base[:, None]
    valid &= ~_dilate(res < -26, 2)  # drop drop-shadows: darker than any texture dot
    res = np.clip(res, -30, 10) * valid
    count = valid.sum(0)
    return np.where(count >= 0.2 * h, res.sum(0) / np.maximum(count, 1), np.nan)


def camera_motion(frames: np.ndarray, first: int = 0, last: int = -1) -> tuple[float, float, float]:
    """How the background moved from frame `first` to `last`: (shift, zoom, match).

    shift: rightward shift of the background texture, fraction of W (a camera panning
    right shifts it left: < 0); zoom: its scale about the image centre; match: the
    correlation of the aligned profiles (low means unreliable). Only texture at least NEAR
    from every object, where it stands in either frame, is read: objects sliding over a
    still set read as no shift, however much ground they drag along.
    """
    f = np.asarray(frames)
    w = f.shape[2]
    masks = color_masks(f[[first, last]]) >= 0
    near = _dilate(masks[0] | masks[1], max(2, round(NEAR * w)))
    p0, p1 = _profile(f[first], near), _profile(f[last], near)
    x = np.arange(w) + 0.5
    ok0 = ~np.isnan(p0)
    q0 = np.where(ok0, p0, 0.0)
    ok1 = ~np.isnan(p1)
    q1 = np.where(ok1, p1, 0.0)
    shifts = np.arange(-round(0.45 * w), round(0.45 * w) + 1, 1.0)
    best = (-2.0, 0.0, 1.0)
    for z in np.geomspace(0.55, 1.8, 41):
        src = w / 2 + (x[None, :] - w / 2 - shifts[:, None]) / z  # where each pixel came from
        inside = (src >= 0.5) & (src <= w - 0.5)
        a = np.interp(src, x, q0)
        m = inside & (np.interp(src, x, ok0.astype(np.float64)) > 0.999) & ok1[None, :]
        n = m.sum(1)
        nn = np.maximum(n, 1)
        ma, mb = (a * m).sum(1) / nn, (q1[None, :] * m).sum(1) / nn
        da, db = (a - ma[:, None]) * m, (q1[None, :] - mb[:, None]) * m
        corr = (da * db).sum(1) / np.sqrt(np.maximum((da * da).sum(1) * (db * db).sum(1), 1e-9))
        corr = np.where(n >= 0.35 * w, corr, -2)
        i = int(corr.argmax())
        if corr[i] > best[0]:
            best = (float(corr[i]), float(shifts[i]) / w, float(z))
    return best[1], best[2], best[0]


# ---------------------------------------------------------------------------------------
# Claims.


@dataclass
class Result:
    claim: Claim
    ok: bool
    detail: str = ""


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def score(self) -> float:
        """Share of claims that hold (1.0 when there are none)."""
        return sum(r.ok for r in self.results) / len(self.results) if self.results else 1.0

    @property
    def failures(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    def __bool__(self) -> bool:
        return self.ok


def _classify(value: float, bounds: Sequence[tuple[float, str]]) -> str:
    return next(name for bound, name in bounds if value < bound)


def _direction(dx: float, dy: float, w: int, h: int, d: str) -> bool:
    """The contract's "moves <d>": >= 0.25 W (H) that way, the other way < half of it (pixels)."""
    if d in ("left", "right"):
        along = dx if d == "right" else -dx
        return along >= 0.25 * w and abs(dy) < 0.5 * abs(dx)
    along = dy if d == "down" else -dy
    return along >= 0.25 * h and abs(dx) < 0.5 * abs(dy)


def _swings(y: np.ndarray, h: float) -> list[int]:
    """Completed moves of at least h: +1 down, -1 up, in order."""
    moves: list[int] = []
    pivot, way, ext = y[0], 0, y[0]
    for v in y[1:]:
        if way == 0:
            way = 1 if v - pivot >= h else -1 if pivot - v >= h else 0
            ext = v
        elif (v - ext) * way > 0:
            ext = v
        elif abs(v - ext) >= h:
            moves.append(way)
            way, ext = -way, v
    return moves + ([way] if way else [])


class _Reader:
    def __init__(self, frames: np.ndarray, fps: float):
        self.frames = np.asarray(frames)
        self.fps = fps
        self.t, self.h, self.w = self.frames.shape[:3]
        self.c = objects(self.frames)
        self.segments = segments(self.frames)
        self._tracks: dict[tuple[str, int], list[np.ndarray]] = {}

    # -- helpers
    def seg(self, shot: int) -> tuple[int, int]:
        if shot >= len(self.segments):
            raise LookupError(f"no shot {shot + 1}: {len(self.segments)} found")
        return self.segments[shot]

    def in_frame(self, color: str, f: int) -> np.ndarray:
        return np.flatnonzero((self.c.frame == f) & (self.c.color == PALETTE.index(color)))

    def tracks(self, color: str, shot: int) -> list[np.ndarray]:
        """Tracks of one colour over a shot: component index per frame (-1: missing), longest first."""
        key = (color, shot)
        if key not in self._tracks:
            f0, f1 = self.seg(shot)
            found: list[dict[int, int]] = []
            for f in range(f0, f1 + 1):
                comps = list(self.in_frame(color, f))
                live = [tr for tr in found if max(tr) >= f - 3]
                pairs = sorted(
                    (math.hypot(self.c.cx[i] - self.c.cx[tr[max(tr)]], self.c.cy[i] - self.c.cy[tr[max(tr)]]), n, i)
                    for n, tr in enumerate(live)
                    for i in comps
                )
                used_t, used_c = set(), set()
                for dist, n, i in pairs:
                    if n not in used_t and i not in used_c and dist < 0.25 * self.w:
                        live[n][f] = i
                        used_t.add(n)
                        used_c.add(i)
                found += [{f: i} for i in comps if i not in used_c]
            out = []
            for tr in found:
                arr = np.full(f1 - f0 + 1, -1, np.int64)
                for f, i in tr.items():
                    arr[f - f0] = i
                out.append(arr)
            self._tracks[key] = sorted(out, key=lambda a: -(a >= 0).sum())
        return self._tracks[key]

    def main(self, color: str, shot: int, n: int = 1) -> list[np.ndarray]:
        tracks = self.tracks(color, shot)
        if len(tracks) < n:
            raise LookupError(f"{n} {color} object(s) not found")
        return tracks[:n]

    def at(self, track: np.ndarray, f: int, shot: int, slack: int = 2) -> int:
        """The track's component at frame f, or the nearest frame within `slack`."""
        f0, _ = self.seg(shot)
        for d in range(slack + 1):
            for g in (f - d, f + d):
                if 0 <= g - f0 < len(track) and track[g - f0] >= 0:
                    return int(track[g - f0])
        raise LookupError(f"object missing around frame {f}")

    def xy(self, i: int) -> tuple[float, float]:
        return float(self.c.cx[i]), float(self.c.cy[i])

    def series(self, track: np.ndarray, attr: str) -> np.ndarray:
        return getattr(self.c, attr)[track[track >= 0]]

    def touching(self, i: int, j: int) -> bool:
        c = self.c
        r = max(1, math.ceil(TOUCH * self.w))
        gap = max(c.x0[j] - c.x1[i], c.x0[i] - c.x1[j], c.y0[j] - c.y1[i], c.y0[i] - c.y1[j]) - 1
        if gap > r:
            return False
        f = int(c.frame[i])
        x0 = max(min(c.x0[i], c.x0[j]) - r, 0)
        x1 = min(max(c.x1[i], c.x1[j]) + r + 1, self.w)
        y0 = max(min(c.y0[i], c.y0[j]) - r, 0)
        y1 = min(max(c.y1[i], c.y1[j]) + r + 1, self.h)
        crop = c.labels[f, y0:y1, x0:x1]
        return bool((_dilate(crop == i, r) & (crop == j)).any())

    def first_touch(self, ta: np.ndarray, tbs: Sequence[np.ndarray], shot: int) -> int:
        f0, f1 = self.seg(shot)
        for f in range(f0, f1 + 1):
            a = ta[f - f0]
            if a >= 0 and any(tb[f - f0] >= 0 and self.touching(int(a), int(tb[f - f0])) for tb in tbs):
                return f
        raise LookupError("they never touch")

    def moved(self, track: np.ndarray, shot: int, fa: int, fb: int) -> tuple[float, float]:
        (xa, ya), (xb, yb) = self.xy(self.at(track, fa, shot)), self.xy(self.at(track, fb, shot))
        return xb - xa, yb - ya

    def still(self, track: np.ndarray, shot: int, fa: int, fb: int) -> bool:
        f0, _ = self.seg(shot)
        part = track[fa - f0 : fb - f0 + 1]
        if (part >= 0).mean() < 0.8:
            return False
        x, y = self.c.cx[part[part >= 0]], self.c.cy[part[part >= 0]]
        return bool(np.hypot(x - x[0], y - y[0]).max() < 0.03 * self.w)

    def rotation(self, track: np.ndarray) -> float:
        """Degrees the shape turned along the track (0 for shapes without a clear orientation)."""
        idx = track[track >= 0]
        m3, m4 = self.c.m3[idx], self.c.m4[idx]
        k, m = (3, m3) if abs(m3[0]) > abs(m4[0]) else (4, m4)
        if abs(m[0]) < 0.03:
            return 0.0
        phase = np.angle(m) / k
        step = np.diff(phase)
        period = 2 * np.pi / k
        step = (step + period / 2) % period - period / 2
        return float(np.degrees(step.sum()))

    # -- one check per claim kind; each returns (ok, detail) or raises LookupError
    def color(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        seen = np.mean([len(self.in_frame(cl.color, f)) > 0 for f in range(f0, f1 + 1)])
        return seen >= 0.4, f"seen in {seen:.0%} of frames"

    def count(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        counts = np.array([len(self.in_frame(cl.color, f)) for f in range(f0, f1 + 1)])
        present = counts[counts > 0]
        if len(present) < 0.4 * len(counts):
            return False, "mostly absent"
        mode = int(np.bincount(present).argmax())
        return mode == cl.count, f"{mode} seen"

    def shape(self, cl: Claim) -> tuple[bool, str]:
        shapes = [_classify(float(self.series(t, "fill").max()), FILL) for t in self.main(cl.color, cl.shot, cl.count)]
        return all(s == cl.shape for s in shapes), f"shapes {shapes}"

    def size(self, cl: Claim) -> tuple[bool, str]:
        sizes = []
        for t in self.main(cl.color, cl.shot, cl.count):
            i = int(t[t >= 0][0])
            extent = max(self.c.x1[i] - self.c.x0[i] + 1, self.c.y1[i] - self.c.y0[i] + 1) / self.w
            sizes.append(_classify(extent, SIZE_BOUNDS))
        return all(s == cl.size for s in sizes), f"sizes {sizes}"

    def _frame(self, shot: int, when: str) -> int:
        f0, f1 = self.seg(shot)
        return {"start": f0, "end": f1}.get(when, (f0 + f1) // 2)

    def place(self, cl: Claim) -> tuple[bool, str]:
        (t,) = self.main(cl.color, cl.shot)
        x, y = self.xy(self.at(t, self._frame(cl.shot, cl.when), cl.shot))
        x, y = x / self.w, y / self.h
        ok = {
            "left": x < 0.4,
            "right": x > 0.6,
            "middle": 0.35 <= x <= 0.65,
            "top": y < 0.4,
            "bottom": y > 0.6,
        }[cl.value]
        return ok, f"centroid ({x:.2f}, {y:.2f})"

    def relation(self, cl: Claim) -> tuple[bool, str]:
        f = self._frame(cl.shot, "middle")
        (ta,), (tb,) = self.main(cl.color, cl.shot), self.main(cl.other, cl.shot)
        (xa, ya), (xb, yb) = self.xy(self.at(ta, f, cl.shot)), self.xy(self.at(tb, f, cl.shot))
        dx, dy = (xa - xb) / self.w, (ya - yb) / self.h
        ok = {"left_of": dx < -0.1, "right_of": dx > 0.1, "above": dy < -0.1, "below": dy > 0.1}[cl.value]
        return ok, f"offset ({dx:.2f}, {dy:.2f})"

    def _moves(self, t: np.ndarray, shot: int, fa: int, fb: int, motion: str) -> tuple[bool, str]:
        if motion == "still":
            return self.still(t, shot, fa, fb), "still" if self.still(t, shot, fa, fb) else "moves"
        dx, dy = self.moved(t, shot, fa, fb)
        detail = f"moved ({dx / self.w:.2f} W, {dy / self.h:.2f} H)"
        if motion in ("left", "right", "up", "down"):
            return _direction(dx, dy, self.w, self.h, motion), detail
        if motion == "falls":
            fm = (fa + fb) // 2
            first, second = self.moved(t, shot, fa, fm)[1], self.moved(t, shot, fm, fb)[1]
            return _direction(dx, dy, self.w, self.h, "down") and second > 1.3 * first, detail
        f0, _ = self.seg(shot)
        part = t[fa - f0 : fb - f0 + 1]
        part = part[part >= 0]
        if motion == "bounces":
            swings = _swings(self.c.cy[part] / self.h, 0.06)
            hops = sum(1 for a, b in zip(swings, swings[1:]) if (a, b) == (1, -1))
            return hops >= 2, f"{hops} down-and-up swings"
        ratio = float(self.c.area[part[-1]] / self.c.area[part[0]])
        if motion == "grows":
            return ratio >= 1.5, f"area x{ratio:.2f}"
        if motion == "shrinks":
            return ratio <= 0.67, f"area x{ratio:.2f}"
        if motion == "spins":
            turn = self.rotation(part)
            return abs(turn) >= 90 and self.still(t, shot, fa, fb), f"turned {turn:.0f} deg"
        raise ValueError(f"unknown motion {motion!r}")

    def motion(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        results = [self._moves(t, cl.shot, f0, f1, cl.value) for t in self.main(cl.color, cl.shot, cl.count)]
        return all(ok for ok, _ in results), "; ".join(d for _, d in results)

    def order(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        fm = (f0 + f1) // 2
        (ta,), (tb,) = self.main(cl.color, cl.shot), self.main(cl.other, cl.shot)
        steps = [
            self._moves(ta, cl.shot, f0, fm, cl.value)[0],
            self.still(ta, cl.shot, fm, f1),
            self.still(tb, cl.shot, f0, fm),
            self._moves(tb, cl.shot, fm, f1, cl.other_value)[0],
        ]
        return all(steps), f"A moves, A still, B still, B moves: {steps}"

    def hit_turn(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        (ta,), (tb,) = self.main(cl.color, cl.shot), self.main(cl.other, cl.shot)
        tc = self.tracks(cl.value, cl.shot)
        ft = self.first_touch(ta, [tb, *tc[:1]], cl.shot)
        fk = min(ft + math.ceil(TURN_SECONDS * self.fps), f1)
        before_b = all(len(self.in_frame(cl.other, f)) > 0 for f in range(f0, ft))
        before_c = all(len(self.in_frame(cl.value, f)) == 0 for f in range(f0, ft))
        after_b = all(len(self.in_frame(cl.other, f)) == 0 for f in range(fk, f1 + 1))
        after_c = all(len(self.in_frame(cl.value, f)) > 0 for f in range(fk, f1 + 1))
        same_place = False
        if tc and ft > f0:
            (xb, yb), (xc, yc) = self.xy(self.at(tb, ft - 1, cl.shot)), self.xy(self.at(tc[0], fk, cl.shot))
            same_place = math.hypot(xc - xb, yc - yb) < 0.05 * self.w
        steps = [before_b, before_c, after_b, after_c, same_place]
        return all(steps), f"touch at frame {ft}; old/new colour before, after, same place: {steps}"

    def push(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        (ta,), (tb,) = self.main(cl.color, cl.shot), self.main(cl.other, cl.shot)
        ft = self.first_touch(ta, [tb], cl.shot)
        dx, dy = self.moved(ta, cl.shot, f0, ft)
        way = ("right" if dx > 0 else "left") if abs(dx) >= abs(dy) else ("down" if dy > 0 else "up")
        bx, by = self.moved(tb, cl.shot, ft, f1)
        steps = [
            max(abs(dx), abs(dy)) > 0.02 * self.w,
            self.still(tb, cl.shot, f0, ft),
            _direction(bx, by, self.w, self.h, way),
        ]
        return all(steps), f"touch at frame {ft}; A moving, B still before, B moves {way} after: {steps}"

    def bite(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        (ta,), (tb,) = self.main(cl.color, cl.shot), self.main(cl.other, cl.shot)
        ft = self.first_touch(ta, [tb], cl.shot)
        before = tb[: ft - f0 + 1]
        before = before[before >= 0]
        area0 = float(np.median(self.c.area[before]))
        # The bite: the first frame (within a second of the touch) B has lost a tenth or more.
        later = [f for f in range(ft, min(ft + math.ceil(self.fps), f1) + 1) if tb[f - f0] >= 0]
        bitten = [f for f in later if self.c.area[tb[f - f0]] < 0.9 * area0]
        if not bitten:
            return False, "B never loses area after the touch"
        after = tb[bitten[0] - f0 + 1 :]  # one frame of slack for a bite that takes time
        after = after[after >= 0]
        if not len(after):
            return False, "no frames after the bite"
        kept = self.c.area[after] / area0
        ax, ay = self.xy(self.at(ta, ft, cl.shot))
        bx, by = self.xy(self.at(tb, ft, cl.shot))
        toward = np.array([ax - bx, ay - by]) / max(math.hypot(ax - bx, ay - by), 1e-9)
        c = self.c
        shift = np.array([np.median(c.cx[after]) - np.median(c.cx[before]), np.median(c.cy[after]) - np.median(c.cy[before])])
        away = float(-(shift @ toward)) / self.w
        steps = [
            bool(((kept >= BITE_KEEP[0]) & (kept <= BITE_KEEP[1])).all()),
            len(after) >= 0.8 * (f1 - bitten[0]),
            away >= 0.003,
        ]
        return all(steps), f"area kept {kept.min():.2f}-{kept.max():.2f}, centroid moved {away:.3f} W away: {steps}"

    def behind(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        (ta,), (tb,) = self.main(cl.color, cl.shot), self.main(cl.other, cl.shot)
        counts = [int((self.c.frame == f).sum()) for f in range(f0, f1 + 1)]
        if (ta < 0).any() or (tb < 0).any():
            return False, "an object goes missing"
        a_area = self.c.area[ta]
        c = self.c
        overlap = (c.x1[ta] >= c.x0[tb]) & (c.x0[ta] <= c.x1[tb])
        side0 = np.sign(c.cx[ta[0]] - c.cx[tb[0]])
        side1 = np.sign(c.cx[ta[-1]] - c.cx[tb[-1]])
        steps = [
            len(set(counts)) == 1,
            bool(overlap.any()) and float(a_area[overlap].min()) <= 0.8 * a_area[0],
            float(a_area[-1]) >= 0.85 * a_area[0],
            bool(side0 != side1 and not overlap[0] and not overlap[-1]),
        ]
        return all(steps), f"count steady, hidden while over, back after, other side: {steps}"

    def _through(self, shot: int, f0: int) -> list[np.ndarray]:
        """Tracks of the objects in view at frame ``f0`` that are seen at the shot's first and last frames."""
        colors = {PALETTE[i] for i in self.c.color[self.c.frame == f0]}
        return [t for color in colors for t in self.tracks(color, shot) if t[0] >= 0 and t[-1] >= 0]

    def camera(self, cl: Claim) -> tuple[bool, str]:
        f0, f1 = self.seg(cl.shot)
        shift, zoom, match = camera_motion(self.frames, f0, f1)
        detail = f"background shift {shift:+.2f} W, zoom x{zoom:.2f} (match {match:.2f})"
        if cl.value in ("zoom-in", "zoom-out"):
            scales = [math.sqrt(self.c.area[t[-1]] / self.c.area[t[0]]) for t in self._through(cl.shot, f0)]
            if not scales:
                return False, "no object to measure the zoom on"
            s = float(np.median(scales))
            zoomed = s >= 1.3 if cl.value == "zoom-in" else s <= 1 / 1.3
            # The background must agree where it can be read (objects alone may just grow).
            ground = match < 0.5 or (zoom >= 1.2 if cl.value == "zoom-in" else zoom <= 1 / 1.2)
            return zoomed and ground and abs(shift) < 0.1, f"objects x{s:.2f}; {detail}"
        if match < 0.3:
            return False, detail
        want = {"pan-right": shift <= -0.2, "pan-left": shift >= 0.2, "still": abs(shift) < 0.05}[cl.value]
        if cl.value != "still" and abs(shift) < 0.05:  # say so when the objects travel over a set that holds
            tracks = self._through(cl.shot, f0)
            moved = float(np.median([self.moved(t, cl.shot, f0, f1)[0] / self.w for t in tracks])) if tracks else 0.0
            if abs(moved) >= 0.1:
                detail += f"; objects {moved:+.2f} W over a still set: object motion, not a pan"
        return want and abs(zoom - 1) < 0.1, detail

    def style(self, cl: Claim) -> tuple[bool, str]:
        f = self._frame(cl.shot, "middle")
        objs = self.c.labels[f] >= 0
        if not objs.any():
            return False, "no objects"
        frame = self.frames[f]
        v, mn = _max_min(frame)
        dark = (v < 64) & ((v.astype(np.int16) - mn) < 0.15 * v)
        ring = _dilate(objs, max(2, round(0.012 * self.w))) & ~objs
        share = float(dark[ring].mean())
        found = "cartoon" if share >= 0.12 else "realistic" if share <= 0.04 else "unclear"
        return found == cl.value, f"{share:.0%} of the rim is outline: {found}"

    def cuts(self, cl: Claim) -> tuple[bool, str]:
        n = len(self.segments) - 1
        return n == cl.count, f"{n} cuts"


def tracks(frames: np.ndarray, color: str, shot: int = 0) -> list[tuple[np.ndarray, Components]]:
    """Objects of one colour followed through a shot, longest first.

    Each track is (component index per frame of the shot, -1 where missing) together
    with the Components it indexes (centroid, area, bounding box... per component).
    """
    reader = _Reader(frames, 8.0)
    return [(t, reader.c) for t in reader.tracks(color, shot)]


def check(frames: np.ndarray, scene_or_claims: Scene | Sequence[Claim], *, fps: float | None = None) -> Report:
    """Check claims (or all claims of a scene) against frames (T, H, W, 3) uint8.

    fps: frame rate of the frames (for "within 0.5 s"); for a scene, taken from its length.
    """
    frames = np.asarray(frames)
    if isinstance(scene_or_claims, Scene):
        items = scene_claims(scene_or_claims)
        fps = fps or (len(frames) - 1) / scene_or_claims.seconds
    else:
        items = list(scene_or_claims)
    reader = _Reader(frames, fps or 8.0)
    report = Report()
    for cl in items:
        if cl.kind not in CLAIM_KINDS:
            raise ValueError(f"unknown claim kind {cl.kind!r}; choose from {CLAIM_KINDS}")
        try:
            ok, detail = getattr(reader, cl.kind)(cl)
        except LookupError as e:
            ok, detail = False, str(e)
        report.results.append(Result(cl, bool(ok), detail))
    return report
