"""Extend a video forwards (its last frames lead the new ones) or backwards (new frames lead into its first)."""

from __future__ import annotations

import numpy as np

from kino.pipelines.text_to_video import Request, RequestError, TextToVideoPipeline, fit_image

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
    **options,
) -> np.ndarray:
    """The input with ``seconds`` of new video after it (or before it, with ``backward``)."""
    if frames.ndim != 4 or len(frames) < 1:
        raise RequestError("the video to extend has no frames")
    tf = pipe.cfg.vae.temporal_factor
    width, height = model_size(frames, pipe)
    pipe.check_video(frames, fps, "input video", prompt, options.get("user"))  # all of it, not only the context
    frames = np.stack([fit_image(f, width, height) for f in frames])
    common = dict(prompt=prompt, seed=seed, fps=fps, width=width, height=height, **options)
    if backward:
        # The new clip ends on the input's first frame; the last latent covers its final tf frames.
        result = pipe(Request(seconds=seconds + tf / fps, last_image=frames[0], **common), progress)
        return np.concatenate([result.frames[1:-tf], frames])  # 4 * ceil(seconds * fps / 4) new frames
    context = 1 + tf * min(CONTEXT_LATENTS, (len(frames) - 1) // tf)
    prefix = frames[-context:]
    result = pipe(Request(seconds=(context - 1) / fps + seconds, prefix=prefix, **common), progress)
    return np.concatenate([frames, result.frames[context:]])
