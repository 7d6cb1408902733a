"""Open video models (Wan2.1, LTX-Video, CogVideoX) run through their diffusers pipelines.

One loaded folder serves every capability its components allow: the pipeline class a task needs
is made from the loaded one with ``from_pipe`` (the same weights, no second copy), e.g. LTX's
condition pipeline for a first image, keyframes or a video prefix, and Wan's or CogVideoX's
video-to-video pipeline for a restyle. Noise comes from a CPU generator, so a seed means the same
video on any device.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kino.backends.base import (Backend,
                                Cancelled, Clip, Defaults, ModelInfo, RequestError, Rules, fit_image)
from kino.flow.rectified_flow import interpolate
from kino.progress import DECODING, SAMPLING, Progress

log = logging.getLogger(__name__)

# Every family's published defaults (the model cards' recommended size, length and sampling); a
# folder may set its own in a ``kino.json`` beside ``model_index.json`` ({"defaults": {...}}).
FAMILY_DEFAULTS = {
    "wan": Defaults(width=832, height=480, seconds=5.0, fps=16, steps=50, guidance=5.0,
                    negative_prompt="blurry, low quality, static, distorted, deformed, watermark, text"),
    "ltx": Defaults(width=704, height=480, seconds=5.0, fps=24, steps=50, guidance=3.0,
                    negative_prompt="worst quality, inconsistent motion, blurry, jittery, distorted"),
    "cogvideox": Defaults(width=720, height=480, seconds=6.0, fps=8, steps=50, guidance=6.0),
}
# Frames one call makes at most (the window the model was trained on, or the most it holds).
MAX_FRAMES = {"wan": 81, "ltx": 257, "cogvideox": 49}
# Text tokens each family's pipeline reads (its max_sequence_length default).
MAX_TOKENS = {"wan": 512, "ltx": 128, "cogvideox": 226}


@dataclass(frozen=True)
class Memory:
    """What a 12-24 GB GPU needs to fit a large model: ``offload`` "model" (each component moved to the
    GPU while it runs), "sequential" (layer by layer: least memory, slowest) or "none"; ``vae_tiling``
    decodes in tiles; ``compile`` runs the transformer through torch.compile."""

    offload: str = "none"
    vae_tiling: bool = False
    compile: bool = False


OFFLOADS = ("none", "model", "sequential")


def inspect_parameters(kind) -> list[str]:
    import inspect

    return [n for n, p in inspect.signature(kind.__init__).parameters.items()
            if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _pil(frames: np.ndarray) -> list:
    from PIL import Image

    return [Image.fromarray(f) for f in frames]


class DiffusersBackend(Backend):
    def __init__(self, info: ModelInfo, pipe, defaults: Defaults, memory: Memory, device: str):
        self.info, self.pipe, self.defaults, self.memory, self.device = info, pipe, defaults, memory, device
        family = info.backend
        vae = pipe.vae
        spatial = getattr(pipe, "vae_scale_factor_spatial", None) or getattr(vae, "spatial_compression_ratio", 8)
        temporal = getattr(pipe, "vae_scale_factor_temporal", None) or getattr(vae, "temporal_compression_ratio", 4)
        patch = pipe.transformer.config.patch_size
        patch = patch[-1] if isinstance(patch, (tuple, list)) else patch
        patch_t = getattr(pipe.transformer.config, "patch_size_t", None) or 1
        if family == "ltx":  # LTX patchifies in the VAE: its transformer's patch is 1
            spatial, temporal = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
        rules = dict(size_multiple=int(spatial * patch), frame_step=int(temporal * patch_t),
                     max_frames=MAX_FRAMES[family], max_tokens=MAX_TOKENS[family])
        if family == "cogvideox":  # its text is always this many tokens; its positions fit its trained frames
            c = pipe.transformer.config
            rules.update(max_tokens=c.max_text_seq_length, max_frames=c.sample_frames)
            # CogVideoX-2b and -5b-I2V: learned positions of one size
            if not c.use_rotary_positional_embeddings or c.use_learned_positional_embeddings:
                rules["only_size"] = (c.sample_width * spatial, c.sample_height * spatial)
        self.rules = Rules(**rules)
        self._variants: dict[str, object] = {type(pipe).__name__: pipe}

    @classmethod
    def load(cls, info: ModelInfo, dtype=None, device: str | None = None, memory: Memory | None = None):
        from diffusers import DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        from kino import precision

        diffusers_logging.disable_progress_bar()
        diffusers_logging.set_verbosity_error()  # its notes on dtypes and schedules are not the user's business
        memory = memory or Memory()
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if not isinstance(dtype, torch.dtype):
            dtype = precision.choose(dtype, device)
        folder = Path(info.path)
        # Wan's VAE runs in float32, as its authors run it.
        dtypes = {"default": dtype, "vae": torch.float32} if info.backend == "wan" else dtype
        try:
            pipe = DiffusionPipeline.from_pretrained(folder, dtype=dtypes, local_files_only=True)
        except (OSError, ValueError, KeyError) as e:
            raise RequestError(f"model {info.name} cannot be loaded from {folder}: {str(e).splitlines()[0]}") from None
        pipe.set_progress_bar_config(disable=True)
        if memory.offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif memory.offload == "sequential":
            pipe.enable_sequential_cpu_offload(device=device)
        else:
            pipe.to(device)
        if memory.vae_tiling and hasattr(pipe.vae, "enable_tiling"):
            pipe.vae.enable_tiling()
        if memory.compile:
            pipe.transformer.compile()
        return cls(info, pipe, folder_defaults(folder, info.backend), memory, device)

    @classmethod
    def describe(cls, info: ModelInfo):
        """The backend as its configuration files say it is, for checking requests where nothing is
        generated (the service's API process): every model built on the meta device (no weights
        read, no memory taken), the tokenizer and scheduler as they are. Its rules, defaults and
        token counts are the loaded model's; it cannot generate."""
        import importlib

        import diffusers
        import transformers

        folder = Path(info.path)
        index = json.loads((folder / "model_index.json").read_text())
        parts = {}
        for name, spec in index.items():
            if name.startswith("_"):
                continue
            if not isinstance(spec, list):  # a setting of the pipeline's own ("expand_timesteps": false)
                parts[name] = spec
                continue
            if spec[0] is None:  # a part this folder does not have
                parts[name] = None
                continue
            kind = getattr(importlib.import_module(spec[0]), spec[1])
            # torch.device("meta") holds for this thread only (accelerate's init_empty_weights patches
            # every thread's modules: a model loading beside it would come out empty).
            if issubclass(kind, transformers.PreTrainedModel):  # a model: its config alone
                with torch.device("meta"):
                    parts[name] = kind(kind.config_class.from_pretrained(folder / name))
            elif issubclass(kind, diffusers.ModelMixin):
                with torch.device("meta"):
                    parts[name] = kind.from_config(kind.load_config(folder / name))
            else:  # tokenizers, processors and schedulers are small files
                parts[name] = kind.from_pretrained(folder / name)
        pipeline = getattr(diffusers, index["_class_name"])
        wanted = set(inspect_parameters(pipeline))
        pipe = pipeline(**{k: v for k, v in parts.items() if k in wanted},
                        **dict.fromkeys(wanted - set(parts)))  # optional parts the index does not name
        return cls(info, pipe, folder_defaults(folder, info.backend), Memory(), "meta")

    def count_tokens(self, prompt: str) -> int:
        return len(self.pipe.tokenizer(prompt).input_ids)

    def variant(self, name: str, **parts):
        """The diffusers pipeline class ``name`` over this folder's loaded components, made once; given
        ``parts`` (a scheduler, say) in place of some of them, made anew. Not ``from_pipe``: that casts
        every shared component to one dtype (float32 unless told), which would double a bf16 model's
        memory or take Wan's VAE out of float32."""
        if name in self._variants and not parts:
            return self._variants[name]
        import diffusers

        kind = getattr(diffusers, name)
        wanted = set(inspect_parameters(kind))
        given = {k: v for k, v in {**self.pipe.components, **parts}.items() if k in wanted}
        settings = {k: self.pipe.config[k] for k in wanted - set(given) if k in self.pipe.config}
        made = kind(**given, **settings)
        made.set_progress_bar_config(disable=True)
        if not parts:
            self._variants[name] = made
        return made

    def _generate(self, clip: Clip, progress: Progress, cancelled: Callable[[], bool]) -> np.ndarray:
        family = self.info.backend
        steps_done = [0]

        def on_step(pipe, i, t, kwargs):
            steps_done[0] += 1
            if steps_done[0] == clip.sampled_steps:  # the last step: what follows is the decode
                progress.start(DECODING)
            progress.advance()
            if cancelled():
                raise Cancelled()
            return kwargs

        common = dict(prompt=clip.prompt, negative_prompt=clip.negative_prompt or None, height=clip.height,
                      width=clip.width, num_inference_steps=clip.steps, guidance_scale=clip.guidance,
                      generator=torch.Generator("cpu").manual_seed(clip.seed), output_type="np",
                      callback_on_step_end=on_step, max_sequence_length=self.rules.max_tokens)
        progress.start(SAMPLING)
        if family == "ltx":
            pipe, kw = self._ltx(clip, common)
        elif family == "wan":
            pipe, kw = self._wan(clip, common)
        else:
            pipe, kw = self._cogvideox(clip, common)
        with torch.inference_mode():
            frames = pipe(**kw).frames[0]
        video = np.clip(np.rint(np.asarray(frames, dtype=np.float32) * 255), 0, 255).astype(np.uint8)
        if clip.prefix is not None:  # given frames are kept as given, not as the VAE draws them back
            video[: len(clip.prefix)] = np.stack([fit_image(f, clip.width, clip.height) for f in clip.prefix])
        return video

    def _ltx(self, clip: Clip, common: dict):
        from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition
        from PIL import Image

        kw = dict(common, num_frames=clip.frames, frame_rate=clip.fps)
        conditions = []
        if clip.image is not None:
            conditions.append(LTXVideoCondition(image=Image.fromarray(fit_image(clip.image, clip.width, clip.height)),
                                                frame_index=0))
        if clip.prefix is not None:
            frames = [fit_image(f, clip.width, clip.height) for f in clip.prefix]
            conditions.append(LTXVideoCondition(video=_pil(np.stack(frames)), frame_index=0))
        if clip.last_image is not None:
            last = Image.fromarray(fit_image(clip.last_image, clip.width, clip.height))
            conditions.append(LTXVideoCondition(image=last, frame_index=clip.frames - 1))
        if clip.video is not None:
            pipe = self.variant("LTXConditionPipeline")
            video = np.stack([fit_image(f, clip.width, clip.height) for f in clip.video])
            kw["latents"] = self._ltx_latents(pipe, video)
            kw["denoise_strength"] = clip.strength
            # the redrawn video is not also a condition: only its noised latents lead the sampling
            return pipe, kw
        if conditions:
            from diffusers.pipelines.ltx.pipeline_ltx_condition import linear_quadratic_schedule

            # The pipeline's own schedule, given as a list: it hands its tensor form to np.array, which
            # numpy 2 warns about.
            timesteps = (linear_quadratic_schedule(clip.steps) * 1000).tolist()
            return self.variant("LTXConditionPipeline"), dict(kw, conditions=conditions, timesteps=timesteps)
        return self.variant("LTXPipeline"), kw

    @torch.inference_mode()
    def _ltx_latents(self, pipe, video: np.ndarray) -> torch.Tensor:
        """Normalised latents of (T, H, W, 3) uint8 frames, as LTX samples them."""
        from diffusers.pipelines.ltx.pipeline_ltx_condition import retrieve_latents

        x = pipe.video_processor.preprocess_video(_pil(video), video.shape[1], video.shape[2])
        x = x.to(pipe.vae.device, pipe.vae.dtype)
        z = retrieve_latents(pipe.vae.encode(x), sample_mode="argmax")
        return pipe._normalize_latents(z, pipe.vae.latents_mean, pipe.vae.latents_std).float()

    def _wan(self, clip: Clip, common: dict):
        from PIL import Image

        common = dict(common, num_frames=clip.frames)
        if self.info.pipeline == "WanImageToVideoPipeline":
            if clip.image is None:
                raise RequestError(f"{self.info.name} starts from a first image; give one with the last image")
            first = Image.fromarray(fit_image(clip.image, clip.width, clip.height))
            last = None if clip.last_image is None else Image.fromarray(
                fit_image(clip.last_image, clip.width, clip.height))
            return self.pipe, dict(common, image=first, last_image=last)
        if self.info.pipeline == "WanVACEPipeline":
            kw = dict(common, **vace_inputs(clip))
            if clip.sampled_steps == clip.steps:  # from noise
                return self.pipe, kw
            # VACE takes no strength: its ``conditioning_scale`` weighs how closely the given frames are
            # followed, not how much of them survives, and it always samples its whole schedule. What
            # strength means for every other model (the video noised to part-way, the rest of the
            # schedule sampled) is done here: its scheduler keeps the last steps, and its latents
            # start as the source's, noised to where those steps begin.
            pipe = self.variant("WanVACEPipeline", scheduler=last_steps(self.pipe.scheduler, clip.sampled_steps))
            pipe.scheduler.set_timesteps(clip.steps, device=pipe._execution_device)
            return pipe, dict(kw, latents=vace_start(pipe, kw, float(pipe.scheduler.sigmas[0])))
        if clip.video is not None:
            video = np.stack([fit_image(f, clip.width, clip.height) for f in clip.video])
            common.pop("num_frames")  # the video's own
            return self.variant("WanVideoToVideoPipeline"), dict(common, video=_pil(video), strength=clip.strength)
        return self.variant("WanPipeline"), common

    def _cogvideox(self, clip: Clip, common: dict):
        from PIL import Image

        if self.info.pipeline == "CogVideoXImageToVideoPipeline":
            if clip.image is None:
                raise RequestError(f"{self.info.name} starts from a first image; give one")
            first = Image.fromarray(fit_image(clip.image, clip.width, clip.height))
            return self.pipe, dict(common, num_frames=clip.frames, image=first)
        if clip.video is not None:
            video = np.stack([fit_image(f, clip.width, clip.height) for f in clip.video])
            return self.variant("CogVideoXVideoToVideoPipeline"), dict(common, video=_pil(video),
                                                                       strength=clip.strength)
        return self.variant("CogVideoXPipeline"), dict(common, num_frames=clip.frames)


def vace_inputs(clip: Clip) -> dict:
    """VACE's ``video`` and ``mask`` for a clip: given pixels where the mask is black (kept), grey
    where it is white (made): the first and last images or leading frames; a video to redraw (inside a
    mask, or whole) is given whole, its pixels under the white too, for the redraw to follow; and its
    ``reference_images``. Nothing given: plain text to video."""
    from PIL import Image

    refs = {"reference_images": [Image.fromarray(r) for r in clip.references]} if clip.references else {}
    if all(x is None for x in (clip.image, clip.last_image, clip.prefix, clip.video)):
        return refs
    w, h = clip.width, clip.height
    video = np.full((clip.frames, h, w, 3), 127, np.uint8)
    made = np.ones((clip.frames, h, w), bool)
    if clip.video is not None:
        video[:] = np.stack([fit_image(f, w, h) for f in clip.video])
        if clip.mask is not None:
            region = Image.fromarray(clip.mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.NEAREST)
            made[:] = np.asarray(region) > 127
    if clip.prefix is not None:
        video[: len(clip.prefix)] = np.stack([fit_image(f, w, h) for f in clip.prefix])
        made[: len(clip.prefix)] = False
    if clip.image is not None:
        video[0], made[0] = fit_image(clip.image, w, h), False
    if clip.last_image is not None:
        video[-1], made[-1] = fit_image(clip.last_image, w, h), False
    return {"video": _pil(video), "mask": [Image.fromarray(m.astype(np.uint8) * 255, "L") for m in made], **refs}


def last_steps(scheduler, keep: int):
    """A copy of a diffusers ``scheduler`` whose schedules are the last ``keep`` steps of those it
    would make (timesteps and sigmas both; a multistep solver starts its history there)."""
    import copy

    made = copy.deepcopy(scheduler)
    whole = made.set_timesteps

    def set_timesteps(*args, **kwargs):
        whole(*args, **kwargs)
        made.timesteps, made.sigmas = made.timesteps[-keep:], made.sigmas[-keep - 1:]

    made.set_timesteps = set_timesteps
    return made


@torch.inference_mode()
def vace_start(pipe, kw: dict, sigma: float) -> torch.Tensor:
    """(1, C, n + F, h, w) latents a VACE call (``kw``) samples from: its n reference images, then
    its F latent frames, laid out and encoded as VACE does it, moved along the flow line to ``sigma``
    (kino.flow.rectified_flow) towards the noise the pipeline would draw from ``kw["generator"]``."""
    from diffusers.pipelines.wan.pipeline_wan_vace import retrieve_latents
    from diffusers.utils.torch_utils import randn_tensor

    device, vae = pipe._execution_device, pipe.vae
    video, _, refs = pipe.preprocess_conditions(kw["video"], kw["mask"], kw.get("reference_images"), 1, kw["height"],
                                                kw["width"], kw["num_frames"], torch.float32, device)
    mean = torch.tensor(vae.config.latents_mean, device=device).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std, device=device).view(1, -1, 1, 1, 1)

    def encode(x):  # (1, 3, f, H, W) in [-1, 1]
        return (retrieve_latents(vae.encode(x.to(vae.dtype)), sample_mode="argmax").float() - mean) / std

    x0 = encode(video)
    for ref in refs[0]:
        x0 = torch.cat([encode(ref[None, :, None]), x0], dim=2)
    noise = randn_tensor(x0.shape, generator=kw["generator"], device=device, dtype=torch.float32)
    return interpolate(x0, noise, torch.tensor([sigma], device=device))


def folder_defaults(folder: Path, family: str) -> Defaults:
    """The family's defaults, with what the folder's ``kino.json`` sets over them."""
    import dataclasses

    base = FAMILY_DEFAULTS[family]
    path = folder / "kino.json"
    if not path.is_file():
        return base
    try:
        given = json.loads(path.read_text()).get("defaults", {})
        return dataclasses.replace(base, **{k: v for k, v in given.items() if k in base.__dataclass_fields__})
    except (OSError, ValueError, TypeError, AttributeError) as e:
        raise RequestError(f"{path} cannot be read as kino defaults: {e}") from None

