"""Shapes: each object of a still draft drawn again as the shape and size its words ask for.

v3 draws a prompt's colours and places right, and its shapes as blobs: squares with round
corners, triangles that swell into circles (issue 3's shape prompts read 23.5%; NOTES, session
10). The layout plan already knows each object's box, and the prompt says its shape; so the
pipeline takes the still draft it is about to move (kino.pipelines.motion), takes out the blob
the model drew in each box (its colour's pixels, its outline and halo, which take the background
the draft has nearby), and draws the shape there in the prompt's style with toyworld's own
drawing code. The change is encoded and the clip is sampled again from part-way (SDEdit), as it
is for a move, a backdrop or an event, so the model redraws every pixel over the shapes.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from kino.data.toyworld.render import _draw
from kino.data.toyworld.scene import Actor, Obj, Pose
from kino.pipelines.backdrop import set_pixels
from kino.pipelines.layout import Placement
from kino.pipelines.motion import _hue_pixels

REACH = 3.0  # the blob is looked for this many half sides around its box's centre
HALO = 3  # pixels of halo and outline around the blob's colour taken out with it
TINT = 0.05  # pixels this saturated, of the object's hue, are part of the drawing (the set is grey)
OUTLINE_SHARE = 0.06  # dark rim pixels that make a drawing a cartoon: between the readback's 0.04 and 0.12


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


def reshape(frames: np.ndarray, placements: list[Placement], style: str) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a still clip with each object of the plan whose shape is said
    drawn as that shape, in ``style`` and its palette colour, at its box (of the first frame).

    What the model drew there goes first: the pieces that are not the light grey set, or are
    tinted with the object's hue, and reach into the box (within REACH half sides of its centre),
    grown by HALO pixels, each take the colour of the nearest set pixel. Other objects' colours and
    their rims are left alone. A flat patch would not do: a grey darker than the set around it
    reads to the VAE as the object's shaded side, and it draws the object over it again."""
    out = frames.copy()
    h, w = frames.shape[1:3]
    spots = []  # (placement, its pose, region rows and columns, the box's rows and columns in the region)
    for p in placements:
        for x0, y0, x1, y1 in p.boxes[0] if p.shape else ():
            half, cx, cy = (x1 - x0) / 2 * w, (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
            ya, yb = max(int(cy - REACH * half), 0), min(int(np.ceil(cy + REACH * half)), h)
            xa, xb = max(int(cx - REACH * half), 0), min(int(np.ceil(cx + REACH * half)), w)
            if ya >= yb or xa >= xb:
                continue
            core = (slice(max(int(cy - half) - ya, 0), int(cy + half) - ya + 1),
                    slice(max(int(cx - half) - xa, 0), int(cx + half) - xa + 1))  # fmt: skip
            pose = Pose((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, 0.0, p.color, False, 1.0)
            spots.append((p, pose, (slice(ya, yb), slice(xa, xb)), core))
    for frame in out:  # every drawing goes before any shape is drawn, so none is taken for another's
        for p, _, region, core in spots:
            _clear(frame[region], p, placements, core)
        for p, pose, _, _ in spots:
            _draw(frame, Obj(0, p.color, p.shape), Actor(0, pose.x, pose.y), pose, style)
    return out


def _clear(region: np.ndarray, p: Placement, placements: list[Placement], core: tuple[slice, slice]) -> None:
    """Take what the model drew of ``p`` out of an (h, w, 3) uint8 region, in place (``reshape``):
    the pieces of drawing that reach into the ``core`` rows and columns (the box)."""
    _, is_set = set_pixels(region)
    others = np.zeros(is_set.shape, bool)
    for q in placements:
        if q.color != p.color:
            others |= _hue_pixels(region, q.color)
    near = ndimage.binary_dilation(others, iterations=HALO)  # another object and its rim stay
    drawn = (~is_set | _hue_pixels(region, p.color, saturation=TINT)) & ~near
    labels, _ = ndimage.label(drawn, structure=np.ones((3, 3), bool))
    found = labels[core]
    taken = ndimage.binary_dilation(np.isin(labels, found[found > 0]), iterations=HALO) & ~near
    keep = ~taken & is_set
    if taken.any() and keep.any():
        _, (iy, ix) = ndimage.distance_transform_edt(~keep, return_indices=True)
        region[taken] = region[iy[taken], ix[taken]]
