"""Text to video: prompt -> text states -> rectified-flow sampling of latents -> VAE decode -> frames."""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from kino.backends.base import RequestError, fit_image  # noqa: F401  (fit_image: for the pipelines built on this one)
from kino.config import ModelConfig
from kino.data.datasets import frames_to_tensor, tensor_to_frames
from kino.data.toyworld.scene import BACKDROPS
from kino.director.backdrop import known as backdrop_known
from kino.flow.guidance import guided_velocity
from kino.flow.rectified_flow import resolution_shift
from kino.flow.samplers import SAMPLERS, flow_times, get_sampler
from kino.models.dit import DiT
from kino.models.folder import ModelFolderError, load_model_folder
from kino.models.text_encoder import TextEncoder
from kino.models.vae import VideoVAE
from kino.progress import CHECKING, DECODING, DRAFTING, MOVING, PREPARING, REDRAFTING, SAMPLING, Progress
from kino.safety.guard import Guard
from kino.safety.normalize import visible

log = logging.getLogger(__name__)

MAX_PROMPT_CHARS = 2000
MAX_SIDE = 1024
# The smallest side kino makes: the invisible watermark needs this many pixels to survive a 0.5x resize
# and H.264 at CRF 28 (64 px frames halved to 32 px lose it; see kino.provenance.watermark).
MIN_SIDE = 128
MAX_SECONDS = 60.0
DRAFT_SEED_STRIDE = 7_919  # draft k of a clip samples its noise from seed + k * stride (kino.director.selfcheck)


@dataclass(frozen=True)
class Request:
    prompt: str
    seed: int = 0
    seconds: float | None = None
    fps: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    image: np.ndarray | None = None  # (H, W, 3) uint8: the first frame to keep (image to video)
    last_image: np.ndarray | None = None  # (H, W, 3) uint8: the last frame to reach
    prefix: np.ndarray | None = None  # (1 + 4m, H, W, 3) uint8: frames the clip starts with (extend)
    user: str | None = None  # who asked, for the safety audit log
    layout: bool = True  # steer where named objects go (kino.director.layout); False: the model alone
    layout_span: tuple[int, int] | None = None  # (first frame, frames) of the whole video this clip is part of
    backdrop: int | None = None  # toyworld backdrop to stand against (kino.director.backdrop); None: the model's
    negative_prompt: str = ""  # what guidance steers away from: the unconditional text, as trained (empty) by default


@dataclass
class Result:
    frames: np.ndarray  # (T, H, W, 3) uint8
    fps: int
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
    latents: torch.Tensor | None = None  # (1, C, T', h, w) normalised latents that were decoded
    # How the model drew each character the prompt names, by colour (kino.director.motion.Look), for
    # later shots of a storyboard to draw them the same way; empty when the prompt was not planned.
    looks: dict = field(default_factory=dict)


def num_frames_for(seconds: float, fps: int, temporal_factor: int) -> int:
    """The 1 + 4k frame count closest to (and at least) ``seconds * fps``."""
    return temporal_factor * max(1, math.ceil(seconds * fps / temporal_factor)) + 1


def clip_units(r: Request, given: bool = False) -> int:
    """About how many units of work (kino.progress) the clip of the resolved request ``r``
    takes, known before its plan is made: for a plan of several clips (a long clip's chunks, a
    storyboard's shots) to weigh each by. Rather more than less, so no unit of the clip goes
    unseen: a clip laid out may be drafted ``selfcheck.DRAFTS`` times and take a second pass; one
    that continues ``given`` frames takes about one pass; a few VAE calls, the decode and the check."""
    from kino.director.selfcheck import DRAFTS

    if given or not r.layout:
        return r.steps + 5
    return DRAFTS * (r.steps + 1) + r.steps + 7


def undrawn(placements, drawn) -> list:
    """The placements of the plan that are not among ``drawn`` (the same objects, not equal ones)."""
    return [p for p in placements if all(p is not q for q in drawn)]


def moves(camera: np.ndarray) -> bool:
    """Whether a camera path (motion.camera_path) moves or zooms at all."""
    return bool(np.any(camera != [0.0, 1.0]))


def changes(placements) -> bool:
    """Whether an object of the plan changes its look (turns, is bitten, spins: motion.changed)."""
    return any(p.change is not None for p in placements)


def drawn_start(t0: float, placements, drawn) -> float:
    """Where pass 2 starts when the shapes of ``drawn`` travel drawn at their box of every frame
    (kino.director.shaping): no blocky latent cells for it to redraw, so lower (motion.T0_DRAWN)
    when nothing else of the plan moves."""
    from kino.director import motion

    if drawn and not motion.moving(undrawn(placements, drawn)):
        return min(t0, motion.T0_DRAWN)
    return t0


class TextToVideoPipeline:
    def __init__(
        self, cfg: ModelConfig, vae: VideoVAE, dit: DiT, text_encoder: TextEncoder, guard: Guard | None = None
    ):
        self.cfg, self.vae, self.dit, self.text_encoder = cfg, vae, dit, text_encoder
        # Safety checks (prompt, input pictures, output frames) are part of the pipeline, so no caller can forget them.
        self.guard = guard if guard is not None else Guard.from_env()
        self.dtype = next(dit.parameters()).dtype
        # Requests this pipeline resolved, by identity: the CLI, long-video chunking and __call__
        # each resolve the same request, and its safety checks need to run only once.
        self._resolved: weakref.WeakValueDictionary[int, Request] = weakref.WeakValueDictionary()
        self._text: tuple[tuple[str, str], torch.Tensor, torch.Tensor] | None = None  # see text_states
        self.device = next(dit.parameters()).device

    @classmethod
    def from_pretrained(
        cls,
        folder: str | Path,
        dtype: torch.dtype | str | None = None,
        device: str | torch.device = "cpu",
        text_encoder_path: str | Path | None = None,
        guard: Guard | None = None,
    ) -> "TextToVideoPipeline":
        """``dtype``: a torch dtype or a name (auto, bf16, fp16, fp32); None reads ``$KINO_DTYPE``, and
        auto is bf16 where ``device`` runs it natively, float32 elsewhere (kino.precision)."""
        from kino import precision

        if not isinstance(dtype, torch.dtype):
            dtype = precision.choose(dtype, device)
        cfg, vae, dit = load_model_folder(folder, dtype=dtype)
        text_encoder = TextEncoder.from_pretrained(text_encoder_path, max_tokens=cfg.dit.max_text_tokens, dtype=dtype,
                                                   layers=cfg.dit.text_layers)
        if text_encoder.dim != cfg.dit.text_dim:
            raise ModelFolderError(f"{folder}: the transformer reads {cfg.dit.text_dim}-wide text states, but text "
                                   f"layers {cfg.dit.text_layers} of the text encoder give {text_encoder.dim}")
        return cls(cfg, vae.to(device), dit.to(device), text_encoder.to(device), guard)

    @property
    def size_multiple(self) -> int:
        return self.cfg.vae.spatial_factor * max(self.cfg.dit.patch[1:])

    @property
    def min_side(self) -> int:
        """The smallest width or height: ``MIN_SIDE`` rounded up to the size multiple."""
        return -(-MIN_SIDE // self.size_multiple) * self.size_multiple

    def resolve(self, req: Request) -> Request:
        """Fill defaults and check every field; raises RequestError naming what is allowed, or
        SafetyRefusal. A request this pipeline resolved comes back as it is."""
        if self._resolved.get(id(req)) is req:
            return req
        return self._validate(req, safety=True)

    def text_states(self, prompt: str, negative: str = "") -> tuple[torch.Tensor, torch.Tensor]:
        """Token states and mask for (prompt, negative prompt), (2, L, D) and (2, L): the negative is
        classifier-free guidance's unconditional text, the empty prompt the model was trained to
        read as no caption unless a caller gives one. The last pair's are kept, so the chunks of a
        long clip encode their shared prompt once."""
        cached = self._text
        if cached is None or cached[0] != (prompt, negative):
            text, mask = self.text_encoder([prompt, negative])
            cached = self._text = ((prompt, negative), text.to(self.dtype), mask)
        return cached[1], cached[2]

    def derive(self, parent: Request, **changes) -> Request:
        """A request made from one this pipeline resolved, with new ``changes`` (duration, seed, and
        given frames that this pipeline generated and checked, as the next chunk of a long clip has):
        its fields are checked again, its prompt and frames are not sent through the guard again."""
        if self._resolved.get(id(parent)) is not parent:
            raise ValueError("derive() takes a request that this pipeline resolved")
        unknown = set(changes) - {"seconds", "seed", "image", "last_image", "prefix", "layout_span"}
        if unknown:
            raise ValueError(f"derive() cannot change {', '.join(sorted(unknown))}")
        return self._validate(replace(parent, **changes), safety=False)

    def default_steps(self, layout: bool) -> int:
        """Sampling steps when a request names none: with the director, or the model alone (which may
        need more: ``sample.steps_alone``)."""
        d = self.cfg.sample
        return d.steps if layout else d.steps_alone or d.steps

    def _validate(self, req: Request, safety: bool) -> Request:
        d = self.cfg.sample
        layout = req.layout and self.cfg.vocabulary == "toyworld"  # the director serves toyworld's words only
        r = Request(
            prompt=visible(req.prompt),  # zero-width and control characters are not words: "\u200b" is empty
            seed=req.seed,
            seconds=d.seconds if req.seconds is None else req.seconds,
            fps=d.fps if req.fps is None else req.fps,
            width=d.width if req.width is None else req.width,
            height=d.height if req.height is None else req.height,
            steps=req.steps if req.steps is not None else self.default_steps(layout),
            guidance=d.guidance if req.guidance is None else req.guidance,
            sampler=d.sampler if req.sampler is None else req.sampler,
            image=req.image,
            last_image=req.last_image,
            prefix=req.prefix,
            user=req.user,
            layout=layout,
            layout_span=req.layout_span,
            backdrop=req.backdrop,
            negative_prompt=visible(req.negative_prompt),
        )
        prompt = r.prompt
        conditioned = any(x is not None for x in (r.image, r.last_image, r.prefix))
        if not prompt and not conditioned:  # given frames can lead a clip without words
            raise RequestError("the prompt is empty; describe the video in a few words")
        if len(prompt) > MAX_PROMPT_CHARS:
            raise RequestError(f"the prompt has {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
        tokens, limit = self.text_encoder.count_tokens(prompt), self.text_encoder.max_tokens
        if tokens > limit:
            raise RequestError(f"the prompt is {tokens} tokens long; this model reads at most {limit}")
        if safety:
            self.guard.prompt(prompt, r.user)
        m, lo = self.size_multiple, self.min_side
        for name, v in (("width", r.width), ("height", r.height)):
            if not (lo <= v <= MAX_SIDE and v % m == 0):
                raise RequestError(f"{name} {v} is not allowed; use a multiple of {m} from {lo} to {MAX_SIDE}")
        if not (math.isfinite(r.seconds) and 0 < r.seconds <= MAX_SECONDS):
            raise RequestError(f"duration {r.seconds} s is not allowed; use more than 0 and at most {MAX_SECONDS:g} s")
        if not (1 <= r.fps <= 60):
            raise RequestError(f"fps {r.fps} is not allowed; use 1 to 60")
        if round(r.seconds * r.fps) < 1:  # shorter ones are rounded up to the shortest clip the model makes
            raise RequestError(f"duration {r.seconds:g} s is no frame at {r.fps} fps; use at least one frame "
                               f"({1 / r.fps:g} s)")
        if not (1 <= r.steps <= 500):
            raise RequestError(f"steps {r.steps} is not allowed; use 1 to 500")
        if not (math.isfinite(r.guidance) and 0 <= r.guidance <= 30):
            raise RequestError(f"guidance {r.guidance} is not allowed; use 0 to 30")
        if r.sampler not in SAMPLERS:
            raise RequestError(f"sampler {r.sampler!r} is not allowed; use one of {', '.join(SAMPLERS)}")
        for name, img in (("image", r.image), ("last image", r.last_image)):
            ok = isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
            if img is not None and not (ok and min(img.shape[:2]) >= 8):
                raise RequestError(f"the {name} must be an RGB picture of at least 8x8 pixels")
        if r.prefix is not None:
            p, tf = r.prefix, self.cfg.vae.temporal_factor
            ok = isinstance(p, np.ndarray) and p.ndim == 4 and p.shape[3] == 3 and p.dtype == np.uint8
            if not ok or (len(p) - 1) % tf:
                raise RequestError(f"prefix frames must be (1 + {tf}k, H, W, 3) uint8 RGB")
            if len(p) >= num_frames_for(r.seconds, r.fps, tf):
                raise RequestError(f"the clip ({r.seconds:g} s) must be longer than its {len(p)} prefix frames")
        if r.layout_span is not None:
            start, total = r.layout_span
            if not (0 <= start < total and start + num_frames_for(r.seconds, r.fps, self.cfg.vae.temporal_factor) <= total):
                raise RequestError(f"layout span {r.layout_span} is not allowed; give (first frame, frames) of a video "
                                   "that holds this clip")
        if r.backdrop is not None and not backdrop_known(r.backdrop):
            raise RequestError(f"backdrop {r.backdrop!r} is not allowed; use 0 to {len(BACKDROPS) - 1}")
        if not (0 <= r.seed < 2**63):
            raise RequestError(f"seed {r.seed} is not allowed; use 0 to 2**63 - 1")
        if safety:
            self.check_inputs(r, prompt)
        resolved = Request(**{**r.__dict__, "prompt": prompt})
        self._resolved[id(resolved)] = resolved
        return resolved

    def check_inputs(self, r: Request, prompt: str) -> None:
        """Given pictures pass the frame checks (nudity, protected faces) or raise SafetyRefusal."""
        for name, img in (("input image", r.image), ("input last image", r.last_image)):
            if img is not None:
                self.guard.image(img, name, prompt, r.user)
        if r.prefix is not None:
            self.guard.video(r.prefix, r.fps, "input video", prompt, r.user)

    def check_video(
        self, frames: np.ndarray, fps: float, what: str, prompt: str = "", user: str | None = None
    ) -> None:
        """(T, H, W, 3) uint8 frames pass the frame checks or raise SafetyRefusal; for pipelines built on
        this one (extend, edit) to check a whole input clip and their own outputs."""
        self.guard.video(frames, fps, what, prompt, user)

    def latent_shape(self, r: Request) -> tuple[int, int, int, int, int]:
        v = self.cfg.vae
        frames = num_frames_for(r.seconds, r.fps, v.temporal_factor)
        t = 1 + (frames - 1) // v.temporal_factor
        return (1, v.latent_channels, t, r.height // v.spatial_factor, r.width // v.spatial_factor)

    def image_latent(self, image: np.ndarray, r: Request, position: str) -> torch.Tensor:
        """Latent frame (1, C, h, w) for a still image shown first or last in the clip.

        The first latent frame encodes frame 0 alone; a later latent frame covers four frames,
        so a last image is encoded as four copies of itself after a first frame.
        """
        x = frames_to_tensor(fit_image(image, r.width, r.height)[None]).to(self.device, self.dtype)[None]
        if position == "first":
            return self.vae.encode(x)[:, :, 0]
        return self.vae.encode(x.expand(-1, -1, 1 + self.cfg.vae.temporal_factor, -1, -1))[:, :, 1]

    def known_latents(self, r: Request, shape) -> tuple[torch.Tensor, torch.Tensor] | tuple[None, None]:
        """Known latents (1, C, T', h, w) and their mask (1, 1, T', h, w) from the given images."""
        if r.image is None and r.last_image is None and r.prefix is None:
            return None, None
        known = torch.zeros(shape, device=self.device, dtype=self.dtype)
        mask = torch.zeros((1, 1, *shape[2:]), device=self.device, dtype=self.dtype)
        if r.image is not None:
            known[:, :, 0], mask[:, :, 0] = self.image_latent(r.image, r, "first"), 1
        if r.last_image is not None:
            known[:, :, -1], mask[:, :, -1] = self.image_latent(r.last_image, r, "last"), 1
        if r.prefix is not None:
            video = np.stack([fit_image(f, r.width, r.height) for f in r.prefix])
            z = self.vae.encode(frames_to_tensor(video).to(self.device, self.dtype)[None])
            known[:, :, : z.shape[2]], mask[:, :, : z.shape[2]] = z, 1
        return known, mask

    @torch.inference_mode()
    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """(1 + 4k, H, W, 3) uint8 frames through the VAE and back: how this model draws them (its
        decoding of their latents), for fading given frames into generated ones."""
        x = frames_to_tensor(frames).to(self.device, self.dtype)[None]
        return tensor_to_frames(self.vae.decode(self.vae.encode(x))[0].cpu())

    @torch.inference_mode()
    def __call__(
        self, req: Request, progress: Progress | Callable[[int, int], None] | None = None, cast: dict | None = None,
        follow: list | None = None,
    ) -> Result:
        """``cast``: characters to draw as an earlier clip drew them (its Result.looks, by colour),
        for the shots of a storyboard; used where the prompt names them and no frames are given.
        ``follow``: the plan of a clip that continues its given prefix frames (motion.follow, for
        extend): where the objects in them go next. ``progress``: a ``(done, total)`` callback or a
        Progress (kino.progress) that counts this clip's work, every draft, pass, VAE call
        and the frame checks, as it is done; all of it is counted done when the clip is returned."""
        r = self.resolve(req)
        progress = Progress.of(progress)
        with progress.own():
            return self._make(r, progress, cast, follow)

    def _make(self, r: Request, progress: Progress, cast: dict | None = None, follow: list | None = None) -> Result:
        """The clip of the resolved request ``r`` (see ``__call__``); ``progress`` counts its work."""
        from kino.director.motion import T0, looks, moving
        from kino.director.selfcheck import several
        from kino.director.shaping import shaped

        timings: dict[str, float] = {}
        progress.start(PREPARING)  # named, not counted: the work ahead is planned once it is chosen
        progress.expect(2)  # the decode and the check of the frames

        # 1. Text states for the prompt and for the negative (empty) prompt (classifier-free guidance).
        t0 = time.perf_counter()
        text, mask = self.text_states(r.prompt, r.negative_prompt)
        shape = self.latent_shape(r)
        known, known_mask = self.known_latents(r, shape)
        timings["text_encoding"] = time.perf_counter() - t0

        # 2. Sample latents from noise, integrating the guided velocity from t = 1 to 0.
        t0 = time.perf_counter()
        # Noise comes from a CPU generator, so a seed means the same video on any device.
        generator = torch.Generator().manual_seed(r.seed)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device)
        placements = follow if follow is not None and r.layout else self.layout_plan(r, shape)
        times = self.sampling_times(shape, r.steps)
        cast = {c: look for c, look in (cast or {}).items() if any(p.color == c for p in placements)}
        drawn: dict = {}
        # A later chunk of a long clip: its own video's frames lead it, and nothing else is given.
        continues = (r.prefix is not None and (r.layout_span is not None or follow is not None) and r.image is None
                     and r.last_image is None)
        # A clip that leads into a given last frame whose objects' way the caller planned (extend backward).
        continues |= r.last_image is not None and follow is not None and r.prefix is None and r.image is None
        # Drawn still, then moved (kino.director.motion), or several of a kind copied (kino.director.selfcheck).
        # A backdrop asked for (a storyboard's later shot) is set in the draft, which is then sampled again.
        backdrop = r.backdrop if known is None else None
        if known is None and (moving(placements) or cast or several(placements) or shaped(placements)
                              or (backdrop is not None and placements)):
            latents, still = self.sample_motion(r, shape, text, mask, placements, times, noise, generator, progress,
                                                cast)
            drawn = looks(still, placements)
        elif continues and placements:  # a later chunk of a long clip, carrying the plan on (moving or still)
            latents = self.continue_motion(r, shape, text, mask, placements, times, known, known_mask, generator,
                                           progress)
        else:
            velocity = self.velocity_fn(text, mask, r.guidance, known, known_mask, self.layout_bias(r, shape, placements))
            if known is None:
                # The backdrop's set_backdrop (a decode, two encodes) and its second pass.
                progress.expect(3 + self.redraw_units(r, shape, placements, times, T0) if backdrop is not None else 0)
                latents, _ = self.draft(r, velocity, noise, times, placements, progress, SAMPLING)
                if backdrop is not None:  # nothing planned: the whole draft stands still against the new set
                    progress.start(MOVING)
                    held = self.set_backdrop(latents, backdrop, progress=progress)
                    latents = self.redraw(r, shape, text, mask, placements, times, held, 0, T0, None, None, generator,
                                          progress)
            else:
                progress.expect(len(times) - 1)
                progress.start(SAMPLING)
                latents = get_sampler(r.sampler)(velocity, noise, times, callback=lambda _i, _x: progress.advance())
            drawn = looks(latents.float().cpu(), placements) if known is None else {}
        if known is not None:
            latents = known_mask * known + (1 - known_mask) * latents
        timings["transformer"] = time.perf_counter() - t0

        # 3. Decode latents to frames.
        t0 = time.perf_counter()
        with progress.doing(DECODING):
            video = self.vae.decode(latents.to(self.dtype))[0]
            frames = tensor_to_frames(video.cpu())
        timings["vae_decode"] = time.perf_counter() - t0

        # 4. Check the frames before anyone can write them.
        t0 = time.perf_counter()
        with progress.doing(CHECKING):
            self.guard.video(frames, r.fps, "output", r.prompt, r.user)
        timings["safety"] = time.perf_counter() - t0
        return Result(frames=frames, fps=r.fps, timings=timings, latents=latents.float().cpu(), looks=drawn)

    def sample_motion(
        self, r: Request, shape, text, mask, placements, times, noise, generator, progress=None, cast=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(latents, still latents) of a clip whose plan moves something or whose characters are
        ``cast`` (kino.director.motion): the clip held still at its first frame, sampled from
        ``noise``, its cast characters drawn in from their looks; its objects and camera moved along
        the plan; then noised again (from ``generator``) to ``motion.start_time`` and sampled from
        there with the moving plan's steering. ``progress`` counts both passes, every draft and the
        VAE calls between them."""
        from kino.director import motion, selfcheck, shaping
        from kino.director.backdrop import regrade
        from kino.pipelines.prompting import _style, camera_moves

        progress = Progress.of(progress)
        copied = selfcheck.several(placements)
        camera = bool(camera_moves(r.prompt))
        drawn = shaping.travellers(placements, camera)
        t0 = drawn_start(motion.start_time(r.prompt, cast=bool(cast) or copied or r.backdrop is not None), placements,
                         drawn)
        # Pass 1: the first frame's caption (every object where it starts, staying still), steered there.
        still = motion.still_prompt(r.prompt)
        still_text, still_mask = self.text_encoder([still, r.negative_prompt])
        held = motion.held(placements, still)
        # Between the passes, a unit each VAE call (first frames decoded, shapes drawn, the set moved) and
        # the clearing of the drafted objects off every frame, which takes about as long.
        between = bool(cast) + copied + (3 + bool(drawn) if shaping.shaped(held) else 3 * (r.backdrop is not None))
        progress.expect(between + self.redraw_units(r, shape, placements, times, t0))
        velocity = self.velocity_fn(still_text.to(self.dtype), still_mask, r.guidance, None, None,
                                    self.layout_bias(r, shape, held, still))
        first, frame = self.draft(r, velocity, noise, times, held, progress)
        first = first.float().cpu()
        progress.start(MOVING)
        if cast:
            first = motion.recast(first, held, cast, r.width / r.height)
            frame = self.first_frame(first, progress)
        if copied:
            first = selfcheck.copies(first, held, frame, r.width / r.height)
            frame = self.first_frame(first, progress)
        first = motion.clear_strays(first, placements, frame, r.width / r.height)
        start = first
        if shaping.shaped(held):  # the objects drawn again as their shapes (and the set moved to the backdrop asked)
            style = _style(r.prompt.lower()) or shaping.style_of(frame, held)
            bare = shaping.cleared(self.frames_of(first, progress), held)
            progress.advance()
            edit = (lambda f: regrade(f, r.backdrop)) if r.backdrop is not None else (lambda f: f)
            # The edited frames' own encoding holds a shape best (34 shape prompts: 76.5%, against 61.8% for
            # the change added to the draft, as edit_pixels adds it).
            first = start = self.latents_of(edit(shaping.draw(bare, held, style, tips=shaping.tips(camera))), progress)
            if drawn:  # as still ``first``, the looks a storyboard carries on; moving, where pass 2 starts
                start = self.latents_of(edit(shaping.draw(bare, held, style, drawn)), progress)
        elif r.backdrop is not None:
            keep = motion.covered(held, *shape[3:], r.width / r.height)
            first = start = self.set_backdrop(first, r.backdrop, keep, progress)
        # Pass 2: move, noise back to t0, sample the rest of the way with the prompt's own words.
        latents = self.redraw(r, shape, text, mask, placements, times, start, 0, t0, None, None, generator, progress,
                              drawn)
        return latents, first

    def draft(
        self, r: Request, velocity, noise, times, placements, progress=None, stage: str = DRAFTING
    ) -> tuple[torch.Tensor, np.ndarray | None]:
        """(latents sampled from ``noise``, their first frame). When the plan names objects, the first
        frame is checked against it (kino.director.selfcheck) and a draft with faults is sampled
        again from new noise, up to ``selfcheck.DRAFTS`` drafts in all. The draft with the fewest
        faults is kept; with a clean first draft, nothing else is done. The frame is None when the
        plan names nothing (it is not decoded then). ``progress`` counts every draft that may be
        sampled (the first in ``stage``), and jumps over those a clean draft leaves out."""
        from kino.director import selfcheck

        progress = Progress.of(progress)
        with progress.own():
            steps = len(times) - 1
            progress.expect(selfcheck.DRAFTS * (steps + 1) if placements else steps)  # steps, and a first frame decoded
            sample = get_sampler(r.sampler)
            progress.start(stage)
            latents = sample(velocity, noise, times, callback=lambda _i, _x: progress.advance())
            if not placements:
                return latents, None
            frame = self.first_frame(latents, progress)
            best, fewest = (latents, frame), selfcheck.faults(frame, placements, r.width / r.height)
            for k in range(1, selfcheck.DRAFTS):
                if fewest == 0:
                    break
                generator = torch.Generator().manual_seed((r.seed + k * DRAFT_SEED_STRIDE) % 2**63)
                fresh = torch.randn(noise.shape, generator=generator, dtype=torch.float32).to(noise.device)
                progress.start(REDRAFTING)
                latents = sample(velocity, fresh, times, callback=lambda _i, _x: progress.advance())
                frame = self.first_frame(latents, progress)
                found = selfcheck.faults(frame, placements, r.width / r.height)
                if found < fewest:
                    best, fewest = (latents, frame), found
            return best

    def camera_view(
        self, held: torch.Tensor, placements, camera: np.ndarray, first: int, texture: int | None = None, progress=None
    ) -> torch.Tensor:
        """(1, C, T', h, w) latents of the still clip ``held`` seen through the ``camera`` path: the
        video frame its latent frame ``first`` shows, decoded, moved and zoomed in pixels
        (motion.camera_view) and encoded again. ``texture``: the seed of the background dots pressed
        into the frame's set first (backdrop.textured; None for a clip that continues given frames,
        whose set is theirs). ``progress`` counts its decode and its encode."""
        from kino.director import motion
        from kino.director.backdrop import textured

        still = motion.video_frame(first, len(camera), self.cfg.vae.temporal_factor)
        if still == 0:  # the causal VAE decodes the first frame from the first latent frame alone
            frame = self.first_frame(held, progress)
        else:
            frame = self.frames_of(held, progress)[still]
        if texture is not None:
            frame = textured(frame, texture)
        seen = motion.camera_view(frame, placements, camera, still, self.cfg.vae.spatial_factor,
                                  frame.shape[1] / frame.shape[0])
        return self.latents_of(seen, progress)

    def set_backdrop(
        self, latents: torch.Tensor, index: int, keep: torch.Tensor | None = None, progress=None
    ) -> torch.Tensor:
        """(1, C, T', h, w) latents whose set is moved to backdrop ``index`` (kino.director.backdrop),
        outside the (h, w) cells ``keep`` (the objects' boxes), which keep their latents as drawn."""
        from kino.director.backdrop import regrade

        return self.edit_pixels(latents, lambda frames: regrade(frames, index), keep, progress)

    def edit_pixels(self, latents: torch.Tensor, edit, keep: torch.Tensor | None = None, progress=None) -> torch.Tensor:
        """(1, C, T', h, w) latents with ``edit`` ((T, H, W, 3) uint8 frames -> frames; the same
        object when it changes nothing) made to their pixels: they are decoded, edited, and the
        edit's change, encoded, is added to them outside the (h, w) cells ``keep``, so what the
        edit leaves alone keeps its latents. ``progress`` counts its decode and encodes (three)."""
        frames = self.frames_of(latents, progress)
        edited = edit(frames)
        if edited is frames:
            return latents.float().cpu()
        change = self.latents_of(edited, progress) - self.latents_of(frames, progress)
        if keep is not None:
            change[..., keep] = 0
        return latents.float().cpu() + change

    def first_frame(self, latents: torch.Tensor, progress: Progress | None = None) -> np.ndarray:
        """The first video frame of (1, C, T', h, w) latents, (H, W, 3) uint8: the causal VAE
        decodes it from the first latent frame alone."""
        return self.frames_of(latents[:, :, :1], progress)[0]

    def frames_of(self, latents: torch.Tensor, progress: Progress | None = None) -> np.ndarray:
        """(T, H, W, 3) uint8: (1, C, T', h, w) latents decoded; a unit of ``progress``."""
        frames = tensor_to_frames(self.vae.decode(latents.to(self.device, self.dtype))[0].cpu())
        if progress is not None:
            progress.advance()
        return frames

    def latents_of(self, frames: np.ndarray, progress: Progress | None = None) -> torch.Tensor:
        """(1, C, T', h, w) float32 latents on the CPU of (T, H, W, 3) uint8 frames (the posterior mean);
        a unit of ``progress``."""
        latents = self.vae.encode(frames_to_tensor(frames).to(self.device, self.dtype)[None]).float().cpu()
        if progress is not None:
            progress.advance()
        return latents

    def continue_motion(
        self, r: Request, shape, text, mask, placements, times, known, known_mask, generator, progress=None
    ) -> torch.Tensor:
        """Latents of a clip that continues given frames (a later chunk of a long clip, an extension)
        or leads into a given last frame (a backward extension) while its plan moves something: the
        given latent frame next to the new ones held over them, moved along the plan from there
        (kino.director.motion), noised to ``motion.start_time`` and sampled from there with the
        given frames held, as a clip's first chunk is made. ``progress`` counts its VAE calls and steps."""
        from kino.director import motion, shaping
        from kino.pipelines.prompting import camera_moves

        # A later chunk of a long clip draws its travelling shapes frame by frame, as the first chunk
        # did: moved latent cells step 8 pixels at a time, and a slow object then stood still and
        # jumped, the jumps falling on the joins (NOTES, session 12). Not an extension of a given
        # video (no layout_span): its objects are not toyworld's to draw.
        later_chunk = r.prefix is not None and r.layout_span is not None
        camera = bool(camera_moves(r.prompt))
        drawn = shaping.travellers(placements, camera) if later_chunk else []
        # An extension's objects are cut out of its given frame and set down at every frame's box, in
        # pixels, as they look there (its latent cells moved 8 pixels a latent frame: NOTES, session 12).
        carried = [] if later_chunk or camera else [p for p in placements if p.change is None and motion.moving([p])]
        tf = self.cfg.vae.temporal_factor
        held = known.float().cpu().clone()
        if r.prefix is not None:
            anchor = (len(r.prefix) - 1) // tf  # the last latent frame the prefix fills
            held[:, :, anchor + 1 :] = held[:, :, anchor : anchor + 1]
        else:
            anchor = shape[2] - 1  # the given last frame
            held[:, :, :anchor] = held[:, :, anchor:]
        if drawn:
            frames = self.drawn_on(r, placements, drawn, self.video_frames(shape))
        elif carried:
            given = r.prefix[-1] if r.prefix is not None else r.last_image
            at = len(r.prefix) - 1 if r.prefix is not None else self.video_frames(shape) - 1
            frames, carried = shaping.carry(fit_image(np.asarray(given), r.width, r.height), placements, carried, at)
            if r.prefix is not None:
                frames = np.concatenate([np.stack([fit_image(f, r.width, r.height) for f in r.prefix[:-1]]), frames[at:]])
        t0 = drawn_start(motion.start_time(r.prompt), placements, drawn or carried)
        progress = Progress.of(progress)
        progress.expect(bool(drawn or carried) + self.redraw_units(r, shape, placements, times, t0))
        if drawn or carried:  # the objects drawn or carried at each frame's box, encoded
            progress.start(MOVING)
            held = self.latents_of(frames, progress)
        return self.redraw(r, shape, text, mask, placements, times, held, anchor, t0, known, known_mask, generator,
                           progress, drawn or carried)

    def drawn_on(self, r: Request, placements, drawn, frames: int) -> np.ndarray:
        """(frames, H, W, 3) uint8: the given ``r.prefix`` and, after it, its last frame held still with
        the objects of the plan whose shape is said taken out and drawn again (kino.director.shaping):
        those of ``drawn`` at their box of each frame, the others where they are in that frame."""
        from kino.director import shaping
        from kino.pipelines.prompting import _style

        a, last = len(r.prefix) - 1, np.asarray(r.prefix[-1:])
        still = [replace(p, boxes=np.repeat(p.boxes[a : a + 1], frames - a, axis=0)) for p in placements]
        style = _style(r.prompt.lower()) or shaping.style_of(last[0], still)
        bare = np.repeat(shaping.cleared(last, still), frames - a, axis=0)
        ahead = shaping.draw(bare, still, style, [replace(q, boxes=q.boxes[a:]) for q in drawn])
        return np.concatenate([np.asarray(r.prefix[:-1]), ahead])

    def redraw(
        self, r: Request, shape, text, mask, placements, times, held, first, t0, known, known_mask, generator,
        progress=None, drawn=(),
    ) -> torch.Tensor:
        """Latents whose objects, held still in ``held`` at their boxes of latent frame ``first``, are
        moved along the plan and the camera's path (motion.move), noised again (from ``generator``) to
        t0 and sampled from there with the plan's steering, ``known`` frames held. The placements of
        ``drawn`` already move in ``held`` (drawn there at each frame's box) and are not moved again.
        ``progress`` counts its VAE calls and steps, planned by the caller (``redraw_units``)."""
        from kino.director import motion

        progress = Progress.of(progress)
        tf, frames = self.cfg.vae.temporal_factor, self.video_frames(shape)
        camera = self.camera_path(r, shape)
        texture = r.seed if known is None else None
        view = self.camera_view(held, placements, camera, first, texture, progress) if moves(camera) else None
        moved = motion.move(held, undrawn(placements, drawn), frames, tf, r.width / r.height, camera, first=first, view=view)
        if changes(placements):
            moved = self.edit_pixels(moved, lambda f: motion.changed(f, placements, r.width / r.height), None, progress)
        noise = torch.randn(shape, generator=generator, dtype=torch.float32).to(self.device)
        x = (1 - t0) * moved.to(self.device) + t0 * noise
        velocity = self.velocity_fn(text, mask, r.guidance, known, known_mask, self.layout_bias(r, shape, placements))
        rest = torch.cat([torch.tensor([t0], dtype=times.dtype), times[times < t0]])
        progress.start(SAMPLING)
        return get_sampler(r.sampler)(velocity, x, rest, callback=lambda _i, _x: progress.advance())

    def redraw_units(self, r: Request, shape, placements, times, t0: float) -> int:
        """Units of work (kino.progress) of ``redraw`` from ``t0``: its sampling steps, the
        camera's decode and encode when it moves, the three VAE calls of a look that changes."""
        return len(times[times < t0]) + 2 * moves(self.camera_path(r, shape)) + 3 * changes(placements)

    def camera_path(self, r: Request, shape) -> np.ndarray:
        """The camera's (frames, 2) path through a clip of latent ``shape`` (motion.camera_path), as part
        of the whole video that ``r.layout_span`` says it is in."""
        from kino.director import motion

        frames = self.video_frames(shape)
        start, whole = r.layout_span or (0, frames)
        return motion.camera_path(r.prompt, frames, start, whole)

    def sampling_times(self, shape, steps: int) -> torch.Tensor:
        """The ``steps`` + 1 flow times from 1 to 0 for latents of ``shape`` (1, C, T', h, w), shifted
        towards noise for more tokens than the model's base (rectified_flow.resolution_shift)."""
        tokens = math.prod(s // p for s, p in zip(shape[2:], self.cfg.dit.patch))
        return flow_times(steps, resolution_shift(tokens, self.cfg.sample.base_tokens, self.cfg.sample.base_shift))

    def video_frames(self, shape) -> int:
        """Video frames of a clip of latent ``shape`` (1, C, T', h, w): the first latent frame holds one."""
        return 1 + self.cfg.vae.temporal_factor * (shape[2] - 1)

    def layout_plan(self, r: Request, shape) -> list:
        """Each object the prompt names with its box in each frame (kino.director.layout.plan), or
        [] when layout is off or given frames already say where things are (see layout_bias)."""
        from kino.director.layout import plan

        given = any(x is not None for x in (r.image, r.last_image, r.prefix))
        if not r.layout or (given and r.layout_span is None):
            return []
        frames = self.video_frames(shape)
        start, total = r.layout_span or (0, frames)
        return plan(r.prompt, frames, start, total)

    def layout_bias(self, r: Request, shape, placements=None, prompt=None) -> torch.Tensor | None:
        """(N, L) cross-attention bias that puts the objects the prompt names where it says
        (kino.director.layout), or None: layout off, words the planner cannot read, or given frames
        (an image, a clip to extend) that already say where things are, unless they are this video's
        own earlier frames (``layout_span``: a chunk of a long clip, planned as one video).
        ``placements`` (default: the request's plan) name their objects by words of ``prompt``
        (default: the request's)."""
        from kino.director.layout import attention_bias

        tf, patch = self.cfg.vae.temporal_factor, self.cfg.dit.patch
        frames = self.video_frames(shape)
        if placements is None:
            placements = self.layout_plan(r, shape)
        if not placements:
            return None
        grid = tuple(s // p for s, p in zip(shape[2:], patch))
        offsets = self.text_encoder.offsets(prompt or r.prompt)
        bias = attention_bias(placements, offsets, grid, frames, tf, r.width / r.height)
        if bias is None:
            return None
        full = torch.zeros((bias.shape[0], self.text_encoder.max_tokens), dtype=self.dtype, device=self.device)
        full[:, : bias.shape[1]] = bias.to(self.device, self.dtype)
        return full

    def velocity_fn(self, text, mask, guidance: float, known=None, known_mask=None, text_bias=None):
        """The guided velocity as a function of (x, t); known frames are held clean, as in training;
        ``text_bias`` (N, L) steers the prompt's branch only (the empty prompt has no words to steer)."""
        cond = {}
        batch = 1 if guidance == 1.0 else 2
        if known is not None:
            cond = {"known": known.expand(batch, *known.shape[1:]), "known_mask": known_mask.expand(batch, -1, -1, -1, -1)}
        if text_bias is not None:
            cond["text_bias"] = torch.stack([text_bias, torch.zeros_like(text_bias)][:batch])

        def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
            xb = x.to(self.dtype)
            if known is not None:
                xb = known_mask * known + (1 - known_mask) * xb
            t_batch = torch.full((batch,), t, device=self.device)
            v = self.dit(xb.expand(batch, *xb.shape[1:]), t_batch, text[:batch], mask[:batch], **cond).float()
            return v if batch == 1 else guided_velocity(v[1:], v[:1], guidance)

        return velocity
