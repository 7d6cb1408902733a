"""How generation time and memory scale with duration and resolution.

Each configuration runs in a fresh process (``python -m kino.evaluation.scaling``), so its
peak resident memory is its own; the parent collects the JSON lines and plots them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DURATIONS = (4.0, 16.0, 60.0)
SIZES = ((128, 128), (256, 256), (384, 384))


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def reset_peak() -> bool:
    """Start a new resident-memory peak (Linux: 5 > /proc/self/clear_refs resets VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mib() -> float:
    """Peak resident memory since the last ``reset_peak`` (since start where it could not reset)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure(model: str, seconds: float, width: int, height: int, steps: int | None) -> dict:
    """One clip in this process, made and written as ``kino generate`` does (each chunk encoded as it
    is made; no signing keys): wall time by stage, resident memory after load and at peak."""
    import tempfile

    from kino.data.video_io import write_video
    from kino.pipelines import long_video
    from kino.pipelines.text_to_video import Request, TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(model)
    pipe(Request("a red ball", steps=1, seconds=0.5, width=width, height=height))  # warm-up at this size
    loaded = rss_mib()
    reset = reset_peak()  # the peak of this clip, not of loading the models
    t0 = time.perf_counter()
    clip = long_video.stream(pipe, Request("a red ball rolls to the right", seconds=seconds, width=width,
                                           height=height, steps=steps))
    with tempfile.TemporaryDirectory() as tmp:
        frames = write_video(Path(tmp) / "clip.mp4", clip, clip.fps)
    wall = time.perf_counter() - t0
    video_s = (frames - 1) / clip.fps
    return {
        "seconds": seconds, "width": width, "height": height, "frames": frames,
        "wall_s": wall, "real_time_factor": video_s / wall,
        "stages_s": {**{k: v for k, v in clip.timings.items() if k != "total"},
                     "mp4_encode": wall - clip.timings["total"]},
        "rss_after_load_mib": loaded, "peak_rss_mib": peak_mib(), "peak_is_of_the_clip": reset,
    }


def run(model: str, durations=DURATIONS, sizes=SIZES, steps: int | None = None, out_dir: str | Path | None = None,
        progress=None) -> dict:
    """Durations at the model's default size, and sizes at the shortest duration, each in its own process."""
    from kino.models.folder import load_config

    cfg = load_config(model)
    base = (cfg.sample.width, cfg.sample.height)
    jobs = [(s, *base) for s in durations] + [(durations[0], w, h) for w, h in sizes if (w, h) != base]
    rows = []
    for i, (seconds, w, h) in enumerate(jobs):
        cmd = [sys.executable, "-m", "kino.evaluation.scaling", "--model", str(model), "--seconds", str(seconds),
               "--size", f"{w}x{h}"] + (["--steps", str(steps)] if steps else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"scaling run {seconds}s {w}x{h} failed: {proc.stderr.strip()[-500:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        if progress:
            progress(i + 1, len(jobs))
    by_duration = [r for r in rows if (r["width"], r["height"]) == base]
    first = by_duration[0]
    summary = {
        "duration": by_duration,
        "resolution": [r for r in rows if r["seconds"] == durations[0]],
        # Linear time: wall time per second of video at the longest duration over that at the shortest.
        "time_per_video_s_ratio": (by_duration[-1]["wall_s"] / by_duration[-1]["seconds"])
        / (first["wall_s"] / first["seconds"]),
        "peak_memory_ratio": by_duration[-1]["peak_rss_mib"] / first["peak_rss_mib"],
        "steps": steps or cfg.sample.steps,
    }
    if out_dir:
        summary["plots"] = plot(summary, Path(out_dir))
    return summary


def plot(summary: dict, out_dir: Path) -> list[str]:
    """time_vs_duration.png, memory_vs_duration.png, time_vs_resolution.png, memory_vs_resolution.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kino.io import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    series = {
        "duration": ([r["seconds"] for r in summary["duration"]], "video duration (s)", summary["duration"]),
        "resolution": ([r["width"] * r["height"] / 1e3 for r in summary["resolution"]], "pixels per frame (k)",
                       summary["resolution"]),
    }
    written = []
    for axis, (x, label, rows) in series.items():
        for what, key, unit in (("time", "wall_s", "wall time (s)"), ("memory", "peak_rss_mib", "peak RSS (MiB)")):
            fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
            ax.plot(x, [r[key] for r in rows], "o-")
            if what == "time" and axis == "duration":  # the linear reference through the first point
                ax.plot(x, [rows[0][key] * v / x[0] for v in x], "--", color="grey", label="linear")
                ax.legend()
            ax.set_xlabel(label)
            ax.set_ylabel(unit)
            ax.set_title(f"kino: {what} vs {axis}")
            ax.grid(alpha=0.3)
            fig.tight_layout()
            path = out_dir / f"{what}_vs_{axis}.png"
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png")
            plt.close(fig)
            written.append(str(path))
    return written


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="one scaling measurement; prints a JSON line")
    p.add_argument("--model", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--size", required=True)
    p.add_argument("--steps", type=int, default=None)
    a = p.parse_args(argv)
    w, h = (int(v) for v in a.size.split("x"))
    print(json.dumps(measure(a.model, a.seconds, w, h, a.steps)))


if __name__ == "__main__":
    main()
