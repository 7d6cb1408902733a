"""Reading and writing real video files with PyAV (FFmpeg)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kino.io import atomic_path


def write_video(path: str | Path, frames: np.ndarray, fps: int, crf: int = 18, *, provenance=None) -> None:
    """Write (T, H, W, 3) uint8 frames as H.264 yuv420p .mp4, playable in browsers; atomically.

    yuv420p needs even sizes; odd sizes are rejected rather than silently cropped. With
    ``provenance`` (a ``kino.provenance.Stamp``) the frames are watermarked before encoding and the
    file is C2PA-signed before it takes its name: every video kino hands to a user goes this way.
    """
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    _, h, w, _ = frames.shape
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
    with atomic_path(path) as tmp:
        if provenance is None:
            _encode(tmp, [frames], w, h, fps, crf)
            return
        plain = tmp.with_name(f"{tmp.stem}.unsigned{tmp.suffix}")
        try:
            # Marked a few frames at a time as they are encoded: no marked copy of the whole clip.
            _encode(plain, provenance.mark_chunks(frames), w, h, fps, crf)
            provenance.sign(plain, tmp, title=Path(path).name)
        finally:
            plain.unlink(missing_ok=True)


def _encode(path: Path, chunks: Iterable[np.ndarray], w: int, h: int, fps: int, crf: int) -> None:
    """Encode (n, H, W, 3) uint8 chunks of frames, in order, as one H.264 stream."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # x264's macroblock-tree rate control made 19 of 20 encodes of the same frames differ
        # here (threaded or not); without it the same frames always give the same stream.
        stream.options = {"crf": str(crf), "preset": "medium", "movflags": "+faststart", "x264-params": "mbtree=0"}
        for chunk in chunks:
            for frame in chunk:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode a video file to (T, H, W, 3) uint8 frames and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    if not frames:
        raise ValueError(f"{path} holds no video frames")
    return np.stack(frames), fps
