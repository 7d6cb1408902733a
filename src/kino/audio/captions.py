"""Captions of a narration: WebVTT and SRT sidecar files, and captions drawn into the frames."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from kino.audio.narration import Cue
from kino.io import atomic_path

SIDECARS = (".vtt", ".srt")


def _stamp(seconds: float, comma: bool) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{',' if comma else '.'}{ms:03d}"


def webvtt(cues: list[Cue]) -> str:
    lines = ["WEBVTT", ""]
    for i, c in enumerate(cues, 1):
        text = c.text.replace("-->", "->")  # the one sequence a cue's text may not hold
        lines += [str(i), f"{_stamp(c.start, False)} --> {_stamp(c.end, False)}", text, ""]
    return "\n".join(lines)


def srt(cues: list[Cue]) -> str:
    lines = []
    for i, c in enumerate(cues, 1):
        lines += [str(i), f"{_stamp(c.start, True)} --> {_stamp(c.end, True)}", c.text, ""]
    return "\n".join(lines)


def sidecar_paths(video: str | Path) -> list[Path]:
    """Where a video's caption files go: beside it, same name, .vtt and .srt."""
    return [Path(video).with_suffix(s) for s in SIDECARS]


def write_sidecars(video: str | Path, cues: list[Cue]) -> list[Path]:
    """WebVTT and SRT files beside ``video``, each written atomically."""
    paths = sidecar_paths(video)
    for path, text in zip(paths, (webvtt(cues), srt(cues))):
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return paths


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)  # Pillow's own scalable font: nothing to install


def _wrapped(text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and font.getlength(lines[-1] + " " + word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def burn(frame: np.ndarray, text: str) -> np.ndarray:
    """``frame`` (H, W, 3) uint8 with ``text`` drawn in white on a dark band near the bottom."""
    from PIL import Image, ImageDraw

    h, w = frame.shape[:2]
    font = _font(max(10, h // 16))
    lines = _wrapped(text, font, int(w * 0.9))
    line_h = font.size + max(2, font.size // 4)
    top = h - len(lines) * line_h - max(4, h // 24)
    image = Image.fromarray(frame)
    band = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(band)
    widest = max(font.getlength(line) for line in lines)
    pad = max(2, font.size // 4)
    draw.rectangle([(w - widest) / 2 - pad, top - pad, (w + widest) / 2 + pad, top + len(lines) * line_h],
                   fill=(0, 0, 0, 160))
    for i, line in enumerate(lines):
        draw.text(((w - font.getlength(line)) / 2, top + i * line_h), line, font=font, fill=(255, 255, 255, 255))
    return np.asarray(Image.alpha_composite(image.convert("RGBA"), band).convert("RGB"))


def burnt(pieces: Iterator[np.ndarray], cues: list[Cue], fps: float) -> Iterator[np.ndarray]:
    """(n, H, W, 3) pieces of a clip with each frame's caption (the cue showing at its time) drawn in."""
    index = 0
    for piece in pieces:
        out = piece
        for k in range(len(piece)):
            t = (index + k) / fps
            showing = next((c for c in cues if c.start <= t < c.end), None)
            if showing is not None:
                out = out if out is not piece else piece.copy()
                out[k] = burn(piece[k], showing.text)
        index += len(piece)
        yield out
