"""Benchmarks: JSON figures measured in one run, never asserted in unit tests."""

from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from kino import precision
from kino.data.video_io import write_video


def vae_dtype(vae) -> torch.dtype:
    return next(vae.parameters()).dtype


def machine() -> dict:
    """The hardware and the compute dtype (``$KINO_DTYPE``, else kino.precision's choice) every figure
    of a run was measured with."""
    return {
        **precision.describe(precision.choose()),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def bench_render(width: int = 256, height: int = 256, clips: int = 8) -> dict:
    from kino.data.toyworld import render_fps

    return {"width": width, "height": height, "frames_per_s": render_fps(width=width, height=height, n_clips=clips)}


def bench_vae_psnr(model_dir: str | Path, clips: int = 16, seed: int = 9_000_001, dtype=None) -> dict:
    """Reconstruction PSNR of the model's VAE on held-out toyworld clips at the model's default size."""
    import numpy as np

    from kino.data.datasets import ClipSpec, frames_to_tensor, step_seed, tensor_to_frames, toyworld_clip
    from kino.models.folder import load_model_folder

    cfg, vae, _ = load_model_folder(model_dir, dtype=precision.choose() if dtype is None else dtype)
    spec = ClipSpec(cfg.sample.width, cfg.sample.height, cfg.sample.fps, cfg.sample.seconds)
    psnr = []
    for i in range(clips):
        frames, _, _ = toyworld_clip(step_seed(seed, i), spec)
        with torch.no_grad():
            recon = tensor_to_frames(vae.decode(vae.encode(frames_to_tensor(frames)[None].to(vae_dtype(vae))))[0])
        mse = float(((recon.astype(np.float64) - frames) ** 2).mean())
        psnr.append(10 * np.log10(255**2 / max(mse, 1e-10)))
    return {"clips": clips, "psnr_mean_db": float(np.mean(psnr)), "psnr_min_db": float(np.min(psnr)),
            "shapes": vae_shape_ceiling(vae), "moving_shapes": vae_shape_ceiling(vae, move=0.35)}


SHAPE_CASES = (("small", 0.3, 0.3), ("medium", 0.62, 0.71), ("big", 0.45, 0.5), ("small", 0.77, 0.6))


def vae_shape_ceiling(vae, cases=SHAPE_CASES, move: float = 0.0) -> dict:
    """How many single-shape toyworld renders (each shape, style and case: size, x, y; 9 frames,
    256 px) still read as their shape after a round trip through ``vae``: the best a perfect
    transformer could score on shape, by toyworld's readback. Also each shape's largest fill ratio
    (the readback judges a shape by its largest fill in any frame). ``move``: the shape travels this
    fraction of W instead (right, or left from the right half) over 2 s, 17 frames, as a storyboard
    shot's character does."""

    from kino.data.datasets import frames_to_tensor, tensor_to_frames
    from kino.data.toyworld import Actor, Claim, Obj, Scene, Segment, Shot, readback, render

    right, fills = 0, {}
    for style in ("cartoon", "realistic"):
        for shape in ("triangle", "square", "circle"):
            for size, x, y in cases:
                way = "left" if x > 0.5 else "right"
                path = (Segment("move", dx=-move if way == "left" else move),)
                actor = Actor(0, x, y, way, path) if move else Actor(0, x, y)
                scene = Scene(style, (Obj(0, "blue", shape, size),), (Shot((actor,)),), seconds=2.0 if move else 1.0)
                frames = render(scene, width=256, height=256, fps=8)
                with torch.no_grad():
                    recon = tensor_to_frames(vae.decode(vae.encode(frames_to_tensor(frames)[None].to(vae_dtype(vae))))[0])
                right += readback.check(recon, [Claim("shape", color="blue", shape=shape)]).ok
                c = readback.objects(recon)
                big = c.area > readback.MIN_AREA * 256 * 256
                fills.setdefault(shape, []).append(float(c.fill[big].max()) if big.any() else 0.0)
    return {"read_right": right, "renders": 6 * len(cases),
            "max_fill": {k: [round(v, 3) for v in vs] for k, vs in fills.items()}}


def bench_generate(model_dir: str | Path, prompt: str, repeats: int = 2, dtype=None, **request) -> dict:
    """Wall time of a default clip after the model is loaded, split by stage (best of ``repeats``)."""
    from kino.pipelines.text_to_video import Request, TextToVideoPipeline

    t0 = time.perf_counter()
    pipe = TextToVideoPipeline.from_pretrained(model_dir, dtype=dtype)
    load_s = time.perf_counter() - t0
    pipe(Request(prompt, steps=2, **request))  # warm-up: first calls pick kernels
    runs = []
    for i in range(repeats):
        t0 = time.perf_counter()
        result = pipe(Request(prompt, seed=i, **request))
        t1 = time.perf_counter()
        with tempfile.TemporaryDirectory() as d:
            write_video(Path(d) / "clip.mp4", result.frames, result.fps)
        t2 = time.perf_counter()
        runs.append({**result.timings, "mp4_encode": t2 - t1, "total": t2 - t0})
    best = min(runs, key=lambda r: r["total"])
    frames = result.frames
    return {
        "model": str(model_dir),
        **precision.describe(pipe.dtype),
        "load_s": load_s,
        "size": f"{frames.shape[2]}x{frames.shape[1]}",
        "frames": int(frames.shape[0]),
        "fps": result.fps,
        "video_seconds": (frames.shape[0] - 1) / result.fps,
        "best": best,
        "runs": runs,
        "real_time_factor": (frames.shape[0] - 1) / result.fps / best["total"],
    }
