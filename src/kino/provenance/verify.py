"""``kino verify``: what a video or image says about where it came from.

Two independent answers: the C2PA manifest (valid, untrusted, tampered, missing), which anyone can
strip, and the invisible watermark, which survives stripping, re-encoding, resizing and cropping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kino.provenance import c2pa, watermark

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class VerifyError(Exception):
    """The file cannot be read as a video or an image."""


@dataclass
class Verdict:
    file: str
    c2pa: dict
    watermark: dict

    def to_dict(self) -> dict:
        return asdict(self)

    def lines(self) -> list[str]:
        c, w = self.c2pa, self.watermark
        out = [f"{self.file}", f"  C2PA: {c['status']}"]
        s = c.get("summary") or {}
        if s:
            out.append(f"    actions: {', '.join(s.get('actions', []))}; by {', '.join(s.get('claim_generator', []))}")
            if s.get("digital_source_type"):
                out.append(f"    source type: {s['digital_source_type'].rsplit('/', 1)[-1]}; model: {s.get('model')} "
                           f"({s.get('backend', 'native')})")
            signer = s.get("signer") or {}
            out.append(f"    signed by: {signer.get('common_name')} ({signer.get('issuer')}, {signer.get('alg')})")
            for ing in s.get("ingredients", []):
                out.append(f"    ingredient: {ing['title']} ({ing['relationship']})")
            told = s.get("narration")
            if told:
                voices = ", ".join(f"{v.get('engine')} {v.get('voice')}" for v in told.get("voices", []))
                music = f"; music: {told['music']['file']}" if told.get("music") else ""
                out.append(f"    narration: {voices}, {told.get('captions', 0)} captions"
                           f"{' (burnt in)' if told.get('burnt_in') else ''}{music}")
        if c.get("failures"):
            out.append(f"    failures: {', '.join(c['failures'])}")
        if c.get("error"):
            out.append(f"    error: {c['error']}")
        if w["present"]:
            key = f"key id {w['key_id']}" + (" (this machine's key)" if w.get("local_key") else "")
            out.append(f"  watermark: present, confidence {w['confidence']:.6f} (z {w['z']:.1f}, p {w['p_value']:.1e}); "
                       f"{key}")
        else:
            out.append(f"  watermark: not found (z {w['z']:.1f}, p {w['p_value']:.2g}; "
                       f"marked needs p <= {watermark.P_THRESHOLD:g})")
        return out


def load_frames(path: Path, name: str | None = None) -> np.ndarray:
    """(T, H, W, 3) uint8 from a video, or (1, H, W, 3) from an image, through kino.media's limits
    (``name``: what messages call the file, default its path)."""
    from kino import media

    what = name or str(path)
    try:
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return media.read_image(path, what)[None]
        return media.read_video(path, what)[0]
    except media.MediaError as e:
        raise VerifyError(str(e)) from None


def verify(path: str | Path, trust_anchors: bytes | None = None, local_key_id: int | None = None,
           name: str | None = None) -> Verdict:
    """Judge ``path``: C2PA against ``trust_anchors`` (PEM), and the watermark. ``name``: what the
    verdict and its messages call the file (default its path; the service names no server path)."""
    path = Path(path)
    if not path.is_file():
        raise VerifyError(f"{name or path}: no such file")
    frames = load_frames(path, name)
    report = c2pa.read(path, trust_anchors)
    det = watermark.detect(frames)
    mark = {
        "present": det.present,
        "confidence": det.confidence(),
        "z": round(det.z, 3),
        "p_value": det.p_value,
        "p_threshold": watermark.P_THRESHOLD,
        "key_id": f"{det.key_id:08x}" if det.key_id is not None else None,
        "local_key": det.key_id is not None and det.key_id == local_key_id,
        "marker_errors": det.marker_errors,
        "frames": int(len(frames)),
    }
    return Verdict(name or str(path), asdict(report), mark)
