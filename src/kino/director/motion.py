"""Motion from a still: draw the start of the clip, move what the plan moves, let the model redraw it.

v2 draws a coherent object where nothing moves, and a smear where something should (NOTES,
session 5). So a clip whose plan (kino.director.layout) moves something is made in two passes:

1. the clip held at its first frame: the prompt's first frame written as a toyworld caption
   (every object where it starts, "stays still"; ``still_prompt``), steered to the first boxes;
2. those latents seen through the camera's path (pan, zoom) and with each moving object's cells
   cut from its first box and set down along its path, latent frame by latent frame (the gap
   filled with nearby background), noised back to time ``start_time`` and sampled from there
   with the prompt's own words and moving boxes (SDEdit, Meng et al. 2021).

The object the model drew in pass 1 is what travels; pass 2 redraws every pixel, so the moved
cells blend into the background and into the model's own way of drawing motion. Warping latents
for global motion and then denoising them is Text2Video-Zero's (Khachatryan et al. 2023); moving
boxes is TrailBlazer's and FreeTraj's control. The same cells carry a storyboard's characters
from shot to shot (``recast``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from kino.data.toyworld import Scene, describe
from kino.data.toyworld.scene import COLORS, camera_at
from kino.director.backdrop import set_pixels
from kino.director.layout import Placement, _relations, mentions, plan, video_frame
from kino.pipelines.prompting import _style, camera_moves, read_shot

# Pass 2 starts at this time: the moved latents keep (1 - t) of their signal. Objects that move
# need the model to redraw them (on 17 motion prompts 0.3 left them blocky, 53-65% read back; 0.5
# 59-76%; 0.7 47%; on 34: 0.5 68%, 0.4 79%); a moving camera needs the background kept (34 prompts:
# pans 50% at 0.3, 79-82% at 0.15; zooms 59% / 62-65%), so a camera move starts lower. NOTES, session 6.
# v3 draws a plainer background, which pass 2 redraws more: 34 prompts each, pans 58.8% at 0.15 and
# 73.5% at 0.08, zooms 35.3% and 44.1% (17 each: 0.25 gave 52.9% / 23.5%). NOTES, session 7.
T0, T0_CAMERA = 0.4, 0.08
# A storyboard shot whose characters are drawn in from an earlier shot keeps more of them: 50
# storyboards, characters read with one shape and one size in every shot: 34% at 0.4, 45% at 0.25
# and at 0.1 (the readback of v2's blobs varies shot to shot beyond that).
T0_CAST = 0.25
# Objects drawn moving in pixels, at each frame's box (kino.director.shaping), are not blocky, so
# pass 2 need not redraw as much of them.
T0_DRAWN = 0.25
SHUFFLE_SEED = 0  # the fixed order of the background columns a camera brings in (_warp)
MOVED = 0.02  # a placement whose box centre travels less than this (fraction of W or H) holds still


def moving(placements: list[Placement]) -> bool:
    """Whether any box of the plan travels, grows or shrinks over the clip, or an object's look
    changes (layout.Change: it spins, turns a colour, is bitten)."""
    for p in placements:
        if p.change is not None:
            return True
        c = (p.boxes[..., :2] + p.boxes[..., 2:]) / 2
        half = (p.boxes[..., 2] - p.boxes[..., 0]) / 2
        if np.abs(c - c[:1]).max() > MOVED or np.abs(half / half[:1] - 1).max() > 0.1:
            return True
    return False


def start_time(prompt: str, cast: bool = False) -> float:
    """Where pass 2 starts for this prompt: lower when the camera moves (T0_CAMERA) or characters
    were drawn in from an earlier shot (``cast``, T0_CAST)."""
    t = T0_CAMERA if camera_moves(prompt) else T0
    return min(t, T0_CAST) if cast else t


def held(placements: list[Placement], prompt: str) -> list[Placement]:
    """The plan with every box held where it is in the first frame, its words found in ``prompt``."""
    return [
        dataclasses.replace(p, boxes=np.repeat(p.boxes[:1], len(p.boxes), axis=0), spans=mentions(prompt, p.color))
        for p in placements
    ]


def still_prompt(prompt: str) -> str | None:
    """The prompt's first frame as a toyworld caption: every object where it starts, staying still,
    the camera still (None when the planner cannot read the prompt)."""
    low = prompt.lower()
    read = read_shot(_relations(low)[0])
    if read is None:
        return None
    objs, shot = read
    actors = tuple(dataclasses.replace(a, segments=(), motion="still") for a in shot.actors)
    still = dataclasses.replace(shot, actors=actors, camera="still", events=())
    return describe(Scene(_style(low) or "cartoon", tuple(objs), (still,)))


def camera_path(prompt: str, frames: int, start: int = 0, total: int | None = None) -> np.ndarray:
    """(frames, 2): the camera's (x offset, zoom) in each frame (toyworld's camera_at), relative to
    the first of these frames; (0, 1) throughout when the prompt names no one camera move."""
    moves = camera_moves(prompt)
    total = frames if total is None else total
    times = (start + np.arange(frames)) / max(1, total - 1)
    path = np.array([camera_at(next(iter(moves)) if len(moves) == 1 else "still", float(s)) for s in times])
    return np.stack([path[:, 0] - path[0, 0], path[:, 1] / path[0, 1]], axis=1)


def _rect(box: np.ndarray, h: int, w: int, aspect: float, pad: float) -> tuple[int, int, int, int]:
    """Latent rows and columns [y0, y1) x [x0, x1) a box covers, ``pad`` cells wider each side
    (unclipped). Boxes are fractions of the frame with the half side a fraction of W (``aspect``
    = W / H)."""
    x0, y0, x1, y1 = box
    cy, hy = (y0 + y1) / 2, (y1 - y0) / 2 * aspect
    ya, yb = int(np.floor((cy - hy) * h - pad)), int(np.ceil((cy + hy) * h + pad))
    xa, xb = int(np.floor(x0 * w - pad)), int(np.ceil(x1 * w + pad))
    return ya, yb, xa, xb


def _clip(r: tuple[int, int, int, int], h: int, w: int) -> tuple[int, int, int, int]:
    return max(r[0], 0), min(r[1], h), max(r[2], 0), min(r[3], w)


def _centre(box: np.ndarray, h: int, w: int, aspect: float) -> tuple[float, float]:
    """(row, column) of a box's centre on an h x w latent grid, as ``_rect`` places the box."""
    return ((box[1] + box[3]) / 2 - 0.5) * aspect * h + h / 2, (box[0] + box[2]) / 2 * w


def _paste(frame: torch.Tensor, piece: torch.Tensor, y: int, x: int) -> None:
    """Set a (C, ph, pw) piece into a (C, h, w) frame with its top left at row y, column x; what
    falls outside the frame is cut off."""
    _, ph, pw = piece.shape
    _, h, w = frame.shape
    ya, xa, yb, xb = max(y, 0), max(x, 0), min(y + ph, h), min(x + pw, w)
    if ya < yb and xa < xb:
        frame[:, ya:yb, xa:xb] = piece[:, ya - y : yb - y, xa - x : xb - x].to(frame.dtype)


def _warp(frame: torch.Tensor, offset: float, zoom: float, around: torch.Tensor | None = None, block: int = 1
          ) -> torch.Tensor:
    """A (C, h, w) frame (latent cells, or pixels) as the camera sees it after moving by ``offset``
    (fraction of W, world content shifts the other way) and zooming by ``zoom`` about the centre.
    What the camera brings in from outside is made of ``around`` (default: the frame itself; the
    frame without its objects, so no copy of an object comes in): beside the frame, its columns in
    a fixed shuffled order, ``block`` columns at a time, each block mirrored, so the background goes
    on with the same rows (sky, horizon, floor) but is new, not a repeat of what just left at the
    other edge or of what is in view (a mirrored frame would read as a zoom, a repeat as a pan the
    other way); above and below, those rows mirrored."""
    if offset == 0 and zoom == 1:
        return frame
    _, h, w = frame.shape
    around = (frame if around is None else around).float()
    generator = torch.Generator().manual_seed(SHUFFLE_SEED)
    mirrored = torch.arange(block - 1, -1, -1)  # each block mirrored too: its columns are not the frame's

    def shuffled() -> torch.Tensor:
        cols = (torch.randperm(w // block, generator=generator)[:, None] * block + mirrored).flatten()
        return torch.cat([around[:, :, cols], around[:, :, len(cols) :]], dim=2)  # a rest of columns as it is

    left, right = shuffled(), shuffled()
    row = torch.cat([left, frame.float(), right], dim=2)  # (C, h, 3w): the frame in the middle third
    plain = torch.cat([left, around, right], dim=2).flip(1)
    tiled = torch.cat([plain, row, plain], dim=1)[None]  # (1, C, 3h, 3w)
    # Where each output cell looks, in the tiled frame's [-1, 1] coordinates (align_corners=False).
    u = ((torch.arange(w) + 0.5) / w * 2 - 1) / zoom + 2 * offset
    v = ((torch.arange(h) + 0.5) / h * 2 - 1) / zoom
    grid = torch.stack(torch.meshgrid(v / 3, u / 3, indexing="ij")[::-1], dim=-1)[None]
    out = torch.nn.functional.grid_sample(tiled, grid, padding_mode="border", align_corners=False)
    return out[0].to(frame.dtype)


def _bare(frame: torch.Tensor, rects: list[tuple[int, int, int, int]], cell: int = 1) -> torch.Tensor:
    """A (C, H, W) frame without its objects: each rect (latent cells; ``cell`` pixels a side when
    the frame is pixels) takes the nearest window of cells no rect covers, or the median of the
    free cells where none is."""
    h, w = frame.shape[1] // cell, frame.shape[2] // cell
    free = _uncovered(rects, h, w)
    pixels = free.repeat_interleave(cell, 0).repeat_interleave(cell, 1)
    cells = frame[:, : h * cell, : w * cell]
    background = (cells[:, pixels] if free.any() else cells.flatten(1)).median(dim=1).values
    out = frame.clone()
    for ya, yb, xa, xb in rects:
        if ya >= yb or xa >= xb:
            continue
        near = _nearest(free, ya, yb, xa, xb)
        if near is None:
            out[:, ya * cell : yb * cell, xa * cell : xb * cell] = background[:, None, None]
        else:
            y, x = near
            out[:, ya * cell : yb * cell, xa * cell : xb * cell] = frame[:, y * cell : (y + yb - ya) * cell,
                                                                         x * cell : (x + xb - xa) * cell]  # fmt: skip
    return out


def camera_view(
    frame: np.ndarray, placements: list[Placement], camera: np.ndarray, still: int, factor: int,
    aspect: float = 1.0, pad: float = 1.0,
) -> np.ndarray:
    """(frames, H, W, 3) uint8: a still clip's (H, W, 3) uint8 frame, whose objects stand at their
    boxes of video frame ``still``, seen through the ``camera`` (frames, 2) path, in pixels, so the
    background's texture moves and scales as the camera does (warping latent cells blurs it away).
    What comes in at the edges is the frame without its objects (latent cells of ``factor`` pixels)."""
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float()
    h, w = x.shape[1] // factor, x.shape[2] // factor
    bare = _bare(x, _rects(placements, h, w, aspect, pad, still), factor)
    out = []
    for offset, zoom in camera:
        offset, zoom = offset - camera[still, 0], zoom / camera[still, 1]
        out.append(_warp(x, float(offset), float(zoom), bare, block=factor))
    return torch.stack(out).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def move(
    latents: torch.Tensor, placements: list[Placement], frames: int, temporal_factor: int = 4,
    aspect: float = 1.0, camera: np.ndarray | None = None, pad: float = 1.0, first: int = 0,
    view: torch.Tensor | None = None,
) -> torch.Tensor:
    """(1, C, T', h, w) latents of a clip whose objects hold still at their boxes of latent frame
    ``first`` (the clip's first; the last given one of a clip that continues given frames; the last
    one of a clip that leads into a given frame), moved as the plan moves them from there: each other
    latent frame (which takes the boxes of the video frame in the middle of those it covers) is first
    seen through the ``camera`` (frames, 2) path, then each object's cells are cut from where the
    camera put them and set down at its box, scaled to its size. The place an object left takes the
    nearest cells no object covers. ``view``: the (1, C, T', h, w) latents of the still clip already
    seen through the camera (``camera_view``, encoded), taken instead of warping latent cells."""
    out = latents.clone()
    _, _, t_lat, h, w = latents.shape
    camera = np.tile([0.0, 1.0], (frames, 1)) if camera is None else camera
    sf = video_frame(first, frames, temporal_factor)  # the video frame whose boxes the still latents show
    for t in range(t_lat):
        f = video_frame(t, frames, temporal_factor)
        offset, zoom = camera[f, 0] - camera[sf, 0], camera[f, 1] / camera[sf, 1]
        frame = latents[0, :, t]
        if view is not None:  # every frame, the still one too: its set may be textured (backdrop.textured)
            frame = view[0, :, t].to(frame.dtype)
        elif offset != 0 or zoom != 1:
            bare = _bare(frame, _rects(placements, h, w, aspect, pad, sf))
            frame = _warp(frame, float(offset), float(zoom), bare)
        out[0, :, t] = frame
        seen = []  # (object's box where the camera put it, its box in the plan)
        for p in placements:
            for k in range(p.boxes.shape[1]):
                x0, y0, x1, y1 = p.boxes[sf, k]
                cx, cy = 0.5 + ((x0 + x1) / 2 - offset - 0.5) * zoom, 0.5 + ((y0 + y1) / 2 - 0.5) * zoom
                half = (x1 - x0) / 2 * zoom
                seen.append((np.array([cx - half, cy - half, cx + half, cy + half]), p.boxes[f, k]))
        free, background = _free(frame, [_clip(_rect(src, h, w, aspect, pad), h, w) for src, _ in seen])
        pieces = []  # (piece, row, column, moves), back to front: the plan's order, as toyworld draws
        for src, dst in seen:
            ya, yb, xa, xb = _clip(_rect(src, h, w, aspect, pad), h, w)
            if ya >= yb or xa >= xb:
                continue
            if np.abs(dst - src).max() * max(h, w) < 0.5:  # holds still: set down again only over a mover
                pieces.append((frame[:, ya:yb, xa:xb], ya, xa, False))
                continue
            piece = frame[:, ya:yb, xa:xb]
            scale = (dst[2] - dst[0]) / max(src[2] - src[0], 1e-6)
            if abs(scale - 1) > 0.1:
                size = (max(1, round((yb - ya) * scale)), max(1, round((xb - xa) * scale)))
                piece = torch.nn.functional.interpolate(piece[None].float(), size=size, mode="bilinear")[0]
                piece = piece.to(frame.dtype)
            (cy, cx), (sy, sx) = _centre(dst, h, w, aspect), _centre(src, h, w, aspect)
            # The piece's centre keeps its offset from the object's centre, scaled.
            oy, ox = ((ya + yb) / 2 - sy) * scale, ((xa + xb) / 2 - sx) * scale
            pieces.append((piece, round(cy + oy - piece.shape[1] / 2), round(cx + ox - piece.shape[2] / 2), True))
            out[0, :, t, ya:yb, xa:xb] = _patch(frame, free, ya, yb, xa, xb, background)
        movers: list[tuple[int, int, int, int]] = []
        for piece, y, x, moves in pieces:  # set down after every gap is filled, so no piece is cut by another's gap
            rect = (y, y + piece.shape[1], x, x + piece.shape[2])
            if moves or any(_overlap(rect, m) for m in movers):  # a still object in front of a mover hides it
                _paste(out[0, :, t], piece, y, x)
            if moves:
                movers.append(rect)
    return out


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether two [y0, y1) x [x0, x1) rects share a cell."""
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def clear_strays(
    latents: torch.Tensor, placements: list[Placement], frame: np.ndarray, aspect: float = 1.0, pad: float = 1.0
) -> torch.Tensor:
    """(1, C, T', h, w) still latents without the pieces of each moving object that the model drew
    away from its box: the latent cells whose pixels in ``frame`` (H, W, 3) uint8, the clip's first
    frame as drawn, have the object's colour, outside its box and every other object's. They take
    the nearest background cells, so moving the box does not leave a piece of the object behind."""
    _, _, t_lat, h, w = latents.shape
    rects = _rects(placements, h, w, aspect, pad)
    boxed = ~_uncovered(rects, h, w)
    stray = torch.zeros(h, w, dtype=torch.bool)
    for p in placements:
        if moving([p]):
            mine = color_pixels(frame, p.color).reshape(h, frame.shape[0] // h, w, frame.shape[1] // w)
            stray |= torch.from_numpy(mine.any(axis=(1, 3))) & ~boxed
    if not stray.any():
        return latents
    out = latents.clone()
    free = ~boxed & ~stray  # the same cells in every latent frame: each stray cell's nearest is found once
    for y, x in stray.nonzero().tolist():
        near = _nearest(free, y, y + 1, x, x + 1)
        if near is not None:
            out[0, :, :, y, x] = latents[0, :, :, near[0], near[1]]
        else:  # nowhere free: each latent frame's background median
            for t in range(t_lat):
                out[0, :, t, y, x] = _free(latents[0, :, t], rects)[1]
    return out


def covered(placements: list[Placement], h: int, w: int, aspect: float = 1.0, pad: float = 1.0) -> torch.Tensor:
    """(h, w) mask of the latent cells the plan's first boxes cover, ``pad`` cells wider each side."""
    return ~_uncovered(_rects(placements, h, w, aspect, pad), h, w)


def _rects(
    placements: list[Placement], h: int, w: int, aspect: float, pad: float, frame: int = 0
) -> list[tuple[int, int, int, int]]:
    """The latent rect of each of the plan's boxes in video frame ``frame``, clipped to the grid (``_rect``)."""
    return [_clip(_rect(b, h, w, aspect, pad), h, w) for p in placements for b in p.boxes[frame]]


def _uncovered(rects: list[tuple[int, int, int, int]], h: int, w: int) -> torch.Tensor:
    """(h, w) mask of the cells outside every rect (objects' cells)."""
    free = torch.ones(h, w, dtype=torch.bool)
    for ya, yb, xa, xb in rects:
        free[ya:yb, xa:xb] = False
    return free


def _free(frame: torch.Tensor, rects: list[tuple[int, int, int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(h, w) mask of the cells of a (C, h, w) frame outside every rect (objects' cells), and the
    (C,) median of those cells (of all cells when none is free)."""
    free = _uncovered(rects, *frame.shape[1:])
    cells = frame[:, free] if free.any() else frame.flatten(1)
    return free, cells.median(dim=1).values


def _patch(frame: torch.Tensor, free: torch.Tensor, ya: int, yb: int, xa: int, xb: int, background) -> torch.Tensor:
    """Background cells of ``frame`` (C, h, w) to fill rows ya:yb, columns xa:xb: the nearest
    window of that size that no object covers, or the background median where none is free."""
    near = _nearest(free, ya, yb, xa, xb)
    if near is None:
        return background[:, None, None].expand(-1, yb - ya, xb - xa)
    y, x = near
    return frame[:, y : y + yb - ya, x : x + xb - xa]


def _nearest(free: torch.Tensor, ya: int, yb: int, xa: int, xb: int) -> tuple[int, int] | None:
    """Top left (row, column) of the window of rows ya:yb, columns xa:xb's size nearest to it whose
    cells are all ``free`` ((h, w) bool); None when there is none."""
    h, w = free.shape
    ph, pw = yb - ya, xb - xa
    if ph > h or pw > w:
        return None
    s = torch.nn.functional.pad((~free).float().cumsum(0).cumsum(1), (1, 0, 1, 0))
    covered = s[ph:, pw:] - s[:-ph, pw:] - s[ph:, :-pw] + s[:-ph, :-pw]  # object cells in each window
    ys, xs = torch.meshgrid(torch.arange(h - ph + 1), torch.arange(w - pw + 1), indexing="ij")
    distance = ((ys - ya) ** 2 + (xs - xa) ** 2).float().masked_fill(covered > 0.5, float("inf"))
    best = int(distance.argmin())
    if not torch.isfinite(distance.flatten()[best]):
        return None
    return divmod(best, w - pw + 1)


@dataclass(frozen=True, eq=False)
class Look:
    """How the model drew a character: the still clip it was drawn in, (1, C, T', h, w) latents
    with every object held at its first box, and the character's plan there."""

    latents: torch.Tensor
    placement: Placement


def looks(still: torch.Tensor, placements: list[Placement]) -> dict[str, Look]:
    """Each planned character of a still clip's latents, by colour (captions name characters by it)."""
    return {p.color: Look(still, p) for p in placements}


def recast(
    latents: torch.Tensor, placements: list[Placement], cast: dict[str, Look], aspect: float = 1.0, pad: float = 1.0
) -> torch.Tensor:
    """(1, C, T', h, w) latents of a still clip with each character that ``cast`` holds drawn as it
    was there: its cells, scaled to this clip's box, set down at its first box in every latent
    frame (a shorter source repeats its last latent frame)."""
    out = latents.clone()
    _, _, t_lat, h, w = latents.shape
    for p in placements:
        look = cast.get(p.color)
        if look is None:
            continue
        src, (_, _, t_src, sh, sw) = look.placement.boxes[0, 0], look.latents.shape
        ya, yb, xa, xb = _clip(_rect(src, sh, sw, aspect, pad), sh, sw)
        if ya >= yb or xa >= xb:
            continue
        for k in range(p.boxes.shape[1]):
            dst = p.boxes[0, k]
            scale = (dst[2] - dst[0]) * w / max((src[2] - src[0]) * sw, 1e-6)
            size = (max(1, round((yb - ya) * scale)), max(1, round((xb - xa) * scale)))
            cy, cx = _centre(dst, h, w, aspect)
            y, x = round(cy - size[0] / 2), round(cx - size[1] / 2)
            for t in range(t_lat):
                piece = look.latents[0, :, min(t, t_src - 1), ya:yb, xa:xb].float()
                if size != tuple(piece.shape[1:]):
                    piece = torch.nn.functional.interpolate(piece[None], size=size, mode="bilinear")[0]
                _paste(out[0, :, t], piece, y, x)
    return out


FOLLOW_FRAMES = 8  # an object's velocity is read over the last this many given frames


def changed(frames: np.ndarray, placements: list[Placement], aspect: float = 1.0) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a moved clip with each planned look change drawn in from its
    frame on (layout.Change): a turned object's pixels take the new palette colour at their own
    brightness; a bitten one's pixels inside the bite disc take the backdrop's grey around it; a
    spinning one is turned by its angle in that frame."""
    out = frames.copy()
    t, h, w = frames.shape[:3]
    for p in placements:
        c = p.change
        if c is None:
            continue
        for f in range(c.frame, t):
            x0, y0, x1, y1 = p.boxes[f, 0]
            half, cx, cy = (x1 - x0) / 2 * w, (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
            ya, yb = max(int(cy - 1.5 * half), 0), min(int(np.ceil(cy + 1.5 * half)), h)
            xa, xb = max(int(cx - 1.5 * half), 0), min(int(np.ceil(cx + 1.5 * half)), w)
            if ya >= yb or xa >= xb:
                continue
            region = out[f, ya:yb, xa:xb]
            if c.kind == "spin":
                _turn(region, (c.angles[f] - c.angles[0]) if c.angles else 0.0)
                continue
            mine = _hue_pixels(region, p.color)
            if c.kind == "turn":
                px = region[mine].astype(np.float32)
                scale = px.max(-1, keepdims=True) / max(COLORS[p.color])
                region[mine] = np.clip(np.array(COLORS[c.color], np.float32) * scale, 0, 255).astype(np.uint8)
            else:
                yy, xx = np.mgrid[ya:yb, xa:xb]
                bitten = mine & ((xx + 0.5 - (cx + c.side * half)) ** 2 + (yy + 0.5 - cy) ** 2 <= (c.radius * half) ** 2)
                _, grey = set_pixels(region)
                if bitten.any() and grey.any():
                    region[bitten] = np.median(region[grey], axis=0).astype(np.uint8)
    return out


def _turn(region: np.ndarray, degrees: float) -> None:
    """Turn what stands on the set in an (h, w, 3) uint8 region (colour, outline, shading: every
    pixel that is not light grey) about its centroid, in place; where it stood takes the set's grey."""
    from scipy import ndimage

    if abs(degrees) < 0.5:
        return
    _, grey = set_pixels(region)
    if grey.all() or not grey.any():
        return
    thing = ~grey
    centre = np.argwhere(thing).mean(0)  # (row, column)
    a = np.radians(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])  # output (row, col) -> input, y down
    offset = centre - rot @ centre
    turn = lambda x: ndimage.affine_transform(x, rot, offset, order=1, mode="nearest")  # noqa: E731
    turned = np.stack([turn(region[..., k].astype(np.float32)) for k in range(3)], -1)
    seen = turn(thing.astype(np.float32)) > 0.5
    bare = np.where(thing[..., None], np.median(region[grey], axis=0), region)
    region[...] = np.where(seen[..., None], np.clip(turned, 0, 255), bare).astype(np.uint8)


def _hue_pixels(region: np.ndarray, color: str, within: float = 40.0, saturation: float = 0.25) -> np.ndarray:
    """(h, w) bool: pixels of an (h, w, 3) uint8 region coloured (at least ``saturation``) with a hue
    within ``within`` degrees of the palette colour's, however dark or light the shading made them."""
    from kino.data.toyworld.readback import hsv
    from kino.data.toyworld.scene import HUES

    hue, sat, _ = hsv(region)
    off = np.abs((hue - HUES[color] + 180) % 360 - 180)
    return (sat >= saturation) & (off <= within)


def color_pixels(frame: np.ndarray, color: str) -> np.ndarray:
    """(H * W,) bool: the pixels of an (H, W, 3) uint8 frame nearest that palette colour and near it."""
    names = list(COLORS)
    rgb = np.array([COLORS[n] for n in names], np.float32)
    px = frame.reshape(-1, 3).astype(np.float32)
    d = ((px[:, None, :] - rgb[None]) ** 2).sum(-1)
    k = names.index(color)
    return (d.argmin(1) == k) & (d[:, k] < 80.0**2)


def _find(frame: np.ndarray, color: str) -> tuple[float, float, float] | None:
    """(x, y, half side) of the object of ``color`` in an (H, W, 3) uint8 frame, in fractions of W
    (y of H): the pixels nearest that palette colour and near it; None when too few are."""
    mine = color_pixels(frame, color)
    h, w = frame.shape[:2]
    if mine.sum() < max(16, 0.0005 * h * w):
        return None
    ys, xs = np.divmod(np.flatnonzero(mine), w)
    return float((xs.mean() + 0.5) / w), float((ys.mean() + 0.5) / h), float(np.sqrt(mine.sum()) / 2 / w)


def follow(prompt: str, given: np.ndarray, frames: int, before: bool = False) -> list[Placement]:
    """A plan for a clip of ``frames`` frames whose first ones are ``given`` (T, H, W, 3) uint8 (or,
    ``before``, that leads into ``given``, its last frame being given's first): each object the
    prompt names, found in the given frame next to the new ones by its colour and carried on (or
    back) at the velocity it had over the FOLLOW_FRAMES given frames there. [] when the prompt cannot
    be planned, names several of a kind, or an object is not found."""
    out = []
    if before:  # time reversed: the new clip's last frame is given's first
        rev = follow(prompt, given[::-1], len(given) - 1 + frames)
        return [dataclasses.replace(p, boxes=p.boxes[::-1][:frames].copy()) for p in rev]
    last = len(given) - 1
    back = min(FOLLOW_FRAMES, last)
    for p in plan(prompt, 2):
        if p.boxes.shape[1] != 1:
            return []
        now, then = _find(given[-1], p.color), _find(given[last - back], p.color)
        if now is None or then is None:
            return []
        vx, vy = ((now[0] - then[0]) / back, (now[1] - then[1]) / back) if back else (0.0, 0.0)
        f = np.arange(frames, dtype=np.float32) - last
        cx, cy, half = now[0] + vx * f, now[1] + vy * f, now[2]
        boxes = np.stack([cx - half, cy - half, cx + half, cy + half], axis=-1)  # as layout.plan writes them
        out.append(dataclasses.replace(p, boxes=boxes[:, None, :].astype(np.float32)))
    return out
