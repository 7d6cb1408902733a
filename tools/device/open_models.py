"""Real-size open models through kino and through stock diffusers, in one run (issue 24's GPU check).

For each family, a random-weight folder at the published configuration (kino.backends.random_folders,
``--size real``: Wan2.1-T2V-1.3B with UMT5-XXL, LTX-Video 2B with T5-XXL) is written once, then the
same clip is sampled twice on the same machine: by diffusers' own pipeline loaded from the folder,
and by kino (``kino.backends.registry.load`` + ``kino.core.stream``: moderation of the output frames
included). Per step times come from each side's step callback (CUDA synchronised), peak memory from
``torch.cuda.max_memory_allocated``; JSON to ``--out``. Random weights make noise, so the figures are
speed and memory only.

On a lent GPU (``device`` tool), diffusers, accelerate and ftfy travel as wheels (see the tool's
README; carry ``.whl``)::

    python3 tools/device/open_models.py --out $OUT/open_models.json            # wan and ltx, real size
    python3 tools/device/open_models.py --size tiny --device cpu --out x.json  # the CI smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

# What issue 24 asks to time: the models' published sizes and lengths.
CLIPS = {
    "real": {"wan": dict(width=832, height=480, frames=81, fps=16, guidance=5.0),
             "ltx": dict(width=768, height=512, frames=121, fps=24, guidance=3.0),
             "cogvideox": dict(width=720, height=480, frames=49, fps=8, guidance=6.0)},
    "tiny": {"wan": dict(width=128, height=128, frames=9, fps=8, guidance=5.0),
             "ltx": dict(width=128, height=128, frames=9, fps=8, guidance=3.0),
             "cogvideox": dict(width=128, height=128, frames=9, fps=8, guidance=6.0)},
}
PROMPT = "a golden retriever runs along a beach at sunset, handheld camera"
SHORT = "a dog runs on a beach"  # the tiny CogVideoX folder reads 16 tokens


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def reset_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib(device: str) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None


def build(family: str, size: str, folder: Path, device: str) -> Path:
    """The random folder, made on ``device`` (a real-size text encoder takes minutes to initialise on
    a CPU), the transformer and text encoder stored in bf16 as the published folders are."""
    from kino.backends import random_folders

    with torch.device(device):
        pipe = getattr(random_folders, family)(size)
    if size == "real":
        for name in ("transformer", "text_encoder"):
            getattr(pipe, name).to(torch.bfloat16)
    pipe.save_pretrained(folder)
    del pipe
    reset_memory(device)
    return folder


def stats(stamps: list[float], start: float) -> dict:
    steps = [b - a for a, b in zip([start] + stamps[:-1], stamps)]
    later = steps[1:] or steps  # the first step carries warm-up (kernels, caches)
    return {"steps": len(steps), "first_step_s": round(steps[0], 4), "step_s_median": round(statistics.median(later), 4)}


def stock(folder: Path, clip: dict, steps: int, dtype, device: str, prompt: str) -> dict:
    from diffusers import DiffusionPipeline

    family = json.loads((folder / "model_index.json").read_text())["_class_name"]
    dtypes = {"default": dtype, "vae": torch.float32} if family.startswith("Wan") else dtype
    pipe = DiffusionPipeline.from_pretrained(folder, dtype=dtypes, local_files_only=True).to(device)
    pipe.set_progress_bar_config(disable=True)
    stamps: list[float] = []

    def on_step(p, i, t, kwargs):
        sync(device)
        stamps.append(time.perf_counter())
        return kwargs

    reset_memory(device)
    sync(device)
    start = time.perf_counter()
    with torch.inference_mode():
        pipe(prompt=prompt, height=clip["height"], width=clip["width"], num_frames=clip["frames"],
             num_inference_steps=steps, guidance_scale=clip["guidance"], output_type="np",
             generator=torch.Generator("cpu").manual_seed(0), callback_on_step_end=on_step)
    sync(device)
    total = time.perf_counter() - start
    out = dict(stats(stamps, start), total_s=round(total, 3), peak_gib=peak_gib(device))
    del pipe
    reset_memory(device)
    return out


def through_kino(folder: Path, clip: dict, steps: int, dtype, device: str, prompt: str) -> dict:
    from kino import core
    from kino.backends.registry import load, locate
    from kino.progress import DECODING, SAMPLING, Progress
    from kino.safety.guard import Guard

    backend = load(locate(folder), dtype=dtype, device=device)
    seconds = (clip["frames"] - 1) / clip["fps"]
    job = core.Job(prompt, seed=0, seconds=seconds, fps=clip["fps"], width=clip["width"], height=clip["height"],
                   steps=steps, guidance=clip["guidance"])
    guard = Guard.from_env()
    core.check_job(backend.info, job)
    core.guard_inputs(guard, job)
    r = core.resolve(backend, job)
    stamps: list[float] = []
    progress = Progress()

    def report(done, total):  # a call's first units are its steps (the last one reported under DECODING)
        if progress.stage in (SAMPLING, DECODING) and len(stamps) < steps and done > len(stamps):
            sync(device)
            stamps.append(time.perf_counter())

    progress.report = report
    reset_memory(device)
    sync(device)
    start = time.perf_counter()
    frames = sum(len(piece) for piece in core.stream(backend, r, guard, progress))
    sync(device)
    total = time.perf_counter() - start
    stamps = stamps[:steps]
    out = dict(stats(stamps, start), total_s=round(total, 3), peak_gib=peak_gib(device), frames=frames)
    del backend
    reset_memory(device)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default="wan,ltx", help="comma-separated: wan, ltx, cogvideox")
    p.add_argument("--size", choices=("real", "tiny"), default="real")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", default="bf16", choices=("bf16", "fp16", "fp32"))
    p.add_argument("--work", help="where the folders go (default: a temporary folder)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    results = {"device": torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor(),
               "torch": torch.__version__, "dtype": args.dtype, "size": args.size, "steps": args.steps,
               "prompt": PROMPT if args.size == "real" else SHORT, "families": {}}
    import diffusers

    results["diffusers"] = diffusers.__version__
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for family in args.families.split(","):
            clip = CLIPS[args.size][family]
            t = time.perf_counter()
            folder = build(family, args.size, Path(work) / family, args.device)
            row = {"clip": clip, "build_s": round(time.perf_counter() - t, 1)}
            print(f"{family}: folder built in {row['build_s']} s", flush=True)
            row["stock"] = stock(folder, clip, args.steps, dtype, args.device, results["prompt"])
            print(f"{family}: stock {row['stock']}", flush=True)
            row["kino"] = through_kino(folder, clip, args.steps, dtype, args.device, results["prompt"])
            print(f"{family}: kino {row['kino']}", flush=True)
            s, k = row["stock"], row["kino"]
            row["kino_over_stock"] = {"step": round(k["step_s_median"] / s["step_s_median"], 3),
                                      "total": round(k["total_s"] / s["total_s"], 3)}
            if s["peak_gib"]:
                row["kino_over_stock"]["peak_memory"] = round(k["peak_gib"] / s["peak_gib"], 3)
            results["families"][family] = row
            Path(args.out).write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
