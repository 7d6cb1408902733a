"""The job queue in the database, and the runner that executes a claimed job.

The database is the source of truth; Redis (when used) only says "look at job X".
A worker *claims* a queued job by a conditional UPDATE (exactly one claimant wins), holds
it with a lease it renews from a heartbeat thread, and completes it by another conditional
UPDATE that only the lease holder can make. A worker that dies stops renewing; ``reap``
puts its job back in the queue (or fails it after ``max_attempts`` runs). So a job is never
lost and never completed twice; a stale worker's late output is discarded.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import sessionmaker

from kino import output
from kino.progress import Progress
from kino.safety.moderation import SafetyRefusal
from kino.service import narration
from kino.service.db import CANCELLED, DONE, FAILED, QUEUED, RUNNING, AuditEvent, Job, now
from kino.service.settings import Settings

log = logging.getLogger(__name__)


def new_job_id() -> str:
    return uuid.uuid4().hex


def worker_name() -> str:
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def outputs_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "outputs"


def uploads_dir(settings: Settings, job_id: str) -> Path:
    return Path(settings.data_dir) / "uploads" / job_id


def claim(sessions: sessionmaker, worker: str, lease_seconds: float, job_id: str | None = None) -> Job | None:
    """Take the oldest queued job (or ``job_id`` if it is queued) for ``worker``; None if there is none."""
    for _ in range(5):  # another worker may win the race for the same row; try the next one
        with sessions.begin() as db:
            q = select(Job.id).where(Job.status == QUEUED)
            q = q.where(Job.id == job_id) if job_id else q.order_by(Job.created).limit(1)
            # PostgreSQL: rows another worker is claiming right now are skipped, not waited for (SQLite has
            # one writer at a time anyway, and SQLAlchemy leaves the clause out there).
            q = q.with_for_update(skip_locked=True)
            jid = db.scalar(q)
            if jid is None:
                return None
            t = now()
            won = db.execute(
                update(Job).where(Job.id == jid, Job.status == QUEUED)
                .values(status=RUNNING, worker=worker, lease_until=t + lease_seconds, attempts=Job.attempts + 1,
                        started=t, step=0)
            ).rowcount
            if won == 1:
                return db.get(Job, jid)
        if job_id:
            return None
    return None


def renew(sessions: sessionmaker, job_id: str, worker: str, lease_seconds: float, step: int, total: int,
          stage: str | None = None):
    """Extend the lease and record progress (units of work, kino.progress, and the stage at work, once
    any is planned); returns (still ours, cancel requested)."""
    progress = dict(step=step, total_steps=total, stage=stage) if total else {}
    with sessions.begin() as db:
        ours = db.execute(
            update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == RUNNING)
            .values(lease_until=now() + lease_seconds, **progress)
        ).rowcount == 1
        cancel = bool(db.scalar(select(Job.cancel_requested).where(Job.id == job_id)))
    return ours, cancel


def finish(sessions: sessionmaker, job_id: str, worker: str, status: str, audit_detail: dict | None = None,
           **values) -> bool:
    """Move a job we hold to a final state, with its audit event; False if the lease was lost."""
    with sessions.begin() as db:
        won = db.execute(
            update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == RUNNING)
            .values(status=status, finished=now(), lease_until=None, **values)
        ).rowcount == 1
        if won:
            user_id = db.scalar(select(Job.user_id).where(Job.id == job_id))
            db.add(AuditEvent(action=f"job.{status}", user_id=user_id, actor=f"worker:{worker}"[:64], target=job_id,
                              detail=audit_detail or {k: v for k, v in values.items() if k in ("error_code", "error")}))
        return won


def reap(sessions: sessionmaker, max_attempts: int) -> list[str]:
    """Take back jobs whose worker stopped renewing; returns the ids put back in the queue."""
    requeued = []
    with sessions.begin() as db:
        t = now()
        rows = db.execute(select(Job.id, Job.attempts, Job.cancel_requested, Job.lease_until)
                          .where(Job.status == RUNNING, Job.lease_until < t)).all()
        for jid, attempts, cancel, lease in rows:
            if cancel:
                values = dict(status=CANCELLED, finished=t)
            elif attempts >= max_attempts:
                values = dict(status=FAILED, finished=t, error_code="worker_lost",
                              error=f"the worker running this job stopped {attempts} times; gave up")
            else:
                values = dict(status=QUEUED)
            done = db.execute(update(Job).where(Job.id == jid, Job.status == RUNNING, Job.lease_until == lease)
                              .values(worker=None, lease_until=None, **values)).rowcount
            if done:
                action = "job.requeued" if values["status"] == QUEUED else f"job.{values['status']}"
                user_id = db.scalar(select(Job.user_id).where(Job.id == jid))
                db.add(AuditEvent(action=action, user_id=user_id, actor="maintenance", target=jid,
                                  detail={"reason": "worker_lost", "attempts": attempts}))
            if done and values["status"] == QUEUED:
                log.warning("job %s: worker lost (attempt %d of %d); queued again", jid, attempts, max_attempts)
                requeued.append(jid)
    return requeued


def queue_position(sessions: sessionmaker, job: Job) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Job)
                         .where(Job.status == QUEUED, Job.created < job.created)) or 0


class Cancelled(Exception):
    pass


class LeaseLost(Exception):
    pass


class Released(Exception):
    """This worker is shutting down: the job goes back to the queue at once, its attempt not counted."""


def release(sessions: sessionmaker, job_id: str, worker: str, count_attempt: bool = False,
            reason: str = "worker shutting down") -> bool:
    """Put a job we hold back in the queue; its attempt counts only if ``count_attempt`` (a failed run)."""
    with sessions.begin() as db:
        won = db.execute(
            update(Job).where(Job.id == job_id, Job.worker == worker, Job.status == RUNNING)
            .values(status=QUEUED, worker=None, lease_until=None, step=0,
                    attempts=Job.attempts if count_attempt else Job.attempts - 1)
        ).rowcount == 1
        if won:
            user_id = db.scalar(select(Job.user_id).where(Job.id == job_id))
            action = "job.retry" if count_attempt else "job.released"
            db.add(AuditEvent(action=action, user_id=user_id, actor=f"worker:{worker}"[:64], target=job_id,
                              detail={"reason": reason[:500]}))
        return won


@dataclass
class Reported:
    """A job's progress as its making last reported it (kino.progress), for the heartbeat to record."""

    step: int = 0
    total: int = 0
    stage: str = ""


class Runner:
    """Runs claimed jobs in this process; pipelines are loaded once per model and kept."""

    def __init__(self, settings: Settings, sessions: sessionmaker, pipelines=None):
        self.settings, self.sessions = settings, sessions
        self.pipelines = pipelines  # kino.service.models.Pipelines (shared with the API in one process)
        self.name = worker_name()
        self.stopping = threading.Event()  # set on shutdown: a running job is released within a step

    def run_next(self, job_id: str | None = None) -> str | None:
        """Claim and run one job; returns its id, or None if there was nothing to claim."""
        job = claim(self.sessions, self.name, self.settings.lease_seconds, job_id)
        if job is None:
            return None
        self.run(job)
        return job.id

    def run(self, job: Job) -> None:
        reported, stop = Reported(), threading.Event()
        state = {"cancel": False, "lost": False}
        beat = threading.Thread(target=self._heartbeat, args=(job.id, reported, stop, state), daemon=True)
        beat.start()

        def on_step(done: int, total: int) -> None:
            reported.step, reported.total, reported.stage = done, total, progress.stage
            if state["lost"]:
                raise LeaseLost(job.id)
            if state["cancel"]:
                raise Cancelled(job.id)
            if self.stopping.is_set():
                raise Released(job.id)

        progress = Progress(on_step)  # every stage of the making and the writing reports into it
        out = outputs_dir(self.settings) / f"{job.id}-{job.attempts}.mp4"
        try:
            result = execute(self.settings, self.pipelines, job, out, progress)
        except Cancelled:
            stop.set()
            finish(self.sessions, job.id, self.name, CANCELLED)
            return
        except Released:
            stop.set()
            release(self.sessions, job.id, self.name)
            log.warning("job %s: released back to the queue (worker shutting down)", job.id)
            return
        except LeaseLost:
            stop.set()
            log.warning("job %s: lease lost to another worker; dropped this run", job.id)
            return
        except SafetyRefusal as e:  # e.g. the output frames failed the frame checks
            stop.set()
            v = e.verdict
            finish(self.sessions, job.id, self.name, FAILED, error_code="refused", error=f"refused: {v.category}",
                   audit_detail={"category": v.category, "matched": v.matched, "stage": "run"})
            return
        except Exception as e:
            stop.set()
            code = getattr(e, "code", None) or ("invalid_request" if isinstance(e, ValueError) else "internal_error")
            if code == "internal_error":
                log.exception("job %s failed (attempt %d of %d)", job.id, job.attempts, self.settings.max_attempts)
                # An unexplained failure may be this machine's (memory, disk): another run may succeed.
                if job.attempts < self.settings.max_attempts:
                    release(self.sessions, job.id, self.name, count_attempt=True, reason=f"{type(e).__name__}: {e}")
                    return
            # A job that fails on its inputs fails the same way every time: no retry.
            finish(self.sessions, job.id, self.name, FAILED, error_code=code, error=str(e)[:2000])
            return
        finally:
            stop.set()
            beat.join()
        if not finish(self.sessions, job.id, self.name, DONE, output=out.name, result=result,
                      step=reported.total, total_steps=reported.total):
            narration.remove(out)  # someone else holds the job now; their run is the one that counts
            log.warning("job %s: lease lost before completion; output discarded", job.id)

    def _heartbeat(self, job_id: str, reported: Reported, stop: threading.Event, state: dict) -> None:
        interval = min(0.5, self.settings.lease_seconds / 3)
        while not stop.wait(interval):
            try:
                ours, cancel = renew(self.sessions, job_id, self.name, self.settings.lease_seconds,
                                     reported.step, reported.total, reported.stage or None)
            except Exception:  # a database hiccup: try again next beat; the lease has slack for a few
                log.warning("job %s: heartbeat failed", job_id, exc_info=True)
                continue
            state["lost"], state["cancel"] = not ours, cancel


def stamp(settings: Settings, pipelines, job: Job, folder: Path):
    """The provenance every output carries (kino.output.stamp, as the CLI's): watermark and C2PA
    manifest naming the model's backend and weights, signed with the service's keys."""
    from kino.provenance.keys import ensure

    operation = "extend" if job.command == "extend" else "generate"
    sources = tuple(folder / job.inputs[k] for k in ("video",) if k in job.inputs)
    return output.stamp(ensure(settings.signing_keys), pipelines.info(job.model), operation, sources,
                        digest=pipelines.weights_sha256(job.model))


def story_of(p: dict):
    """The storyboard a multi-shot job makes: its prompt's shots, each as long as the API planned it
    (``shot_seconds``: a narrated shot as long as its words), or, for a job queued before shots had
    lengths of their own, ``seconds`` split evenly."""
    from kino.pipelines import storyboard

    return storyboard.from_prompt(p["prompt"], p["seconds"], p["seed"]).with_seconds(p.get("shot_seconds") or None)


def soundtrack(settings: Settings, job: Job, video, fps: int):
    """The narration of a job's video (kino.service.narration), spoken again from its params, each
    line from its shot's first frame; None for a job without narration."""
    kept = job.params.get(narration.PARAM)
    if not kept:
        return None
    starts = [0.0, *(cut / fps for cut in getattr(video, "cuts", []))]
    music = uploads_dir(settings, job.id) / job.inputs["music"] if "music" in job.inputs else None
    return narration.soundtrack(kept, starts, len(video) / fps, settings.voices_dir, music)


def execute(settings: Settings, pipelines, job: Job, out: Path, progress: Progress) -> dict:
    """Make a job's video on its model (a Backend, kino's own as the open ones) through kino.core, as
    the CLI makes it, and write it to ``out`` through kino.output (with its narration, and the
    narration's caption files beside it); returns a small summary. ``progress`` counts the work of
    both, planned before any is done."""
    from kino import core
    from kino.data.video_io import read_video, write_units
    from kino.service.uploads import read_image

    p = dict(job.params)
    # Jobs queued before these params existed: the director on, the model's sampler.
    backend = pipelines.get(job.model).configured(layout=p.get("layout", True), sampler=p.get("sampler"))
    folder = uploads_dir(settings, job.id)
    out.parent.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    writing = nullcontext(progress)  # what the writing counts into: the job's progress, or a part set aside
    images = {k: read_image(folder / v) for k, v in job.inputs.items() if k in ("image", "last_image")}
    request = core.Job(p["prompt"], seed=p["seed"], seconds=p["seconds"], fps=p["fps"], width=p["width"],
                       height=p["height"], steps=p["steps"], guidance=p["guidance"],
                       negative_prompt=p.get("negative_prompt"), loop=p.get("loop", False), user=p.get("user") or None,
                       **images)
    if job.command == "extend":  # made whole, then written: the writing is set aside first
        frames, _ = read_video(folder / job.inputs["video"])
        fps = p["fps"]
        units = write_units(len(frames) + math.ceil(p["seconds"] * fps) + 1)
        progress.expect(units)
        writing = progress.part(units)
        video = core.continue_video(backend, request, frames, fps, backend.guard, progress,
                                    backward=p.get("backward", False))
    elif p.get("shots"):  # "Shot 1: ... Shot 2: ...": shots joined with hard cuts
        video = core.storyboard(backend, story_of(p), backend.guard, progress, width=p["width"], height=p["height"],
                                fps=p["fps"], steps=p["steps"], guidance=p["guidance"],
                                negative_prompt=request.negative_prompt, user=request.user)
        fps = video.fps  # encoded as it is made
    else:  # one shot, made chunk by chunk when longer than the model's window
        video = core.stream(backend, core.resolve(backend, request), backend.guard, progress)
        fps = video.fps  # encoded as it is made
    track = soundtrack(settings, job, video, fps)  # spoken before the first frame is made
    t0 = time.perf_counter()
    with writing as counted:
        count = output.save(out, video, fps, stamp(settings, pipelines, job, folder), counted, track)
    timings["write_and_sign"] = time.perf_counter() - t0
    if isinstance(video, np.ndarray):
        height, width = video.shape[1:3]
    else:  # made while it was written: the writing is what the making left of that time
        height, width = video.height, video.width
        timings = {**video.timings, "write_and_sign": timings["write_and_sign"] - video.timings["total"]}
    result = {"frames": count, "fps": int(fps), "width": int(width), "height": int(height),
              "seconds": round(count / fps, 3), "timings": {k: round(v, 3) for k, v in timings.items()}}
    if track is not None:
        result[narration.PARAM] = track.record  # voices, rate, lines, captions, burnt_in, music
    return result
