"""Audit log of safety refusals: an append-only JSON-lines file, one record per refusal.

A record holds the UTC time, the SHA-256 of the prompt (never the prompt itself), the refused
category, what matched (a term, a protected name, a nudity class), the stage that refused
("prompt", "input", "output") and the user when there is one::

    {"time": "2026-11-26T01:02:03.456789Z", "prompt_sha256": "9f86...", "category": "sexual",
     "matched": "exposed female breast 0.81 (output frame 12)", "stage": "output", "user": null}

Each record is one ``os.write`` of one line to a file opened with ``O_APPEND``, then ``fsync``:
concurrent writers (CLI runs, service workers) never interleave inside a line, and a record
that was reported written survives a crash. ``read`` skips a torn last line rather than failing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from datetime import datetime, timezone
from pathlib import Path

log = logging.getLogger(__name__)

FIELDS = ("time", "prompt_sha256", "category", "matched", "stage", "user")


def prompt_hash(prompt: str | None) -> str | None:
    return None if prompt is None else hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def record(
    path: str | Path,
    *,
    category: str,
    prompt: str | None = None,
    matched: str | None = None,
    stage: str = "prompt",
    user: str | None = None,
) -> dict:
    """Append one refusal to the log at ``path`` (created with its folder if missing); returns the record."""
    entry = {
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "prompt_sha256": prompt_hash(prompt),
        "category": category,
        "matched": matched,
        "stage": stage,
        "user": user,
    }
    line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        written = os.write(fd, line)
        if written != len(line):  # a regular file takes the whole line or raises (disk full)
            raise OSError(f"short write to the audit log {path}")
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def read(path: str | Path, user: str | None = None, category: str | None = None) -> list[dict]:
    """All records in the log, oldest first, optionally only one user's or one category's."""
    path = Path(path)
    if not path.exists():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            log.warning("audit log %s: line %d is not a record (torn write?); skipped", path, n)
            continue
        if (user is None or entry.get("user") == user) and (category is None or entry.get("category") == category):
            out.append(entry)
    return out
