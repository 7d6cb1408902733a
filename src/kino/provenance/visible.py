"""An optional visible corner mark ("AI · kino"), for outputs that should say what they are at a glance."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

TEXT = "AI \u00b7 kino"


def overlay(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) colours and (H, W, 1) alpha of the mark in the bottom-right corner."""
    size = max(7, round(min(height, width) * 0.06))
    try:
        font = ImageFont.load_default(size=size)
    except (TypeError, OSError):  # a Pillow without FreeType has only the fixed bitmap font
        font = ImageFont.load_default()
    img = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), TEXT, font=font)
    pad, margin = max(2, size // 4), max(2, size // 3)
    x1, y1 = width - margin, height - margin
    x0, y0 = x1 - (right - left) - 2 * pad, y1 - (bottom - top) - 2 * pad
    draw.rounded_rectangle((x0, y0, x1, y1), radius=pad, fill=(0, 0, 0, 150))
    draw.text((x0 + pad - left, y0 + pad - top), TEXT, font=font, fill=(255, 255, 255, 230))
    rgba = np.asarray(img, np.float32) / 255.0
    return rgba[..., :3] * 255.0, rgba[..., 3:]


def stamp(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 with the mark drawn into every frame."""
    color, alpha = overlay(*frames.shape[1:3])
    out = frames.astype(np.float32) * (1 - alpha) + color * alpha
    return np.rint(out).astype(np.uint8)
