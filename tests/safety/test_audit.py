"""Audit log: one JSON line per refusal, append-only, safe under concurrent writers, torn lines skipped."""

import hashlib
import json
import multiprocessing
from datetime import datetime, timezone

from kino.safety import audit


def test_record_holds_time_prompt_hash_category_matched_user_and_never_the_prompt(tmp_path):
    log = tmp_path / "sub" / "audit.jsonl"  # the folder is created
    before = datetime.now(timezone.utc)
    entry = audit.record(log, category="sexual", prompt="a secret prompt", matched="porn", stage="prompt", user="ann")
    (line,) = log.read_text().splitlines()
    assert json.loads(line) == entry
    assert entry["prompt_sha256"] == hashlib.sha256(b"a secret prompt").hexdigest()
    assert (entry["category"], entry["matched"], entry["stage"], entry["user"]) == ("sexual", "porn", "prompt", "ann")
    when = datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert before <= when <= datetime.now(timezone.utc)
    assert "secret" not in log.read_text()
    assert set(entry) == set(audit.FIELDS)


def test_records_are_appended_and_read_back_in_order_with_filters(tmp_path):
    log = tmp_path / "audit.jsonl"
    audit.record(log, category="hate", prompt="x", user="ann")
    audit.record(log, category="sexual", prompt=None, matched="exposed", stage="output")
    audit.record(log, category="hate", prompt="y", user="bob")
    assert [e["category"] for e in audit.read(log)] == ["hate", "sexual", "hate"]
    assert [e["user"] for e in audit.read(log, category="hate")] == ["ann", "bob"]
    assert [e["category"] for e in audit.read(log, user="bob")] == ["hate"]
    assert audit.read(log)[1]["prompt_sha256"] is None
    assert audit.read(tmp_path / "missing.jsonl") == []


def test_a_torn_last_line_is_skipped_not_fatal(tmp_path):
    log = tmp_path / "audit.jsonl"
    audit.record(log, category="hate", prompt="x")
    with open(log, "a") as f:
        f.write('{"time": "2026-01-01T00:00:00.0Z", "categ')  # a crash mid-write
    assert [e["category"] for e in audit.read(log)] == ["hate"]


def _write_many(args):
    path, worker = args
    for i in range(40):
        audit.record(path, category="violence_extreme", prompt=f"{worker}-{i}" * 50, user=f"user{worker}")


def test_concurrent_writers_never_interleave_lines(tmp_path):
    log = tmp_path / "audit.jsonl"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.map(_write_many, [(str(log), w) for w in range(4)])
    lines = log.read_text().splitlines()
    assert len(lines) == 160
    records = [json.loads(line) for line in lines]  # every line is whole
    assert sorted({r["user"] for r in records}) == ["user0", "user1", "user2", "user3"]
    assert len({r["prompt_sha256"] for r in records}) == 160
