"""Production mode for real: PostgreSQL by URL, Redis (RQ) queue, `kino worker` processes.

The servers come from `.ci/services`. Locally, without them, these tests skip and say why;
in CI (CI=true) a missing server is a failure, not a skip.
"""

from __future__ import annotations

import dataclasses
import uuid

import httpx
import pytest
from conftest import IN_CI, PG_URL, REDIS_URL
from service_helpers import add_user, kill9, kino, poll_job, serve_setup, stop, wait_for, wait_http


def unavailable(what: str, error: Exception):
    message = f"{what} is not running here ({error}); `bash .ci/services` starts it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def pg_url():
    """A fresh database on the PostgreSQL server, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as e:
        unavailable("PostgreSQL", e)
    name = f"kino_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    yield PG_URL.rsplit("/", 1)[0] + "/" + name
    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture
def redis_url():
    """Redis database 15, emptied before and after."""
    from redis import Redis
    from redis.exceptions import RedisError

    r = Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        r.flushdb()
    except RedisError as e:
        unavailable("Redis", e)
    yield REDIS_URL
    r.flushdb()


def test_api_on_postgres(pg_url, settings, make_client):  # pg_url first: the database outlives the app
    client = make_client(dataclasses.replace(settings, db_url=pg_url))
    a, b = add_user(client, "ann", "artist"), add_user(client, "bob", "artist")
    job = client.post("/api/v1/jobs", data={"prompt": "a red ball", "steps": 2}, headers=a).json()
    done = wait_for(client, a, job["id"])
    assert done["status"] == "done" and done["result"]["frames"] == 9
    assert client.get(done["video_url"], headers=a).content[4:8] == b"ftyp"
    assert client.get(f"/api/v1/jobs/{job['id']}", headers=b).status_code == 404
    r = client.post("/api/v1/jobs", data={"prompt": "a man is beheaded"}, headers=b)
    assert r.json()["error"]["code"] == "refused"
    from sqlalchemy import create_engine, text

    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:  # the rows are really in PostgreSQL
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        actions = conn.execute(text("SELECT action FROM audit ORDER BY id")).scalars().all()
    engine.dispose()
    assert actions == ["job.create", "job.done", "job.refused"]


def test_concurrent_claims_on_postgres_take_each_job_once(tmp_path, pg_url):
    from test_durability import claim_concurrently, queue

    sessions = queue(tmp_path, 60, url=pg_url)
    claimed = claim_concurrently(sessions, workers=12)
    assert sorted(claimed) == sorted(f"job{i}" for i in range(60))  # none twice, none left behind
    sessions.kw["bind"].dispose()


def test_redis_workers_survive_kill9(tmp_path, tiny_model_dir, pg_url, redis_url):
    """A server without a worker and a `kino worker` over Redis, killed mid-job; a new worker finishes everything."""
    common, h, port, url = serve_setup(tmp_path, tiny_model_dir, "--db", pg_url, "--redis", redis_url)
    procs = {"server": kino("serve", "--port", str(port), *common)}
    try:
        procs["w1"] = kino("worker", *common)
        wait_http(url, procs["server"])
        with httpx.Client(base_url=url, timeout=30) as http:
            long = http.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 100, "seconds": 8}, headers=h)
            assert long.status_code == 201, long.text
            jid = long.json()["id"]
            short = [http.post("/api/v1/jobs", data={"prompt": f"a cube {i}", "steps": 2}, headers=h).json()["id"]
                     for i in range(4)]
            poll_job(http, h, jid, lambda j: j["status"] == "running" and j["step"] >= 1, timeout=180)
            kill9(procs.pop("w1"))
            procs["w2"] = kino("worker", *common)
            jobs = [poll_job(http, h, i, lambda j: j["status"] in ("done", "failed"), timeout=240)
                    for i in [jid, *short]]
        assert [j["status"] for j in jobs] == ["done"] * 5
        assert jobs[0]["attempts"] == 2 and all(j["attempts"] == 1 for j in jobs[1:])
        outputs = sorted(p.name for p in (tmp_path / "data" / "outputs").iterdir() if not p.name.startswith("."))
        assert outputs == sorted(f"{j['id']}-{j['attempts']}.mp4" for j in jobs)
    finally:
        for p in procs.values():
            stop(p)


def test_a_burst_of_requests_gets_exactly_the_rate_limit_on_postgres(pg_url, settings, make_client):
    from service_helpers import post_burst, serve, with_policy

    settings = dataclasses.replace(settings, db_url=pg_url, embedded_worker=False)
    client = make_client(with_policy(settings, "public", jobs_per_minute=4, jobs_per_day=1000))
    h = add_user(client, "pub", "public")
    with serve(client) as url:
        codes = post_burst(url, h, 40, {"prompt": "a ball", "steps": 1})
    assert sorted(codes) == [201] * 4 + [429] * 36, codes
