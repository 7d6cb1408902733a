"""Extend a video forwards (its last frames lead the new ones) or backwards (new frames lead into its first).

The given frames at the join fade into the model's own decoding of them (``long_video.fade``), so the
change from given to generated pixels is spread over ``fade_frames`` frames instead of falling on
one; ``fade_frames=0`` keeps every input frame exactly as it was.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from kino.pipelines.long_video import BLEND_FRAMES, fade
from kino.director.motion import follow, moving
from kino.pipelines.text_to_video import Request, RequestError, TextToVideoPipeline, fit_image, num_frames_for
from kino.progress import CHECKING, DECODING, Progress

CONTEXT_LATENTS = 2  # latent frames of the input that condition a forward extension (1 + 4 * 2 frames)


def model_size(frames: np.ndarray, pipe: TextToVideoPipeline) -> tuple[int, int]:
    """The input's (width, height) rounded down to the model's size multiple."""
    h, w = frames.shape[1:3]
    multiple = pipe.size_multiple
    if min(h, w) < pipe.min_side:
        raise RequestError(f"the video is {w}x{h}; both sides must be at least {pipe.min_side} pixels")
    return w // multiple * multiple, h // multiple * multiple


def extend(
    pipe: TextToVideoPipeline,
    frames: np.ndarray,  # (T, H, W, 3) uint8
    fps: int,
    seconds: float,
    prompt: str = "",
    backward: bool = False,
    seed: int = 0,
    progress=None,
    fade_frames: int = BLEND_FRAMES,
    **options,
) -> np.ndarray:
    """The input with ``seconds`` of new video after it (or before it, with ``backward``). ``progress``
    (a ``(done, total)`` callback or a Progress, kino.progress) counts the new clip's making."""
    if frames.ndim != 4 or len(frames) < 1:
        raise RequestError("the video to extend has no frames")
    tf = pipe.cfg.vae.temporal_factor
    width, height = model_size(frames, pipe)
    progress = Progress.of(progress)
    progress.start(CHECKING)
    pipe.check_video(frames, fps, "input video", prompt, options.get("user"))  # all of it, not only the context
    frames = np.stack([fit_image(f, width, height) for f in frames])
    common = dict(prompt=prompt, seed=seed, fps=fps, width=width, height=height, **options)
    if backward:
        # The new clip ends on the input's first frame; the last latent covers its final tf frames.
        request = Request(seconds=seconds + tf / fps, last_image=frames[0], **common)
        result = _following(pipe, request, frames, progress, before=True)  # moving objects arrive as they went
        progress.start(DECODING)  # the input's first frames through the VAE, to fade in from
        return np.concatenate([result.frames[1:-tf], fade_in(pipe, frames, fade_frames)])  # 4 * ceil(s * fps / 4) new
    context = 1 + tf * min(CONTEXT_LATENTS, (len(frames) - 1) // tf)
    prefix = frames[-context:]
    request = Request(seconds=(context - 1) / fps + seconds, prefix=prefix, **common)
    result = _following(pipe, request, prefix, progress)  # moving objects go on as they went
    return np.concatenate([fade_out(frames, result.frames[:context], fade_frames), result.frames[context:]])


def _following(pipe: TextToVideoPipeline, request: Request, given: np.ndarray, progress, before: bool = False):
    """The pipeline's result for ``request``, an extension of ``given`` (after it, or ``before``):
    objects its prompt names that move in ``given`` are carried on as they went (motion.follow),
    unless layout is off."""
    r = pipe.resolve(request)
    tf = pipe.cfg.vae.temporal_factor
    frames = num_frames_for(r.seconds, r.fps, tf)
    if not r.layout:
        plan = []
    elif before:
        # The clip's last latent frame holds given's first frame still (four copies, dropped from the
        # output): the objects reach their given places where those copies start and wait there, so
        # the last frame kept leads into given's first one step of motion away, not five.
        plan = follow(r.prompt, given, frames - tf + 1, before)
        plan = [replace(p, boxes=np.concatenate([p.boxes, np.repeat(p.boxes[-1:], tf - 1, axis=0)])) for p in plan]
    else:
        plan = follow(r.prompt, given, frames, before)
    return pipe(r, progress, follow=plan if moving(plan) else None)


def fade_out(frames: np.ndarray, decoded_tail: np.ndarray, n: int) -> np.ndarray:
    """``frames`` whose last ``n`` (at most ``len(decoded_tail) - 1``) fade into ``decoded_tail``, the
    model's decoding of the same last frames that led the generation after them."""
    n = min(n, len(decoded_tail) - 1)  # never the first given frame: a latent of its own
    if n <= 0:
        return frames
    out = frames.copy()
    out[-n:] = fade(frames[-n:], decoded_tail[-n:])
    return out


def fade_in(pipe: TextToVideoPipeline, frames: np.ndarray, n: int) -> np.ndarray:
    """``frames`` whose first ``n`` come in from the model's decoding of them, after generated frames
    that lead into the first one."""
    tf = pipe.cfg.vae.temporal_factor
    m = 1 + tf * min(-(-(n - 1) // tf), (len(frames) - 1) // tf)  # whole latent frames covering n
    n = min(n, m, len(frames) - 1)  # the clip's own frames are reached before it ends
    if n <= 0:
        return frames
    out = frames.copy()
    out[:n] = fade(pipe.reconstruct(frames[:m])[:n], frames[:n])
    return out
