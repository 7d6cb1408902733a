"""The one guarded reader of pictures and videos kino did not make: uploads to the service,
``/verify``, and the files the command line is given.

What a file would decode to is judged from its headers first (pixels a frame, frames, seconds,
streams, decoded bytes) and refused before anything is decoded when it is over ``Limits``; decoding
then counts again, in case the headers lied. A decompression bomb, an audio-only file or a container
FFmpeg cannot read is a ``MediaError`` (a code and one sentence), never an unhandled exception.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Limits:
    pixels: int = 4096 * 4096  # a frame's width x height
    frames: int = 2000
    seconds: float = 600.0
    decoded_bytes: int = 256 * 2**20  # all frames as RGB: a small file can hold many large frames
    streams: int = 8


DEFAULT = Limits()


class MediaError(ValueError):
    """``code``: unreadable_image, unreadable_video, no_video_stream, image_too_large, video_too_large,
    unreadable_audio, audio_too_long."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _open_image(source: str | Path | bytes, what: str, limits: Limits):
    """The opened (not decoded) image, its size checked against ``limits``; close it after use."""
    import warnings

    from PIL import Image

    side = int(limits.pixels**0.5)
    try:
        with warnings.catch_warnings():  # opening reads the header only; the size is judged below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError:
        raise MediaError("image_too_large", f"{what} says it has more pixels than Pillow will decode; at most "
                         f"{side}x{side}") from None
    if img.width * img.height > limits.pixels:
        img.close()
        raise MediaError("image_too_large", f"{what} is {img.width}x{img.height}; at most {side}x{side} pixels")
    return img


@contextlib.contextmanager
def _pillow_errors(what: str):
    """Pillow's many kinds of error for a damaged file, as one MediaError."""
    try:
        yield
    except (MediaError, FileNotFoundError):
        raise
    except Exception as e:
        raise MediaError("unreadable_image", f"{what} is not a readable image (PNG, JPEG, WebP): "
                         f"{str(e).splitlines()[0][:200]}") from None


def probe_image(source: str | Path | bytes, what: str, limits: Limits = DEFAULT) -> tuple[int, int]:
    """An image's (width, height) from its header, or MediaError; nothing is decoded."""
    with _pillow_errors(what), _open_image(source, what, limits) as img:
        return img.size


def read_image(source: str | Path | bytes, what: str, limits: Limits = DEFAULT) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file or its bytes; its size is checked from the header first."""
    with _pillow_errors(what), _open_image(source, what, limits) as img:
        return np.asarray(img.convert("RGB"))


@dataclass(frozen=True)
class Probe:
    width: int
    height: int
    fps: float
    frames: int  # from the headers: stated, or seconds x fps
    seconds: float


def _check_streams(container, what: str, limits: Limits, code: str) -> None:
    if len(container.streams) > limits.streams:
        raise MediaError(code, f"{what} has {len(container.streams)} streams; at most {limits.streams}")


def _stated_seconds(container, stream) -> float:
    """How long the headers say ``stream`` lasts (the stream's own duration, else the container's; 0 if neither)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration else 0.0


def probe_video(path: str | Path, what: str, limits: Limits = DEFAULT) -> Probe:
    """A video file's facts from its headers, or MediaError when it has no video stream or would
    decode to more than ``limits``. Nothing is decoded."""
    import av

    try:
        with av.open(str(path)) as c:
            _check_streams(c, what, limits, "unreadable_video")
            if not c.streams.video:
                raise MediaError("no_video_stream", f"{what} has no video stream (audio only?); send a video")
            s = c.streams.video[0]
            width, height = s.codec_context.width, s.codec_context.height
            fps = float(s.average_rate or s.guessed_rate or 0)
            seconds = _stated_seconds(c, s)
            frames = int(s.frames or round(seconds * fps))
    except MediaError:
        raise
    except Exception as e:
        raise MediaError("unreadable_video", f"{what} cannot be decoded as a video: {str(e).splitlines()[0][:200]}") from None
    probe = Probe(width, height, fps, frames, seconds)
    check_video(probe, what, limits)
    return probe


def check_video(p: Probe, what: str, limits: Limits) -> None:
    if p.width <= 0 or p.height <= 0:
        raise MediaError("unreadable_video", f"{what} states no frame size")
    if p.width * p.height > limits.pixels:
        side = int(limits.pixels**0.5)
        raise MediaError("video_too_large", f"{what} is {p.width}x{p.height}; at most {side}x{side} pixels a frame")
    if p.seconds > limits.seconds:
        raise MediaError("video_too_large", f"{what} lasts {p.seconds:.0f} s; at most {limits.seconds:.0f} s")
    if p.frames > limits.frames or p.frames * p.width * p.height * 3 > limits.decoded_bytes:
        raise MediaError("video_too_large", f"{what} has {p.frames} frames of {p.width}x{p.height}; at most "
                         f"{limits.frames} frames and {limits.decoded_bytes >> 20} MiB of pixels: send a shorter or "
                         "smaller clip")


def read_video(path: str | Path, what: str, limits: Limits = DEFAULT) -> tuple[np.ndarray, float]:
    """(T, H, W, 3) uint8 frames and the frame rate, checked from the headers before decoding and
    counted while decoding."""
    import av

    probe = probe_video(path, what, limits)
    frames, size = [], 0
    try:
        with av.open(str(path)) as c:
            for f in c.decode(c.streams.video[0]):
                if f.width * f.height > limits.pixels:
                    raise MediaError("video_too_large", f"{what} has a frame of {f.width}x{f.height}")
                frames.append(f.to_ndarray(format="rgb24"))
                size += frames[-1].nbytes
                if len(frames) > limits.frames or size > limits.decoded_bytes:
                    raise MediaError("video_too_large", f"{what} decodes to more than {limits.frames} frames or "
                                     f"{limits.decoded_bytes >> 20} MiB of pixels; send a shorter or smaller clip")
    except MediaError:
        raise
    except Exception as e:
        raise MediaError("unreadable_video", f"{what} cannot be decoded: {str(e).splitlines()[0][:200]}") from None
    if not frames:
        raise MediaError("unreadable_video", f"{what} holds no video frames")
    return np.stack(frames), probe.fps


AUDIO_RATE_LIMIT = 384_000  # samples a second: above any real recording


def read_audio(path: str | Path, what: str, rate: int, limits: Limits = DEFAULT) -> np.ndarray:
    """A file's first audio stream (a music file, or a video's sound) as float32 mono at ``rate``
    samples a second: its length from the headers is checked against ``limits.seconds`` first, and
    what is decoded is counted again."""
    import av

    most = int(limits.seconds * rate)
    out, size = [], 0
    try:
        with av.open(str(path)) as c:
            _check_streams(c, what, limits, "unreadable_audio")
            if not c.streams.audio:
                raise MediaError("unreadable_audio", f"{what} has no audio stream; give a music file (mp3, m4a, wav, ...)")
            s = c.streams.audio[0]
            seconds = _stated_seconds(c, s)
            if seconds > limits.seconds:
                raise MediaError("audio_too_long", f"{what} lasts {seconds:.0f} s; at most {limits.seconds:.0f} s")
            if not 0 < (s.codec_context.sample_rate or 0) <= AUDIO_RATE_LIMIT:
                raise MediaError("unreadable_audio", f"{what} states no usable sample rate")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            for frame in c.decode(s):
                for f in resampler.resample(frame):
                    out.append(f.to_ndarray()[0].copy())
                    size += len(out[-1])
                if size > most:
                    raise MediaError("audio_too_long", f"{what} decodes to more than {limits.seconds:.0f} s")
            out += [f.to_ndarray()[0].copy() for f in resampler.resample(None)]
    except MediaError:
        raise
    except Exception as e:
        raise MediaError("unreadable_audio", f"{what} cannot be decoded as audio: {str(e).splitlines()[0][:200]}") from None
    if not out:
        raise MediaError("unreadable_audio", f"{what} holds no sound")
    return np.concatenate(out).astype(np.float32)
