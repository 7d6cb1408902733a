"""Figures for joined and kept frames, all from pixels: seams, loops, kept frames, masks, shots.

    seam_ratio(frames, i)        # change into frame i / the clip's median frame-to-frame change
    join_ratio(frames, i, b, a)  # the largest such change from frame i - b to i + a (a faded join)
    loop_closure(frames)         # change from the last frame back to the first, the same way
    psnr(a, b, where=None)       # dB, over the pixels where `where` is True
    character_reads(frames, ...) # colour / shape / size of a character, read with toyworld.readback

A seam or loop is invisible when its change is like any other frame's (issue 6 asks for a
ratio of at most 2).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from kino.data.toyworld import Claim, readback
from kino.data.toyworld.scene import SHAPES, SIZES


def frame_diffs(frames: np.ndarray) -> np.ndarray:
    """(T - 1,) mean absolute change between consecutive frames, grey levels (0-255)."""
    f = np.asarray(frames)
    return np.array([np.abs(f[i + 1].astype(np.int16) - f[i]).mean() for i in range(len(f) - 1)])


def watch(pieces: Iterable[np.ndarray], diffs: list[float]) -> Iterator[np.ndarray]:
    """(n, H, W, 3) pieces of a clip passed on as they come, each frame's change from the one before
    appended to ``diffs``: ``frame_diffs`` of a clip that is never held whole. The figures below take
    those ``diffs`` in place of the frames."""
    last = None
    for piece in pieces:
        for frame in piece:
            if last is not None:
                diffs.append(float(np.abs(frame.astype(np.int16) - last).mean()))
            last = frame
        yield piece


def seam_ratio(frames: np.ndarray | None, seam: int, diffs: np.ndarray | None = None) -> float:
    """Change from frame ``seam - 1`` into frame ``seam`` over the median change of the clip."""
    d = frame_diffs(frames) if diffs is None else diffs
    return float(d[seam - 1] / max(float(np.median(d)), 1e-6))


def join_ratio(frames: np.ndarray | None, seam: int, before: int = 0, after: int = 0, diffs: np.ndarray | None = None) -> float:
    """The largest change into frames ``seam - before`` .. ``seam + after`` over the clip's median: a
    seam spread by a fade (kino.pipelines.long_video.fade) is judged by its worst frame, not its last."""
    d = frame_diffs(frames) if diffs is None else diffs
    lo, hi = max(0, seam - 1 - before), min(len(d), seam + after)
    return float(d[lo:hi].max() / max(float(np.median(d)), 1e-6))


def loop_closure(frames: np.ndarray) -> float:
    """Change from the last frame back into the first over the median change of the clip."""
    d = frame_diffs(frames)
    wrap = np.abs(frames[0].astype(np.int16) - frames[-1]).mean()
    return float(wrap / max(float(np.median(d)), 1e-6))


def latent_boundary_ratio(frames: np.ndarray | None, temporal_factor: int = 4, diffs=None) -> float:
    """Median change into a frame that starts a latent frame (1, 5, 9, ...) over the clip's median:
    how visible the model's own 4-frame steps are, for reading the seam figures."""
    d = frame_diffs(frames) if diffs is None else np.asarray(diffs)
    starts = np.arange(0, len(d), temporal_factor)  # d[4k] is the change into frame 1 + 4k
    return float(np.median(d[starts]) / max(float(np.median(d)), 1e-6))


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> float:
    """PSNR in dB between two uint8 arrays of one shape; ``where`` (broadcast over the last axes)
    picks the pixels. inf for identical pixels."""
    err = (np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2
    if where is not None:
        mask = np.broadcast_to(np.asarray(where, bool)[..., None], err.shape)
        err = err[mask]
    mse = float(err.mean())
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def color_share(frames: np.ndarray, color: str, where: np.ndarray | None = None) -> np.ndarray:
    """(T,) share of the pixels (inside ``where``, (H, W) bool) that have a palette colour."""
    k = readback.PALETTE.index(color)
    hits = readback.color_masks(frames) == k
    if where is None:
        return hits.mean(axis=(1, 2))
    return hits[:, where].mean(axis=1)


def cut_count(frames: np.ndarray) -> int:
    """Hard cuts toyworld's readback finds (most pixels change at once)."""
    return len(readback.cuts(frames))


def character_reads(frames: np.ndarray, color: str, fps: float = 8.0) -> tuple[bool, str | None, str | None]:
    """(seen, shape, size) of the character of ``color`` in a one-shot clip, read with the readback's
    own claims: the shape and size are the ones whose claim holds (None when none does)."""
    def holds(claim: Claim) -> bool:
        return readback.check(frames, [claim], fps=fps).ok

    seen = holds(Claim("color", color))
    if not seen:
        return False, None, None
    shape = next((s for s in SHAPES if holds(Claim("shape", color, s))), None)
    size = next((z for z in SIZES if holds(Claim("size", color, size=z))), None)
    return True, shape, size


def character_consistency(shots: Sequence[np.ndarray], colors: Sequence[str], fps: float = 8.0) -> dict:
    """How each character looks across the shots it is in.

    shots: the clip of each shot; colors: the colour of each character that is in every shot.
    Returns per character: seen in every shot, the shapes and sizes read, and ``consistent``:
    seen everywhere with one shape and one size.
    """
    out = {}
    for color in dict.fromkeys(colors):
        reads = [character_reads(clip, color, fps) for clip in shots]
        seen = all(r[0] for r in reads)
        shapes, sizes = {r[1] for r in reads}, {r[2] for r in reads}
        out[color] = {
            "seen_in_every_shot": seen,
            "shapes": sorted(str(s) for s in shapes),
            "sizes": sorted(str(s) for s in sizes),
            "consistent": seen and len(shapes) == 1 and len(sizes) == 1 and None not in shapes | sizes,
        }
    return out
