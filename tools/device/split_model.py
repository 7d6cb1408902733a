"""Split a model folder's weights into files under 16 MiB (what a lent machine sends back),
and join them again: ``split_model.py MODEL_DIR OUT`` / ``split_model.py --join PARTS_DIR MODEL_DIR``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

LIMIT = 15 * 2**20


def split(model: Path, out: Path) -> None:
    if not (model / "model.safetensors").is_file():
        print(f"no model folder at {model}")
        return
    with safe_open(model / "model.safetensors", "pt") as f:
        meta, parts, size = f.metadata(), [{}], 0
        for k in f.keys():
            t = f.get_tensor(k)
            if size + t.nbytes > LIMIT:
                parts.append({})
                size = 0
            parts[-1][k] = t
            size += t.nbytes
    for i, part in enumerate(parts):
        save_file(part, str(out / f"part{i}.safetensors"), metadata=meta)
    shutil.copy(model / "config.json", out / "config.json")
    print(f"{len(parts)} parts, step {meta.get('step')}")


def join(parts_dir: Path, model: Path) -> None:
    tensors, meta = {}, None
    for p in sorted(parts_dir.glob("part*.safetensors")):
        with safe_open(p, "pt") as f:
            meta = f.metadata()
            tensors |= {k: f.get_tensor(k) for k in f.keys()}
    model.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(model / "model.safetensors"), metadata=meta)
    shutil.copy(parts_dir / "config.json", model / "config.json")


if __name__ == "__main__":
    if sys.argv[1] == "--join":
        join(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        split(Path(sys.argv[1]), Path(sys.argv[2]))
