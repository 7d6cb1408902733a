"""The service's view of a file: what it is (container, size, frames) and what ``kino verify`` says about it."""

from __future__ import annotations

from pathlib import Path

from kino.provenance import keys as signing
from kino.provenance.verify import VerifyError, verify


def media_info(path: Path) -> dict:
    import av

    info = {"bytes": path.stat().st_size}
    try:
        with av.open(str(path)) as c:
            info["format"] = c.format.name
            if c.streams.video:
                s = c.streams.video[0]
                info.update(width=s.codec_context.width, height=s.codec_context.height, codec=s.codec_context.name,
                            fps=float(s.average_rate or 0), frames=s.frames or None,
                            seconds=float(c.duration / 1e6) if c.duration else None)
    except Exception as e:  # a file FFmpeg cannot open is still worth describing
        info["error"] = str(e)[:200]
    return info


def check(path: Path, keys_dir: Path, name: str = "the file") -> dict:
    """Media facts and the provenance verdict; C2PA is judged against the service's own root certificate.
    ``name`` is what the answer calls the file (never a path on the server)."""
    out = {"media": media_info(path), "provenance": None, "note": None}
    try:
        keys = signing.load(keys_dir)
        anchors, local = keys.root_pem, keys.key_id
    except signing.KeysError:
        anchors, local = None, None
        out["note"] = "this service has signed nothing yet: C2PA is checked without a trust anchor"
    try:
        out["provenance"] = verify(path, trust_anchors=anchors, local_key_id=local, name=name).to_dict()
    except VerifyError as e:
        out["note"] = str(e)
    out["provenance_summary"] = summary(out["provenance"])
    return _scrub(out, str(path), name)


def _scrub(value, path: str, name: str):
    """``value`` with every mention of the server's path to the file (in FFmpeg's and C2PA's own
    messages too) replaced by ``name``."""
    if isinstance(value, str):
        return value.replace(path, name).replace(str(Path(path).parent), "")
    if isinstance(value, dict):
        return {k: _scrub(v, path, name) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, path, name) for v in value]
    return value


def summary(verdict: dict | None) -> str:
    """One word for the badge: kino (signed here and marked), marked, signed, or none."""
    if not verdict:
        return "unreadable"
    signed = verdict["c2pa"].get("status") == "valid"
    marked = verdict["watermark"].get("present") and verdict["watermark"].get("local_key")
    return "kino" if signed and marked else "marked" if marked else "signed" if signed else "none"
