"""Durability: leases, retries after lost workers, at most one completion; a server killed mid-job."""

from __future__ import annotations

import dataclasses

import httpx
from service_helpers import add_user, kill9, kino, poll_job, serve_setup, stop, wait_for, wait_http

from kino.service.db import DONE, FAILED, QUEUED, RUNNING, Job, make_engine, migrate, session_factory
from kino.service.jobs import claim, finish, reap, renew


def queue(tmp_path, n: int = 1, url: str | None = None):
    engine = make_engine(url or f"sqlite:///{tmp_path / 'q.db'}")
    migrate(engine)
    sessions = session_factory(engine)
    with sessions.begin() as db:
        from kino.service.auth import add_user as add

        user, _ = add(db, "ann", "artist")
        for i in range(n):
            db.add(Job(id=f"job{i}", user_id=user.id, api_key_id=1, command="generate", model="default",
                       params={}, inputs={}, status=QUEUED, step=0, total_steps=1, attempts=0,
                       cancel_requested=False, created=float(i)))
    return sessions


def status(sessions, jid: str) -> Job:
    with sessions() as db:
        return db.get(Job, jid)


def test_claim_is_exclusive_and_in_order(tmp_path):
    sessions = queue(tmp_path, 3)
    got = [claim(sessions, f"w{i}", 30).id for i in range(3)]
    assert got == ["job0", "job1", "job2"]
    assert claim(sessions, "w9", 30) is None


def claim_concurrently(sessions, workers: int = 8) -> list[str]:
    """Every worker thread claims until the queue is empty; returns all claimed ids."""
    import threading

    claimed, lock = [], threading.Lock()

    def work(name):
        while (job := claim(sessions, name, 30)) is not None:
            with lock:
                claimed.append(job.id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return claimed


def test_concurrent_claims_take_each_job_once(tmp_path):
    sessions = queue(tmp_path, 40)
    claimed = claim_concurrently(sessions)
    assert sorted(claimed) == sorted(f"job{i}" for i in range(40))


def test_lost_worker_is_retried_and_stale_completion_is_refused(tmp_path):
    sessions = queue(tmp_path)
    assert claim(sessions, "a", lease_seconds=-1).id == "job0"  # its lease has already run out
    assert reap(sessions, max_attempts=3) == ["job0"]
    assert status(sessions, "job0").status == QUEUED
    assert claim(sessions, "b", 30).attempts == 2
    assert renew(sessions, "job0", "a", 30, 1, 1) == (False, False)  # a's lease is gone
    assert not finish(sessions, "job0", "a", DONE, output="a.mp4")  # the stale worker cannot complete it
    assert finish(sessions, "job0", "b", DONE, output="b.mp4")
    assert not finish(sessions, "job0", "b", DONE, output="b.mp4")  # nor can anyone complete it twice
    job = status(sessions, "job0")
    assert (job.status, job.output, job.attempts) == (DONE, "b.mp4", 2)


def test_gives_up_after_max_attempts(tmp_path):
    sessions = queue(tmp_path)
    for attempt in range(1, 4):
        assert claim(sessions, f"w{attempt}", lease_seconds=-1).attempts == attempt
        reap(sessions, max_attempts=3)
    job = status(sessions, "job0")
    assert (job.status, job.error_code, job.attempts) == (FAILED, "worker_lost", 3)
    assert claim(sessions, "w4", 30) is None


def test_worker_thread_takes_back_an_abandoned_job(settings, make_client):
    client = make_client(dataclasses.replace(settings, lease_seconds=0.6))
    h = add_user(client, "ann", "artist")
    job = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 2}, headers=h).json()
    sessions = client.app.state.service.sessions
    # Simulate a worker that claimed the job and died: force the job back to RUNNING under a dead holder.
    wait_for(client, h, job["id"])
    with sessions.begin() as db:
        j = db.get(Job, job["id"])
        j.status, j.worker, j.lease_until, j.output, j.result = RUNNING, "dead-worker", 0.0, None, None
    done = wait_for(client, h, job["id"], until=("done",), timeout=30)
    assert done["attempts"] == 2 and done["result"]["frames"] == 9


def test_server_killed_mid_job_completes_after_restart(tmp_path, tiny_model_dir):
    common, h, port, url = serve_setup(tmp_path, tiny_model_dir)
    server = kino("serve", "--port", str(port), *common)
    try:
        wait_http(url, server)
        with httpx.Client(base_url=url, timeout=30) as http:
            r = http.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 100, "seconds": 8}, headers=h)
            assert r.status_code == 201, r.text
            jid = r.json()["id"]
            poll_job(http, h, jid, lambda j: j["status"] == "running" and j["step"] >= 1)
        kill9(server)  # the whole server, worker thread included, dies mid-job
        server = kino("serve", "--port", str(port), *common)
        wait_http(url, server)
        with httpx.Client(base_url=url, timeout=30) as http:
            job = poll_job(http, h, jid, lambda j: j["status"] in ("done", "failed"), timeout=180)
            assert job["status"] == "done" and job["attempts"] == 2, job
            assert http.get(job["video_url"], headers=h).content[4:8] == b"ftyp"
        outputs = [p.name for p in (tmp_path / "data" / "outputs").iterdir() if not p.name.startswith(".")]
        assert outputs == [f"{jid}-2.mp4"]  # one finished file; the killed run left none
    finally:
        stop(server)


def test_deleting_a_running_job_stops_it_and_leaves_no_file(client, caplog):
    import time

    h = add_user(client, "ann", "admin")
    job = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 200, "seconds": 16}, headers=h).json()
    wait_for(client, h, job["id"], until=("running",))
    t0 = time.monotonic()
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=h).status_code == 204
    while "dropped this run" not in caplog.text:  # the worker notices within a heartbeat and stops sampling
        assert time.monotonic() - t0 < 10, "the worker kept running a deleted job"
        time.sleep(0.05)
    svc = client.app.state.service
    with svc.sessions() as db:
        row = db.get(Job, job["id"])
    assert (row.status, row.output, row.worker) == ("deleted", None, None)
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=h).status_code == 404
    assert list((svc.settings.data_dir / "outputs").glob("*.mp4")) == []


def test_shutdown_releases_a_running_job_and_the_next_start_runs_it(settings, make_client, pipelines):
    from fastapi.testclient import TestClient

    from kino.service.app import create_app

    with TestClient(create_app(settings, pipelines)) as first:
        h = add_user(first, "ann", "admin")
        job = first.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 100, "seconds": 8}, headers=h).json()
        wait_for(first, h, job["id"], until=("running",))
    # The first server stopped mid-job: the job is queued again at once, its attempt not counted.
    second = make_client(settings)
    back = second.get(f"/api/v1/jobs/{job['id']}", headers=h).json()
    assert back["status"] in ("queued", "running") and back["attempts"] <= 1
    done = wait_for(second, h, job["id"], timeout=120)
    assert done["status"] == "done" and done["attempts"] == 1
    actions = [e["action"] for e in second.get("/api/v1/admin/audit", headers=h).json()]
    assert "job.released" in actions


def test_unexplained_failure_is_retried_then_failed(settings, make_client):
    client = make_client(settings)
    h = add_user(client, "root", "admin")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "outputs").write_text("a file where the outputs folder should be")  # every write fails
    job = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1}, headers=h).json()
    failed = wait_for(client, h, job["id"], timeout=60)
    assert (failed["status"], failed["error"]["code"], failed["attempts"]) == ("failed", "internal_error", 3)
    events = client.get("/api/v1/admin/audit", headers=h).json()
    assert [e["action"] for e in events if e["target"] == job["id"]] == [
        "job.failed", "job.retry", "job.retry", "job.create"]
