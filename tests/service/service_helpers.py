"""Helpers for the service tests (imported by name: tests/ has no packages)."""

from __future__ import annotations

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
