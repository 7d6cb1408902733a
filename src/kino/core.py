"""The generation core: a request in kino's terms made by any backend, checked before and after.

    job = Job("a golden retriever runs along a beach", seconds=12, loop=False)
    check_job(info, job)                    # what it needs, checked before any model loads
    guard_inputs(guard, job)                # prompt and input pictures moderated (SafetyRefusal)
    backend = registry.load(info)
    video = stream(backend, resolve(backend, job), guard, progress)   # pieces, output frames checked
    output.save(out, video, video.fps, output.stamp(keys, info, "generate"), progress)

A clip longer than the model's window is made chunk by chunk, each chunk led by the end of the one
before (the backend's EXTEND capability); a loop ends on its own first frame (FIRST_LAST). A model
with a way of its own to make a whole video (``Backend.video``: kino's own, whose director lays the
chunks out as one video) makes it itself; its pieces are checked here all the same. So may it
extend, connect, restyle and make storyboards (``Backend.continued``, ``restyled``, ``story``),
checking its inputs and frames with the guard it is given. Nothing here knows toyworld or any one
model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from kino.backends.base import (EXTEND, FIRST_LAST, IMAGE_TO_VIDEO, MASKED_EDIT, MAX_PROMPT_CHARS, MAX_SECONDS,
                                REFERENCE, STORYBOARD, TEXT_TO_VIDEO, VIDEO_TO_VIDEO, Backend, Clip, ModelInfo,
                                RequestError, fit_image, require)
from kino.progress import CHECKING, Progress
from kino.safety.normalize import visible

CHUNK_SEED_STRIDE = 1_000_003  # chunk i samples its noise from seed + i * stride
CONTEXT_STEPS = 1  # a chunk after the first is led by 1 + CONTEXT_STEPS * frame_step frames of the one before


@dataclass(frozen=True)
class Job:
    """What a user asks for, whatever the model. None takes the model's default."""

    prompt: str
    seed: int = 0
    seconds: float | None = None
    fps: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    image: np.ndarray | None = None  # (H, W, 3) uint8 first frame
    last_image: np.ndarray | None = None  # (H, W, 3) uint8 last frame
    prefix: np.ndarray | None = None  # (n, H, W, 3) uint8 frames the new ones carry on from (not handed out again)
    references: tuple[np.ndarray, ...] = ()  # (H, W, 3) uint8 pictures of who or what it shows, given to every call
    loop: bool = False
    user: str | None = None

    def __post_init__(self):  # zero-width and control characters are not words: "\u200b" is an empty prompt
        object.__setattr__(self, "prompt", visible(self.prompt))
        if self.negative_prompt is not None:
            object.__setattr__(self, "negative_prompt", visible(self.negative_prompt))

    def needs(self, window_seconds: float | None = None) -> list[str]:
        """The capabilities making this job takes (``window_seconds``: how long one call may be)."""
        needs = [IMAGE_TO_VIDEO] if self.image is not None else [] if self.prefix is not None else [TEXT_TO_VIDEO]
        if self.loop and self.image is None:  # its first frame is made first, then the loop from it
            needs.append(IMAGE_TO_VIDEO)
        if self.last_image is not None or self.loop:
            needs.append(FIRST_LAST)
        if self.prefix is not None or (window_seconds is not None and self.seconds is not None and self.seconds > window_seconds):
            needs.append(EXTEND)
        if self.references:
            needs.append(REFERENCE)
        return needs


def check_job(info: ModelInfo, job: Job) -> None:
    """What can be known before the model loads: the prompt's length and the capabilities the job
    needs of ``info``; raises RequestError (CapabilityError) naming what is allowed."""
    prompt = job.prompt.strip()
    if not prompt and job.image is None and job.prefix is None:
        raise RequestError("the prompt is empty; describe the video in a few words")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise RequestError(f"the prompt has {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed")
    if job.seconds is not None and not (math.isfinite(job.seconds) and 0 < job.seconds <= MAX_SECONDS):
        raise RequestError(f"duration {job.seconds} s is not allowed; use more than 0 and at most {MAX_SECONDS:g} s")
    if job.loop and job.last_image is not None:
        raise RequestError("a loop ends on its own first frame; it cannot be combined with a last image")
    for capability in job.needs():
        require(info, capability)
    if not (0 <= job.seed < 2**63):
        raise RequestError(f"seed {job.seed} is not allowed; use 0 to 2**63 - 1")


def guard_inputs(guard, job: Job) -> None:
    """The prompt and any given pictures pass the safety layer (kino.safety.guard), or SafetyRefusal:
    before the model loads, so a refusal costs nothing."""
    prompt = job.prompt.strip()
    guard.prompt(prompt, job.user)
    pictures = [("input image", job.image), ("input last image", job.last_image)]
    pictures += [(f"reference image {i + 1}", ref) for i, ref in enumerate(job.references)]
    for name, img in pictures:
        if img is not None:
            guard.image(img, name, prompt, job.user)


@dataclass(frozen=True)
class Resolved:
    """A job with every default filled and checked against a loaded backend."""

    job: Job
    width: int
    height: int
    fps: int
    frames: int  # of the whole video
    window: int  # frames one call makes at most
    steps: int
    guidance: float
    negative_prompt: str

    def clip(self, frames: int, seed: int, **given) -> Clip:
        j = self.job
        return Clip(prompt=j.prompt.strip(), seed=seed, width=self.width, height=self.height, frames=frames,
                    fps=self.fps, steps=self.steps, guidance=self.guidance, negative_prompt=self.negative_prompt,
                    references=j.references, **given)


def resolve(backend: Backend, job: Job) -> Resolved:
    """``job`` with the backend's defaults filled, each field checked against its rules."""
    d, rules = backend.defaults, backend.rules
    r = Resolved(job=job, width=d.width if job.width is None else job.width,
                 height=d.height if job.height is None else job.height, fps=d.fps if job.fps is None else job.fps,
                 frames=0, window=0, steps=d.steps if job.steps is None else job.steps,
                 guidance=d.guidance if job.guidance is None else job.guidance,
                 negative_prompt=d.negative_prompt if job.negative_prompt is None else job.negative_prompt)
    seconds = d.seconds if job.seconds is None else job.seconds
    if not (1 <= r.fps <= 60):
        raise RequestError(f"fps {r.fps} is not allowed; use 1 to 60")
    if round(seconds * r.fps) < 1:  # shorter ones are rounded up to the shortest clip the model makes
        raise RequestError(f"duration {seconds:g} s is no frame at {r.fps} fps; use at least one frame "
                           f"({1 / r.fps:g} s)")
    if not (1 <= r.steps <= 500):
        raise RequestError(f"steps {r.steps} is not allowed; use 1 to 500")
    if not (math.isfinite(r.guidance) and 0 <= r.guidance <= 30):
        raise RequestError(f"guidance {r.guidance} is not allowed; use 0 to 30")
    rules.check_size(r.width, r.height)
    # New frames: 1 + k * frame_step for a clip of its own; whole frame steps after given frames.
    step = rules.frame_step
    frames = rules.frames_for(seconds, r.fps) if job.prefix is None else step * max(1, math.ceil(
        round(seconds * r.fps, 6) / step))
    # One call makes the default clip's length (what the model was made for), up to its window.
    window = min(rules.max_frames, max(rules.frames_for(d.seconds, r.fps), 1 + 2 * rules.frame_step))
    window = 1 + (window - 1) // rules.frame_step * rules.frame_step
    r = replace(r, frames=frames, window=window)
    for capability in job.needs(window_seconds=(window - 1) / r.fps):
        require(backend.info, capability)
    tokens = backend.count_tokens(job.prompt.strip())
    if tokens > rules.max_tokens:
        raise RequestError(f"the prompt is {tokens} tokens long; this model reads at most {rules.max_tokens}")
    return r


def chunk_plan(r: Resolved, context: int) -> list[int]:
    """New frames made by each call: the first makes up to ``window`` (``window - context`` after
    given frames), the others up to ``window - context`` each, adding up to the video's frames."""
    step = r.window - context
    sizes = [min(step if r.job.prefix is not None else r.window, r.frames)]
    while sum(sizes) < r.frames:
        sizes.append(min(step, r.frames - sum(sizes)))
    return sizes


@dataclass
class Stream:
    """A video handed out in pieces as it is made: iterating gives (n, H, W, 3) uint8 pieces in
    order; ``frames``, ``height``, ``width`` and ``fps`` are known before the first."""

    pieces: Iterator[np.ndarray]
    frames: int
    height: int
    width: int
    fps: int
    timings: dict[str, float] = field(default_factory=dict)
    cuts: list[int] = field(default_factory=list)  # the first frame of each shot after the first

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.pieces

    def __len__(self) -> int:
        return self.frames


def call_units(backend: Backend, r: Resolved) -> list[int]:
    """Units of work (kino.progress) of each call ``stream`` makes for ``r``: its steps, its decode
    and the check of its frames."""
    step = backend.rules.frame_step
    sizes = chunk_plan(r, 1 + CONTEXT_STEPS * step)
    anchor = [r.clip(1 + step, 0)] if r.job.loop and r.job.image is None else []
    return [backend.units(c) + 1 for c in anchor + [r.clip(n, 0) for n in sizes]]


def stream(backend: Backend, r: Resolved, guard, progress: Progress | None = None,
           cancelled: Callable[[], bool] | None = None) -> Stream:
    """The video of ``r``, call by call (or the model's own way, ``Backend.video``), every piece's
    frames checked by ``guard`` before they are handed out. ``progress`` counts every call and check,
    planned here, before the first."""
    progress = Progress.of(progress)
    frames = r.frames - 1 if r.job.loop else r.frames
    if r.job.prefix is None:
        whole = r.clip(r.frames, r.job.seed, image=r.job.image, last_image=r.job.last_image)
        own = backend.video(whole, r.job.loop, progress, cancelled)
        if own is not None:
            return Stream(checked(own, guard, r), frames, r.height, r.width, r.fps, own.timings)
    context = 1 + CONTEXT_STEPS * backend.rules.frame_step
    units = call_units(backend, r)
    progress.expect(sum(units))
    timings: dict[str, float] = {}
    anchor = r.job.loop and r.job.image is None
    return Stream(_pieces(backend, r, chunk_plan(r, context), context, anchor, guard, progress, units, cancelled,
                          timings), frames, r.height, r.width, r.fps, timings)


def checked(pieces: Iterable[np.ndarray], guard, r: Resolved) -> Iterator[np.ndarray]:
    """``pieces`` of the video of ``r``, each handed on once ``guard`` has checked its frames."""
    for piece in pieces:
        guard.video(piece, r.fps, "output", r.job.prompt, r.job.user)
        yield piece


def shots(backend: Backend, shots: list[Resolved], guard, progress: Progress | None = None,
          cancelled: Callable[[], bool] | None = None, leads: list[tuple[int, ...]] | None = None) -> Stream:
    """Several shots, each made as ``stream`` makes a video, joined with hard cuts (a storyboard);
    they share one size and frame rate. ``leads``: for each shot, the earlier shots whose first
    frames it is given as reference images (REFERENCE), so that who they showed looks the same in
    it. ``progress`` plans every shot's work before the first."""
    first = shots[0]
    if any((s.width, s.height, s.fps) != (first.width, first.height, first.fps) for s in shots):
        raise RequestError("the shots of one video must share its size and frame rate")
    leads = leads or [()] * len(shots)
    if any(j >= i for i, lead in enumerate(leads) for j in lead):
        raise ValueError(f"a shot is led by earlier shots only: {leads}")
    if any(leads):
        require(backend.info, REFERENCE)
    progress = Progress.of(progress)
    shares = [sum(call_units(backend, s)) for s in shots]
    progress.expect(sum(shares))
    timings: dict[str, float] = {}

    def pieces() -> Iterator[np.ndarray]:
        t0 = time.perf_counter()
        openings: list[np.ndarray] = []  # each shot's first frame
        for shot, share, lead in zip(shots, shares, leads, strict=True):
            if lead:
                shot = replace(shot, job=replace(shot.job, references=shot.job.references + tuple(
                    openings[j] for j in lead)))
            with progress.part(share) as part:
                for i, piece in enumerate(stream(backend, shot, guard, part, cancelled)):
                    if i == 0:
                        openings.append(piece[0].copy())
                    yield piece
        timings["total"] = time.perf_counter() - t0

    lengths = [s.frames - (1 if s.job.loop else 0) for s in shots]
    cuts = [sum(lengths[:i]) for i in range(1, len(lengths))]
    return Stream(pieces(), sum(lengths), first.height, first.width, first.fps, timings, cuts)


def story_jobs(info: ModelInfo, story, **options) -> tuple[list[Job], list[tuple[int, ...]] | None]:
    """A storyboard's shots as jobs (``story``: a kino storyboard, with ``shots``, ``prompts()``,
    ``seed``, ``reference`` and ``introductions()``; ``options``: Job fields every shot shares), shot i
    seeded ``seed + i``; and for a model that takes reference images, the earlier shots whose first
    frames each shot is given (``shots``' leads: the shots that introduced the characters it names,
    with ``reference``, the first shot too), else None. Needs nothing loaded. A storyboard's
    ``reference`` needs reference images, or a model whose storyboards are its own (STORYBOARD)."""
    jobs = [Job(text, seed=(story.seed + i) % 2**63, seconds=shot.seconds, **options)
            for i, (text, shot) in enumerate(zip(story.prompts(), story.shots, strict=True))]
    if story.reference and STORYBOARD not in info.capabilities:
        require(info, REFERENCE)
    if REFERENCE not in info.capabilities:
        return jobs, None
    return jobs, [tuple(sorted({0, *lead})) if story.reference and i else lead
                  for i, lead in enumerate(story.introductions())]


def storyboard(backend: Backend, story, guard, progress: Progress | None = None,
               cancelled: Callable[[], bool] | None = None, **options):
    """A storyboard's video (see ``story_jobs``), the model's own way (``Backend.story``) or shot by
    shot (``shots``), every shot's prompt and frames checked by ``guard``; a Stream with its ``cuts``.
    ``options``: width, height, fps, steps, guidance, references, user (None: the model's)."""
    progress = Progress.of(progress)
    own = backend.story(story, guard, progress, **options)
    if own is not None:
        return own
    jobs, leads = story_jobs(backend.info, story, **options)
    return shots(backend, [resolve(backend, job) for job in jobs], guard, progress, cancelled, leads)


def _pieces(backend, r: Resolved, sizes, context, anchor, guard, progress, units, cancelled, timings):
    job = r.job
    shares = iter(units)
    t0 = time.perf_counter()

    def call(clip: Clip) -> np.ndarray:
        with progress.part(next(shares)) as part:
            frames = backend.generate(clip, part, cancelled)
            with part.doing(CHECKING):
                guard.video(frames, r.fps, "output", job.prompt, job.user)
        return frames

    first_image, last_image = job.image, job.last_image
    if anchor:  # the frame a long loop starts and ends on, from a short clip of its own
        first_image = call(r.clip(1 + backend.rules.frame_step, job.seed))[0]
    if job.loop:
        last_image = first_image
    tail = None
    for i, n in enumerate(sizes):
        final = i == len(sizes) - 1
        seed = (job.seed + i * CHUNK_SEED_STRIDE) % 2**63
        given = {"last_image": last_image} if final and last_image is not None else {}
        if i == 0 and job.prefix is None:
            if first_image is not None:
                given["image"] = first_image
            whole = made = call(r.clip(n, seed, **given))
        else:
            prefix = (tail if i else fit_frames(job.prefix, r.width, r.height))[-context:]
            whole = call(r.clip(context + n, seed, prefix=prefix, **given))
            made = whole[context:]
        out = made[:-1] if (final and job.loop) else made
        tail = whole[-context:]  # given frames included: a call may make fewer new frames than lead the next
        if final:
            timings["total"] = time.perf_counter() - t0
        yield out


def fit_frames(frames: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, H, W, 3) uint8 frames scaled to cover (width, height) and centre-cropped to it."""
    return np.stack([fit_image(f, width, height) for f in frames])


def input_size(backend: Backend, frames: np.ndarray, width: int | None, height: int | None) -> tuple[int, int]:
    """The size an edit of ``frames`` is made at: the one asked for, else the input's own rounded
    down to the model's size multiple (its smallest side at least the model's)."""
    if width is not None and height is not None:
        return width, height
    m = backend.rules.size_multiple
    h, w = frames.shape[1:3]
    w, h = max(backend.rules.min_side, w // m * m), max(backend.rules.min_side, h // m * m)
    return min(w, backend.rules.max_side), min(h, backend.rules.max_side)


def continue_video(backend: Backend, job: Job, frames: np.ndarray, fps: int, guard, progress=None,
                   backward: bool = False, then: np.ndarray | None = None) -> np.ndarray:
    """``frames`` with ``job.seconds`` of new video after them (before them, ``backward``: led into
    their first frame), or, given ``then``, a transition from ``frames`` into ``then`` (connect).
    Inputs are checked whole by ``guard`` first; the result is (T, H, W, 3) uint8 at the size of
    ``job`` (default: the input's, see ``input_size``), the inputs scaled to it."""
    progress = Progress.of(progress)
    own = backend.continued(job, frames, fps, guard, progress, backward, then)
    if own is not None:
        return own
    for what, video in (("input video", frames), ("second input video", then)):
        if video is not None:
            if video.ndim != 4 or len(video) < 1:
                raise RequestError(f"the {what} has no frames")
            with progress.doing(CHECKING, 0):
                guard.video(video, fps, what, job.prompt, job.user)
    width, height = input_size(backend, frames, job.width, job.height)
    frames = fit_frames(frames, width, height)
    step = backend.rules.frame_step
    if backward:  # the new clip ends on the input's first frame, which is shown once
        job = replace(job, width=width, height=height, fps=fps, last_image=frames[0])
        new = gather(stream(backend, resolve(backend, job), guard, progress))
        return np.concatenate([new[:-1], frames])
    context = 1 + step * min(CONTEXT_STEPS, (len(frames) - 1) // step)
    if len(frames) < 1 + step:
        raise RequestError(f"the video to carry on has {len(frames)} frames; this model needs at least {1 + step}")
    job = replace(job, width=width, height=height, fps=fps, prefix=frames[-context:],
                  last_image=None if then is None else fit_image(then[0], width, height))
    new = gather(stream(backend, resolve(backend, job), guard, progress))
    if then is None:
        return np.concatenate([frames, new])
    return np.concatenate([frames, new[:-1], fit_frames(then, width, height)])  # B's first frame shown once


def restyle(backend: Backend, job: Job, frames: np.ndarray, fps: int, strength: float, guard,
            progress=None, mask: np.ndarray | None = None) -> np.ndarray:
    """``frames`` redrawn after ``job.prompt`` to ``strength`` (0: kept, 1: from noise), window by
    window of the model (VIDEO_TO_VIDEO), or, given ``mask`` ((H, W) bool, True where content may
    change), redrawn inside it only (MASKED_EDIT), or the model's own way (``Backend.restyled``);
    inputs and outputs checked by ``guard``."""
    progress = Progress.of(progress)
    own = backend.restyled(job, frames, fps, strength, guard, progress, mask)
    if own is not None:
        return own
    if not 0 < strength <= 1:
        raise RequestError(f"strength {strength:g} is not allowed; use more than 0 and at most 1")
    require(backend.info, VIDEO_TO_VIDEO if mask is None else MASKED_EDIT)
    if mask is not None and not mask.any():
        raise RequestError("the mask is empty; make it white where the video may change")
    given = {} if mask is None else {"mask": mask}
    with progress.doing(CHECKING, 0):
        guard.video(frames, fps, "input video", job.prompt, job.user)
    width, height = input_size(backend, frames, job.width, job.height)
    r = resolve(backend, replace(job, width=width, height=height, fps=fps))
    frames = fit_frames(frames, width, height)
    step, window = backend.rules.frame_step, r.window
    pieces = []
    starts = list(range(0, len(frames), window))
    clips = []
    for start in starts:
        piece = frames[start:start + window]
        padded = 1 + step * math.ceil((len(piece) - 1) / step)  # whole steps: the last frame held
        piece = np.concatenate([piece, np.repeat(piece[-1:], padded - len(piece), axis=0)])
        clips.append((len(frames[start:start + window]), r.clip(padded, job.seed, video=piece, strength=strength,
                                                                 **given)))
    progress.expect(sum(backend.units(c) + 1 for _, c in clips))
    for keep, clip in clips:
        with progress.part(backend.units(clip) + 1) as part:
            made = backend.generate(clip, part)
            with part.doing(CHECKING):
                guard.video(made, fps, "output", job.prompt, job.user)
        pieces.append(made[:keep])
    made = np.concatenate(pieces)
    if mask is not None:  # outside the mask the input stays as it was, whatever the model drew there
        from PIL import Image

        inside = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize((width, height),
                                                                                Image.Resampling.NEAREST)) > 127
        made = np.where(inside[None, :, :, None], made, frames)
    return made


def gather(video: Stream) -> np.ndarray:
    """The pieces of a Stream in one (T, H, W, 3) array."""
    return np.concatenate(list(video))
