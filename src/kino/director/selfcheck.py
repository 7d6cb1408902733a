"""Self-correction: the pipeline looks at the first frame it drew and checks it against the plan.

In the manner of SLD (Wu et al., "Self-correcting LLM-controlled diffusion models", 2023): after a
draft, a detector finds each object the prompt names, the finds are compared with the layout the
planner read from the prompt (kino.director.layout), and the latents are corrected. Captions name
each object by its palette colour, so the detector is that colour's pixels
(``motion.color_pixels``) in connected pieces. Two corrections:

- **Draw again.** A draft whose objects are not one piece each where the plan puts them (a box
  holding two pieces of its colour, or none; a piece of the colour away from every box) is drawn
  again from new noise, up to ``DRAFTS`` drafts in all; the draft with the fewest faults is kept.
- **Copies.** Several of a kind are one drawing: the copy that came out as one piece, the largest,
  is set at every box of its kind (its latent cells, ``motion.recast``), and the clip is then
  sampled again from part-way, so the copies blend in.

The model still draws every pixel; the checks only choose among its drafts and copy what it drew.
Measured on issue 3's count prompts in NOTES.md (session 8).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from scipy import ndimage

from kino.director.layout import Placement
from kino.director.motion import Look, color_pixels, recast

DRAFTS = 3  # drafts at most: the first, and up to two more when it has faults
PAD = 0.25  # a piece belongs to a box it overlaps once the box is grown by this share of its side each way
SPECK = 0.1  # pieces smaller than this share of their box's area are specks, not objects
_EIGHT = np.ones((3, 3), bool)  # pieces touching at a corner are one piece


def several(placements: list[Placement]) -> bool:
    """Whether the plan has several objects of one kind (one placement, several boxes)."""
    return any(p.boxes.shape[1] > 1 for p in placements)


def _region(box: np.ndarray, h: int, w: int, aspect: float) -> tuple[slice, slice]:
    """Pixel rows and columns of a box (fractions of the frame, its half side a fraction of W;
    ``aspect`` = W / H) grown by PAD of its side each way."""
    x0, y0, x1, y1 = box
    cx, cy, half = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 * (1 + 2 * PAD)
    hy = half * aspect
    return (slice(max(0, int((cy - hy) * h)), max(0, int(np.ceil((cy + hy) * h)))),
            slice(max(0, int((cx - half) * w)), max(0, int(np.ceil((cx + half) * w)))))  # fmt: skip


def _pieces(frame: np.ndarray, placement: Placement, aspect: float) -> tuple[list[list[int]], list[int], np.ndarray]:
    """For each of the placement's boxes (first frame), the pieces of its colour that overlap it;
    the pieces that overlap none (strays); and each piece's area (index 0 unused). Specks are left out."""
    h, w = frame.shape[:2]
    labels, n = ndimage.label(color_pixels(frame, placement.color).reshape(h, w), structure=_EIGHT)
    area = np.bincount(labels.ravel(), minlength=n + 1)
    side = float(np.mean(placement.boxes[0, :, 2] - placement.boxes[0, :, 0])) * w
    big = area >= SPECK * side * side
    big[0] = False
    per_box = []
    for box in placement.boxes[0]:
        ys, xs = _region(box, h, w, aspect)
        per_box.append([int(i) for i in np.unique(labels[ys, xs]) if big[i]])
    seen = {i for found in per_box for i in found}
    strays = [i for i in np.flatnonzero(big) if i not in seen]
    return per_box, strays, area


def faults(frame: np.ndarray, placements: list[Placement], aspect: float = 1.0) -> int:
    """How far an (H, W, 3) uint8 first frame is from the plan: for each box, how many pieces of its
    colour it holds other than one; plus each piece of a planned colour that no box of it holds."""
    total = 0
    for p in placements:
        per_box, strays, _ = _pieces(frame, p, aspect)
        total += sum(abs(len(found) - 1) for found in per_box) + len(strays)
    return total


def cleanest(frame: np.ndarray, placement: Placement, aspect: float = 1.0) -> int:
    """Index of the placement's box whose object came out best: one piece, the largest; failing
    that, the box with the most pixels of its colour."""
    per_box, _, area = _pieces(frame, placement, aspect)
    one = [(area[found[0]], k) for k, found in enumerate(per_box) if len(found) == 1]
    if one:
        return max(one)[1]
    return int(np.argmax([sum(area[i] for i in found) for found in per_box]))


def copies(
    latents: torch.Tensor, placements: list[Placement], frame: np.ndarray, aspect: float = 1.0
) -> torch.Tensor:
    """(1, C, T', h, w) still latents with each kind of several drawn as copies of its cleanest
    (``frame`` is their first frame, (H, W, 3) uint8): its cells set at every box of its kind."""
    cast = {}
    for p in placements:
        if p.boxes.shape[1] > 1:
            k = cleanest(frame, p, aspect)
            cast[p.color] = Look(latents, dataclasses.replace(p, boxes=p.boxes[:, k : k + 1]))
    return recast(latents, placements, cast, aspect) if cast else latents
