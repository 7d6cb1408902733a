"""What someone might do to a kino video on its way around the internet, and test clips without a mark.

Every attack takes and returns (T, H, W, 3) uint8 frames; those that change the size keep it even,
as H.264 needs.
"""

from __future__ import annotations

import io

import av
import numpy as np
import torch
import torch.nn.functional as F

# Real photographs that scikit-image ships inside its wheel (no download).
PHOTOS = ("astronaut", "brick", "camera", "cat", "coffee", "coins", "grass", "gravel", "hubble_deep_field",
          "immunohistochemistry", "moon", "page", "retina", "rocket", "text", "clock", "cell")


def encode(frames: np.ndarray, fps: int = 8, crf: int = 28) -> bytes:
    """H.264 (libx264, yuv420p) .mp4 bytes."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(stream.encode())
    return buf.getvalue()


def decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def reencode(frames: np.ndarray, crf: int = 28) -> np.ndarray:
    """Re-encode with H.264 at ``crf`` (28 is a typical upload quality) and decode again."""
    return decode(encode(frames, crf=crf))


def even(n: float) -> int:
    return max(2, int(round(n / 2)) * 2)


def resize(frames: np.ndarray, factor: float) -> np.ndarray:
    """Scale both sides by ``factor`` (bicubic, antialiased when shrinking)."""
    h, w = frames.shape[1:3]
    t = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    out = F.interpolate(t, size=(even(h * factor), even(w * factor)), mode="bicubic", align_corners=False,
                        antialias=factor < 1)
    return out.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def crop(frames: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Cut ``fraction`` of the width and of the height away, split at random between the two sides."""
    h, w = frames.shape[1:3]
    kh, kw = even(h * (1 - fraction)), even(w * (1 - fraction))
    y, x = int(rng.integers(0, h - kh + 1)), int(rng.integers(0, w - kw + 1))
    return np.ascontiguousarray(frames[:, y:y + kh, x:x + kw])


def remux(data: bytes) -> bytes:
    """Copy the video stream into a new .mp4 without touching a pixel: drops C2PA and all metadata."""
    src, buf = av.open(io.BytesIO(data)), io.BytesIO()
    with src, av.open(buf, mode="w", format="mp4") as dst:
        ins = src.streams.video[0]
        out = dst.add_stream_from_template(ins)
        for packet in src.demux(ins):
            if packet.dts is None:
                continue
            packet.stream = out
            dst.mux(packet)
    return buf.getvalue()


# --- unmarked clips ---------------------------------------------------------------------------


def toyworld_clip(seed: int, width: int = 256, height: int = 256, seconds: float = 4.0, fps: int = 8) -> np.ndarray:
    from kino.data.toyworld import render, sample_scene

    return render(sample_scene(np.random.default_rng(seed), seconds=seconds), width=width, height=height, fps=fps)


def photo(name: str) -> np.ndarray:
    """A scikit-image photograph as (H, W, 3) uint8."""
    import skimage.data

    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


def photo_clip(seed: int, width: int = 256, height: int = 256, frames: int = 33) -> np.ndarray:
    """A camera panning and zooming over one of the photographs, at random speed and direction."""
    rng = np.random.default_rng(seed)
    image = torch.from_numpy(photo(PHOTOS[seed % len(PHOTOS)])).permute(2, 0, 1).float()[None]
    ih, iw = image.shape[2:]
    aspect = width / height
    z0, z1 = rng.uniform(0.45, 0.95, size=2)  # window height as a share of the photo
    cy0, cx0, cy1, cx1 = rng.uniform(0.3, 0.7, size=4)
    out = []
    for i in range(frames):
        s = i / max(1, frames - 1)
        wh = (z0 + (z1 - z0) * s) * min(ih, iw / aspect)
        ww = wh * aspect
        cy = np.clip((cy0 + (cy1 - cy0) * s) * ih, wh / 2, ih - wh / 2)
        cx = np.clip((cx0 + (cx1 - cx0) * s) * iw, ww / 2, iw - ww / 2)
        # Sub-pixel window via an affine grid, so slow pans move smoothly.
        theta = torch.tensor([[[ww / iw, 0, 2 * cx / iw - 1], [0, wh / ih, 2 * cy / ih - 1]]], dtype=torch.float32)
        grid = F.affine_grid(theta, (1, 3, height, width), align_corners=False)
        frame = F.grid_sample(image, grid, mode="bilinear", align_corners=False)
        out.append(frame[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())
    return np.stack(out)
