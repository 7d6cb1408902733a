"""Watermark robustness benchmark: bit accuracy after each attack, false positives on unmarked clips, PSNR.

    python -m kino.provenance.bench --marked 200 --unmarked 240 [--c2pa 100] --out watermark.json

(needs scikit-image, from the ``test`` extra, for the photographs).

Marked clips are toyworld renders and panned/zoomed scikit-image photographs at the sizes kino
makes, stored as kino stores them (H.264, CRF 18), then attacked. Unmarked clips are made the same
way without the mark. Bit accuracy is over the 48 payload bits (16 marker + 32 key id).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import defaultdict

import numpy as np
from tqdm import tqdm

from kino.provenance import attacks, ecc, watermark

log = logging.getLogger(__name__)

# (width, height), cycled: the default most often, the smallest kino makes (128 a side), 1024 sparingly (slow here)
SIZES = ((256, 256), (128, 128), (320, 192), (512, 512), (256, 256), (192, 128),
         (256, 256), (128, 128), (320, 192), (512, 512), (256, 256), (1024, 1024))
ATTACKS = ("none", "strip", "h264_crf28", "resize_0.5", "resize_0.75", "resize_1.5", "resize_2", "crop_10")


def clip(i: int, width: int, height: int) -> np.ndarray:
    """Clip ``i``: even numbers are toyworld renders, odd ones photographs (4 s at 8 fps)."""
    if i % 2 == 0:
        return attacks.toyworld_clip(10_000 + i, width, height)
    return attacks.photo_clip(10_000 + i, width, height)


def attacked(stored: bytes, name: str, rng: np.random.Generator) -> np.ndarray:
    frames = attacks.decode(stored)
    if name == "none":
        return frames
    if name == "strip":
        return attacks.decode(attacks.remux(stored))
    if name == "h264_crf28":
        return attacks.reencode(frames, crf=28)
    if name.startswith("resize_"):
        return attacks.resize(frames, float(name.split("_")[1]))
    if name == "crop_10":
        return attacks.crop(frames, 0.10, rng)
    raise ValueError(name)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b) ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-12))


def run(marked: int = 200, unmarked: int = 240, seed: int = 0, sizes=SIZES, progress: bool = True) -> dict:
    rng = np.random.default_rng(seed)
    acc, raw, found, zs, psnrs = (defaultdict(list) for _ in range(5))
    embed_s = []
    for i in tqdm(range(marked), desc="marked", file=sys.stderr, disable=not progress):
        w, h = sizes[i % len(sizes)]
        key = int(rng.integers(0, 2**32))
        truth = watermark.payload_bits(key)
        coded = ecc.encode(truth)
        frames = clip(i, w, h)
        t0 = time.perf_counter()
        marked_frames = watermark.embed(frames, key)
        if (w, h) == (256, 256):
            embed_s.append(time.perf_counter() - t0)
        psnrs[f"{w}x{h}"].append(psnr(marked_frames, frames))
        stored = attacks.encode(marked_frames, crf=18)
        for name in ATTACKS:
            if name == "resize_2" and w * h > 512 * 512:
                continue  # 2048 px frames: too slow on this machine, and nothing new
            det = watermark.detect(attacked(stored, name, rng))
            acc[name].append(float((det.bits == truth).mean()))
            raw[name].append(float(((det.soft > 0) == coded).mean()))
            found[name].append(det.present)
            zs[name].append(det.z)
            acc[f"{name}@{w}x{h}"].append(float((det.bits == truth).mean()))
            found[f"{name}@{w}x{h}"].append(det.present)
    null_z, null_p, false_pos = [], [], []
    for i in tqdm(range(unmarked), desc="unmarked", file=sys.stderr, disable=not progress):
        w, h = sizes[i % len(sizes)]
        det = watermark.detect(attacks.decode(attacks.encode(clip(marked + i, w, h), crf=18)))
        null_z.append(det.z)
        null_p.append(det.p_value)
        if det.present:
            false_pos.append({"clip": marked + i, "size": f"{w}x{h}", "z": det.z})
    table = {
        name: {
            "bit_accuracy_mean": round(float(np.mean(acc[name])), 4),
            "bit_accuracy_p5": round(float(np.percentile(acc[name], 5)), 4),
            "detected": round(float(np.mean(found[name])), 4),
            "n": len(acc[name]),
            **({"z_median": round(float(np.median(zs[name])), 2),
                "coded_bit_accuracy_mean": round(float(np.mean(raw[name])), 4)} if name in zs else {}),
        }
        for name in acc
    }
    return {
        "marked_clips": marked,
        "attacks": table,
        "unmarked_clips": unmarked,
        "false_positives": len(false_pos),
        "false_positive_clips": false_pos,
        "null_z": {"max": round(max(null_z), 3), "p99": round(float(np.percentile(null_z, 99)), 3),
                   "median": round(float(np.median(null_z)), 3)},
        "null_p_min": float(min(null_p)),
        "p_threshold": watermark.P_THRESHOLD,
        "psnr_db": {k: {"mean": round(float(np.mean(v)), 2), "min": round(float(np.min(v)), 2)} for k, v in psnrs.items()},
        "embed_seconds_256x256_33_frames": round(float(np.median(embed_s)), 4) if embed_s else None,
    }


def c2pa_figures(n: int = 100, seed: int = 0) -> dict:
    """Sign ``n`` small outputs as kino does; flip one random bit in each, in the media data and then
    anywhere in the file, and count what ``c2pa.read`` says."""
    import tempfile
    from pathlib import Path

    from kino.data.video_io import write_video
    from kino.provenance import Stamp, c2pa, keys

    rng = np.random.default_rng(seed)
    counts = {"valid": 0, "media_flip": defaultdict(int), "any_flip": defaultdict(int)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        k = keys.init(folder / "keys")
        stamp = Stamp(k, "bench")
        for i in tqdm(range(n), desc="c2pa", file=sys.stderr):
            out = folder / "out.mp4"
            write_video(out, attacks.toyworld_clip(20_000 + i, 64, 64, seconds=1.0), 8, provenance=stamp)
            counts["valid"] += c2pa.read(out, k.root_pem).status == "valid"
            data = out.read_bytes()
            mdat = data.find(b"mdat")
            for key, lo in (("media_flip", mdat + 4), ("any_flip", 0)):
                bad = bytearray(data)
                bad[int(rng.integers(lo, len(data)))] ^= 1 << int(rng.integers(0, 8))
                (folder / "bad.mp4").write_bytes(bytes(bad))
                counts[key][c2pa.read(folder / "bad.mp4", k.root_pem).status] += 1
    return {"outputs": n, "valid": counts["valid"], "media_flip": dict(counts["media_flip"]),
            "any_flip": dict(counts["any_flip"])}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m kino.provenance.bench", description=__doc__.split("\n")[0])
    p.add_argument("--marked", type=int, default=200)
    p.add_argument("--unmarked", type=int, default=240)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--c2pa", type=int, default=0, help="also sign this many outputs and tamper with them")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    results = run(args.marked, args.unmarked, args.seed)
    if args.c2pa:
        results["c2pa"] = c2pa_figures(args.c2pa, args.seed)
    text = json.dumps(results, indent=2)
    if args.out:
        from kino.io import atomic_path

        with atomic_path(args.out) as tmp:
            tmp.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
