"""The one way a video leaves kino, for the CLI and the service alike: the frames watermarked, the
file C2PA-signed with a manifest that names the model (backend, id, SHA-256 of its weight files),
written atomically, with its soundtrack and caption files.

    mark = stamp(keys, info, "generate")          # before the model loads: the weights are hashed once
    frames = save(out, video, fps, mark, progress, soundtrack)
"""

from __future__ import annotations

from pathlib import Path

from kino import provenance
from kino.audio.captions import write_sidecars
from kino.backends.base import ModelInfo
from kino.backends.registry import weights_sha256
from kino.data.video_io import write_video
from kino.provenance.keys import Keys


def stamp(keys: Keys, info: ModelInfo, operation: str, sources: tuple[Path, ...] = (),
          visible_mark: bool = False, digest: str | None = None) -> provenance.Stamp:
    """What an output of ``info``'s model carries: its manifest names the backend, the pipeline and the
    SHA-256 of the model's weight files (``digest``, else kino.backends.registry.weights_sha256)."""
    digest = weights_sha256(info.path) if digest is None else digest
    return provenance.Stamp(keys, info.model_id(digest), operation, tuple(sources), visible_mark,
                            model_detail={"backend": info.backend, "pipeline": info.pipeline,
                                          "weights_sha256": digest})


def save(out: Path, video, fps: int, mark: provenance.Stamp, progress=None, soundtrack=None) -> int:
    """Write ``video`` (a (T, H, W, 3) uint8 clip, or its pieces as they are made) to ``out``: the
    frames watermarked and the file signed by ``mark``, atomically (nothing is left at ``out`` when
    the pieces stop with an error, a refusal of a frame halfway included); a ``soundtrack``
    (kino.audio) goes into the file and its captions beside it (.vtt, .srt). ``progress``
    (kino.progress) counts the writing. Returns the frames written."""
    count = write_video(out, video, fps, provenance=mark, progress=progress, soundtrack=soundtrack)
    if soundtrack is not None:
        write_sidecars(out, soundtrack.cues)
    return count
