"""Helpers for the service tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

import contextlib
import dataclasses
import time

from kino.service.settings import Settings


def add_user(client, name: str, role: str) -> dict:
    """A user and its key, made the way `kino users add` makes them; returns auth headers."""
    from kino.service.auth import add_user as add

    svc = client.app.state.service
    with svc.sessions.begin() as db:
        _, key = add(db, name, role)
    return {"Authorization": f"Bearer {key}"}


def wait_for(client, headers, job_id: str, until=("done", "failed", "cancelled"), timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in until:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def with_policy(settings: Settings, role: str, **changes) -> Settings:
    policies = dict(settings.policies)
    policies[role] = dataclasses.replace(policies[role], **changes)
    return dataclasses.replace(settings, policies=policies)


# -- real processes: `kino serve` and `kino worker` as a user runs them -----------------------------

import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(folder, **values) -> str:
    """A TOML settings file; short leases so a lost worker is noticed within seconds."""
    values = {"lease_seconds": 2.0, "poll_seconds": 0.1, "max_attempts": 3, **values}
    path = folder / "kino.toml"
    path.write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()))
    return str(path)


def kino(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "kino.cli", *args], env=env, start_new_session=True, **kw)


def kino_users_add(name: str, role: str, *common: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "kino.cli", "users", "add", name, "--role", role, *common],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    return {"Authorization": f"Bearer {out.stdout.strip()}"}


def serve_setup(tmp_path, model_dir, *extra: str) -> tuple[list[str], dict, int, str]:
    """For a `kino serve` over ``tmp_path``: its common arguments (``extra`` before --config), an admin's
    headers, a free port and its URL."""
    common = ["--model", str(model_dir), "--data-dir", str(tmp_path / "data"), *extra,
              "--config", write_config(tmp_path)]
    headers = kino_users_add("root", "admin", *common)
    port = free_port()
    return common, headers, port, f"http://127.0.0.1:{port}"


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/openapi.json", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up in {timeout} s")


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            kill9(proc)


def poll_job(http, headers, job_id: str, until, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = http.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if until(job):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not reach the state in {timeout} s: {job}")


def post_burst(url: str, headers: dict, n: int, data: dict) -> list[int]:
    """``n`` job requests sent at once over HTTP (each from its own thread, all released together);
    their status codes."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    gate = threading.Barrier(n)

    def one(_):
        with httpx.Client(timeout=120) as http:
            gate.wait()
            return http.post(f"{url}/api/v1/jobs", data=data, headers=headers).status_code

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


@contextlib.contextmanager
def serve(client):
    """The test client's app also served over HTTP by uvicorn on loopback; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(client.app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))  # the TestClient already ran the lifespan
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
