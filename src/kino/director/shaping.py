"""Shapes: each object of a still draft drawn again as the shape and size its words ask for.

v3 draws a prompt's colours and places right, and its shapes as blobs: squares with round
corners, triangles that swell into circles (issue 3's shape prompts read 23.5%; NOTES, session
10). The layout plan already knows each object's box, and the prompt says its shape; so the
pipeline takes the still draft it is about to move (kino.director.motion), takes out the blob
the model drew in each box (its colour's pixels, its outline and halo, which take the background
the draft has nearby), and draws the shape there in the prompt's style with toyworld's own
drawing code (a triangle with its corners a little further out, TIPS, for the autoencoder to round
off). The change is encoded and the clip is sampled again from part-way (SDEdit), as it is for a
move, a backdrop or an event, so the model redraws every pixel over the shapes.

A shape that travels (``travellers``) is drawn at its box of every frame, as toyworld draws it,
instead of having its latent cells moved (kino.director.motion.move): cells move in steps of 8
pixels and read as blocks until pass 2 redraws them from far back (t = 0.4), and that redraw
turned moving triangles into circles (storyboard characters, NOTES session 11).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from kino.data.toyworld.render import _draw
from kino.data.toyworld.scene import Actor, Obj, Pose
from kino.director.backdrop import set_pixels
from kino.director.layout import Placement
from kino.director.motion import _hue_pixels, moving

REACH = 3.0  # the blob is looked for this many half sides around its box's centre
HALO = 3  # pixels of halo and outline around the blob's colour taken out with it
TINT = 0.05  # pixels this saturated, of the object's hue, are part of the drawing (the set is grey)
CARRY_AREA = 3.0  # a carried cut-out is at most this many times its box (a toyworld object with its halo: ~1.5)
OUTLINE_SHARE = 0.06  # dark rim pixels that make a drawing a cartoon: between the readback's 0.04 and 0.12
# Pixels a drawn triangle's corners reach out past toyworld's (its sides' middles come in half as far):
# the autoencoder rounds a small triangle's tip off, and the readback then takes it for a circle (its
# largest fill in a frame over 0.64). Round trips of 192 triangle renders (2 styles, 4 colours, 3 sizes,
# 4 places, still and moving 0.35 W in 2 s) read as triangles 149 times drawn as toyworld draws them,
# 177 with corners 2 px out, 186 with 2 out and 1 in; median largest fill 0.61 -> 0.56, size (the first
# frame's extent) 0.97 -> 1.02 of the asked one. Corners 3 out made small storyboard triangles read
# "medium"; sides 2 in made a small moving one too thin to keep its colour (NOTES, session 13). Only
# under a still camera (``tips``): ``creative --only camera`` read zoom-out 5/6 with them, 6/6 without.
TIPS = 2.0


def shaped(placements: list[Placement]) -> bool:
    """Whether the plan says the shape of any object."""
    return any(p.shape for p in placements)


def style_of(frame: np.ndarray, placements: list[Placement]) -> str:
    """"cartoon" when the (H, W, 3) uint8 frame's objects have a dark rim, as toyworld's cartoons
    do, else "realistic": the style the model chose where the prompt names none."""
    h, w = frame.shape[:2]
    mine = np.zeros((h, w), bool)
    for p in placements:
        mine |= _hue_pixels(frame, p.color)
    if not mine.any():
        return "cartoon"
    ring = ndimage.binary_dilation(mine, iterations=max(2, round(0.012 * w))) & ~mine
    value, low = frame.max(-1).astype(np.int16), frame.min(-1).astype(np.int16)
    dark = (value < 64) & ((value - low) < 0.15 * value)
    return "cartoon" if dark[ring].mean() >= OUTLINE_SHARE else "realistic"


def travellers(placements: list[Placement], camera: bool = False) -> list[Placement]:
    """The objects of the plan that ``reshape`` can draw moving, frame by frame: their shape is said,
    their box travels or grows, nothing else about them changes (an event's turn, bite or spin is
    made on the latents, kino.director.motion), and the camera holds still (``camera``: it moves)."""
    return [] if camera else [p for p in placements if p.shape and p.change is None and moving([p])]


def tips(camera: bool) -> float:
    """How far (pixels) a drawn triangle's corners reach past toyworld's: TIPS, or 0 when the camera
    moves (``camera``)."""
    return 0.0 if camera else TIPS


def reshape(frames: np.ndarray, placements: list[Placement], style: str, drawn: list[Placement] = ()) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a still clip with each object of the plan whose shape is said
    drawn as that shape, in ``style`` and its palette colour, at its box (of the first frame; for an
    object of ``drawn``, the moving plan of one of ``placements`` with its colour, at its box of
    each frame): ``draw`` over ``cleared``."""
    return draw(cleared(frames, placements), placements, style, drawn)


def cleared(frames: np.ndarray, placements: list[Placement]) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a still clip without what the model drew at the first box of
    each object of the plan whose shape is said: the pieces that are not the light grey set, or are
    tinted with the object's hue, and reach into the box (within REACH half sides of its centre),
    grown by HALO pixels, each take the colour of the nearest set pixel. The colours and rims of
    objects whose shape is not said (they are not drawn again) are left alone; those of the others
    are not, since they are drawn again: two blobs that ran into each other kept each other's strays
    (a blue and a purple smear where two squares started, NOTES session 14). A flat patch would not
    do: a grey darker than the set around it reads to the VAE as the object's shaded side, and it
    draws the object over it again. Then every other piece of the object's colour goes the same way
    (its strays)."""
    out = frames.copy()
    spots = _spots(placements, *frames.shape[1:3])
    kept = [q for q in placements if not q.shape]  # what is not drawn again keeps its colours and rims
    for frame in out:  # every drawing goes before any shape is drawn, so none is taken for another's
        for p, _, region, core in spots:
            _clear(frame[region], p, kept, core)
        for p in {id(p): p for p, _, _, _ in spots}.values():
            _clear_strays(frame, p, kept)
    return out


def draw(
    frames: np.ndarray, placements: list[Placement], style: str, drawn: list[Placement] = (), tips: float = TIPS
) -> np.ndarray:
    """A copy of (T, H, W, 3) uint8 frames with the shapes of ``reshape`` drawn in, a triangle's
    corners ``tips`` pixels past toyworld's."""
    out = frames.copy()
    spots = _spots(placements, *frames.shape[1:3])
    paths = {q.color: q.boxes for q in drawn}
    for f, frame in enumerate(out):
        for p, k, _, _ in spots:
            boxes = paths.get(p.color, p.boxes)
            x0, y0, x1, y1 = boxes[min(f, len(boxes) - 1), k]
            pose = Pose((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, 0.0, p.color, False, 1.0)
            _draw(frame, Obj(0, p.color, p.shape), Actor(0, pose.x, pose.y), pose, style, tips)
    return out


def _spots(placements: list[Placement], h: int, w: int) -> list:
    """(placement, which copy, region rows and columns, the box's rows and columns in the region) of
    each first box of an object whose shape is said, that lies in an h x w frame."""
    spots = []
    for p in placements:
        for k, box in enumerate(p.boxes[0] if p.shape else ()):
            spot = _spot(box, h, w)
            if spot is not None:
                spots.append((p, k, *spot))
    return spots


def _spot(box: np.ndarray, h: int, w: int) -> tuple | None:
    """(region rows and columns, the box's rows and columns in the region) of a box in an h x w
    frame: the region reaches REACH half sides around the box's centre. None when it is outside."""
    x0, y0, x1, y1 = box
    half, cx, cy = (x1 - x0) / 2 * w, (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    ya, yb = max(int(cy - REACH * half), 0), min(int(np.ceil(cy + REACH * half)), h)
    xa, xb = max(int(cx - REACH * half), 0), min(int(np.ceil(cx + REACH * half)), w)
    if ya >= yb or xa >= xb:
        return None
    core = (slice(max(int(cy - half) - ya, 0), int(cy + half) - ya + 1),
            slice(max(int(cx - half) - xa, 0), int(cx + half) - xa + 1))  # fmt: skip
    return (slice(ya, yb), slice(xa, xb)), core


def _drawing(region: np.ndarray, p: Placement, placements: list[Placement], core: tuple[slice, slice]) -> np.ndarray:
    """(h, w) bool: what is drawn of ``p`` in an (h, w, 3) uint8 region: the pieces that are not the
    light grey set, or are tinted with its hue, and reach into the ``core`` rows and columns (the
    box), grown by HALO pixels; other objects' colours and rims left out."""
    _, is_set = set_pixels(region)
    near = _near_others(region, p, placements)
    drawn = (~is_set | _hue_pixels(region, p.color, saturation=TINT)) & ~near
    labels, _ = ndimage.label(drawn, structure=np.ones((3, 3), bool))
    found = labels[core]
    return ndimage.binary_dilation(np.isin(labels, found[found > 0]), iterations=HALO) & ~near


def _clear(region: np.ndarray, p: Placement, placements: list[Placement], core: tuple[slice, slice]) -> None:
    """Take what the model drew of ``p`` out of an (h, w, 3) uint8 region, in place (``reshape``)."""
    _fill(region, _drawing(region, p, placements, core), set_pixels(region)[1])


def carry(
    still: np.ndarray, placements: list[Placement], movers: list[Placement], at: int
) -> tuple[np.ndarray, list[Placement]]:
    """((T, H, W, 3) uint8, the movers carried), T the plan's frames: the (H, W, 3) uint8 ``still``
    frame (the plan's frame ``at``) with each object of ``movers`` cut out at its box there (its own
    pixels, whatever it looks like) and set down again, shifted as its box moves, in every frame. Its
    place takes the nearest set pixels. Whole pixels, every frame: moved latent cells step 8 pixels a
    latent frame. An object that does not stand out from a light grey set (its cut-out would be over
    CARRY_AREA times its box: a photograph's background) is not carried."""
    h, w = still.shape[:2]
    bare, cut = still.copy(), []
    for p in movers:
        spot = _spot(p.boxes[at, 0], h, w)
        if spot is None:
            continue
        region, core = spot
        mask = np.zeros((h, w), bool)
        mask[region] = _drawing(still[region], p, placements, core)
        x0, y0, x1, y1 = p.boxes[at, 0]
        if mask.sum() <= CARRY_AREA * (x1 - x0) * w * (y1 - y0) * h:
            cut.append((p, mask))
    if cut:  # each cut-out's pixels take the nearest set pixel outside every cut-out
        _fill(bare, np.any([m for _, m in cut], axis=0), set_pixels(still)[1])
    out = np.repeat(bare[None], len(movers[0].boxes) if movers else 1, axis=0)
    for p, mask in cut:
        ys, xs = np.nonzero(mask)
        centre = (p.boxes[:, 0, :2] + p.boxes[:, 0, 2:]) / 2
        for f, (dx, dy) in enumerate((centre - centre[at]) * [w, h]):
            ty, tx = ys + round(float(dy)), xs + round(float(dx))
            inside = (ty >= 0) & (ty < h) & (tx >= 0) & (tx < w)
            out[f, ty[inside], tx[inside]] = still[ys[inside], xs[inside]]
    return out, [p for p, _ in cut]


def _clear_strays(frame: np.ndarray, p: Placement, placements: list[Placement]) -> None:
    """Take the pieces of ``p``'s colour still left in an (H, W, 3) uint8 frame once its boxes are
    cleared out of it, in place: the model's strays (a fragment beside its blob, cells a storyboard
    carried in from an earlier shot), which would read as more of the object or as another one."""
    mine = _hue_pixels(frame, p.color)
    if not mine.any():  # the usual case: nothing of it is left once its boxes are cleared
        return
    near = _near_others(frame, p, placements)
    mine &= ~near
    if mine.any():
        _fill(frame, ndimage.binary_dilation(mine, iterations=HALO) & ~near, set_pixels(frame)[1])


def _near_others(region: np.ndarray, p: Placement, placements: list[Placement]) -> np.ndarray:
    """(h, w) bool: the pixels of the other objects' colours, grown by HALO (their rims)."""
    others = np.zeros(region.shape[:2], bool)
    for q in placements:
        if q.color != p.color:
            others |= _hue_pixels(region, q.color)
    return ndimage.binary_dilation(others, iterations=HALO)


def _fill(region: np.ndarray, taken: np.ndarray, is_set: np.ndarray) -> None:
    """Give each ``taken`` pixel of an (h, w, 3) region, in place, the colour of the nearest set
    pixel that is not taken."""
    keep = ~taken & is_set
    if taken.any() and keep.any():
        _, (iy, ix) = ndimage.distance_transform_edt(~keep, return_indices=True)
        region[taken] = region[iy[taken], ix[taken]]
