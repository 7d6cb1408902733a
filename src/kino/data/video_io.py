"""Reading and writing real video files with PyAV (FFmpeg)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sized
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kino.io import atomic_path
from kino.progress import ENCODING, SIGNING, Progress

FRAMES_PER_UNIT = 8  # frames watermarked and encoded to a unit of progress (kino.progress): the watermark's chunk


def write_video(
    path: str | Path, frames: np.ndarray | Iterable[np.ndarray], fps: int, crf: int = 18, *, provenance=None,
    progress=None,
) -> int:
    """Write (T, H, W, 3) uint8 frames as H.264 yuv420p .mp4, playable in browsers; atomically.
    Returns the number of frames written.

    ``frames`` may also be (n, H, W, 3) pieces of a clip, encoded as they come (a long clip as it
    is made): the whole clip is then never held at once. Should a piece be wrong, or the pieces
    stop with an error (a safety refusal halfway through a minute), nothing is left at ``path``.
    yuv420p needs even sizes; odd sizes are rejected rather than silently cropped. With
    ``provenance`` (a ``kino.provenance.Stamp``) the frames are watermarked before encoding and the
    file is C2PA-signed before it takes its name: every video kino hands to a user goes this way.

    ``progress`` (a Progress, kino.progress, or a ``(done, total)`` callback) counts a unit for each
    FRAMES_PER_UNIT frames marked and encoded, and one for the signing; they are planned before the
    first piece is asked for when ``frames`` says how many frames it holds (``len``: an array, or
    pieces that know, as ``long_video.Stream`` does).
    """
    progress = Progress.of(progress)
    if isinstance(frames, Sized):
        progress.expect(write_units(len(frames), provenance is not None))
    pieces = iter([frames] if isinstance(frames, np.ndarray) else frames)
    first = _checked(next(pieces, None))
    _, h, w, _ = first.shape
    count = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal count
        for piece in itertools.chain([first], pieces):
            piece = _checked(piece, (h, w))
            count += len(piece)
            progress.start(ENCODING)  # after the making of a piece, which names its own stages
            yield piece

    with atomic_path(path) as tmp:
        if provenance is None:
            _encode(tmp, counted(), w, h, fps, crf, progress)
            return count
        plain = tmp.with_name(f"{tmp.stem}.unsigned{tmp.suffix}")
        try:
            # Marked a few frames at a time as they are encoded: no marked copy of the whole clip.
            _encode(plain, provenance.mark_chunks(counted()), w, h, fps, crf, progress)
            with progress.doing(SIGNING):
                provenance.sign(plain, tmp, title=Path(path).name)
        finally:
            plain.unlink(missing_ok=True)
    return count


def write_units(frames: int, signed: bool = True) -> int:
    """Units of progress (kino.progress) of writing ``frames`` frames (and signing them)."""
    return -(-frames // FRAMES_PER_UNIT) + signed


def _checked(frames, size: tuple[int, int] | None = None) -> np.ndarray:
    """``frames`` as a contiguous (n, H, W, 3) uint8 array of even sides (and of ``size`` (H, W), when
    given: every piece of one clip has the first one's), or ValueError saying what is wrong."""
    if frames is None:
        raise ValueError("no frames to write")
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
    if size is not None and (h, w) != size:
        raise ValueError(f"every piece of a clip must be {size[1]}x{size[0]}, got one of {w}x{h}")
    return frames


def _encode(path: Path, chunks: Iterable[np.ndarray], w: int, h: int, fps: int, crf: int, progress: Progress) -> None:
    """Encode (n, H, W, 3) uint8 chunks of frames, in order, as one H.264 stream; a unit of ``progress``
    each FRAMES_PER_UNIT frames (the last few when the encoder has let go of them)."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # x264's macroblock-tree rate control made 19 of 20 encodes of the same frames differ
        # here (threaded or not); without it the same frames always give the same stream.
        stream.options = {"crf": str(crf), "preset": "medium", "movflags": "+faststart", "x264-params": "mbtree=0"}
        count = 0
        for chunk in chunks:
            for frame in chunk:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                count += 1
                if count % FRAMES_PER_UNIT == 0:
                    progress.advance()
        container.mux(stream.encode())
        if count % FRAMES_PER_UNIT:
            progress.advance()


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode a video file to (T, H, W, 3) uint8 frames and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    if not frames:
        raise ValueError(f"{path} holds no video frames")
    return np.stack(frames), fps
