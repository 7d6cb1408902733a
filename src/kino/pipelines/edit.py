"""Edit a video from a prompt: SDEdit (Meng et al. 2022) over the whole clip, or inside a mask.

The clip's latents are noised to flow time ``strength`` (x_t = (1 - t) x0 + t noise) and
denoised with the prompt. With a mask, latents outside it follow the input's own noising
path exactly at every step (the RePaint idea, Lugmayr et al. 2022, for a flow: their
velocity is the path's, noise - x0), and after decoding the pixels outside the mask are the
input's, so only the region changes. Sampling is steered to where the prompt puts what it names
(kino.director.layout), as a generated clip is.

Content added inside a mask is drafted first: the model alone, from noise, drew "a big red ball on
the left bounces" as a many-coloured smear in the region (the shipped model draws moving objects
as smears; kino.director.motion). So when the prompt names objects and the strength is above
motion.T0_DRAWN, the prompt is first made as a clip (the pipeline's plan, shapes and motion), the
pixels of its objects inside the region (not its set) are laid over the input, and the edit samples
from there at t = T0_DRAWN (NOTES, session 12).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from kino.data.datasets import frames_to_tensor, tensor_to_frames
from kino.flow.samplers import get_sampler
from kino.pipelines.extend import model_size
from kino.pipelines.long_video import seconds_for
from kino.director.motion import T0_DRAWN
from kino.pipelines.text_to_video import Request, RequestError, TextToVideoPipeline, clip_units, fit_image
from kino.progress import CHECKING, DECODING, PREPARING, SAMPLING, Progress

MAX_EDIT_SECONDS = 20.0  # one pass over the whole clip: its memory grows with the length


def region_mask(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    """A mask picture (H, W) or (H, W, 3/4) -> (height, width) bool, True where content may change.

    Scaled and cropped like the video; white (>= 128) marks the region.
    """
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., :3].max(-1)
    if m.ndim != 2 or m.dtype != np.uint8 or min(m.shape) < 8:
        raise RequestError("the mask must be a greyscale or RGB picture of at least 8x8 pixels")
    region = fit_image(np.repeat(m[..., None], 3, -1), width, height)[..., 0] >= 128
    if not region.any():
        raise RequestError("the mask is all black; paint the region to change in white")
    return region


def latent_region(region: np.ndarray, factor: int, grow: int = 1) -> torch.Tensor:
    """(1, 1, 1, h, w) float: latent cells touching the region, grown by ``grow`` cells so the
    decoder has room to blend the new content in."""
    r = torch.from_numpy(region.astype(np.float32))[None, None]
    cells = F.max_pool2d(r, factor)
    if grow:
        cells = F.max_pool2d(cells, 2 * grow + 1, stride=1, padding=grow)
    return cells[:, :, None]


def edit(
    pipe: TextToVideoPipeline,
    frames: np.ndarray,  # (T, H, W, 3) uint8
    fps: int,
    prompt: str,
    strength: float = 0.6,
    mask: np.ndarray | None = None,
    seed: int = 0,
    progress=None,
    **options,
) -> np.ndarray:
    """The clip redrawn to match ``prompt``: (T, H', W', 3) uint8, H' x W' the input's size
    rounded down to the model's multiple. ``strength`` in (0, 1]: how much may change. ``progress``
    (a ``(done, total)`` callback or a Progress, kino.progress) counts the work, the draft included."""
    if frames.ndim != 4 or len(frames) < 1:
        raise RequestError("the video to edit has no frames")
    if not (math.isfinite(strength) and 0 < strength <= 1):
        raise RequestError(f"strength {strength} is not allowed; use more than 0 and at most 1")
    if len(frames) / fps > MAX_EDIT_SECONDS:
        raise RequestError(f"the video is {len(frames) / fps:.1f} s; edit at most {MAX_EDIT_SECONDS:g} s at a time")
    tf = pipe.cfg.vae.temporal_factor
    width, height = model_size(frames, pipe)
    progress = Progress.of(progress)
    progress.start(CHECKING)
    pipe.check_video(frames, fps, "input video", prompt, options.get("user"))
    frames = np.stack([fit_image(f, width, height) for f in frames])
    n = len(frames)
    padded = 1 + tf * max(1, math.ceil((n - 1) / tf))  # the VAE takes 1 + 4k frames: hold the last one
    video = np.concatenate([frames, np.repeat(frames[-1:], padded - n, 0)])
    r = pipe.resolve(Request(prompt, seed=seed, fps=fps, width=width, height=height,
                             seconds=seconds_for(padded, fps), **options))  # fmt: skip
    region = None if mask is None else region_mask(mask, width, height)
    drafts = region is not None and strength > T0_DRAWN and bool(pipe.layout_plan(r, pipe.latent_shape(r)))

    with torch.inference_mode(), progress.own():
        # The input encoded, the draft (a clip, then encoded), the steps, the decode, the check.
        progress.expect(1 + (clip_units(r) + 1 if drafts else 0) + r.steps + 2)
        # 1. The input's latents, and the prompt's text states.
        progress.start(PREPARING)
        x0 = pipe.vae.encode(frames_to_tensor(video).to(pipe.device, pipe.dtype)[None]).float()
        progress.advance()
        text, text_mask = pipe.text_states(r.prompt, r.negative_prompt)
        velocity = pipe.velocity_fn(text, text_mask, r.guidance, text_bias=pipe.layout_bias(r, x0.shape))
        start = x0
        if drafts:
            with progress.part(clip_units(r)) as part:
                made = pipe(r, part).frames
            drafted = np.where(_objects(made, region)[..., None], made, video)
            progress.start(PREPARING)
            start = pipe.vae.encode(frames_to_tensor(drafted).to(pipe.device, pipe.dtype)[None]).float()
            progress.advance()
            strength = T0_DRAWN
        # 2. Noise them to t = strength (noise from a CPU generator: same seed, same video anywhere).
        noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(r.seed), dtype=torch.float32)
        noise = noise.to(pipe.device)
        times = strength * pipe.sampling_times(x0.shape, r.steps)
        x = (1 - strength) * start + strength * noise
        if region is not None:
            inside = latent_region(region, pipe.cfg.vae.spatial_factor).to(pipe.device)
            path_velocity = noise - x0  # outside: the input's own straight path, followed exactly
            model_velocity = velocity
            velocity = lambda x, t: inside * model_velocity(x, t) + (1 - inside) * path_velocity  # noqa: E731
        # 3. Denoise with the prompt, then decode.
        progress.start(SAMPLING)
        latents = get_sampler(r.sampler)(velocity, x, times, callback=lambda _i, _x: progress.advance())
        with progress.doing(DECODING):
            out = tensor_to_frames(pipe.vae.decode(latents.to(pipe.dtype))[0].cpu())[:n]
        if region is not None:
            out = np.where(region[None, :, :, None], out, frames)  # outside the mask: the input's pixels
        with progress.doing(CHECKING):
            pipe.check_video(out, fps, "output", r.prompt, r.user)  # decoded here, not in pipe(): checked here
    return out


def _objects(frames: np.ndarray, region: np.ndarray, grow: int = 2) -> np.ndarray:
    """(T, H, W) bool: the pixels of (T, H, W, 3) uint8 frames that are not their light grey set
    (objects, outlines, shadows), grown by ``grow`` pixels (their soft rims), inside ``region``."""
    from scipy import ndimage

    from kino.director.backdrop import set_pixels

    drawn = ~set_pixels(frames)[1]
    drawn = ndimage.binary_dilation(drawn, np.ones((1, 3, 3), bool), iterations=grow)
    return drawn & region[None]
