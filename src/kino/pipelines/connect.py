"""Connect two clips: a transition that starts where A ends and ends where B starts.

The transition is one generation led by A's last frames (the prefix channel) and ending
on B's first frame (the last-frame channel), the first+last conditioning the transformer
was trained with. A's last frames and B's first ones fade from and into the model's decoding of
them, as an extension's input does (``fade_frames=0`` keeps both clips exactly).
"""

from __future__ import annotations

import math

import numpy as np

from kino.pipelines.extend import CONTEXT_LATENTS, fade_in, fade_out, model_size
from kino.pipelines.long_video import BLEND_FRAMES, seconds_for
from kino.pipelines.text_to_video import Request, RequestError, TextToVideoPipeline, fit_image

# The transition's default length. Two clips of different scenes leave the model a long way to go:
# in 1 s (8 frames) the first made frame already jumps, 2.34x the clip's median change from A's last
# frame (median of 6 pairs, v3, 10 steps); in 2 s, 1.45x, under issue 6's 2x (NOTES, session 8).
SECONDS = 2.0


def connect(
    pipe: TextToVideoPipeline,
    a: np.ndarray,  # (Ta, H, W, 3) uint8
    b: np.ndarray,  # (Tb, H', W', 3) uint8; scaled and cropped to A's size
    fps: int,
    seconds: float = SECONDS,
    prompt: str = "",
    seed: int = 0,
    progress=None,
    fade_frames: int = BLEND_FRAMES,
    **options,
) -> tuple[np.ndarray, int]:
    """(A, transition, B) as one clip, and the number of transition frames between them."""
    for name, clip in (("first", a), ("second", b)):
        if clip.ndim != 4 or len(clip) < 1 or clip.shape[3] != 3:
            raise RequestError(f"the {name} video has no frames")
    if not (math.isfinite(seconds) and seconds > 0):
        raise RequestError(f"transition {seconds} s is not allowed; use more than 0 s")
    tf = pipe.cfg.vae.temporal_factor
    width, height = model_size(a, pipe)
    for name, clip in (("first video", a), ("second video", b)):  # all of both, not only the frames used
        pipe.check_video(clip, fps, name, prompt, options.get("user"))
    a = np.stack([fit_image(f, width, height) for f in a])
    b = np.stack([fit_image(f, width, height) for f in b])
    context = 1 + tf * min(CONTEXT_LATENTS, (len(a) - 1) // tf)
    new = tf * max(1, math.ceil(seconds * fps / tf))  # the transition's frames, the last one being B's first
    request = Request(prompt, seed=seed, fps=fps, width=width, height=height, seconds=seconds_for(context + new, fps),
                      prefix=a[-context:], last_image=b[0], **options)  # fmt: skip
    frames = pipe(request, progress).frames
    transition = frames[context:-1]  # without A's frames and the copy of B's first frame
    a, b = fade_out(a, frames[:context], fade_frames), fade_in(pipe, b, fade_frames)  # A's end, B's start fade
    return np.concatenate([a, transition, b]), len(transition)
