"""What every model behind kino offers, whatever made it: a request in kino's terms, the things a
model can do (capabilities), the rules its sizes and frame counts follow, and ``generate``.

A backend knows nothing of toyworld; kino's own DiT + VAE is one backend (``native``), and open
models run through diffusers are others (``kino.backends.diffusers_video``). What kino adds to
every output (moderation of prompts, inputs and frames, watermark, C2PA, the atomic writer) and
what it builds from clips (long video, loops, extend, connect, storyboards) is written once, on top
of this interface, in ``kino.core``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kino.progress import Progress

# What a model can do, as kino's commands need it.
TEXT_TO_VIDEO = "text to video"
IMAGE_TO_VIDEO = "image to video"  # a given first frame
FIRST_LAST = "first-last frame"  # a given last frame (with or without a first)
EXTEND = "extend"  # given leading frames (a video prefix) carried on: extend, connect, long video, loops
VIDEO_TO_VIDEO = "video to video"  # a whole video redrawn after a prompt, to a strength (restyle)
MASKED_EDIT = "masked edit"  # a video redrawn inside a mask only
REFERENCE = "reference images"  # pictures of who or what a video shows: characters kept across shots
# Storyboards made the model's own way (Backend.story), a storyboard's ``reference`` included: every
# shot after the first started from the first shot's first frame.
STORYBOARD = "storyboards of its own"
SAMPLER = "sampler choice"  # one of kino.flow.samplers, chosen per job
CAPABILITIES = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, FIRST_LAST, EXTEND, VIDEO_TO_VIDEO, MASKED_EDIT, REFERENCE, STORYBOARD,
                SAMPLER)

NATIVE_CAPABILITIES = (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, FIRST_LAST, EXTEND, VIDEO_TO_VIDEO, MASKED_EDIT, STORYBOARD,
                       SAMPLER)

# Options a model honours where it has the means, and makes the same video without: a model that
# lacks one ignores it, and kino says so (``ignored``), never refuses it.
NEGATIVE_PROMPT = "negative prompt"  # the unconditional text of classifier-free guidance
OFFLOAD = "CPU offload"  # components (or layers) moved to the GPU only while they run
VAE_TILING = "VAE tiling"  # the decode done tile by tile
COMPILE = "torch.compile"
OPTIONS = (NEGATIVE_PROMPT, OFFLOAD, VAE_TILING, COMPILE)
WITHOUT = {OFFLOAD: "the model is small enough to load whole onto one device",
           VAE_TILING: "the model's VAE decodes whole", COMPILE: "the model runs eagerly",
           NEGATIVE_PROMPT: "the model guides away from the empty prompt only"}
NATIVE_OPTIONS = (NEGATIVE_PROMPT,)
DIFFUSERS_OPTIONS = OPTIONS

# The diffusers pipeline classes kino runs, by the class a folder's model_index.json names: the
# backend that runs it and what it can do there.
PIPELINES: dict[str, tuple[str, tuple[str, ...]]] = {
    "WanPipeline": ("wan", (TEXT_TO_VIDEO, VIDEO_TO_VIDEO)),
    "WanImageToVideoPipeline": ("wan", (IMAGE_TO_VIDEO, FIRST_LAST)),
    "WanVACEPipeline": ("wan", (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, FIRST_LAST, EXTEND, VIDEO_TO_VIDEO, MASKED_EDIT,
                                REFERENCE)),
    "LTXPipeline": ("ltx", (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, FIRST_LAST, EXTEND, VIDEO_TO_VIDEO)),
    "LTXConditionPipeline": ("ltx", (TEXT_TO_VIDEO, IMAGE_TO_VIDEO, FIRST_LAST, EXTEND, VIDEO_TO_VIDEO)),
    "CogVideoXPipeline": ("cogvideox", (TEXT_TO_VIDEO, VIDEO_TO_VIDEO)),
    "CogVideoXImageToVideoPipeline": ("cogvideox", (IMAGE_TO_VIDEO,)),
}


@dataclass(frozen=True)
class Known:
    """An open model kino can run, for messages that name the models with a capability."""

    hub_id: str
    pipeline: str

    @property
    def capabilities(self) -> tuple[str, ...]:
        return PIPELINES[self.pipeline][1]

    @property
    def label(self) -> str:
        return self.hub_id


KNOWN = (
    Known("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanPipeline"),
    Known("Wan-AI/Wan2.1-T2V-14B-Diffusers", "WanPipeline"),
    Known("Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "WanImageToVideoPipeline"),
    Known("Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers", "WanImageToVideoPipeline"),
    Known("Wan-AI/Wan2.1-VACE-1.3B-diffusers", "WanVACEPipeline"),
    Known("Wan-AI/Wan2.1-VACE-14B-diffusers", "WanVACEPipeline"),
    Known("Lightricks/LTX-Video", "LTXPipeline"),
    Known("THUDM/CogVideoX-2b", "CogVideoXPipeline"),
    Known("THUDM/CogVideoX-5b", "CogVideoXPipeline"),
    Known("THUDM/CogVideoX-5b-I2V", "CogVideoXImageToVideoPipeline"),
)


MIN_SIDE = 128  # the invisible watermark needs this many pixels to survive a 0.5x resize (kino.provenance.watermark)
MAX_PROMPT_CHARS = 2000
MAX_SECONDS = 60.0


class RequestError(ValueError):
    """A request asks for something the model cannot do; the message says what is allowed."""


class CapabilityError(RequestError):
    """A request needs a capability the model lacks; the message names the models that have it."""


class Cancelled(Exception):
    """``generate`` stopped because its ``cancelled`` callback said so."""


@dataclass(frozen=True)
class Clip:
    """One call to a model, in kino's terms. Pictures are uint8 RGB: ``image`` (H, W, 3) the first
    frame to keep, ``last_image`` the last to reach, ``prefix`` (n, H, W, 3) frames the clip starts
    with (kept), ``video`` (T, H, W, 3) a clip to redraw to ``strength`` (video to video), ``mask``
    (H, W) bool where to redraw it (masked edit); ``references`` (H, W, 3) pictures of any size of
    who or what the clip shows (reference images). Sizes and the frame count follow ``Rules``."""

    prompt: str
    seed: int
    width: int
    height: int
    frames: int
    fps: int
    steps: int
    guidance: float
    negative_prompt: str = ""
    image: np.ndarray | None = None
    last_image: np.ndarray | None = None
    prefix: np.ndarray | None = None
    video: np.ndarray | None = None
    mask: np.ndarray | None = None
    strength: float = 0.6
    references: tuple[np.ndarray, ...] = ()

    @property
    def sampled_steps(self) -> int:
        """Steps this call samples: all of them, or, redrawing a video to ``strength``, the last
        ``strength`` of the schedule, from the video noised to where they start (SDEdit, Meng et al.
        2022), counted as every diffusers video-to-video pipeline counts them."""
        if self.video is None:
            return self.steps
        return min(int(self.steps * self.strength), self.steps)

    @property
    def needs(self) -> str:
        """The capability this call needs."""
        if self.mask is not None:
            return MASKED_EDIT
        if self.video is not None:
            return VIDEO_TO_VIDEO
        if self.prefix is not None:
            return EXTEND
        if self.last_image is not None:
            return FIRST_LAST
        if self.image is not None:
            return IMAGE_TO_VIDEO
        return TEXT_TO_VIDEO


@dataclass(frozen=True)
class Defaults:
    width: int
    height: int
    seconds: float
    fps: int
    steps: int
    guidance: float
    negative_prompt: str = ""


@dataclass(frozen=True)
class Rules:
    """The sizes and frame counts a model takes: width and height multiples of ``size_multiple``
    from ``MIN_SIDE`` (rounded up) to ``max_side``; ``1 + k * frame_step`` frames, at most
    ``max_frames`` in one call (the model's window); prompts of at most ``max_tokens`` tokens."""

    size_multiple: int
    frame_step: int
    max_frames: int
    max_side: int = 1920
    max_tokens: int = 512
    only_size: tuple[int, int] | None = None  # (width, height) of a model that makes that size alone

    @property
    def min_side(self) -> int:
        return -(-MIN_SIDE // self.size_multiple) * self.size_multiple

    def frames_for(self, seconds: float, fps: int) -> int:
        """The 1 + k * frame_step frame count closest to (and at least) ``seconds * fps``."""
        return 1 + self.frame_step * max(1, math.ceil(round(seconds * fps - 1, 6) / self.frame_step))

    def check_size(self, width: int, height: int) -> None:
        if self.only_size is not None and (width, height) != self.only_size:
            raise RequestError(f"size {width}x{height} is not allowed; this model makes "
                               f"{self.only_size[0]}x{self.only_size[1]} only")
        m, lo = self.size_multiple, self.min_side
        for name, v in (("width", width), ("height", height)):
            if not (lo <= v <= self.max_side and v % m == 0):
                raise RequestError(f"{name} {v} is not allowed; use a multiple of {m} from {lo} to {self.max_side}")

    def check_frames(self, frames: int) -> None:
        if frames < 1 or (frames - 1) % self.frame_step or frames > self.max_frames:
            raise RequestError(f"{frames} frames in one call is not allowed; use 1 + {self.frame_step}k frames, "
                               f"at most {self.max_frames}")


@dataclass
class ModelInfo:
    """What ``kino models`` shows of a model, known without loading it."""

    name: str  # how --model finds it: a folder or a Hub id
    path: str
    backend: str  # native, wan, ltx, cogvideox
    pipeline: str  # the class named in model_index.json, or kino's own
    capabilities: tuple[str, ...]
    vocabulary: str | None = None  # the caption vocabulary its folder declares it learnt all of (toyworld)
    notes: list[str] = field(default_factory=list)
    options: tuple[str, ...] = ()  # of OPTIONS, those it honours

    def model_id(self, weights_sha256: str) -> str:
        """How a C2PA manifest names the model: ``name@sha256:<first 16 hex>`` of its weights, kino's
        own folder by the folder's name (as kino has always named it), an open model as --model named it."""
        name = Path(self.path).resolve().name if self.backend == "native" else self.name
        return f"{name}@sha256:{weights_sha256[:16]}"


class Backend:
    """One loaded model. Subclasses set ``info``, ``defaults`` and ``rules`` and implement ``_generate``."""

    info: ModelInfo
    defaults: Defaults
    rules: Rules
    guard = None  # the safety checks a service gives the model it loads (kino.safety.guard.Guard)

    @property
    def capabilities(self) -> tuple[str, ...]:
        return self.info.capabilities

    def count_tokens(self, prompt: str) -> int:
        return 0

    def check(self, clip: Clip) -> None:
        """Raise RequestError (CapabilityError) unless this model can make ``clip`` as asked."""
        require(self.info, clip.needs)
        if clip.references:
            require(self.info, REFERENCE)
        self.rules.check_size(clip.width, clip.height)
        self.rules.check_frames(clip.frames)
        tokens = self.count_tokens(clip.prompt)
        if tokens > self.rules.max_tokens:
            raise RequestError(f"the prompt is {tokens} tokens long; this model reads at most {self.rules.max_tokens}")
        if clip.prefix is not None and len(clip.prefix) >= clip.frames:
            raise RequestError(f"the clip ({clip.frames} frames) must be longer than its {len(clip.prefix)} given frames")
        if clip.video is not None and len(clip.video) != clip.frames:
            raise RequestError(f"the video to redraw has {len(clip.video)} frames; this call makes {clip.frames}")
        if clip.sampled_steps < 1:
            raise RequestError(f"strength {clip.strength:g} of {clip.steps} steps samples none; give a strength of "
                               f"at least {1 / clip.steps:g} or more steps")

    @property
    def making(self) -> str:
        """How this model makes its videos, where that is worth a word in what a command says."""
        return ""

    def video(self, clip: Clip, loop: bool, progress: Progress,
              cancelled: Callable[[], bool] | None = None) -> Iterable[np.ndarray] | None:
        """The whole of ``clip``, however long, made the model's own way: (n, H, W, 3) uint8 pieces in
        order, with a ``timings`` dict (seconds per stage, complete after the last piece); its work is
        planned on ``progress`` here, before the first piece. ``loop``: it leads back into its first
        frame, which is not repeated at the end. None (this default): the model has no way of its own,
        and kino.core makes the video call by call (EXTEND, FIRST_LAST)."""
        return None

    def configured(self, layout: bool = True, sampler: str | None = None, fade: bool = True) -> Backend:
        """This model as one job asks for it, over the same loaded weights: ``layout`` (a model with a
        director of its own: whether it runs), ``sampler`` (a model whose sampler kino chooses) and
        ``fade`` (a model that fades given frames into its own look of them at a join: whether it
        does). This default has none: the layout is ignored, given frames are kept as they are, a
        sampler is a CapabilityError (SAMPLER)."""
        if sampler:
            require(self.info, SAMPLER)
        return self

    @property
    def vocabulary(self) -> str | None:
        """The name of the caption vocabulary the model declares it learnt all of (toyworld's), if any."""
        return self.info.vocabulary

    def continued(self, job, frames: np.ndarray, fps: int, guard, progress: Progress, backward: bool = False,
                  then: np.ndarray | None = None) -> np.ndarray | None:
        """kino.core.continue_video made the model's own way (its inputs and frames checked by
        ``guard`` in it); None (this default): kino.core makes it call by call."""
        return None

    def restyled(self, job, frames: np.ndarray, fps: int, strength: float, guard, progress: Progress,
                 mask: np.ndarray | None = None) -> np.ndarray | None:
        """kino.core.restyle made the model's own way (its inputs and frames checked by ``guard`` in
        it); None (this default): kino.core makes it window by window."""
        return None

    def story(self, story, guard, progress: Progress, *, width: int | None, height: int | None, fps: int | None,
              steps: int | None, guidance: float | None, references: tuple = (), negative_prompt: str | None = None,
              user: str | None = None) -> Iterable[np.ndarray] | None:
        """kino.core.storyboard made the model's own way: ``story`` (a kino storyboard: ``shots``,
        ``prompts()``, ``seed``) as (n, H, W, 3) uint8 pieces with ``frames``, ``height``, ``width``,
        ``fps``, ``cuts`` and ``timings``, every shot's prompt and frames checked by ``guard`` in it;
        None (this default): kino.core makes each shot as a video of its own (``shots``)."""
        return None

    def units(self, clip: Clip) -> int:
        """Units of work (kino.progress) ``generate`` counts for ``clip``: its sampling steps, then
        the decode."""
        return clip.sampled_steps + 1

    def generate(self, clip: Clip, progress: Progress | None = None,
                 cancelled: Callable[[], bool] | None = None) -> np.ndarray:
        """(frames, H, W, 3) uint8 RGB for ``clip``; ``progress`` counts ``units(clip)`` as they are
        done; ``cancelled`` is asked after each step and raises Cancelled when it says True."""
        self.check(clip)
        progress = Progress.of(progress)
        with progress.own():
            progress.expect(self.units(clip))
            frames = self._generate(clip, progress, cancelled or (lambda: False))
        if frames.shape != (clip.frames, clip.height, clip.width, 3) or frames.dtype != np.uint8:
            raise RuntimeError(f"{self.info.backend} made frames {frames.shape} {frames.dtype}, not "
                               f"({clip.frames}, {clip.height}, {clip.width}, 3) uint8")
        return frames

    def _generate(self, clip: Clip, progress: Progress, cancelled: Callable[[], bool]) -> np.ndarray:
        raise NotImplementedError


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale an (H, W, 3) uint8 image to cover width x height, then crop the centre."""
    from PIL import Image

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise RequestError(f"an image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    scale = max(width / w, height / h)
    size = (max(width, round(w * scale)), max(height, round(h * scale)))
    img = Image.fromarray(image).resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return np.asarray(img.crop((left, top, left + width, top + height)))


def require(info: ModelInfo, capability: str) -> None:
    """Raise CapabilityError unless the model ``info`` describes can do ``capability``, naming the
    models that can."""
    if capability in info.capabilities:
        return
    raise CapabilityError(f"{info.name} ({info.pipeline}) cannot do {capability}; it can do "
                          f"{', '.join(info.capabilities)}. Models that can: {models_with(capability)}")


def ignored(info: ModelInfo, asked: dict[str, str]) -> list[str]:
    """A note for each option in ``asked`` (as the user named it -> the one of OPTIONS it needs) that
    the model ``info`` describes does not honour: it makes the same video without it."""
    return [f"{option} has no effect on {info.name}: {WITHOUT[need]}" for option, need in asked.items()
            if need not in info.options]


def models_with(capability: str) -> str:
    """The models known to do ``capability``, for a message."""
    have = [m.label for m in KNOWN if capability in m.capabilities]
    if capability in NATIVE_CAPABILITIES:
        have.append("kino's own toyworld models")
    return ", ".join(have) or "none known"
