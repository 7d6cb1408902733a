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

import numpy as np

from kino.pipelines.text_to_video import Request, RequestError, Result, TextToVideoPipeline, num_frames_for

# Latent frames of the chunk before that lead the next one, at most: 3 (1 + 12 frames), so a chunk
# of the default 33-frame window is 13 given + 20 new frames. Every chunk stays exactly the window.
# More context smooths the joins but costs chunks and encoder memory (v2 checkpoint, 10 steps; the
# change at a join over the clip's median on 12 s clips: 2.05x with 1 latent, 1.86x with 3, 1.45x
# with 5; a 60 s clip's peak memory over a 4 s one: 1.21x (measured in session 2), 1.28x, 1.32x,
# against a 1.3x budget).
CONTEXT_LATENTS = 3
# The last frames of a chunk fade into the next chunk's own decoding of them (its context frames,
# which it decodes anyway): the small difference between two decodings of the same moment is spread
# over this many frames instead of falling on one (temporal tiling with linear blending, as video
# VAEs decode long clips). On 6 clips of 12 s (v2, 10 steps), the largest change in the 14 frames
# up to each join over the clip's median: 2.22x with no fade, 1.97x with 6 or 12 frames; joins
# within 2x: 42% -> 50%. Most of a join is the new chunk not quite continuing the motion.
BLEND_FRAMES = 6
CHUNK_SEED_STRIDE = 1_000_003  # chunk i samples its noise from seed + i * stride


def seconds_for(frames: int, fps: int) -> float:
    """A duration that ``num_frames_for`` turns into exactly ``frames`` (= 1 + 4k) frames."""
    return (frames - 1.5) / fps  # half a frame short, so float rounding never adds a latent frame


def context_latents(chunk: int, temporal_factor: int) -> int:
    """Latent frames of context a chunk of ``chunk`` frames takes: CONTEXT_LATENTS, leaving at
    least one latent frame of the window to generate."""
    return max(1, min(CONTEXT_LATENTS, (chunk - 1) // temporal_factor - 1))


def chunk_plan(total: int, chunk: int, temporal_factor: int, context: int | None = None) -> list[int]:
    """New frames made by each chunk: the first makes ``min(chunk, total)`` (1 + 4k), the others
    up to ``chunk - context`` each (4k; ``context`` given frames lead them), adding up to ``total``."""
    if context is None:
        context = 1 + temporal_factor * context_latents(chunk, temporal_factor)
    step = max(temporal_factor, chunk - context)
    sizes = [min(chunk, total)]
    left = total - sizes[0]
    while left > 0:
        sizes.append(min(step, left))
        left -= sizes[-1]
    assert all(s % temporal_factor == 0 for s in sizes[1:])
    return sizes


def seam_frames(sizes: list[int]) -> list[int]:
    """Index of the first frame of each chunk after the first."""
    return [int(x) for x in np.cumsum(sizes)[:-1]]


def chunk_frames(pipe: TextToVideoPipeline, fps: int, chunk_seconds: float | None = None) -> int:
    """Frames one chunk holds (1 + 4k): by default the clip length the model was trained on."""
    return num_frames_for(chunk_seconds or pipe.cfg.sample.seconds, fps, pipe.cfg.vae.temporal_factor)


def generate(
    pipe: TextToVideoPipeline,
    req: Request,
    *,
    loop: bool = False,
    chunk_seconds: float | None = None,
    progress=None,
) -> Result:
    """``req`` generated chunk by chunk (one chunk when it fits the window); ``loop``: its last
    frame leads back into its first. ``progress(i, n)`` counts steps over all chunks."""
    r = pipe.resolve(req)
    tf = pipe.cfg.vae.temporal_factor
    total = num_frames_for(r.seconds, r.fps, tf)
    window = chunk_frames(pipe, r.fps, chunk_seconds)
    sizes = chunk_plan(total, window, tf)
    anchor_steps = r.steps if loop and r.image is None else 0
    steps_total = anchor_steps + r.steps * len(sizes)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if loop and r.last_image is not None:
        raise RequestError("a loop ends on its own first frame; give --image, not --last-image")

    def run(request: Request, offset: int) -> Result:
        tick = (lambda i, _n: progress(offset + i, steps_total)) if progress else None
        result = pipe(request, tick)
        for k, v in result.timings.items():
            timings[k] = timings.get(k, 0.0) + v
        return result

    first_image, last_image = r.image, r.last_image
    if loop:
        # 1. The frame the loop starts and ends on: the given image, or the first frame of a short clip.
        if first_image is None:
            short = pipe.derive(r, seconds=seconds_for(1 + tf, r.fps), last_image=None, prefix=None)
            first_image = run(short, 0).frames[0]
        last_image = first_image

    # 2. Chunk by chunk, each one led by the end of the one before.
    video = np.empty((total, r.height, r.width, 3), np.uint8)  # preallocated: no copies of a minute of frames
    done = 0
    for i, n in enumerate(sizes):
        final = i == len(sizes) - 1
        common = dict(seed=(r.seed + i * CHUNK_SEED_STRIDE) % 2**63, last_image=last_image if final else None)
        if i == 0:
            request = pipe.derive(r, seconds=seconds_for(n, r.fps), image=first_image, **common)
            video[:n] = run(request, anchor_steps).frames
        else:
            context = 1 + tf * min(context_latents(window, tf), (done - 1) // tf)
            prefix = video[done - context : done]
            request = pipe.derive(r, seconds=seconds_for(context + n, r.fps), image=None, prefix=prefix, **common)
            frames = run(request, anchor_steps + i * r.steps).frames
            blend = min(BLEND_FRAMES, context - 1)  # never the first context frame: a latent of its own
            if blend:
                w = (np.arange(1, blend + 1, dtype=np.float32) / (blend + 1))[:, None, None, None]
                old = video[done - blend : done].astype(np.float32)
                video[done - blend : done] = np.rint(old + w * (frames[context - blend : context] - old)).astype(np.uint8)
            video[done : done + n] = frames[context:]
        done += n
    timings["total"] = time.perf_counter() - t0
    frames = video[:-1] if loop else video  # a loop's last frame is its first: shown once
    return Result(frames=frames, fps=r.fps, timings=timings)
