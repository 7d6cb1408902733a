"""Provenance on every output: a C2PA manifest signed with local keys, and an invisible watermark.

    keys = kino.provenance.keys.ensure(folder)                 # created on first use
    stamp = Stamp(keys, model_id="toyworld@...", operation="generate")
    write_video(path, frames, fps, provenance=stamp)           # marks the frames, signs the file
    verify.verify(path, trust_anchors=keys.root_pem)           # C2PA status + watermark verdict
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kino.provenance.keys import Keys


@dataclass(frozen=True)
class Stamp:
    """What one output carries: whose key signs it, which model made it, how, and from what."""

    keys: Keys
    model_id: str
    operation: str = "generate"
    sources: tuple[Path, ...] = ()  # inputs of an edit (extend, edit, connect): the first is the parent
    visible_mark: bool = False
    model_detail: dict | None = None  # what else the manifest records of the model (backend, weights' SHA-256)

    def mark_chunks(self, frames: np.ndarray | Iterable[np.ndarray]):
        """(T, H, W, 3) uint8, or (n, H, W, 3) pieces of a clip as it is made -> the frames to encode, a
        few at a time (``watermark.embed_chunks``): visible mark if asked, then the watermark."""
        from kino.provenance import visible, watermark

        if self.visible_mark:
            frames = visible.stamp(frames) if isinstance(frames, np.ndarray) else map(visible.stamp, frames)
        return watermark.embed_chunks(frames, self.keys.key_id)

    def sign(self, src: Path, dst: Path, title: str, assertions: list[dict] = ()) -> None:
        """Sign ``src`` into ``dst``; ``assertions`` go into the manifest beside its actions (how a
        soundtrack was made, say)."""
        from kino.provenance import c2pa

        c2pa.sign(src, dst, self.keys, title=title, model_id=self.model_id, operation=self.operation,
                  sources=self.sources, model_detail=self.model_detail, assertions=list(assertions))


def model_id(folder: str | Path) -> str:
    """``name@sha256:<first 16 hex>`` of a model folder's weights: which model made a video."""
    folder = Path(folder)
    digest = hashlib.sha256()
    with open(folder / "model.safetensors", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return f"{folder.resolve().name}@sha256:{digest.hexdigest()[:16]}"
