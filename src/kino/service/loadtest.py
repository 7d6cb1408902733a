"""A bounded load test against a running ``kino serve``: many clients, many small jobs.

    python -m kino.service.loadtest --url http://127.0.0.1:8000 --admin-key KEY --clients 20 --jobs 200

Each client gets its own account (made through the admin API), submits its share of jobs,
and follows them to the end. Reports status codes, throughput and latency, and checks that
no job was lost or duplicated: every accepted job ends ``done`` exactly once, listed once,
with one output. ``--kill-worker PID`` sends SIGKILL to that worker mid-run (restart it yourself).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import statistics
import sys
import threading
import time

import httpx


def client_run(url: str, key: str, n: int, offset: int, steps: int, codes: collections.Counter, lock, out: list):
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, timeout=120, headers=h) as http:
        submitted = {}
        for i in range(n):
            while True:
                r = http.post("/api/v1/jobs", data={"prompt": f"a red ball rolls right {offset + i}",
                                                    "steps": steps, "seed": offset + i})
                with lock:
                    codes[r.status_code] += 1
                if r.status_code != 429:
                    break
                time.sleep(float(r.headers.get("retry-after", 1)) / 10)
            if r.status_code == 201:
                submitted[r.json()["id"]] = time.monotonic()
        pending = set(submitted)
        while pending:
            time.sleep(0.2)
            for jid in list(pending):
                r = http.get(f"/api/v1/jobs/{jid}")
                with lock:
                    codes[r.status_code] += 1
                job = r.json()
                if job.get("status") in ("done", "failed", "cancelled"):
                    pending.discard(jid)
                    out.append({**job, "latency": time.monotonic() - submitted[jid]})
        listed = http.get("/api/v1/jobs", params={"limit": 500}).json()
        ids = [j["id"] for j in listed["jobs"]]
        with lock:
            out.append({"listing": ids, "submitted": sorted(submitted)})


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kino.service.loadtest")
    p.add_argument("--url", required=True)
    p.add_argument("--admin-key", required=True)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--role", default="red_team")
    p.add_argument("--kill-worker", type=int, default=None, help="PID to SIGKILL once 25%% of jobs are done")
    args = p.parse_args(argv)
    admin = {"Authorization": f"Bearer {args.admin_key}"}
    tag = f"{int(time.time()) % 100000}"
    keys = []
    for c in range(args.clients):
        r = httpx.post(f"{args.url}/api/v1/admin/users", json={"name": f"load{tag}-{c}", "role": args.role},
                       headers=admin, timeout=30)
        r.raise_for_status()
        keys.append(r.json()["api_key"])
    codes, lock, results = collections.Counter(), threading.Lock(), []
    share = [args.jobs // args.clients + (c < args.jobs % args.clients) for c in range(args.clients)]
    t0 = time.monotonic()
    threads = [threading.Thread(target=client_run, args=(args.url, k, n, sum(share[:c]), args.steps, codes, lock,
                                                         results)) for c, (k, n) in enumerate(zip(keys, share))]
    for t in threads:
        t.start()
    killed = None
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        done = sum(1 for r in results if "status" in r)
        if args.kill_worker and killed is None and done >= args.jobs // 4:
            os.kill(args.kill_worker, signal.SIGKILL)
            killed = round(time.monotonic() - t0, 1)
            print(f"killed worker {args.kill_worker} at {killed} s", file=sys.stderr)
    wall = time.monotonic() - t0
    jobs = [r for r in results if "status" in r]
    listings = [r for r in results if "listing" in r]
    submitted = [j for r in listings for j in r["submitted"]]
    lat = sorted(j["latency"] for j in jobs)
    report = {
        "clients": args.clients, "jobs_requested": args.jobs, "jobs_accepted": len(submitted),
        "status_codes": dict(sorted(codes.items())), "server_errors": sum(v for k, v in codes.items() if k >= 500),
        "final_states": dict(collections.Counter(j["status"] for j in jobs)),
        "attempts": dict(collections.Counter(j["attempts"] for j in jobs)),
        "lost": len(set(submitted) - {j["id"] for j in jobs}),
        "duplicated": len(submitted) - len(set(submitted)),
        "listing_matches": all(sorted(r["listing"]) == r["submitted"] for r in listings),
        "wall_s": round(wall, 1), "jobs_per_s": round(len(jobs) / wall, 2),
        "latency_s": {"p50": round(statistics.median(lat), 2), "p95": round(lat[int(0.95 * (len(lat) - 1))], 2),
                      "max": round(lat[-1], 2)} if lat else None,
        "killed_worker_at_s": killed,
    }
    print(json.dumps(report, indent=2))
    ok = (report["server_errors"] == 0 and report["lost"] == 0 and report["duplicated"] == 0
          and report["final_states"] == {"done": len(submitted)} and report["listing_matches"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
