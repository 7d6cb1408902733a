"""Uploaded images and videos: size and type limits, decoded once to check them before a job is queued."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
VIDEO_TYPES = {"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov"}
MAX_IMAGE_PIXELS = 4096 * 4096
MAX_VIDEO_FRAMES = 2000
MAX_VIDEO_BYTES = 256 * 1024 * 1024  # decoded RGB: a small file can hold many large frames


class UploadError(ValueError):
    def __init__(self, code: str, message: str, status: int = 422):
        super().__init__(message)
        self.code, self.status = code, status


def sniff(data: bytes) -> str | None:
    """The media type from the first bytes, never from the client's claim."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return None


def check_upload(field: str, data: bytes, kind: str, max_bytes: int) -> str:
    """The file suffix for an upload of ``kind`` ("image" or "video"); raises UploadError otherwise."""
    if len(data) > max_bytes:
        raise UploadError("upload_too_large", f"{field} is {len(data)} bytes; at most {max_bytes} are allowed", 413)
    if not data:
        raise UploadError("upload_empty", f"{field} is empty")
    allowed = IMAGE_TYPES if kind == "image" else VIDEO_TYPES
    mime = sniff(data)
    if mime not in allowed:
        raise UploadError("unsupported_media_type",
                          f"{field} is not a {kind} kino reads; send one of {', '.join(allowed)}", 415)
    return allowed[mime]


def decode_image(field: str, data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB, or UploadError."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise UploadError("image_too_large", f"{field} is {img.width}x{img.height}; at most 4096x4096")
            return np.asarray(img.convert("RGB"))
    except UploadError:
        raise
    except Exception as e:  # PIL raises many kinds for damaged files
        raise UploadError("unreadable_image", f"{field} cannot be decoded: {e}") from None


def decode_video(field: str, path: Path) -> tuple[np.ndarray, float]:
    """(T, H, W, 3) uint8 frames and the frame rate, or UploadError."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UploadError("unreadable_video", f"{field} has no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 0)
            frames, size = [], 0
            for f in container.decode(stream):
                frames.append(f.to_ndarray(format="rgb24"))
                size += frames[-1].nbytes
                if len(frames) > MAX_VIDEO_FRAMES or size > MAX_VIDEO_BYTES:
                    raise UploadError("video_too_long", f"{field} decodes to more than {MAX_VIDEO_FRAMES} frames "
                                      f"or {MAX_VIDEO_BYTES >> 20} MiB of pixels; send a shorter or smaller clip")
    except UploadError:
        raise
    except Exception as e:
        raise UploadError("unreadable_video", f"{field} cannot be decoded: {e}") from None
    if not frames:
        raise UploadError("unreadable_video", f"{field} holds no video frames")
    return np.stack(frames), fps


def read_image(path: Path) -> np.ndarray:
    return decode_image(path.name, Path(path).read_bytes())
