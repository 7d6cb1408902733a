"""Workers: a thread inside ``kino serve`` (embedded), or ``kino worker`` processes fed by Redis (RQ) or the database.

Redis carries wake-up tokens only ("a job is waiting"); each token makes a worker claim the
oldest queued job from the database. So a lost or duplicated token costs nothing: the
maintenance loop re-issues a token whenever queued jobs wait and the Redis queue is empty.
"""

from __future__ import annotations

import logging
import signal
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from kino.service.db import QUEUED, Job
from kino.service.jobs import Runner, reap
from kino.service.settings import Settings

log = logging.getLogger(__name__)
RQ_QUEUE = "kino"

_runner: Runner | None = None  # the Runner of this `kino worker` process (RQ calls a plain function)


def queued_count(sessions: sessionmaker) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Job).where(Job.status == QUEUED)) or 0


class Notifier:
    """Tells workers that a job is waiting: an Event for embedded workers, an RQ token with Redis."""

    def __init__(self, settings: Settings):
        self.wake = threading.Event()
        self.queue = None
        if settings.redis_url:
            from redis import Redis
            from rq import Queue

            self.queue = Queue(RQ_QUEUE, connection=Redis.from_url(settings.redis_url))

    def notify(self, job_id: str) -> None:
        self.wake.set()
        if self.queue is not None:
            self.queue.enqueue_call("kino.service.worker.rq_run", args=(job_id,), timeout=24 * 3600,
                                    result_ttl=0, failure_ttl=3600)

    def pending_tokens(self) -> int:
        return self.queue.count if self.queue is not None else 0


def maintain(settings: Settings, sessions: sessionmaker, notifier: Notifier) -> None:
    """Take back jobs of lost workers, and make sure waiting jobs have a token in Redis."""
    for jid in reap(sessions, settings.max_attempts):
        notifier.notify(jid)
    if notifier.queue is not None and notifier.pending_tokens() == 0:
        for _ in range(min(queued_count(sessions), 64)):
            notifier.notify("any")


class Maintenance(threading.Thread):
    def __init__(self, settings: Settings, sessions: sessionmaker, notifier: Notifier):
        super().__init__(name="kino-maintenance", daemon=True)
        self.settings, self.sessions, self.notifier = settings, sessions, notifier
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(max(0.2, self.settings.lease_seconds / 4)):
            try:
                maintain(self.settings, self.sessions, self.notifier)
            except Exception:  # a database hiccup must not end maintenance
                log.exception("maintenance pass failed")


class EmbeddedWorker(threading.Thread):
    """Claims and runs jobs until stopped; idle, it waits for a notification or the poll interval."""

    def __init__(self, runner: Runner, notifier: Notifier, ready: threading.Event | None = None):
        """``ready``: set once the models are loaded; no job is taken before (a model loading while
        another generates can change torch's default dtype under it: transformers sets it globally)."""
        super().__init__(name="kino-worker", daemon=True)
        self.runner, self.notifier = runner, notifier
        self.stop = threading.Event()
        self.ready = ready

    def run(self) -> None:
        settings, sessions = self.runner.settings, self.runner.sessions
        while self.ready is not None and not self.ready.wait(settings.poll_seconds):
            if self.stop.is_set():
                return
        while not self.stop.is_set():
            try:
                reap(sessions, settings.max_attempts)
                if self.runner.run_next() is None:
                    self.notifier.wake.wait(settings.poll_seconds)
                    self.notifier.wake.clear()
            except Exception:
                log.exception("worker loop error")
                self.stop.wait(settings.poll_seconds)


def rq_run(job_id: str) -> str | None:
    """RQ entry point: claim the oldest queued job (the token's own job usually) and run it."""
    assert _runner is not None, "rq_run runs inside `kino worker`"
    return _runner.run_next()


def run_worker(settings: Settings, sessions: sessionmaker, pipelines, burst: bool = False) -> None:
    """The ``kino worker`` loop: RQ when ``settings.redis_url`` is set, else polling the database."""
    global _runner
    _runner = Runner(settings, sessions, pipelines)
    for name in pipelines.names():  # load before taking work, so a claimed job's lease is not spent loading
        pipelines.get(name)
    notifier = Notifier(settings)
    maintain(settings, sessions, notifier)
    maintenance = Maintenance(settings, sessions, notifier)
    maintenance.start()
    log.warning("kino worker %s ready (%s)", _runner.name, "redis" if settings.redis_url else "database polling")
    try:
        if settings.redis_url:
            from rq import SimpleWorker

            # SimpleWorker runs jobs in this process, so the loaded pipelines are reused between jobs.
            worker = SimpleWorker([notifier.queue], connection=notifier.queue.connection)
            worker.work(burst=burst, logging_level="WARNING")
        else:
            w = EmbeddedWorker(_runner, notifier)

            def on_term(_sig, _frame):  # SIGTERM: release the job in progress and leave
                w.stop.set()
                _runner.stopping.set()
                notifier.wake.set()

            signal.signal(signal.SIGTERM, on_term)
            if burst:
                while _runner.run_next() is not None:
                    pass
            else:
                w.run()
    finally:
        maintenance.stop.set()
