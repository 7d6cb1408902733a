"""REST API v1: jobs, downloads, progress events, verification, accounts, audit log."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import starlette.formparsers
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update

import kino.service.narration as job_narration
from kino import core
from kino.audio.narration import SAMPLE_RATE, NarrationError, RefusedNarration, speak_lines
from kino.audio.voices import VoiceError
from kino.backends.base import MAX_SECONDS, NEGATIVE_PROMPT, Backend, RequestError, ignored
from kino.io import atomic_path
from kino.pipelines import prompting, storyboard
from kino.progress import STAGES
from kino.safety.moderation import SafetyRefusal
from kino.safety.normalize import visible
from kino.service.app import SESSION_COOKIE, ApiError, Caller, Service, admin, caller, presented_key, service
from kino.service.auth import AccountError, add_key, add_user, audit, check_role
from kino.service.db import CANCELLED, DELETED, DONE, FINISHED, QUEUED, RUNNING, ApiKey, AuditEvent, Job, User, now
from kino.service.jobs import new_job_id, outputs_dir, queue_position, uploads_dir
from kino.service.settings import ROLES
from kino.service.uploads import UploadError, check_upload, decode_audio, decode_image, decode_video
from kino.service.uploads import probe as probe_upload

log = logging.getLogger(__name__)
T = TypeVar("T")


def _form_text(src: bytes | bytearray, codec: str) -> str:
    """A multipart field's text. Starlette reads bytes that are not valid in the form's charset as
    latin-1, which would store mojibake; here they become U+FFFD, which ``form_text`` refuses (422)."""
    try:
        return bytes(src).decode(codec, errors="replace")
    except LookupError:  # a charset Python does not know: as starlette reads it
        return bytes(src).decode("latin-1")


starlette.formparsers._user_safe_decode = _form_text


def form_text(name: str, text: str) -> str:
    """``text`` as kino stores and checks it (kino.safety.normalize.visible), or a 422 when it was
    not valid UTF-8 (bytes starlette or ``_form_text`` turned into U+FFFD)."""
    if "\ufffd" in text:
        raise ApiError(422, "invalid_text", f"{name} is not valid UTF-8 text")
    return visible(text)

log = logging.getLogger(__name__)
router = APIRouter()
ERRORS = {
    400: {"description": "bad request"}, 401: {"description": "no or bad API key"},
    403: {"description": "not allowed for this role, or refused by moderation"},
    404: {"description": "no such job (or not yours)"}, 409: {"description": "the job is in the wrong state"},
    413: {"description": "upload too large"}, 415: {"description": "unsupported upload type"},
    422: {"description": "a field is invalid"}, 429: {"description": "rate limit or quota reached"},
    503: {"description": "the model cannot be loaded right now"},
}


# -- schemas -------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    id: str
    command: str
    model: str
    status: str
    params: dict
    progress: float = Field(description="0 to 1")
    step: int = Field(description="units of work done: sampling steps, VAE calls, frame checks, chunks of frames "
                      "encoded (a queued job counts sampling steps)")
    total_steps: int = Field(description="units of work planned; never shrinks while the job runs")
    stage: str | None = Field(None, description=f"what a running job is doing: {', '.join(STAGES)}")
    attempts: int
    queue_position: int | None = None
    error: ErrorOut | None = None
    result: dict | None = None
    created: float
    started: float | None = None
    finished: float | None = None
    video_url: str | None = None
    captions_url: str | None = Field(None, description="the captions (WebVTT) of a narrated job once it is done; "
                                     "SRT at the same address ending .srt")


class VoiceOut(BaseModel):
    name: str = Field(description="what a job's voice field takes")
    engine: str = Field(description="espeak-ng, or piper for a voice of the server's voices folder")
    language: str
    description: str


class JobList(BaseModel):
    jobs: list[JobOut]
    total: int


class PolicyOut(BaseModel):
    models: list[str]
    commands: list[str]
    max_seconds: float
    max_pixels: int
    max_steps: int
    jobs_per_minute: int
    jobs_per_day: int
    see_scores: bool
    enabled: bool


class Me(BaseModel):
    id: int
    name: str
    role: str
    policy: PolicyOut


class UserOut(BaseModel):
    id: int
    name: str
    role: str
    disabled: bool
    created: float
    keys: int


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    role: Literal["admin", "red_team", "artist", "public"]


class UserChange(BaseModel):
    role: Literal["admin", "red_team", "artist", "public"] | None = None
    disabled: bool | None = None


class KeyOut(BaseModel):
    user: UserOut
    api_key: str = Field(description="shown only this once; kino stores its hash")


class AuditOut(BaseModel):
    id: int
    at: float
    actor: str | None
    action: str
    target: str | None
    detail: dict


class VerifyOut(BaseModel):
    media: dict = Field(description="what the file is: container, size, frames, fps")
    provenance: dict | None = Field(None, description="`kino verify`'s verdict: C2PA status and watermark")
    provenance_summary: str = Field(description="kino (signed by this service and watermarked), marked, signed, "
                                    "none, or unreadable")
    note: str | None = None


def job_out(job: Job, position: int | None = None) -> JobOut:
    progress = 1.0 if job.status == DONE else (job.step / job.total_steps if job.total_steps else 0.0)
    error = ErrorOut(code=job.error_code or "failed", message=job.error or "") if job.error_code else None
    done = job.status == DONE
    return JobOut(id=job.id, command=job.command, model=job.model, status=job.status, params=job.params,
                  progress=round(progress, 4), step=job.step, total_steps=job.total_steps,
                  stage=job.stage if job.status == RUNNING else None, attempts=job.attempts,
                  queue_position=position, error=error, result=job.result, created=job.created,
                  started=job.started, finished=job.finished,
                  video_url=f"/api/v1/jobs/{job.id}/video" if done else None,
                  captions_url=f"/api/v1/jobs/{job.id}/captions.vtt" if done and narrated(job) else None)


def narrated(job: Job) -> bool:
    return bool((job.params or {}).get(job_narration.PARAM))


def policy_out(svc: Service, role: str) -> PolicyOut:
    p = svc.settings.policy(role)
    return PolicyOut(**{**dataclasses.asdict(p), "models": [m for m in p.models if m in svc.settings.models],
                        "commands": list(p.commands)})


def user_out(db, user: User) -> UserOut:
    keys = db.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user.id,
                                                                    ApiKey.revoked.is_(False)))
    return UserOut(id=user.id, name=user.name, role=user.role, disabled=user.disabled, created=user.created,
                   keys=keys or 0)


# -- account -------------------------------------------------------------------------------------


@router.post("/login", response_model=Me, responses=ERRORS, tags=["account"])
def login(request: Request, response: Response, who: Caller = Depends(caller), svc: Service = Depends(service)):
    """Check an API key and record the login. The web page calls this once with the key; the answer
    sets a session cookie that page scripts cannot read (HttpOnly, SameSite=Strict), so the page
    keeps no copy of the key."""
    with svc.sessions.begin() as db:
        audit(db, "login", who.user, key=who.key.prefix)
    response.set_cookie(SESSION_COOKIE, presented_key(request), httponly=True, samesite="strict", path="/api/v1",
                        secure=request.url.scheme == "https")
    return Me(id=who.user.id, name=who.user.name, role=who.user.role, policy=policy_out(svc, who.user.role))


@router.post("/logout", status_code=204, responses=ERRORS, tags=["account"])
def logout(response: Response, who: Caller = Depends(caller), svc: Service = Depends(service)):
    """End the web page's session (its cookie); the key itself stays valid."""
    with svc.sessions.begin() as db:
        audit(db, "logout", who.user, key=who.key.prefix)
    response.delete_cookie(SESSION_COOKIE, path="/api/v1", httponly=True, samesite="strict")
    response.status_code = 204
    return None


@router.get("/me", response_model=Me, responses=ERRORS, tags=["account"])
def me(who: Caller = Depends(caller), svc: Service = Depends(service)):
    return Me(id=who.user.id, name=who.user.name, role=who.user.role, policy=policy_out(svc, who.user.role))


@router.get("/models", response_model=list[str], responses=ERRORS, tags=["account"])
def models(who: Caller = Depends(caller), svc: Service = Depends(service)):
    """Models this caller's role may use."""
    return policy_out(svc, who.user.role).models


# -- jobs ----------------------------------------------------------------------------------------


def read_upload(svc: Service, field: str, upload: UploadFile | None, kind: str) -> tuple[bytes, str] | None:
    if upload is None:
        return None
    data = upload.file.read(svc.settings.max_upload_bytes + 1)
    try:
        return data, check_upload(field, data, kind, svc.settings.max_upload_bytes)
    except UploadError as e:
        raise ApiError(e.status, e.code, str(e)) from None


def check_rate(svc: Service, who: Caller, db=None) -> None:
    """Per-key jobs per minute and per-user jobs per day, counted from the jobs table (so every server
    agrees). Called early, to refuse before uploads are decoded, and again by ``queue_job`` inside the
    transaction that inserts the job, under the user's lock, so a burst of requests cannot all pass."""
    p, t = svc.settings.policy(who.user.role), now()
    with contextlib.nullcontext(db) if db is not None else svc.sessions() as db:
        minute = db.scalar(select(func.count()).select_from(Job)
                           .where(Job.api_key_id == who.key.id, Job.created > t - 60)) or 0
        day = db.scalar(select(func.count()).select_from(Job)
                        .where(Job.user_id == who.user.id, Job.created > t - 86400)) or 0
    if minute >= p.jobs_per_minute:
        raise ApiError(429, "rate_limited", f"at most {p.jobs_per_minute} jobs a minute per key for role "
                       f"{who.user.role}", retry_after=60)
    if day >= p.jobs_per_day:
        raise ApiError(429, "quota_exceeded", f"at most {p.jobs_per_day} jobs a day for role {who.user.role}",
                       retry_after=3600)


def lock_user(db, who: Caller) -> None:
    """Write the caller's user row (a no-op) first in a transaction: that takes the row's lock on
    PostgreSQL and the write lock on SQLite, so the user's concurrent requests count what they have
    done and record it one after another."""
    db.execute(update(User).where(User.id == who.user.id).values(disabled=User.disabled))


def queue_job(svc: Service, who: Caller, command: str, model: str, params: dict, uploads: dict, steps: int) -> Job:
    """Store the uploads and insert the job, atomically with the rate limits (``lock_user``)."""
    job_id = new_job_id()
    inputs = store_uploads(svc, job_id, uploads)
    try:
        with svc.sessions.begin() as db:
            lock_user(db, who)
            check_rate(svc, who, db)
            job = Job(id=job_id, user_id=who.user.id, api_key_id=who.key.id, command=command, model=model,
                      params=params, inputs=inputs, status=QUEUED, step=0, total_steps=steps, attempts=0,
                      cancel_requested=False, created=now())
            db.add(job)
            audit(db, "job.create", who.user, target=job_id, command=command, model=model, params=params)
    except BaseException:
        shutil.rmtree(uploads_dir(svc.settings, job_id), ignore_errors=True)
        raise
    svc.notifier.notify(job_id)
    return job


def check_policy(svc: Service, who: Caller, r: Planned) -> None:
    p, role = svc.settings.policy(who.user.role), who.user.role
    if r.seconds > p.max_seconds:
        raise ApiError(403, "over_role_limit", f"role {role} may make at most {p.max_seconds:g} s", limit="seconds")
    if r.width * r.height > p.max_pixels:
        raise ApiError(403, "over_role_limit", f"role {role} may make at most {p.max_pixels} pixels a frame "
                       f"({r.width}x{r.height} asked)", limit="pixels")
    if r.steps > p.max_steps:
        raise ApiError(403, "over_role_limit", f"role {role} may use at most {p.max_steps} steps", limit="steps")


@contextlib.contextmanager
def request_errors(svc: Service, who: Caller, prompt: str):
    """What checking a job's request can raise, as the API answers it: bad uploads and fields a 4xx,
    a refusal a 403 with its category (audited)."""
    try:
        yield
    except UploadError as e:
        raise ApiError(e.status, e.code, str(e)) from None
    except RequestError as e:
        raise ApiError(422, "invalid_request", str(e)) from None
    except SafetyRefusal as e:
        raise refuse(svc, who, e, prompt) from None


def refuse(svc: Service, who: Caller, e: SafetyRefusal, prompt: str, **detail):
    """The answer to a refused job, audited (``detail``: what else the audit entry records, such as
    the stage that refused it)."""
    v = e.verdict
    with svc.sessions.begin() as db:
        audit(db, "job.refused", who.user, category=v.category, matched=v.matched, prompt=prompt[:500],
              scores={k: round(s, 3) for k, s in v.scores.items()}, **detail)
    extra = {"category": v.category}
    if svc.settings.policy(who.user.role).see_scores:  # red-teamers see why, to probe the classifier
        extra.update(matched=v.matched, scores={k: round(s, 3) for k, s in v.scores.items()})
    return ApiError(403, "refused", f"refused by moderation: {v.category}", **extra)


JOB_LINKS = {name: {"operationId": op, "parameters": {"job_id": "$response.body#/id"}} for name, op in
             [("GetJob", "get_job"), ("DownloadVideo", "download_video"), ("JobEvents", "job_events"),
              ("CancelJob", "cancel_job"), ("DeleteJob", "delete_job"), ("JobProvenance", "job_provenance")]}


@router.post("/jobs", status_code=201, response_model=JobOut, operation_id="create_job", tags=["jobs"],
             responses={**ERRORS, 201: {"description": "the job, queued", "links": JOB_LINKS}})
def create_job(
    prompt: str = Form("", max_length=4000, description="what the video shows"),
    model: str | None = Form(None, max_length=64, description="model name (default: the first allowed)"),
    seed: int = Form(0, ge=0, le=2**63 - 1),
    seconds: float | None = Form(None, gt=0, le=600, description="duration (extend: seconds of new video; with "
                                 "narration: the words must fit, else leave it out and the words set it)"),
    fps: int | None = Form(None, ge=1, le=240),
    width: int | None = Form(None, ge=1, le=8192),
    height: int | None = Form(None, ge=1, le=8192),
    steps: int | None = Form(None, ge=1, le=10000),
    guidance: float | None = Form(None, ge=0, le=1000),
    negative_prompt: str | None = Form(None, max_length=2000, description="what guidance steers away from "
                                       "(default: the model's own)"),
    sampler: str | None = Form(None, max_length=32),
    backward: bool = Form(False, description="extend: add the new video before the clip"),
    loop: bool = Form(False, description="the last frame leads seamlessly back into the first"),
    camera: Literal["still", "pan-left", "pan-right", "zoom-in", "zoom-out"] | None = Form(None),
    layout: bool = Form(True, description="steer where the objects the prompt names go, and move them from a "
                                          "still first frame (false: the model alone)"),
    narration: str | None = Form(None, max_length=4000, description="words spoken over the video from its start, "
                                 "captioned (a multi-shot prompt: the first shot's line). Moderated like the "
                                 "prompt. Without seconds the video (or shot) lasts as long as the words need"),
    shot_narration: list[str] | None = Form(None, description="a multi-shot prompt's lines, one per shot in "
                                            "order: repeat the field once per shot, empty for a silent shot. Each "
                                            "narrated shot lasts as long as its words unless seconds is given"),
    voice: str | None = Form(None, max_length=64, description="narration voice: a name from GET /api/v1/voices "
                             "(default: the first voice of language)"),
    language: str | None = Form(None, max_length=32, description="narration language, e.g. en-us, fr (default "
                                "en-us)"),
    rate: float = Form(1.0, ge=0.5, le=2.0, description="speaking speed: 0.5 (half) to 2 (twice) the voice's own"),
    burn_captions: bool = Form(False, description="also draw the narration's captions into the frames"),
    image: UploadFile | None = File(None, description="first frame (image to video): PNG, JPEG, WebP"),
    last_image: UploadFile | None = File(None, description="last frame to reach (image to video)"),
    video: UploadFile | None = File(None, description="video to extend: MP4, WebM, MOV"),
    music: UploadFile | None = File(None, description="music mixed under the narration, lowered while it speaks: "
                                    "MP3, M4A, WAV, Ogg, FLAC"),
    who: Caller = Depends(caller),
    svc: Service = Depends(service),
):
    """Queue a video job. With ``video`` it extends that clip; with ``image``/``last_image`` it animates them.

    A prompt written as shots ("Shot 1: ... Shot 2: ...") becomes a multi-shot video, the duration split evenly
    (a narrated shot without seconds lasts as long as its words). ``narration`` (or ``shot_narration``, a line
    per shot) is spoken over a generated video, with captions in the mp4 and at the job's ``captions_url``.
    """
    prompt = form_text("the prompt", prompt)
    spoken = NarrationForm(
        None if narration is None else form_text("narration", narration),
        None if shot_narration is None else [form_text("shot_narration", line) for line in shot_narration],
        job_narration.Voicing(voice, language, rate, burn_captions), music.filename if music is not None else None)
    policy = svc.settings.policy(who.user.role)
    if not policy.enabled:
        raise ApiError(403, "role_not_released", f"generation is not open to role {who.user.role} yet")
    command = "extend" if video is not None else ("image_to_video" if image or last_image else "generate")
    if video is not None and (image is not None or last_image is not None):
        raise ApiError(422, "conflicting_inputs", "send a video to extend, or images to animate, not both")
    if video is not None and spoken.asked():
        raise ApiError(422, "conflicting_inputs", "narration goes with a video kino makes, not with one it extends; "
                       "narrate the extended video as a new job, or on the command line with `kino narrate`")
    if command not in policy.commands:
        raise ApiError(403, "command_not_allowed", f"role {who.user.role} may use: {', '.join(policy.commands)}")
    allowed = [m for m in policy.models if m in svc.settings.models]
    model = model or (allowed[0] if allowed else "")
    if model not in svc.settings.models:
        raise ApiError(422, "unknown_model", f"model {model!r} does not exist here; models: "
                       f"{', '.join(svc.settings.models) or 'none'}")
    if model not in allowed:
        raise ApiError(403, "model_not_allowed", f"role {who.user.role} may use: {', '.join(allowed) or 'none'}")
    check_rate(svc, who)
    uploads = {k: read_upload(svc, k, f, kind) for k, f, kind in
               (("image", image, "image"), ("last_image", last_image, "image"), ("video", video, "video"),
                ("music", music, "audio"))}
    uploads = {k: v for k, v in uploads.items() if v is not None}
    try:
        backend = svc.pipelines.checker(model)
    except Exception:  # a broken or half-installed model folder is the server's problem, said plainly
        log.exception("model %s did not load", model)
        raise ApiError(503, "model_unavailable", f"model {model!r} cannot be loaded right now; try again later",
                       retry_after=30) from None
    if loop and (command == "extend" or "last_image" in uploads):
        raise ApiError(422, "conflicting_inputs", "a loop ends on its own first frame: no last_image or video")
    form = JobForm(prompt=prompt, seed=seed, seconds=seconds, fps=fps, width=width, height=height, steps=steps,
                   guidance=guidance, loop=loop, camera=camera, backward=backward, spoken=spoken,
                   negative_prompt=None if negative_prompt is None else form_text("negative_prompt", negative_prompt))
    with request_errors(svc, who, prompt):
        planned = plan_job(svc, who, backend.configured(layout=layout, sampler=sampler), command, uploads, form)
    check_policy(svc, who, planned)
    params = {**planned.params, "sampler": sampler, "layout": layout, "user": who.user.name,
              "backend": backend.info.backend}
    notes = job_notes(backend, prompt, form)
    if notes:  # said in the job's status, as on the command line's stderr
        params["note"] = " ".join(notes)
    job = queue_job(svc, who, command, model, params, uploads, planned.steps)
    return job_out(job, queue_position(svc.sessions, job))


@dataclass(frozen=True)
class JobForm:
    """What a job's form asks of the model (None: the model's default)."""

    prompt: str
    seed: int
    seconds: float | None
    fps: int | None
    width: int | None
    height: int | None
    steps: int | None
    guidance: float | None
    loop: bool
    camera: str | None
    backward: bool
    spoken: NarrationForm
    negative_prompt: str | None = None


def job_notes(backend: Backend, prompt: str, form: JobForm) -> list[str]:
    """What the job's status says of it: each option it gives that the model ignores
    (kino.backends.base.ignored), and the words of its prompt a toyworld model never saw."""
    from kino.data.toyworld.vocabulary import note

    notes = ignored(backend.info, {"negative_prompt": NEGATIVE_PROMPT} if form.negative_prompt else {})
    unseen = note(prompt) if backend.vocabulary == "toyworld" else None
    return notes + ([unseen] if unseen else [])


@dataclass(frozen=True)
class Planned:
    """A job as checked before it is queued: what the role's limits are held to, and its params."""

    seconds: float  # of video the model makes
    width: int
    height: int
    steps: int
    params: dict


def plan_job(svc: Service, who: Caller, backend: Backend, command: str, uploads: dict, form: JobForm) -> Planned:
    """A job on any model (kino's own as the open ones), checked as the worker will make it (kino.core):
    its capabilities and rules, the prompt, pictures, every shot, a clip to extend (whole) and any
    narration moderated (SafetyRefusal), before it is queued; RequestError for what is not allowed."""
    story = storyboard.from_prompt(form.prompt, form.seconds, form.seed) if command == "generate" else None
    if story is not None:
        if form.loop or form.camera:
            raise ApiError(422, "conflicting_inputs", "a multi-shot prompt cannot be combined with loop or camera")
        return plan_story(svc, who, backend, story, uploads, form)
    images = {k: decode_image(k, uploads[k][0]) for k in ("image", "last_image") if k in uploads}
    seconds, fps, width, height, frames_in = form.seconds, form.fps, form.width, form.height, None
    if command == "extend":  # new seconds after (or before) the clip, at its size and frame rate
        frames_in, fps_in = decoded(uploads["video"], "video", decode_video)
        fps, seconds = round(fps_in) or 8, 2.0 if seconds is None else seconds
        width, height = core.input_size(backend, frames_in, width, height)
    voiced = narrate(svc, who, backend.guard, form.prompt, form.spoken, uploads, [seconds], one_shot=True)
    seconds = seconds if voiced is None else voiced.seconds[0]
    job = core.Job(prompting.with_camera(form.prompt, form.camera), seed=form.seed, seconds=seconds, fps=fps,
                   width=width, height=height, steps=form.steps, guidance=form.guidance,
                   negative_prompt=form.negative_prompt, loop=form.loop,
                   user=who.user.name, **images)
    core.check_job(backend.info, job)
    core.guard_inputs(backend.guard, job)
    params = {}
    if frames_in is not None:
        backend.guard.video(frames_in, fps, "input video", job.prompt, who.user.name)  # all of it
        step = backend.rules.frame_step
        given = dict(last_image=frames_in[0]) if form.backward else dict(prefix=frames_in[-1 - step:])
        r = core.resolve(backend, dataclasses.replace(job, **given))  # as the worker will ask
        made = job.seconds
        params.update(backward=form.backward, input_frames=int(len(frames_in)))
    else:
        r = core.resolve(backend, job)
        made = (r.frames - (1 if form.loop else 0)) / r.fps
    params.update(prompt=job.prompt.strip(), seed=form.seed,
                  seconds=backend.defaults.seconds if job.seconds is None else job.seconds, fps=r.fps, width=r.width,
                  height=r.height, steps=r.steps, guidance=r.guidance, negative_prompt=r.negative_prompt,
                  loop=form.loop)
    if voiced is not None:
        params[job_narration.PARAM] = voiced.params
    return Planned(made, r.width, r.height, r.steps, params)


def plan_story(svc: Service, who: Caller, backend: Backend, story, uploads: dict, form: JobForm) -> Planned:
    """``plan_job`` for a multi-shot prompt: every shot checked and moderated as the worker will make
    it (kino.core.storyboard), each narrated shot as long as its words."""
    voiced = narrate(svc, who, backend.guard, form.prompt, form.spoken, uploads, [s.seconds for s in story.shots])
    if voiced is not None:
        story = story.with_seconds(voiced.seconds)
    jobs, _ = core.story_jobs(backend.info, story, width=form.width, height=form.height, fps=form.fps,
                              steps=form.steps, guidance=form.guidance, negative_prompt=form.negative_prompt,
                              user=who.user.name)
    shots = []
    for i, job in enumerate(jobs):
        try:
            core.check_job(backend.info, job)
            core.guard_inputs(backend.guard, job)
            shots.append(core.resolve(backend, job))
        except RequestError as e:
            raise RequestError(f"shot {i + 1}: {e}") from None
    seconds = [backend.defaults.seconds if job.seconds is None else job.seconds for job in jobs]
    if sum(seconds) > MAX_SECONDS + 1e-9:
        raise RequestError(f"the shots add up to {sum(seconds):g} s; at most {MAX_SECONDS:g} s are allowed")
    r = shots[0]
    params = dict(prompt=form.prompt.strip(), seed=form.seed, seconds=sum(seconds), fps=r.fps, width=r.width,
                  height=r.height, steps=r.steps, guidance=r.guidance, negative_prompt=r.negative_prompt, loop=False,
                  shots=len(jobs), shot_seconds=seconds)
    if voiced is not None:
        params[job_narration.PARAM] = voiced.params
    return Planned(sum(s.frames for s in shots) / r.fps, r.width, r.height, r.steps, params)


@dataclass(frozen=True)
class NarrationForm:
    """The narration fields of a job's form, as sent."""

    text: str | None
    per_shot: list[str] | None
    voicing: job_narration.Voicing
    music: str | None  # the music upload's file name, when one came

    def asked(self) -> bool:
        return self.text is not None or self.per_shot is not None or self.music is not None


@dataclass(frozen=True)
class Voiced:
    """A job's narration as checked before it is queued: each shot's seconds, and what its params keep."""

    seconds: list[float | None]
    params: dict


def narrate(svc: Service, who: Caller, guard, prompt: str, form: NarrationForm, uploads: dict,
            seconds: list[float | None], one_shot: bool = False) -> Voiced | None:
    """The narration of a job about to be queued, whose shots are asked to last ``seconds`` (one
    entry a shot; None: the model's default); None for a job without narration. Every line is
    checked and moderated like the prompt (a refusal is answered and audited as the prompt's is,
    with the stage "narration") before any is spoken; speaking then times each narrated shot
    (``narration.speak_lines``). A music upload is decoded once to check it."""
    shots = None if one_shot else len(seconds)
    try:
        lines = job_narration.lines(job_narration.shot_lines(form.text, form.per_shot, shots), seconds, shots)
        said = speak_lines(guard, lines, lambda: job_narration.voice(form.voicing, svc.settings.voices_dir),
                           form.voicing.rate, job_narration.advice(shots), who.user.name)
        if said.voice is None:
            if form.music is not None:
                raise NarrationError("music goes under narration; send narration too")
            return None
        music = None
        if "music" in uploads:
            decoded(uploads["music"], "music", functools.partial(decode_audio, rate=SAMPLE_RATE))
            music = job_narration.Music.of(form.music, uploads["music"][0])
    except RefusedNarration as e:
        raise refuse(svc, who, e, prompt, stage="narration", narration=e.text[:500]) from None
    except NarrationError as e:
        raise ApiError(422, "invalid_narration", str(e)) from None
    except job_narration.UnknownVoice as e:
        raise ApiError(422, "unknown_voice", str(e)) from None
    except VoiceError:  # the server's voices folder, or a voice in it, is broken: its problem, said plainly
        log.exception("narration voices unavailable")
        raise ApiError(503, "voices_unavailable", "narration voices cannot be used right now; try again later",
                       retry_after=30) from None
    return Voiced(said.seconds, job_narration.params(said.texts, said.voice, form.voicing, music))


def decoded(upload: tuple[bytes, str], field: str, decode: Callable[[str, Path], T]) -> T:
    """An upload (its bytes and suffix) decoded by ``decode(field, path)`` (kino.service.uploads) from
    a file of its own, removed afterwards."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"{field}{upload[1]}"
        path.write_bytes(upload[0])
        return decode(field, path)


def store_uploads(svc: Service, job_id: str, uploads: dict) -> dict:
    if not uploads:
        return {}
    folder = uploads_dir(svc.settings, job_id)
    folder.mkdir(parents=True, exist_ok=True)
    names = {}
    for role, (data, suffix) in uploads.items():
        names[role] = role + suffix
        with atomic_path(folder / names[role]) as tmp:
            tmp.write_bytes(data)
    return names


def own_job(svc: Service, who: Caller, job_id: str) -> Job:
    """The caller's job, or 404: another user's job is indistinguishable from no job."""
    with svc.sessions() as db:
        job = db.get(Job, job_id)
    if job is None or job.user_id != who.user.id or job.status == DELETED:
        raise ApiError(404, "job_not_found", f"no job {job_id}")
    return job


@router.get("/jobs", response_model=JobList, responses=ERRORS, tags=["jobs"])
def list_jobs(status: Literal["queued", "running", "done", "failed", "cancelled"] | None = None,
              limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=10**9),
              who: Caller = Depends(caller), svc: Service = Depends(service)):
    """The caller's own jobs, newest first."""
    q = select(Job).where(Job.user_id == who.user.id, Job.status != DELETED)
    if status:
        q = q.where(Job.status == status)
    with svc.sessions() as db:
        total = db.scalar(select(func.count()).select_from(q.subquery())) or 0
        jobs = db.scalars(q.order_by(Job.created.desc()).limit(limit).offset(offset)).all()
    return JobList(jobs=[job_out(j) for j in jobs], total=total)


@router.get("/jobs/{job_id}", operation_id="get_job", response_model=JobOut, responses=ERRORS, tags=["jobs"])
def get_job(job_id: str, who: Caller = Depends(caller), svc: Service = Depends(service)):
    job = own_job(svc, who, job_id)
    return job_out(job, queue_position(svc.sessions, job) if job.status == QUEUED else None)


VIDEO_OK = {200: {"content": {"video/mp4": {}}, "description": "the video (H.264 MP4)"}}
EVENTS_OK = {200: {"content": {"text/event-stream": {}},
                   "description": "server-sent events: one JSON job state per change, until it finishes"}}


@router.get("/jobs/{job_id}/video", operation_id="download_video", response_class=FileResponse,
            responses={**ERRORS, **VIDEO_OK}, tags=["jobs"])
def download(job_id: str, who: Caller = Depends(caller), svc: Service = Depends(service)):
    job = own_job(svc, who, job_id)
    if job.status != DONE:
        raise ApiError(409, "job_not_done", f"job {job_id} is {job.status}; the video exists once it is done")
    path = outputs_dir(svc.settings) / job.output
    if not path.is_file():
        raise ApiError(404, "file_missing", f"the video of job {job_id} is gone from storage")
    return FileResponse(path, media_type="video/mp4", filename=f"kino-{job_id}.mp4")


CAPTION_TYPES = {"vtt": "text/vtt", "srt": "application/x-subrip"}
CAPTIONS_OK = {200: {"content": {t: {} for t in CAPTION_TYPES.values()},
                     "description": "the captions of a narrated job: WebVTT (.vtt) or SubRip (.srt), UTF-8"}}


@router.get("/jobs/{job_id}/captions.{kind}", operation_id="download_captions", response_class=FileResponse,
            responses={**ERRORS, **CAPTIONS_OK}, tags=["jobs"])
def download_captions(job_id: str, kind: Literal["vtt", "srt"], who: Caller = Depends(caller),
                      svc: Service = Depends(service)):
    """The captions of a narrated job, timed as its words are spoken (the same cues as the mp4's caption
    track): captions.vtt for a web page's ``<track>``, captions.srt for editors. 404 for a job without
    narration."""
    job = own_job(svc, who, job_id)
    if job.status != DONE:
        raise ApiError(409, "job_not_done", f"job {job_id} is {job.status}; its captions exist once it is done")
    if not narrated(job):
        raise ApiError(404, "no_captions", f"job {job_id} has no narration, so no captions")
    path = job_narration.caption_files(outputs_dir(svc.settings) / job.output)[kind]
    if not path.is_file():
        raise ApiError(404, "file_missing", f"the captions of job {job_id} are gone from storage")
    return FileResponse(path, media_type=f"{CAPTION_TYPES[kind]}; charset=utf-8", filename=f"kino-{job_id}.{kind}")


@router.get("/voices", response_model=list[VoiceOut], responses=ERRORS, tags=["jobs"])
def voices(language: str | None = Query(None, max_length=32, description="only voices of this language (en, "
                                        "en-gb, ...)"),
           who: Caller = Depends(caller), svc: Service = Depends(service)):
    """The voices a job's narration can use: the Piper voices of the server's voices folder first,
    then espeak-ng's (one per language; its name is the language)."""
    from kino.audio.voices import available, tag

    try:
        found = available(svc.settings.voices_dir)
    except VoiceError:
        log.exception("narration voices unavailable")
        raise ApiError(503, "voices_unavailable", "narration voices cannot be listed right now; try again later",
                       retry_after=30) from None
    if language:
        found = [v for v in found if tag(v.language).startswith(tag(language))]
    return [VoiceOut(name=v.name, engine=v.engine, language=v.language, description=v.description) for v in found]


@router.post("/jobs/{job_id}/cancel", operation_id="cancel_job", response_model=JobOut, responses=ERRORS, tags=["jobs"])
def cancel(job_id: str, who: Caller = Depends(caller), svc: Service = Depends(service)):
    """Cancel a queued job at once, or ask its worker to stop a running one (it stops within a step)."""
    job = own_job(svc, who, job_id)
    if job.status in FINISHED:
        raise ApiError(409, "job_finished", f"job {job_id} is already {job.status}")
    with svc.sessions.begin() as db:
        stop_jobs(db, Job.id == job_id)
        audit(db, "job.cancel", who.user, target=job_id)
    return job_out(own_job(svc, who, job_id))


@router.delete("/jobs/{job_id}", operation_id="delete_job", status_code=204, responses=ERRORS, tags=["jobs"])
def delete_job(job_id: str, who: Caller = Depends(caller), svc: Service = Depends(service)):
    """Delete a job and its files (a running job is stopped; its output is discarded)."""
    job = own_job(svc, who, job_id)
    with svc.sessions.begin() as db:
        db.execute(update(Job).where(Job.id == job_id)
                   .values(status=DELETED, cancel_requested=True, worker=None, lease_until=None, output=None))
        audit(db, "job.delete", who.user, target=job_id)
    if job.output:
        job_narration.remove(outputs_dir(svc.settings) / job.output)  # the video and its captions
    shutil.rmtree(uploads_dir(svc.settings, job_id), ignore_errors=True)
    return Response(status_code=204)


@router.get("/jobs/{job_id}/events", operation_id="job_events", responses={**ERRORS, **EVENTS_OK}, tags=["jobs"])
async def events(job_id: str, request: Request, who: Caller = Depends(caller), svc: Service = Depends(service)):
    """Live progress as server-sent events (``data: {job}``); the stream ends when the job finishes."""
    await run_in_threadpool(own_job, svc, who, job_id)

    async def stream():
        last, quiet = None, 0.0
        while True:
            try:
                job = await run_in_threadpool(own_job, svc, who, job_id)
            except ApiError:  # deleted meanwhile
                yield "event: deleted\ndata: {}\n\n"
                return
            position = await run_in_threadpool(queue_position, svc.sessions, job) if job.status == QUEUED else None
            state = job_out(job, position).model_dump_json()
            if state != last:
                yield f"data: {state}\n\n"
                last, quiet = state, 0.0
            elif quiet >= 15:  # a comment line keeps proxies from closing a stream whose job waits in the queue
                yield ": waiting\n\n"
                quiet = 0.0
            if job.status in FINISHED or await request.is_disconnected():
                return
            await asyncio.sleep(0.25)
            quiet += 0.25

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


# -- verification --------------------------------------------------------------------------------


def verify_file(svc: Service, path: Path, name: str = "the file") -> VerifyOut:
    """What the file is, and where it came from."""
    from kino.service.provenance import check

    return VerifyOut(**check(path, svc.settings.signing_keys, name))


@router.post("/verify", response_model=VerifyOut, responses=ERRORS, tags=["provenance"])
def verify_upload(file: UploadFile = File(..., description="an image or video to check"),
                  who: Caller = Depends(caller), svc: Service = Depends(service)):
    """Check an uploaded file for kino's provenance (C2PA manifest, watermark). Rate limited like
    jobs (per user, per minute); a file that would decode to more than the upload limits is refused
    from its headers."""
    data = file.file.read(svc.settings.max_upload_bytes + 1)
    try:
        try:
            suffix = check_upload("file", data, "video", svc.settings.max_upload_bytes)
        except UploadError as e:
            if e.code != "unsupported_media_type":
                raise
            suffix = check_upload("file", data, "image", svc.settings.max_upload_bytes)
        probe_upload("the file", data, suffix)
    except UploadError as e:
        raise ApiError(e.status, e.code, str(e).replace("a image", "an image or video")) from None
    with svc.sessions.begin() as db:  # counted and recorded under the user's lock, as jobs are
        lock_user(db, who)
        limit = svc.settings.policy(who.user.role).jobs_per_minute
        recent = db.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.user_id == who.user.id, AuditEvent.action == "verify", AuditEvent.at > now() - 60)) or 0
        if recent >= limit:
            raise ApiError(429, "rate_limited", f"at most {limit} checks a minute for role {who.user.role}",
                           retry_after=60)
        audit(db, "verify", who.user, bytes=len(data))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"upload{suffix}"
        path.write_bytes(data)
        out = verify_file(svc, path)
    return out


@router.get("/jobs/{job_id}/provenance", operation_id="job_provenance", response_model=VerifyOut, responses=ERRORS,
            tags=["provenance"])
def job_provenance(job_id: str, who: Caller = Depends(caller), svc: Service = Depends(service)):
    job = own_job(svc, who, job_id)
    if job.status != DONE:
        raise ApiError(409, "job_not_done", f"job {job_id} is {job.status}")
    return verify_file(svc, outputs_dir(svc.settings) / job.output)


# -- admin ---------------------------------------------------------------------------------------


@router.get("/admin/users", response_model=list[UserOut], responses=ERRORS, tags=["admin"])
def users(who: Caller = Depends(admin), svc: Service = Depends(service)):
    with svc.sessions() as db:
        return [user_out(db, u) for u in db.scalars(select(User).order_by(User.id)).all()]


@router.post("/admin/users", status_code=201, response_model=KeyOut, responses=ERRORS, tags=["admin"])
def create_user(body: NewUser, who: Caller = Depends(admin), svc: Service = Depends(service)):
    try:
        with svc.sessions.begin() as db:
            user, key = add_user(db, body.name, body.role)
            audit(db, "admin.user_add", who.user, target=body.name, role=body.role)
            out = user_out(db, user)
    except AccountError as e:
        raise ApiError(409 if e.code == "user_exists" else 422, e.code, str(e)) from None
    return KeyOut(user=out, api_key=key)


def stop_jobs(db, *which) -> int:
    """The jobs ``which`` selects: queued ones cancelled now, running ones asked to stop (their worker
    stops within a step). Returns how many."""
    queued = db.execute(update(Job).where(*which, Job.status == QUEUED).values(status=CANCELLED, finished=now()))
    running = db.execute(update(Job).where(*which, Job.status == RUNNING, Job.cancel_requested.is_(False))
                         .values(cancel_requested=True))
    return queued.rowcount + running.rowcount


def get_user(db, user_id: int) -> User:
    user = db.get(User, user_id) if 0 < user_id < 2**31 else None
    if user is None:
        raise ApiError(404, "user_not_found", f"no user {user_id}")
    return user


@router.patch("/admin/users/{user_id}", response_model=UserOut, responses=ERRORS, tags=["admin"])
def change_user(user_id: int, body: UserChange, who: Caller = Depends(admin), svc: Service = Depends(service)):
    """Change a user's role (staged release) or disable them."""
    with svc.sessions.begin() as db:
        user = get_user(db, user_id)
        if user.id == who.user.id and (body.disabled or (body.role and body.role != "admin")):
            raise ApiError(409, "self_lockout", "an admin cannot disable or demote themself")
        changes = {}
        if body.role is not None:
            changes["role"] = check_role(body.role)
        if body.disabled is not None:
            changes["disabled"] = body.disabled
        for k, v in changes.items():
            setattr(user, k, v)
        if body.disabled:  # a disabled user's work stops with them
            changes["jobs_stopped"] = stop_jobs(db, Job.user_id == user.id)
        audit(db, "admin.user_change", who.user, target=user.name, **changes)
        return user_out(db, user)


@router.post("/admin/users/{user_id}/keys", status_code=201, response_model=KeyOut, responses=ERRORS,
             tags=["admin"])
def new_user_key(user_id: int, revoke_old: bool = False, who: Caller = Depends(admin),
                 svc: Service = Depends(service)):
    """Issue a new API key for a user (optionally revoking the old ones)."""
    with svc.sessions.begin() as db:
        user = get_user(db, user_id)
        stopped = 0
        if revoke_old:  # a revoked key may be a stolen one: what it queued stops too
            old = list(db.scalars(select(ApiKey.id).where(ApiKey.user_id == user.id, ApiKey.revoked.is_(False))))
            db.execute(update(ApiKey).where(ApiKey.user_id == user.id).values(revoked=True))
            stopped = stop_jobs(db, Job.api_key_id.in_(old)) if old else 0
        key = add_key(db, user)
        audit(db, "admin.key_add", who.user, target=user.name, revoked_old=revoke_old, jobs_stopped=stopped)
        return KeyOut(user=user_out(db, user), api_key=key)


@router.get("/admin/audit", response_model=list[AuditOut], responses=ERRORS, tags=["admin"])
def audit_log(action: str | None = Query(None, max_length=32), limit: int = Query(100, ge=1, le=1000),
              who: Caller = Depends(admin), svc: Service = Depends(service)):
    q = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        q = q.where(AuditEvent.action == action)
    with svc.sessions() as db:
        rows = db.scalars(q).all()
    return [AuditOut(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target, detail=e.detail)
            for e in rows]


@router.get("/roles", response_model=dict[str, PolicyOut], responses=ERRORS, tags=["admin"])
def roles(who: Caller = Depends(admin), svc: Service = Depends(service)):
    """Every role's policy (what it may use)."""
    return {role: policy_out(svc, role) for role in ROLES}

