"""kino's own models (DiT + causal video VAE + MiniLM text encoder, one folder) behind the Backend
interface, run by the pipelines kino already has (``kino.pipelines.text_to_video`` for a clip, with
a first or last frame or leading frames; ``kino.pipelines.edit`` for a redrawn video). Long clips,
extend, connect, edit and storyboards are made its own way (``video``, ``continued``, ``restyled``,
``story``: the director's one plan across chunks and shots, joins faded), by those pipelines on a
pipeline that carries the caller's guard (``guarded``): they check their inputs and frames themselves.

Whether toyworld's director plans and draws the named objects is the caller's choice, made when
the backend is loaded or configured for one job (``layout``), never a field of a request; the
pipeline runs it only for a model that declares toyworld's vocabulary. For a single clip,
moderation is not done here: ``kino.core`` checks the prompt and input pictures before the model
loads and every piece of output after it, so the pipeline inside is given a guard that checks
nothing (``Unchecked``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from kino.backends.base import Backend, Cancelled, Clip, Defaults, ModelInfo, RequestError, Rules
from kino.flow.samplers import SAMPLERS
from kino.models.folder import ModelFolderError
from kino.pipelines import long_video, storyboard
from kino.pipelines.connect import connect
from kino.pipelines.edit import edit
from kino.pipelines.extend import extend
from kino.pipelines.text_to_video import (MAX_SECONDS, MAX_SIDE, Request, TextToVideoPipeline, clip_units,
                                          num_frames_for)
from kino.progress import Progress
from kino.safety.guard import Guard


class Unchecked:
    """The pipeline's guard inside the backend: it checks nothing, because kino.core checks the
    prompt and input pictures before the model loads and every piece of output after it."""

    def prompt(self, *args, **kwargs) -> None:
        pass

    image = video = prompt


class NativeBackend(Backend):
    """``pipe`` (a TextToVideoPipeline) as a Backend; ``layout``: toyworld's director on (for a model
    whose vocabulary is toyworld's); ``sampler``: one of kino.flow.samplers (None: the model's);
    ``fade``: an extended or connected clip's frames next to a join fade into the model's look of them."""

    def __init__(self, info: ModelInfo, pipe: TextToVideoPipeline, layout: bool = True, sampler: str | None = None,
                 fade: bool = True):
        if sampler is not None and sampler not in SAMPLERS:
            raise RequestError(f"sampler {sampler!r} is not allowed; use one of {', '.join(SAMPLERS)}")
        self.info, self.pipe, self.sampler, self.fade = info, pipe, sampler, fade
        self.layout = layout and pipe.cfg.vocabulary == "toyworld"  # the director serves toyworld's words only
        d, tf = pipe.cfg.sample, pipe.cfg.vae.temporal_factor
        self.defaults = Defaults(width=d.width, height=d.height, seconds=d.seconds, fps=d.fps,
                                 steps=pipe.default_steps(self.layout), guidance=d.guidance)
        self.rules = NativeRules(size_multiple=pipe.size_multiple, frame_step=tf,
                                 max_frames=num_frames_for(MAX_SECONDS, 60, tf), max_side=MAX_SIDE,
                                 max_tokens=pipe.text_encoder.max_tokens)

    @classmethod
    def load(cls, info: ModelInfo, dtype=None, device: str | None = None, layout: bool = True,
             sampler: str | None = None, fade: bool = True, memory=None) -> NativeBackend:
        """``memory`` (kino.backends.diffusers_video.Memory) is taken and not needed: kino's models
        fit a GPU whole."""
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            pipe = TextToVideoPipeline.from_pretrained(info.path, dtype=dtype, device=device, guard=Unchecked())
        except ModelFolderError as e:
            raise RequestError(str(e)) from e
        return cls(info, pipe, layout, sampler, fade)

    def configured(self, layout: bool = True, sampler: str | None = None, fade: bool = True) -> NativeBackend:
        """This model with the director on or off, ``sampler`` and ``fade``, over the same loaded weights."""
        backend = NativeBackend(self.info, self.pipe, layout, sampler, fade)
        backend.guard = self.guard
        return backend

    @property
    def vocabulary(self) -> str | None:
        return self.pipe.cfg.vocabulary

    def guarded(self, guard: Guard) -> TextToVideoPipeline:
        """The pipeline over the same weights, checking its prompts, inputs and frames with ``guard``."""
        p = self.pipe
        return TextToVideoPipeline(p.cfg, p.vae, p.dit, p.text_encoder, guard)

    def count_tokens(self, prompt: str) -> int:
        return self.pipe.text_encoder.count_tokens(prompt)

    def request(self, clip: Clip) -> Request:
        """The pipeline's request for ``clip``: its frames as a duration the pipeline turns back into
        them (at least one latent step: a one-frame clip is cut from a short one)."""
        frames = max(clip.frames, 1 + self.rules.frame_step)
        return Request(clip.prompt, seed=clip.seed, seconds=long_video.seconds_for(frames, clip.fps), fps=clip.fps,
                       width=clip.width, height=clip.height, steps=clip.steps, guidance=clip.guidance,
                       sampler=self.sampler, image=clip.image, last_image=clip.last_image, prefix=clip.prefix,
                       layout=self.layout, negative_prompt=clip.negative_prompt)

    def units(self, clip: Clip) -> int:
        """The pipeline's own estimate: drafts and passes of the director included."""
        if clip.video is not None:
            return clip.steps + 3  # the input encoded, the steps, the decode, the check
        given = any(x is not None for x in (clip.image, clip.last_image, clip.prefix))
        return clip_units(Request(clip.prompt, steps=clip.steps, layout=self.layout), given)

    @property
    def making(self) -> str:
        return "with the toyworld director" if self.layout else "the model alone"

    def video(self, clip: Clip, loop: bool, progress: Progress,
              cancelled: Callable[[], bool] | None = None) -> long_video.Stream:
        """``clip`` of any length made by kino.pipelines.long_video: its chunks laid out by the director
        as one video, each led by the end of the one before and faded into it (see there)."""
        r = self.pipe.resolve(self.request(clip))
        progress.expect(sum(long_video.clip_shares(self.pipe, r, loop)))
        return long_video.stream(self.pipe, r, loop=loop, progress=watching(progress, cancelled))

    def continued(self, job, frames: np.ndarray, fps: int, guard: Guard, progress: Progress,
                  backward: bool = False, then: np.ndarray | None = None) -> np.ndarray:
        """``frames`` extended by kino.pipelines.extend (the director follows the clip's motion), or
        connected to ``then`` by kino.pipelines.connect (a planned transition); joins faded."""
        pipe, fade = self.guarded(guard), long_video.BLEND_FRAMES if self.fade else 0
        seconds = self.defaults.seconds if job.seconds is None else job.seconds
        common = dict(seed=job.seed, progress=progress, steps=job.steps, guidance=job.guidance, fade_frames=fade,
                      negative_prompt=job.negative_prompt or "", user=job.user)
        if then is None:
            return extend(pipe, frames, fps, seconds, job.prompt, backward=backward, layout=self.layout,
                          sampler=self.sampler, **common)
        return connect(pipe, frames, then, fps, seconds, job.prompt, **common)[0]

    def restyled(self, job, frames: np.ndarray, fps: int, strength: float, guard: Guard, progress: Progress,
                 mask: np.ndarray | None = None) -> np.ndarray:
        """``frames`` redrawn by kino.pipelines.edit: one pass over the whole clip, objects drafted into a mask."""
        return edit(self.guarded(guard), frames, fps, job.prompt, strength=strength, mask=mask_picture(mask),
                    seed=job.seed, progress=progress, steps=job.steps, guidance=job.guidance,
                    negative_prompt=job.negative_prompt or "", user=job.user)

    def story(self, story, guard: Guard, progress: Progress, *, width: int | None, height: int | None,
              fps: int | None, steps: int | None, guidance: float | None, references: tuple = (),
              negative_prompt: str | None = None, user: str | None = None) -> storyboard.StoryStream:
        """``story`` by kino.pipelines.storyboard: characters drawn as the shot that introduced them drew
        them, each shot against its own backdrop, one seed for every shot."""
        return storyboard.stream_story(self.guarded(guard), story, progress, width=width, height=height, fps=fps,
                                       steps=steps, guidance=guidance, sampler=self.sampler, layout=self.layout,
                                       negative_prompt=negative_prompt or "", user=user)

    def _generate(self, clip: Clip, progress: Progress, cancelled: Callable[[], bool]) -> np.ndarray:
        watched = watching(progress, cancelled)
        if clip.video is not None:
            return edit(self.pipe, clip.video, clip.fps, clip.prompt, clip.strength, mask=mask_picture(clip.mask),
                        seed=clip.seed, progress=watched, steps=clip.steps, guidance=clip.guidance,
                        sampler=self.sampler, layout=self.layout, negative_prompt=clip.negative_prompt)
        return self.pipe(self.request(clip), watched).frames[:clip.frames]


class NativeRules(Rules):
    """Rules whose frame count for a duration is the pipeline's own (``num_frames_for``), so a
    video made through kino.core has the frames it always had."""

    def frames_for(self, seconds: float, fps: int) -> int:
        return num_frames_for(seconds, fps, self.frame_step)


def mask_picture(mask: np.ndarray | None) -> np.ndarray | None:
    """A (H, W) bool mask as the (H, W) uint8 picture kino.pipelines.edit reads (white: redraw)."""
    return None if mask is None else mask.astype(np.uint8) * 255


def watching(into: Progress, cancelled: Callable[[], bool] | None) -> Progress:
    """A Progress for a pipeline: each unit of work it does is counted in ``into`` (where the caller
    planned it), and once ``cancelled`` says so it raises Cancelled at its next unit."""
    counted = 0

    def report(done: int, total: int) -> None:
        nonlocal counted
        if cancelled is not None and cancelled():
            raise Cancelled("generation cancelled")
        into.stage = watched.stage
        into.advance(done - counted)
        counted = done

    watched = Progress(report)
    return watched
