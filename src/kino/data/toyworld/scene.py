"""Toyworld scenes: the data that fully determines a clip (contract: /work/shared/toyworld.md).

Coordinates follow the contract: x grows right, y grows down. Positions are fractions
of the frame (x of its width, y of its height); object sizes are fractions of the
frame WIDTH. A scene is laid out so that it is valid at every aspect ratio W/H from
1 to ``MAX_ASPECT``: objects stay inside the frame and apart at both extremes.

Time inside a shot is ``s`` in [0, 1]; a clip of ``n`` shots splits evenly, so the
same scene renders the same story at any frame rate and resolution.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "yellow": (235, 200, 30),
    "green": (40, 170, 70),
    "cyan": (30, 180, 200),
    "blue": (40, 70, 220),
    "purple": (170, 50, 200),
}
HUES: dict[str, float] = {"red": 0, "yellow": 50, "green": 135, "cyan": 188, "blue": 229, "purple": 287}
SHAPES = ("circle", "square", "triangle")
SIZES: dict[str, float] = {"small": 0.10, "medium": 0.15, "big": 0.22}  # bounding box, fraction of W
STYLES = ("cartoon", "realistic")
DIRECTIONS = ("left", "right", "up", "down")
MOTIONS = ("still", *DIRECTIONS, "falls", "bounces", "grows", "shrinks", "spins")
CAMERAS = ("still", "pan-left", "pan-right", "zoom-in", "zoom-out")
EVENTS = ("order", "hit_turn", "push", "bite", "behind")
KINDS = (
    "color", "shape", "count", "place", "relation", "motion",
    "size_change", "spin", "order", "hit_turn", "push", "bite", "behind",
    "camera_pan", "camera_zoom", "multishot", "style",
)  # fmt: skip
# Default mixture: ~60% simple scenes (colour, shape, counts, places, one motion,
# left/right relations), which the small default model has to learn first.
MIXTURE: dict[str, float] = {
    "color": 0.09, "shape": 0.09, "count": 0.11, "place": 0.10, "relation": 0.11, "motion": 0.10,
    "size_change": 0.035, "spin": 0.035, "order": 0.04, "hit_turn": 0.04, "push": 0.035,
    "bite": 0.035, "behind": 0.035, "camera_pan": 0.035, "camera_zoom": 0.035,
    "multishot": 0.04, "style": 0.035,
}  # fmt: skip

MAX_ASPECT = 16 / 9
MARGIN = 0.025  # free border kept around every object, fraction of the frame
GAP = 0.04  # least distance between objects that do not interact, fraction of W
OUTLINE = 0.016  # cartoon outline width, fraction of W
PAN = 0.30  # camera pan over a shot, fraction of W (contract: >= 0.2)
ZOOM = 1.45  # camera zoom over a shot, linear (contract: >= 1.3)
GROW, SHRINK = 1.35, 0.70  # linear scale: area x1.82 / x0.49 (contract: x1.5 / x0.67)
SPIN = 180.0  # degrees (contract: >= 90)
BITE = 0.30  # area a bite removes (contract: 20-35%; pixel edges make it read ~0.25-0.3)
BOUNCES = 3
MOVE = (0.35, 0.45)  # move distance, fraction of W or H (contract: >= 0.25)
# Background of each shot: (sky grey, floor grey, horizon y). Neighbouring shots differ
# by >= 22 grey levels everywhere, so a cut changes nearly every pixel.
BACKDROPS = ((210, 178, 0.74), (182, 152, 0.70), (234, 204, 0.77))


@dataclass(frozen=True)
class Obj:
    """A character: what it looks like, in every shot."""

    id: int
    color: str
    shape: str
    size: str = "medium"

    @property
    def half(self) -> float:
        return SIZES[self.size] / 2


@dataclass(frozen=True)
class Segment:
    """One piece of an actor's motion, active over shot time [start, end]."""

    kind: str  # "move" | "fall" | "bounce" | "scale" | "spin"
    start: float = 0.0
    end: float = 1.0
    dx: float = 0.0  # move / fall: displacement, fraction of W
    dy: float = 0.0  # move / fall: displacement, fraction of H
    amount: float = 0.0  # bounce: height (fraction of H); scale: factor; spin: degrees
    count: int = 0  # bounce: number of hops


@dataclass(frozen=True)
class Actor:
    """An object's part in one shot. ``x, y`` is its start centroid in the world."""

    obj: int
    x: float
    y: float
    motion: str = "still"  # what captions may say of it ("" = nothing)
    segments: tuple[Segment, ...] = ()
    turn: str = ""  # colour it takes at shot time turn_at
    turn_at: float = 2.0
    bite_at: float = 2.0  # shot time it is bitten (> 1: never)
    bite_side: int = 0  # -1: bitten on its left side, +1: on its right


@dataclass(frozen=True)
class Event:
    kind: str  # one of EVENTS
    a: int  # object ids
    b: int
    at: float = 0.5  # shot time of contact (order: unused)
    color: str = ""  # hit_turn: the colour b turns


@dataclass(frozen=True)
class Shot:
    actors: tuple[Actor, ...]  # drawn back to front
    camera: str = "still"
    events: tuple[Event, ...] = ()
    backdrop: int = 0


@dataclass(frozen=True)
class Scene:
    style: str
    objects: tuple[Obj, ...]  # objects[i].id == i
    shots: tuple[Shot, ...]
    seconds: float = 4.0
    seed: int = 0  # background texture
    kind: str = ""  # the sampler that made it

    @property
    def camera(self) -> str:
        return self.shots[0].camera

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(e for shot in self.shots for e in shot.events)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scene:
        shots = tuple(
            Shot(
                actors=tuple(
                    Actor(**{**a, "segments": tuple(Segment(**g) for g in a["segments"])}) for a in s["actors"]
                ),
                camera=s["camera"],
                events=tuple(Event(**e) for e in s["events"]),
                backdrop=s["backdrop"],
            )
            for s in d["shots"]
        )
        objects = tuple(Obj(**o) for o in d["objects"])
        return cls(d["style"], objects, shots, d["seconds"], d["seed"], d["kind"])


# ---------------------------------------------------------------------------------------
# Geometry: where everything is at shot time s.


@dataclass(frozen=True)
class Pose:
    x: float  # centroid in the image, fraction of W
    y: float  # centroid in the image, fraction of H
    half: float  # half the unrotated bounding box side, fraction of W
    angle: float  # degrees
    color: str
    bitten: bool
    zoom: float


def timeline(seconds: float, fps: float, n_shots: int) -> list[tuple[int, float]]:
    """(shot index, shot time s) of each frame; first frame at t=0, last at t=seconds."""
    n = round(seconds * fps) + 1
    out = []
    for i in range(n):
        u = i / (n - 1) if n > 1 else 0.0
        k = min(int(u * n_shots), n_shots - 1)
        out.append((k, u * n_shots - k))
    return out


def camera_at(camera: str, s: float) -> tuple[float, float]:
    """(world x offset, zoom) of the camera; image = 0.5 + (world - offset - 0.5) * zoom."""
    return {
        "still": (0.0, 1.0),
        "pan-right": (PAN * s, 1.0),
        "pan-left": (-PAN * s, 1.0),
        "zoom-in": (0.0, ZOOM**s),
        "zoom-out": (0.0, ZOOM**-s),
    }[camera]


def _progress(seg: Segment, s: float) -> float:
    if seg.end <= seg.start:
        return float(s >= seg.start)
    return min(max((s - seg.start) / (seg.end - seg.start), 0.0), 1.0)


def world_pose(actor: Actor, s: float) -> tuple[float, float, float, float]:
    """(x, y, scale, angle) of an actor in the world at shot time s."""
    x, y, scale, angle = actor.x, actor.y, 1.0, 0.0
    for seg in actor.segments:
        p = _progress(seg, s)
        if seg.kind == "move":
            x, y = x + seg.dx * p, y + seg.dy * p
        elif seg.kind == "fall":  # speeding up
            x, y = x + seg.dx * p * p, y + seg.dy * p * p
        elif seg.kind == "bounce":  # down and up `count` times, ends where it began
            y += seg.amount * abs(math.sin(math.pi * seg.count * p))
        elif seg.kind == "scale":
            scale *= 1 + (seg.amount - 1) * p
        elif seg.kind == "spin":
            angle += seg.amount * p
    return x, y, scale, angle


def pose(scene: Scene, shot: Shot, actor: Actor, s: float) -> Pose:
    obj = scene.objects[actor.obj]
    x, y, scale, angle = world_pose(actor, s)
    cam_x, z = camera_at(shot.camera, s)
    color = actor.turn if actor.turn and s >= actor.turn_at else obj.color
    return Pose(
        0.5 + (x - cam_x - 0.5) * z, 0.5 + (y - 0.5) * z, obj.half * scale * z, angle, color, s >= actor.bite_at, z
    )


def polygon(shape: str, half: float, angle: float = 0.0) -> np.ndarray:
    """Vertices (N, 2) about the centroid, y down; the triangle points up."""
    if shape == "square":
        v = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * half
    elif shape == "triangle":  # bounding box 2h x 2h, centroid 2/3 of the way down
        v = np.array([[0, -4 / 3], [1, 2 / 3], [-1, 2 / 3]], float) * half
    else:
        raise ValueError(shape)
    a = math.radians(angle)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return v @ rot.T


def extent(shape: str, half: float, angle: float = 0.0) -> tuple[float, float, float, float]:
    """(left, right, up, down) reach from the centroid, in units of W (y scaled like x)."""
    if shape == "circle":
        return half, half, half, half
    v = polygon(shape, half, angle)
    return -v[:, 0].min(), v[:, 0].max(), -v[:, 1].min(), v[:, 1].max()


def half_width(shape: str, half: float, v: np.ndarray) -> np.ndarray:
    """Half width of an unrotated shape at vertical offset v from its centroid (nan: outside)."""
    if shape == "circle":
        w = np.sqrt(np.maximum(half * half - v * v, 0.0))
        return np.where(np.abs(v) <= half, w, np.nan)
    if shape == "square":
        return np.where(np.abs(v) <= half, half, np.nan)
    inside = (v >= -4 / 3 * half) & (v <= 2 / 3 * half)
    return np.where(inside, (v + 4 / 3 * half) / 2, np.nan)


def contact_distance(a: Obj, b: Obj) -> float:
    """Horizontal centroid distance (fraction of W) at which a and b touch, same centroid row."""
    reach = 2 * max(a.half, b.half)
    v = np.linspace(-reach, reach, 2001)
    return float(np.nanmax(half_width(a.shape, a.half, v) + half_width(b.shape, b.half, v)))


def bite_center(shape: str, half: float, side: int) -> tuple[float, float]:
    """Centre of the bite disc (unrotated, about the centroid): the edge point on `side`."""
    return side * float(half_width(shape, half, np.zeros(1))[0]), 0.0


@functools.lru_cache(maxsize=None)
def bite_radius(shape: str) -> float:
    """Bite disc radius, in units of the half size, that removes BITE of the shape's area."""
    n = 600
    c = (np.arange(n) + 0.5) / n * 4 - 2
    x, y = np.meshgrid(c, c)
    if shape == "circle":
        inside = x * x + y * y <= 1
    elif shape == "square":
        inside = (np.abs(x) <= 1) & (np.abs(y) <= 1)
    else:
        inside = (y >= -4 / 3) & (y <= 2 / 3) & (np.abs(x) <= (y + 4 / 3) / 2)
    bx, _ = bite_center(shape, 1.0, -1)
    d2 = (x - bx) ** 2 + y * y
    total = inside.sum()
    lo, hi = 0.0, 2.0
    for _ in range(40):
        r = (lo + hi) / 2
        lo, hi = (r, hi) if (inside & (d2 <= r * r)).sum() < BITE * total else (lo, r)
    return (lo + hi) / 2


@functools.lru_cache(maxsize=None)
def _below_table(shape: str) -> tuple[np.ndarray, np.ndarray]:
    v = np.linspace(-1.5, 1.5, 3001)
    w = np.nan_to_num(half_width(shape, 1.0, v))
    return v, np.cumsum(w[::-1])[::-1] / w.sum()


def area_below(shape: str, level: float) -> float:
    """Fraction of an unrotated shape (half size 1) lying below offset `level` from its centroid."""
    v, below = _below_table(shape)
    return float(np.interp(level, v, below))


# ---------------------------------------------------------------------------------------
# Layout validity: inside the frame and apart, at every time and both aspect extremes.


def _boxes(scene: Scene, shot: Shot, s: float, aspect: float) -> list[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) of each actor: x in fractions of W, y in fractions of H."""
    out = []
    for actor in shot.actors:
        p = pose(scene, shot, actor, s)
        left, right, up, down = extent(scene.objects[actor.obj].shape, p.half, p.angle)
        out.append((p.x - left, p.x + right, p.y - up * aspect, p.y + down * aspect))
    return out


def fits(scene: Scene) -> bool:
    """True when every object stays inside the frame and apart from the others throughout."""
    for shot in scene.shots:
        ids = [a.obj for a in shot.actors]
        touching = {frozenset((e.a, e.b)) for e in shot.events if e.kind != "order"}
        for s in np.linspace(0, 1, 41):
            for aspect in (1.0, MAX_ASPECT):
                boxes = _boxes(scene, shot, float(s), aspect)
                for x0, x1, y0, y1 in boxes:
                    if x0 < MARGIN or x1 > 1 - MARGIN or y0 < MARGIN or y1 > 1 - MARGIN:
                        return False
                for i in range(len(boxes)):
                    for j in range(i + 1, len(boxes)):
                        if frozenset((ids[i], ids[j])) in touching:
                            continue
                        a, b = boxes[i], boxes[j]
                        gap_x = max(b[0] - a[1], a[0] - b[1])
                        gap_y = max(b[2] - a[3], a[2] - b[3]) / aspect
                        if max(gap_x, gap_y) < GAP:
                            return False
    return True


# ---------------------------------------------------------------------------------------
# Sampling.

_XZ = {"left": (0.14, 0.30), "middle": (0.44, 0.56), "right": (0.70, 0.86)}
_YZ = {"top": (0.25, 0.31), "middle": (0.45, 0.55), "bottom": (0.69, 0.75)}
_CELLS = [(x, y) for x in _XZ for y in _YZ]


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _pick(rng: np.random.Generator, options: Sequence[Any], p: Sequence[float] | None = None) -> Any:
    return options[int(rng.choice(len(options), p=p))]


def _colors(rng: np.random.Generator, n: int) -> list[str]:
    return [str(c) for c in rng.permutation(list(COLORS))[:n]]


def _objs(rng: np.random.Generator, n: int, shapes: Sequence[str] = SHAPES, sizes: Sequence[str] = tuple(SIZES)):
    return [Obj(i, c, _pick(rng, shapes), _pick(rng, sizes)) for i, c in enumerate(_colors(rng, n))]


def _cells(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    return [_CELLS[i] for i in rng.permutation(len(_CELLS))[:n]]


def _still(rng: np.random.Generator, obj: Obj, cell: tuple[str, str]) -> Actor:
    return Actor(obj.id, _u(rng, *_XZ[cell[0]]), _u(rng, *_YZ[cell[1]]))


def _mover(
    rng: np.random.Generator, obj: Obj, motion: str, start: float = 0.0, end: float = 1.0
) -> Actor | None:
    """An actor that moves / falls / bounces across the frame, or None when it cannot fit."""
    left, right, up, down = extent(obj.shape, obj.half)
    up, down = up * MAX_ASPECT, down * MAX_ASPECT
    d = _u(rng, *MOVE)
    if motion in ("left", "right"):
        lo, hi = MARGIN + left + (d if motion == "left" else 0), 1 - MARGIN - right - (d if motion == "right" else 0)
        if lo > hi:
            return None
        x, y = _u(rng, lo, hi), _u(rng, *_YZ[_pick(rng, list(_YZ))])
        seg = Segment("move", start, end, dx=d if motion == "right" else -d)
        return Actor(obj.id, x, y, motion, (seg,))
    x = _u(rng, *_XZ[_pick(rng, list(_XZ))])
    if motion == "bounces":
        d = _u(rng, 0.22, 0.28)
        seg = Segment("bounce", start, end, amount=d, count=BOUNCES)
    elif motion == "falls":
        d = _u(rng, 0.38, 0.45)
        seg = Segment("fall", start, end, dy=d)
    else:
        seg = Segment("move", start, end, dy=d if motion == "down" else -d)
    lo, hi = MARGIN + up + (d if motion == "up" else 0), 1 - MARGIN - down - (0 if motion == "up" else d)
    if lo > hi:
        return None
    return Actor(obj.id, x, _u(rng, lo, hi), motion, (seg,))


def _simple(rng: np.random.Generator, objs: list[Obj], movers: dict[int, str] | None = None) -> Shot | None:
    movers = movers or {}
    cells = _cells(rng, len(objs))
    actors = []
    for obj, cell in zip(objs, cells):
        if obj.id in movers:
            actor = _mover(rng, obj, movers[obj.id])
            if actor is None:
                return None
        else:
            actor = _still(rng, obj, cell)
        actors.append(actor)
    return Shot(tuple(actors))


Sampled = tuple[list[Obj], list[Shot | None]]


def _s_color(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 1 if rng.random() < 0.6 else 2)
    return objs, [_simple(rng, objs)]


def _s_shape(rng: np.random.Generator) -> Sampled:
    n = 1 if rng.random() < 0.5 else 2
    shapes = [str(s) for s in rng.permutation(SHAPES)[:n]]
    objs = [Obj(i, c, shapes[i], _pick(rng, list(SIZES))) for i, c in enumerate(_colors(rng, n))]
    return objs, [_simple(rng, objs)]


def _s_count(rng: np.random.Generator) -> Sampled:
    n = _pick(rng, [1, 2, 3, 4, 5], [0.2, 0.3, 0.3, 0.12, 0.08])
    sizes = ("small", "medium") if n >= 4 else tuple(SIZES)
    colors = _colors(rng, 2)
    first = Obj(0, colors[0], _pick(rng, SHAPES), _pick(rng, sizes))
    objs = [Obj(i, first.color, first.shape, first.size) for i in range(n)]
    if n <= 3 and rng.random() < 0.35:  # a second description: "two red balls and a blue box"
        m = _pick(rng, [1, 2])
        other = Obj(n, colors[1], _pick(rng, SHAPES), _pick(rng, ("small", "medium")))
        objs += [Obj(n + i, other.color, other.shape, other.size) for i in range(m)]
    return objs, [_simple(rng, objs)]


def _s_place(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 1 if rng.random() < 0.5 else 2)
    return objs, [_simple(rng, objs)]


def _s_relation(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 2)
    if rng.random() < 0.75:  # left / right
        xs = [str(x) for x in rng.permutation(list(_XZ))[:2]]
        ys = [_pick(rng, list(_YZ)), _pick(rng, list(_YZ))]
    else:  # above / below
        ys = [str(y) for y in rng.permutation(list(_YZ))[:2]]
        xs = [_pick(rng, list(_XZ)), _pick(rng, list(_XZ))]
    return objs, [Shot(tuple(_still(rng, o, (x, y)) for o, x, y in zip(objs, xs, ys)))]


def _s_motion(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 1 if rng.random() < 0.5 else 2)
    motion = _pick(rng, [*DIRECTIONS, "falls", "bounces"], [0.2, 0.2, 0.15, 0.15, 0.15, 0.15])
    return objs, [_simple(rng, objs, {0: motion})]


def _s_style(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 1 if rng.random() < 0.6 else 2)
    movers = {0: _pick(rng, DIRECTIONS)} if rng.random() < 0.5 else {}
    return objs, [_simple(rng, objs, movers)]


def _s_size_change(rng: np.random.Generator) -> Sampled:
    grows = rng.random() < 0.5
    objs = _objs(rng, 1 if rng.random() < 0.6 else 2)
    objs[0] = Obj(0, objs[0].color, objs[0].shape, _pick(rng, ("small", "medium") if grows else ("medium", "big")))
    shot = _simple(rng, objs)
    if shot is None:
        return objs, [None]
    seg = Segment("scale", amount=GROW if grows else SHRINK)
    a0 = shot.actors[0]
    a0 = Actor(a0.obj, a0.x, a0.y, "grows" if grows else "shrinks", (seg,))
    return objs, [Shot((a0, *shot.actors[1:]))]


def _s_spin(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 1 if rng.random() < 0.6 else 2)
    objs[0] = Obj(0, objs[0].color, _pick(rng, ("square", "triangle")), objs[0].size)
    shot = _simple(rng, objs)
    if shot is None:
        return objs, [None]
    a0 = shot.actors[0]
    seg = Segment("spin", amount=SPIN if rng.random() < 0.5 else -SPIN)
    return objs, [Shot((Actor(a0.obj, a0.x, a0.y, "spins", (seg,)), *shot.actors[1:]))]


def _s_order(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, 2)
    a = _mover(rng, objs[0], _pick(rng, DIRECTIONS), 0.0, 0.45)
    b = _mover(rng, objs[1], _pick(rng, DIRECTIONS), 0.55, 1.0)
    if a is None or b is None:
        return objs, [None]
    return objs, [Shot((a, b), events=(Event("order", 0, 1),))]


def _contact_gap(style: str) -> float:
    # Cartoon outlines meet; realistic shapes stop just short of each other.
    return OUTLINE + 0.003 if style == "cartoon" else 0.006


def _pair(rng: np.random.Generator, style: str, approach: float, after: float) -> tuple[list[Obj], dict] | None:
    """Two objects on one row: a starts `approach` short of touching b; b has `after` of room beyond."""
    objs = _objs(rng, 2)
    a, b = objs
    side = -1 if rng.random() < 0.5 else 1  # the side of b that a comes from
    la, ra, _, _ = extent(a.shape, a.half)
    lb, rb, _, _ = extent(b.shape, b.half)
    reach = contact_distance(a, b) + _contact_gap(style)
    if side < 0:
        lo, hi = MARGIN + la, 1 - MARGIN - rb - after - approach - reach
    else:
        lo, hi = MARGIN + lb + after, 1 - MARGIN - ra - approach - reach
    if lo > hi:
        return None
    x = _u(rng, lo, hi)
    xa, xb = (x, x + approach + reach) if side < 0 else (x + approach + reach, x)
    return objs, {"side": side, "xa": xa, "xb": xb, "y": _u(rng, 0.4, 0.6), "dir": "right" if side < 0 else "left"}


def _s_hit_turn(rng: np.random.Generator, style: str) -> Sampled:
    d = _u(rng, 0.32, 0.4)
    got = _pair(rng, style, d, 0.0)
    if got is None:
        return [], [None]
    objs, g = got
    at = _u(rng, 0.45, 0.55)
    used = {o.color for o in objs}
    new = _pick(rng, [c for c in COLORS if c not in used])
    a = Actor(0, g["xa"], g["y"], g["dir"], (Segment("move", 0.0, at, dx=-g["side"] * d),))
    b = Actor(1, g["xb"], g["y"], "", turn=new, turn_at=at)
    return objs, [Shot((a, b), events=(Event("hit_turn", 0, 1, at, new),))]


def _s_push(rng: np.random.Generator, style: str) -> Sampled:
    d_in, d_push, end = _u(rng, 0.12, 0.2), _u(rng, 0.32, 0.38), 0.9
    got = _pair(rng, style, d_in, d_push)
    if got is None:
        return [], [None]
    objs, g = got
    at = end * d_in / (d_in + d_push)
    sign = -g["side"]
    a = Actor(0, g["xa"], g["y"], g["dir"], (Segment("move", 0.0, end, dx=sign * (d_in + d_push)),))
    b = Actor(1, g["xb"], g["y"], "", (Segment("move", at, end, dx=sign * d_push),))
    return objs, [Shot((a, b), events=(Event("push", 0, 1, at),))]


def _s_bite(rng: np.random.Generator, style: str) -> Sampled:
    d = _u(rng, 0.2, 0.3)
    got = _pair(rng, style, d, 0.0)
    if got is None:
        return [], [None]
    objs, g = got
    at, sign = _u(rng, 0.4, 0.55), -g["side"]
    # a touches b at `at`, bites a moment later (while still touching, so every frame rate
    # sees the contact before the mark), then backs off from the mark.
    segs = (Segment("move", 0.0, at, dx=sign * d), Segment("move", at + 0.14, at + 0.29, dx=-sign * 0.06))
    a = Actor(0, g["xa"], g["y"], "", segs)
    b = Actor(1, g["xb"], g["y"], "", bite_at=at + 0.08, bite_side=g["side"])
    return objs, [Shot((a, b), events=(Event("bite", 0, 1, at),))]


def _s_behind(rng: np.random.Generator) -> Sampled:
    """a (behind) slides across b (a box in front) with its top showing: one piece, never hidden."""
    colors = _colors(rng, 2)
    a = Obj(0, colors[0], _pick(rng, SHAPES), "medium")
    b = Obj(1, colors[1], "square", _pick(rng, ("medium", "big")))
    # Offset of a's centroid above b's: a's covered share must stay in [0.3, 0.65] at
    # every aspect (cover grows with the aspect, since sizes are fractions of W).
    options = []
    for dy in np.linspace(0.0, 0.3, 151):
        lo = area_below(a.shape, (dy - b.half) / a.half)  # aspect 1, in units of a.half
        hi = area_below(a.shape, (dy / MAX_ASPECT - b.half) / a.half)
        if lo >= 0.3 and hi <= 0.65:
            options.append((abs(lo + hi - 0.95), float(dy)))
    if not options:
        return [a, b], [None]
    dy = min(options)[1]
    side = -1 if rng.random() < 0.5 else 1
    la, ra, _, _ = extent(a.shape, a.half)
    off = max(la, ra) + b.half + GAP + 0.02
    xb, yb = _u(rng, 0.45, 0.55), _u(rng, 0.5, 0.62)
    d = 2 * off
    seg = Segment("move", 0.0, 1.0, dx=-side * d)
    actor_a = Actor(0, xb + side * off, yb - dy, "right" if side < 0 else "left", (seg,))
    actor_b = Actor(1, xb, yb, "still")
    return [a, b], [Shot((actor_a, actor_b), events=(Event("behind", 0, 1, 0.5),))]


def _s_camera_pan(rng: np.random.Generator) -> Sampled:
    objs = _objs(rng, _pick(rng, [1, 2, 3], [0.4, 0.4, 0.2]), sizes=("small", "medium"))
    camera = _pick(rng, ("pan-left", "pan-right"))
    shift = PAN / 2 if camera == "pan-right" else -PAN / 2  # world x = image x at mid-shot + shift
    actors = []
    for obj, (_, yz) in zip(objs, _cells(rng, len(objs))):
        left, right, _, _ = extent(obj.shape, obj.half)
        x = _u(rng, MARGIN + left + PAN / 2, 1 - MARGIN - right - PAN / 2)
        actors.append(Actor(obj.id, x + shift, _u(rng, *_YZ[yz]), ""))
    return objs, [Shot(tuple(actors), camera=camera)]


def _s_camera_zoom(rng: np.random.Generator) -> Sampled:
    camera = _pick(rng, ("zoom-in", "zoom-out"))
    sizes = ("small", "medium") if camera == "zoom-in" else ("medium", "big")
    objs = _objs(rng, 1 if rng.random() < 0.6 else 2, sizes=sizes)
    span = 0.13 if camera == "zoom-in" else 0.3
    actors = tuple(Actor(o.id, _u(rng, 0.5 - span, 0.5 + span), _u(rng, 0.5 - span, 0.5 + span), "") for o in objs)
    return objs, [Shot(actors, camera=camera)]


def _s_multishot(rng: np.random.Generator) -> Sampled:
    n_shots = 2 if rng.random() < 0.75 else 3
    n_chars = 1 if rng.random() < 0.6 else 2
    colors = _colors(rng, n_chars + n_shots)
    objs = [Obj(i, colors[i], _pick(rng, SHAPES), _pick(rng, list(SIZES))) for i in range(n_chars)]
    base = int(rng.integers(len(BACKDROPS)))
    shots: list[Shot | None] = []
    for k in range(n_shots):
        cast = list(objs[:n_chars])
        if rng.random() < 0.3:  # someone new in this shot
            extra = Obj(len(objs), colors[n_chars + k], _pick(rng, SHAPES), _pick(rng, ("small", "medium")))
            objs.append(extra)
            cast.append(extra)
        actors = []
        for obj, cell in zip(cast, _cells(rng, len(cast))):
            if rng.random() < 0.5:
                actor = _mover(rng, obj, _pick(rng, DIRECTIONS), 0.0, 0.85)
            else:
                actor = _still(rng, obj, cell)
            actors.append(actor)
        shots.append(None if None in actors else Shot(tuple(actors), backdrop=(base + k) % len(BACKDROPS)))
    return objs, shots


_SAMPLERS: dict[str, Callable[..., Sampled]] = {
    "color": _s_color, "shape": _s_shape, "count": _s_count, "place": _s_place,
    "relation": _s_relation, "motion": _s_motion, "size_change": _s_size_change, "spin": _s_spin,
    "order": _s_order, "hit_turn": _s_hit_turn, "push": _s_push, "bite": _s_bite,
    "behind": _s_behind, "camera_pan": _s_camera_pan, "camera_zoom": _s_camera_zoom,
    "multishot": _s_multishot, "style": _s_style,
}  # fmt: skip
_NEEDS_STYLE = {"hit_turn", "push", "bite"}


def sample_scene(rng: np.random.Generator, *, seconds: float = 4.0, kinds: Sequence[str] | None = None) -> Scene:
    """A random valid scene, deterministic in the state of `rng`.

    `kinds` restricts the sampler to some of KINDS, weighted as in MIXTURE; None: all.
    """
    names = list(kinds) if kinds else list(KINDS)
    unknown = [k for k in names if k not in _SAMPLERS]
    if unknown:
        raise ValueError(f"unknown toyworld kinds {unknown}; choose from {KINDS}")
    weights = np.array([MIXTURE[k] for k in names])
    kind = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    style = _pick(rng, STYLES)
    seed = int(rng.integers(2**31))
    for _ in range(1000):
        objs, shots = _SAMPLERS[kind](rng, style) if kind in _NEEDS_STYLE else _SAMPLERS[kind](rng)
        if not objs or any(s is None for s in shots):
            continue
        scene = Scene(style, tuple(objs), tuple(shots), float(seconds), seed, kind)  # type: ignore[arg-type]
        if fits(scene):
            return scene
    raise RuntimeError(f"could not lay out a {kind!r} scene")  # pragma: no cover
