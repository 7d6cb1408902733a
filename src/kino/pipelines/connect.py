"""Connect two clips: a transition that starts where A ends and ends where B starts.

The transition is one generation led by A's last frames (the prefix channel) and ending
on B's first frame (the last-frame channel), the first+last conditioning the transformer
was trained with. It is sampled from part-way (DISSOLVE_T0) over a dissolve from A's last frame
to B's first, not from noise: from noise, the model's first frames jumped away from A (3.2x the
clip's median change in one pair of 6; NOTES, session 12). A's last frames and B's first ones fade
from and into the model's decoding of them, as an extension's input does, and the transition's last
frames land on B's first one as shown (``land``; ``fade_frames=0`` keeps both clips exactly and lands
nothing).
"""

from __future__ import annotations

import math

import numpy as np

from kino.pipelines.extend import CONTEXT_LATENTS, fade_in, fade_out, model_size
from kino.pipelines.long_video import BLEND_FRAMES, seconds_for
from kino.pipelines.text_to_video import Request, RequestError, TextToVideoPipeline, fit_image, num_frames_for
from kino.progress import CHECKING, DECODING, PREPARING, Progress

# The transition's default length. Two clips of different scenes leave the model a long way to go:
# in 1 s (8 frames) the first made frame already jumps, 2.34x the clip's median change from A's last
# frame (median of 6 pairs, v3, 10 steps); in 2 s, 1.45x, under issue 6's 2x (NOTES, session 8).
SECONDS = 2.0
# Where the transition is sampled from over the dissolve: 6 pairs of clips, the change into the first
# made frame over the median, worst 3.17x from noise, 1.42x / 1.47x / 1.44x from 0.6 / 0.4 / 0.25 over
# a linear dissolve, 1.15x from 0.6 over one eased in and out (smoothstep).
DISSOLVE_T0 = 0.6


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
    """(A, transition, B) as one clip, and the number of transition frames between them. ``progress``
    (a ``(done, total)`` callback or a Progress, kino.progress) counts the transition's making."""
    progress = Progress.of(progress)
    for name, clip in (("first", a), ("second", b)):
        if clip.ndim != 4 or len(clip) < 1 or clip.shape[3] != 3:
            raise RequestError(f"the {name} video has no frames")
    if not (math.isfinite(seconds) and seconds > 0):
        raise RequestError(f"transition {seconds} s is not allowed; use more than 0 s")
    tf = pipe.cfg.vae.temporal_factor
    width, height = model_size(a, pipe)
    progress.start(CHECKING)
    for name, clip in (("first video", a), ("second video", b)):  # all of both, not only the frames used
        pipe.check_video(clip, fps, name, prompt, options.get("user"))
    a = np.stack([fit_image(f, width, height) for f in a])
    b = np.stack([fit_image(f, width, height) for f in b])
    context = 1 + tf * min(CONTEXT_LATENTS, (len(a) - 1) // tf)
    new = tf * max(1, math.ceil(seconds * fps / tf))  # the transition's frames, the last one being B's first
    request = Request(prompt, seed=seed, fps=fps, width=width, height=height, seconds=seconds_for(context + new, fps),
                      prefix=a[-context:], last_image=b[0], **options)  # fmt: skip
    frames = _over_dissolve(pipe, pipe.resolve(request), b[0], progress)
    transition = frames[context:-1]  # without A's frames and the copy of B's first frame
    progress.start(DECODING)  # B's first frames through the VAE, to fade in from
    a, b = fade_out(a, frames[:context], fade_frames), fade_in(pipe, b, fade_frames)  # A's end, B's start fade
    return np.concatenate([a, land(transition, b[0], fade_frames), b]), len(transition)


def land(frames: np.ndarray, first: np.ndarray, n: int) -> np.ndarray:
    """``frames`` whose last ``n`` (at most all but one) dissolve into ``first``, the frame that follows
    them, each a step 1 / (n + 1) of the way closer. The model's last latent frame, which also holds its
    making of ``first``, changes 1.2-3 grey levels a frame, against a clip's 0.55, and ended 3.3x and
    5.6x the clip's median change away from B in 2 pairs of 6; landed, 0.06-0.70x (NOTES, sessions 12-13)."""
    return fade_out(frames, np.broadcast_to(first, frames.shape), n)


def _over_dissolve(pipe: TextToVideoPipeline, r: Request, last: np.ndarray, progress: Progress) -> np.ndarray:
    """The frames of the resolved request ``r`` (given ``prefix``, then new frames ending on ``last``):
    its new frames dissolve from the prefix's last frame to ``last`` (eased in and out), are noised
    to DISSOLVE_T0 and sampled from there with the given frames held (TextToVideoPipeline.redraw),
    and checked as every output is."""
    import torch

    given = np.stack([fit_image(f, r.width, r.height) for f in r.prefix])
    new = num_frames_for(r.seconds, r.fps, pipe.cfg.vae.temporal_factor) - len(given)
    s = np.arange(1, new + 1, dtype=np.float32) / new
    w = (s * s * (3 - 2 * s))[:, None, None, None]  # eased in and out
    dissolve = np.rint(given[-1].astype(np.float32) * (1 - w) + last.astype(np.float32) * w).astype(np.uint8)
    with progress.own(), torch.inference_mode():
        shape = pipe.latent_shape(r)
        times = pipe.sampling_times(shape, r.steps)
        # The dissolve encoded, the second pass over it, its decode and the check of the frames.
        progress.expect(3 + pipe.redraw_units(r, shape, [], times, DISSOLVE_T0))
        progress.start(PREPARING)
        start = pipe.latents_of(np.concatenate([given, dissolve]), progress)
        known, known_mask = pipe.known_latents(r, shape)
        text, mask = pipe.text_states(r.prompt, r.negative_prompt)
        generator = torch.Generator().manual_seed(r.seed)
        latents = pipe.redraw(r, shape, text, mask, [], times, start, 0, DISSOLVE_T0, known, known_mask, generator,
                              progress)  # fmt: skip
        progress.start(DECODING)
        frames = pipe.frames_of(known_mask * known + (1 - known_mask) * latents.to(known.dtype), progress)
        with progress.doing(CHECKING):
            pipe.check_video(frames, r.fps, "output", r.prompt, r.user)
    return frames
