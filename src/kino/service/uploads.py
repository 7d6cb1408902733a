"""Uploaded images, videos and music: size and type limits, decoded once to check them before a job is queued."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kino import media

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
VIDEO_TYPES = {"video/mp4": ".mp4", "video/webm": ".webm", "video/quicktime": ".mov"}
AUDIO_TYPES = {"audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/wav": ".wav", "audio/ogg": ".ogg",
               "audio/flac": ".flac"}
KINDS = {"image": IMAGE_TYPES, "video": VIDEO_TYPES, "audio": AUDIO_TYPES}
LIMITS = media.Limits()  # what an upload may decode to


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
        return {b"qt": "video/quicktime", b"M4": "audio/mp4"}.get(data[8:10], "video/mp4")  # M4A, M4B: sound only
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):  # a tag, or a frame
        return "audio/mpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "audio/wav"
    if data[:4] == b"OggS":
        return "audio/ogg"
    if data[:4] == b"fLaC":
        return "audio/flac"
    return None


def check_upload(field: str, data: bytes, kind: str, max_bytes: int) -> str:
    """The file suffix for an upload of ``kind`` (image, video or audio); raises UploadError otherwise."""
    if len(data) > max_bytes:
        raise UploadError("upload_too_large", f"{field} is {len(data)} bytes; at most {max_bytes} are allowed", 413)
    if not data:
        raise UploadError("upload_empty", f"{field} is empty")
    allowed = KINDS[kind]
    mime = sniff(data)
    if mime not in allowed:
        raise UploadError("unsupported_media_type",
                          f"{field} is not a {kind} kino reads; send one of {', '.join(allowed)}", 415)
    return allowed[mime]


def decode_image(field: str, data: bytes) -> np.ndarray:
    """(H, W, 3) uint8 RGB, or UploadError (kino.media: its size judged from the header first)."""
    try:
        return media.read_image(data, field, LIMITS)
    except media.MediaError as e:
        raise UploadError(e.code, str(e)) from None


def decode_video(field: str, path: Path) -> tuple[np.ndarray, float]:
    """(T, H, W, 3) uint8 frames and the frame rate, or UploadError (kino.media: judged from the
    headers before decoding, counted while decoding)."""
    try:
        return media.read_video(path, field, LIMITS)
    except media.MediaError as e:
        raise UploadError(e.code, str(e)) from None


def decode_audio(field: str, path: Path, rate: int) -> np.ndarray:
    """float32 mono samples at ``rate``, or UploadError (kino.media: its length judged from the headers
    before decoding)."""
    try:
        return media.read_audio(path, field, rate, LIMITS)
    except media.MediaError as e:
        raise UploadError(e.code, str(e)) from None


def probe(field: str, data: bytes, suffix: str) -> None:
    """UploadError unless the upload (its type already checked) would decode within the limits;
    reads only its headers."""
    import tempfile

    try:
        if suffix in IMAGE_TYPES.values():
            media.probe_image(data, field, LIMITS)
            return
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / f"upload{suffix}"
            path.write_bytes(data)
            media.probe_video(path, field, LIMITS)
    except media.MediaError as e:
        raise UploadError(e.code, str(e)) from None


def read_image(path: Path) -> np.ndarray:
    return decode_image(path.name, Path(path).read_bytes())
