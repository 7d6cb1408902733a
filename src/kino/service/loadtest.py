"""A bounded load test against a running ``kino serve``: many clients, many small jobs.

    python -m kino.service.loadtest --url http://127.0.0.1:8000 --admin-key KEY --clients 20 --jobs 200

Each client gets its own account (made through the admin API), submits its share of jobs,
and follows them to the end. Reports status codes, throughput and latency, and checks that
no job was lost or duplicated: every accepted job ends ``done`` exactly once, listed once,
with one output. ``--kill-worker PID`` sends SIGKILL to that worker mid-run (restart it yourself).
``--hostile N`` runs N more clients that, all the while, send what an attacker sends (decompression
bombs, an audio-only mp4, a chunked body far over the limit, a multipart body cut short), to
``/verify`` and as job inputs: every answer must be a 4xx. ``--server-pid PID`` samples that
process's resident memory (Linux ``/proc``) and reports its peak.
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


def hostile_files() -> dict[str, bytes]:
    """What an attacker uploads: PNGs whose headers say 12000x12000 and 30000x30000 pixels (one bit
    each, a few dozen bytes), and an mp4 with sound only."""
    import struct
    import tempfile
    import zlib
    from pathlib import Path

    import av
    import numpy as np

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def png(side: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (side // 8 + 1)))
                + chunk(b"IEND", b""))

    with tempfile.TemporaryDirectory() as d:
        sound = Path(d) / "sound.mp4"
        with av.open(str(sound), "w") as c:
            s = c.add_stream("aac", rate=16000)
            for i in range(10):
                frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
                frame.sample_rate, frame.pts = 16000, i * 1024
                for packet in s.encode(frame):
                    c.mux(packet)
            for packet in s.encode(None):
                c.mux(packet)
        return {"png_12000": png(12000), "png_30000": png(30000), "audio_only_mp4": sound.read_bytes()}


def hostile_run(url: str, key: str, stop: threading.Event, codes: collections.Counter, lock) -> None:
    """Hostile requests, round after round, until ``stop``; their status codes into ``codes``."""
    files = hostile_files()
    h = {"Authorization": f"Bearer {key}"}
    boundary = "kinoboundary"
    cut = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
           "Content-Type: image/png\r\n\r\n").encode() + files["png_12000"]

    def endless():
        yield cut
        for _ in range(400):  # 400 MiB, if anyone read it all
            yield b"\0" * 2**20

    with httpx.Client(base_url=url, timeout=120, headers=h) as http:
        while not stop.is_set():
            answers = [http.post("/api/v1/verify", files={"file": ("x.png", files[name], "image/png")})
                       for name in ("png_12000", "png_30000")]
            answers.append(http.post("/api/v1/verify", files={"file": ("x.mp4", files["audio_only_mp4"], "video/mp4")}))
            answers.append(http.post("/api/v1/jobs", data={"prompt": "a ball"},
                                     files={"image": ("x.png", files["png_12000"], "image/png")}))
            answers.append(http.post("/api/v1/jobs", data={"prompt": "a ball"},
                                     files={"video": ("x.mp4", files["audio_only_mp4"], "video/mp4")}))
            mp = {"content-type": f"multipart/form-data; boundary={boundary}"}
            answers.append(http.post("/api/v1/jobs", content=cut, headers=mp))
            try:
                answers.append(http.post("/api/v1/jobs", content=endless(), headers=mp))
            except httpx.TransportError:  # the server answered 413 and closed while the body was still going
                with lock:
                    codes["413 (closed mid-body)"] += 1
            with lock:
                for r in answers:
                    codes[str(r.status_code)] += 1


def peak_rss_mb(pid: int, stop: threading.Event, out: dict) -> None:
    """Sample ``pid``'s resident memory every 50 ms until ``stop``; the peak in MiB into ``out``."""
    while not stop.is_set():
        try:
            with open(f"/proc/{pid}/status") as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            out["peak"] = max(out.get("peak", 0), rss / 1024)
        except (OSError, StopIteration):
            pass
        time.sleep(0.05)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m kino.service.loadtest")
    p.add_argument("--url", required=True)
    p.add_argument("--admin-key", required=True)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--jobs", type=int, default=200)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--role", default="red_team")
    p.add_argument("--kill-worker", type=int, default=None, help="PID to SIGKILL once 25%% of jobs are done")
    p.add_argument("--hostile", type=int, default=0, help="clients sending hostile uploads the whole time")
    p.add_argument("--server-pid", type=int, default=None, help="report this process's peak resident memory")
    args = p.parse_args(argv)
    admin = {"Authorization": f"Bearer {args.admin_key}"}
    tag = f"{int(time.time()) % 100000}"

    def accounts(prefix: str, n: int) -> list[str]:  # made through the admin API; their keys
        keys = []
        for c in range(n):
            r = httpx.post(f"{args.url}/api/v1/admin/users", json={"name": f"{prefix}{tag}-{c}", "role": args.role},
                           headers=admin, timeout=30)
            r.raise_for_status()
            keys.append(r.json()["api_key"])
        return keys

    keys = accounts("load", args.clients)
    codes, lock, results = collections.Counter(), threading.Lock(), []
    share = [args.jobs // args.clients + (c < args.jobs % args.clients) for c in range(args.clients)]
    t0 = time.monotonic()
    threads = [threading.Thread(target=client_run, args=(args.url, k, n, sum(share[:c]), args.steps, codes, lock,
                                                         results)) for c, (k, n) in enumerate(zip(keys, share))]
    stop, hostile_codes, memory = threading.Event(), collections.Counter(), {}
    side = [threading.Thread(target=hostile_run, args=(args.url, k, stop, hostile_codes, lock))
            for k in accounts("hostile", args.hostile)]
    if args.server_pid:
        side.append(threading.Thread(target=peak_rss_mb, args=(args.server_pid, stop, memory)))
    for t in threads + side:
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
    stop.set()
    for t in side:
        t.join()
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
        "hostile_codes": dict(sorted(hostile_codes.items())),
        "server_peak_rss_mb": round(memory["peak"], 1) if "peak" in memory else None,
    }
    print(json.dumps(report, indent=2))
    ok = (report["server_errors"] == 0 and report["lost"] == 0 and report["duplicated"] == 0
          and report["final_states"] == {"done": len(submitted)} and report["listing_matches"]
          and all(code.startswith("4") for code in hostile_codes))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
