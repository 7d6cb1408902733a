"""Clips of any length up to a minute, and seamless loops, from clips the model's window holds.

A long clip is made chunk by chunk: each chunk is a normal generation whose first frames
are the last frames of the chunk before (the prefix channel the transformer was trained
with), so memory stays that of one chunk and time grows linearly with the duration.
A loop ends on its own first frame (the last-frame channel) and drops that duplicate.

    result = generate(pipe, Request("a red ball rolls right", seconds=60))
    result = generate(pipe, Request("a red ball bounces"), loop=True)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from kino.pipelines.text_to_video import Request, RequestError, Result, TextToVideoPipeline, clip_units, num_frames_for
from kino.progress import Progress

# A chunk after the first takes the end of the chunk before: CONTEXT_LATENTS latent frames of it as
# given frames (1 + 4 * 2 = 9), then makes the chunk before's last latent frame (4 frames) again
# (OVERLAP_LATENTS) before its new frames, so a default 33-frame window is 9 given + 4 remade + 20 new.
# The end of a window is where the model is least sure, and the new chunk's own step from given to
# made frames then falls inside the fade below instead of on the join. v2 checkpoint, 10 steps, 16
# clips of 12 s (64 joins), the change at a join over the clip's median: 3 given latents and no
# overlap (sessions 3-4) median 1.44x / 1.49x, within 2x 84% / 75%, worst 3.61x / 3.10x on two sets of
# 8; 2 given + 1 remade: 1.37x / 1.24x, 94% / 94%, worst 2.97x / 2.04x. (2 given + 2 remade: 97%
# within 2x but 16 new frames a chunk; 1 given latent alone: 2.05x median.)
CONTEXT_LATENTS = 2
OVERLAP_LATENTS = 1
# The last frames before a join fade into the next chunk's own making of them (temporal tiling with
# linear blending, as video VAEs decode long clips): the difference between two makings of the same
# moments is spread over this many frames instead of falling on one. The same fade joins extensions
# and transitions to their input clips (kino.pipelines.extend, connect).
BLEND_FRAMES = 6
CHUNK_SEED_STRIDE = 1_000_003  # chunk i samples its noise from seed + i * stride


def seconds_for(frames: int, fps: int) -> float:
    """A duration that ``num_frames_for`` turns into exactly ``frames`` (= 1 + 4k) frames."""
    return (frames - 1.5) / fps  # half a frame short, so float rounding never adds a latent frame


def context_latents(chunk: int, temporal_factor: int) -> tuple[int, int]:
    """(given, remade) latent frames of the chunk before that a chunk of ``chunk`` frames takes:
    CONTEXT_LATENTS and OVERLAP_LATENTS, fewer in a small window (the overlap goes first), always at
    least one latent frame of context and one of the window left to make."""
    room = max(1, min(CONTEXT_LATENTS + OVERLAP_LATENTS, (chunk - 1) // temporal_factor - 1))
    remade = min(OVERLAP_LATENTS, room - 1)
    return room - remade, remade


def chunk_plan(total: int, chunk: int, temporal_factor: int, context: int | None = None) -> list[int]:
    """New frames made by each chunk: the first makes ``min(chunk, total)`` (1 + 4k), the others
    up to ``chunk - context`` each (4k; ``context`` given and remade frames lead them), adding up to ``total``."""
    if context is None:
        context = 1 + temporal_factor * sum(context_latents(chunk, temporal_factor))
    step = max(temporal_factor, chunk - context)
    sizes = [min(chunk, total)]
    left = total - sizes[0]
    while left > 0:
        sizes.append(min(step, left))
        left -= sizes[-1]
    assert all(s % temporal_factor == 0 for s in sizes[1:])
    return sizes


def fade(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """(n, H, W, 3) uint8 frames going from ``start`` to ``end`` (two makings of the same n moments):
    frame k is (k + 1) / (n + 1) of the way, so each frame's step adds 1 / (n + 1) of the gap."""
    w = (np.arange(1, len(start) + 1, dtype=np.float32) / (len(start) + 1))[:, None, None, None]
    a = start.astype(np.float32)
    return np.rint(a + w * (end.astype(np.float32) - a)).astype(np.uint8)


def seam_frames(sizes: list[int]) -> list[int]:
    """Index of the first frame of each chunk after the first."""
    return [int(x) for x in np.cumsum(sizes)[:-1]]


def chunk_frames(pipe: TextToVideoPipeline, fps: int, chunk_seconds: float | None = None) -> int:
    """Frames one chunk holds (1 + 4k): by default the clip length the model was trained on."""
    return num_frames_for(chunk_seconds or pipe.cfg.sample.seconds, fps, pipe.cfg.vae.temporal_factor)


@dataclass
class Stream:
    """A clip handed out in pieces as it is made (``stream``): iterating gives (n, H, W, 3) uint8
    pieces in order. ``frames``, ``height``, ``width`` and ``fps`` are known before the first piece;
    ``timings`` and ``looks`` (as ``Result``'s) are complete once the last piece is out."""

    pieces: Iterator[np.ndarray]
    frames: int
    height: int
    width: int
    fps: int
    timings: dict[str, float]
    looks: dict

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.pieces

    def __len__(self) -> int:
        return self.frames


def generate(pipe: TextToVideoPipeline, req: Request, **options) -> Result:
    """``req`` generated chunk by chunk (one chunk when it fits the window), as one array: ``stream``'s
    pieces put together (``options`` are ``stream``'s)."""
    clip = stream(pipe, req, **options)
    return Result(frames=gather(clip), fps=clip.fps, timings=clip.timings, looks=clip.looks)


def gather(clip) -> np.ndarray:
    """(T, H, W, 3) uint8: the pieces of a clip made in pieces (``Stream``, ``storyboard.StoryStream``),
    put in one array made for them (no copies of a minute)."""
    video = np.empty((clip.frames, clip.height, clip.width, 3), np.uint8)
    done = 0
    for piece in clip:
        video[done : done + len(piece)] = piece
        done += len(piece)
    return video


def stream(
    pipe: TextToVideoPipeline,
    req: Request,
    *,
    loop: bool = False,
    chunk_seconds: float | None = None,
    progress=None,
    cast: dict | None = None,
) -> Stream:
    """``req`` generated chunk by chunk (one chunk when it fits the window), handed out as each chunk
    is done: only the frames the next chunk starts from are held back, so a minute takes the memory of
    one chunk (and a writer that encodes the pieces as they come never holds the whole clip).
    ``loop``: its last frame leads back into its first. ``progress`` (a ``(done, total)`` callback or
    a Progress, kino.progress) counts the work of every chunk, planned here. ``cast``:
    characters drawn as an earlier clip drew them (its Result.looks; the first chunk draws them, the
    others continue it); the stream's ``looks`` are the first chunk's. A bad request raises here,
    before any piece."""
    r = pipe.resolve(req)
    if loop and r.last_image is not None:
        raise RequestError("a loop ends on its own first frame; give --image, not --last-image")
    tf = pipe.cfg.vae.temporal_factor
    total = num_frames_for(r.seconds, r.fps, tf)
    window = chunk_frames(pipe, r.fps, chunk_seconds)
    units = clip_shares(pipe, r, loop, chunk_seconds)
    progress = Progress.of(progress)
    progress.expect(sum(units))
    timings: dict[str, float] = {}
    looks: dict = {}
    pieces = _pieces(pipe, r, total, window, loop, progress, units, cast, timings, looks)
    return Stream(pieces, total - 1 if loop else total, r.height, r.width, r.fps, timings, looks)


def clip_shares(
    pipe: TextToVideoPipeline, r: Request, loop: bool = False, chunk_seconds: float | None = None
) -> list[int]:
    """Units of work (kino.progress) set aside for each clip that ``stream`` makes of the
    resolved ``r``: a loop's first frame (a short clip of its own, unless an image is given), then
    the chunks, the first from noise (unless given a first or last frame), the others continuing
    given frames."""
    tf = pipe.cfg.vae.temporal_factor
    chunks = len(chunk_plan(num_frames_for(r.seconds, r.fps, tf), chunk_frames(pipe, r.fps, chunk_seconds), tf))
    anchor = [clip_units(r)] if loop and r.image is None else []
    given = bool(anchor) or r.image is not None or r.last_image is not None
    return anchor + [clip_units(r, given)] + [clip_units(r, given=True)] * (chunks - 1)


def _pieces(
    pipe: TextToVideoPipeline, r: Request, total: int, window: int, loop: bool, progress: Progress, units: list[int],
    cast, timings, looks,
) -> Iterator[np.ndarray]:
    """The frames of ``stream``, a chunk at a time; fills ``timings`` and ``looks`` as it goes. Each
    clip made counts as its share of ``units`` of ``progress``."""
    tf = pipe.cfg.vae.temporal_factor
    sizes = chunk_plan(total, window, tf)
    shares = iter(units)
    t0 = time.perf_counter()

    def run(request: Request, cast: dict | None = None) -> Result:
        with progress.part(next(shares)) as part:
            result = pipe(request, part, cast)
        for k, v in result.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        return result

    first_image, last_image = r.image, r.last_image
    if loop:
        # 1. The frame the loop starts and ends on: the given image, or the first frame of a short clip.
        if first_image is None:
            short = pipe.derive(r, seconds=seconds_for(1 + tf, r.fps), last_image=None, prefix=None)
            first_image = run(short).frames[0]
        last_image = first_image

    # 2. Chunk by chunk, each one led by the end of the one before. ``tail`` holds the frames made and
    # not yet handed out, which end at frame ``done``; the next chunk reads and fades the last ``keep``.
    keep = 1 + tf * sum(context_latents(window, tf))
    tail = np.empty((0, r.height, r.width, 3), np.uint8)
    done = 0
    for i, n in enumerate(sizes):
        final = i == len(sizes) - 1
        common = dict(seed=(r.seed + i * CHUNK_SEED_STRIDE) % 2**63, last_image=last_image if final else None)
        if i == 0:
            common["layout_span"] = (0, total)  # every chunk is laid out as part of the one video
            request = pipe.derive(r, seconds=seconds_for(n, r.fps), image=first_image, **common)
            first = run(request, cast)
            tail = first.frames
            looks.update(first.looks)
            del first
        else:
            given, remade = context_latents(window, tf)
            given = min(given, (done - 1) // tf - remade)
            start = done - tf * remade  # the chunk before's last frames, made again
            end = len(tail) - tf * remade  # where frame `start` is in the tail
            prefix = tail[end - 1 - tf * given : end]
            request = pipe.derive(r, seconds=seconds_for(len(prefix) + tf * remade + n, r.fps), image=None,
                                  prefix=prefix, layout_span=(start - len(prefix), total), **common)  # fmt: skip
            frames = run(request).frames
            lead = len(prefix) + tf * remade  # frames of this chunk before frame `done`
            blend = min(BLEND_FRAMES, lead - 1)  # never the first given frame: a latent of its own
            if blend:
                tail[-blend:] = fade(tail[-blend:], frames[lead - blend : lead])
            tail = np.concatenate([tail, frames[lead:]])
        done += n
        if final:
            timings["total"] = time.perf_counter() - t0
            yield tail[:-1] if loop else tail  # a loop's last frame is its first: shown once
        elif len(tail) > keep:
            yield tail[:-keep]
            tail = tail[-keep:].copy()
