"""The service's view of a file: what it is, and its provenance if kino's checker is installed.

``kino.provenance`` (C2PA manifest and watermark, issue 5) may or may not be present; the
service reports ``available: false`` without it rather than pretending a file is unverified.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from pathlib import Path

log = logging.getLogger(__name__)


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


def _as_dict(x) -> dict:
    if dataclasses.is_dataclass(x):
        return dataclasses.asdict(x)
    if isinstance(x, dict):
        return x
    return {"result": str(x)}


def check(path: Path) -> dict:
    out = {"available": False, "media": media_info(path), "provenance": None, "note": None}
    try:
        verify = importlib.import_module("kino.provenance.verify")
    except ImportError:
        out["note"] = "kino.provenance is not installed here: no C2PA or watermark check was made"
        return out
    fn = getattr(verify, "verify", None) or getattr(verify, "verify_file", None)
    if fn is None:
        out["note"] = "kino.provenance.verify has no verify() function"
        return out
    try:
        out["provenance"], out["available"] = _as_dict(fn(path)), True
    except Exception as e:  # the checker's failure on a strange file is a result, not a server error
        log.warning("provenance check of %s failed: %s", path.name, e)
        out.update(available=True, note=f"provenance check failed: {e}"[:300])
    return out
