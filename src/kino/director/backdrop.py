"""Backdrops: the grey set a shot stands against, read off its frames and changed.

Toyworld's shots stand against one of three backdrops (a light sky over a darker floor,
``kino.data.toyworld.scene.BACKDROPS``), and a hard cut changes it. Its captions never name one,
and every one-shot clip has the first, so the model draws that one for any words: shots made
one at a time would all stand against the same set, and their cuts would not show. A storyboard
therefore asks for a backdrop (``Request.backdrop``): the pipeline moves the grey levels of the
shot's first draft to it (``regrade``) and samples the shot again from part-way, as it does when
it moves an object (kino.pipelines.text_to_video); the model then draws the rest against it.
"""

from __future__ import annotations

import numpy as np

from kino.data.toyworld.render import DOT_DEPTH, dots
from kino.data.toyworld.scene import BACKDROPS

SET_SATURATION = 0.15  # the contract: background pixels are achromatic (saturation below this)
SET_VALUE = 120  # darker achromatic pixels are outlines and shadows, not the set (every backdrop is > 150)
ROW_SHARE = 0.25  # a row whose set pixels are fewer than this share (an object fills it) does not place the horizon


def known(index: object) -> bool:
    """Whether ``index`` names one of toyworld's backdrops (a whole number, not a bool)."""
    return not isinstance(index, bool) and index in range(len(BACKDROPS))


def set_pixels(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(value, is-set mask) of (..., 3) uint8 pixels: light achromatic ones belong to the set."""
    f = frames.astype(np.int16)
    value, low = f.max(-1), f.min(-1)
    return value, ((value - low) < SET_SATURATION * np.maximum(value, 1)) & (value >= SET_VALUE)


def read(frame: np.ndarray) -> tuple[int, int] | None:
    """(backdrop index, horizon row) of an (H, W, 3) uint8 frame: the backdrop whose sky and floor
    are nearest the median grey of the frame's top third and bottom tenth of set pixels, and the
    first row below the top third, mostly set, whose median is nearer that floor than that sky
    (H when none is). None when either band shows no set pixel."""
    value, is_set = set_pixels(frame)
    h = len(value)

    def level(rows: slice) -> float:
        v = value[rows][is_set[rows]]
        return float(np.median(v)) if v.size else np.nan

    sky, floor = level(slice(0, max(1, h // 3))), level(slice(h - max(1, h // 10), h))
    if np.isnan(sky) or np.isnan(floor):
        return None
    index = int(np.argmin([abs(s - sky) + abs(f - floor) for s, f, _ in BACKDROPS]))
    mid = (sky + floor) / 2
    horizon = next((y for y in range(h // 3, h)
                    if is_set[y].mean() >= ROW_SHARE and np.median(value[y][is_set[y]]) < mid), h)
    return index, horizon


def regrade(frames: np.ndarray, index: int) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of one shot with their set moved to backdrop ``index``: every set
    pixel gains the difference between that backdrop's grey and the one the first frame shows (sky
    above its horizon, floor below), so the set's texture and shading stay; objects, outlines and
    shadows are left alone. Frames whose backdrop cannot be read are returned as they are."""
    if not 0 <= index < len(BACKDROPS):
        raise ValueError(f"backdrop {index} is not known; use 0 to {len(BACKDROPS) - 1}")
    found = read(frames[0])
    if found is None:
        return frames
    drawn, horizon = found
    (sky0, floor0, _), (sky1, floor1, _) = BACKDROPS[drawn], BACKDROPS[index]
    shift = np.where(np.arange(frames.shape[1]) < horizon, sky1 - sky0, floor1 - floor0).astype(np.int16)
    _, is_set = set_pixels(frames)
    moved = np.clip(frames.astype(np.int16) + shift[None, :, None, None], 0, 255)
    return np.where(is_set[..., None], moved, frames).astype(np.uint8)


def textured(frame: np.ndarray, seed: int) -> np.ndarray:
    """An (H, W, 3) uint8 frame with toyworld's background dots (``seed`` places them) pressed into
    its set pixels, objects, outlines and shadows left alone. A camera move is made by moving the
    first frame in pixels (kino.director.motion.camera_view), and it shows only as far as the set
    has texture to move: v3 and its sharper decoder draw a set with few dots, and a pan over a
    plain wall reads as no move at all (NOTES, session 12)."""
    h, w = frame.shape[:2]
    cover = dots((np.arange(w) + 0.5) / w, (np.arange(h) + 0.5) / w, w, seed)
    _, is_set = set_pixels(frame)
    pressed = np.clip(frame.astype(np.float32) - DOT_DEPTH * cover[..., None] + 0.5, 0, 255).astype(np.uint8)
    return np.where(is_set[..., None], pressed, frame)
