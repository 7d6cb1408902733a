"""C2PA manifests on kino's outputs (c2pa-python): sign on write, read and judge on verify.

Every video kino writes carries a manifest whose action is ``c2pa.created`` (digital source type
trainedAlgorithmicMedia, software agent kino and its version, the model id), or, for a video made
from another (extend, edit), ``c2pa.opened`` on the source as parent ingredient followed by
``c2pa.edited``. Nothing here touches the network: no timestamp authority, no remote manifests.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import c2pa

from kino import __version__
from kino.provenance.keys import Keys

log = logging.getLogger(__name__)

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
MIME = {".mp4": "video/mp4", ".mov": "video/quicktime", ".png": "image/png", ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg", ".webp": "image/webp", ".avi": "video/avi"}
OFFLINE = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
STATUSES = ("valid", "untrusted", "tampered", "missing")


def _agent() -> dict:
    return {"name": "kino", "version": __version__}


def manifest(title: str, model_id: str, operation: str, edited: bool, model_detail: dict | None = None) -> dict:
    """The manifest definition for one output; ``model_detail`` (backend, weights' SHA-256) goes
    into its action's parameters beside the model id."""
    params = {"model": model_id, "operation": operation, **(model_detail or {})}
    if edited:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": ["source"]}},
            {"action": "c2pa.edited", "softwareAgent": _agent(), "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
             "parameters": params},
        ]
    else:
        actions = [{"action": "c2pa.created", "softwareAgent": _agent(),
                    "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA, "parameters": params}]
    return {
        "claim_generator_info": [_agent()],
        "title": title,
        "format": MIME.get(Path(title).suffix.lower(), "video/mp4"),
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions}}],
    }


def _context(trust_anchors: bytes | str | None) -> c2pa.Context:
    settings = {**OFFLINE, "builder": {"thumbnail": {"enabled": False}}}
    if trust_anchors:
        pem = trust_anchors.decode() if isinstance(trust_anchors, bytes) else trust_anchors
        settings["trust"] = {"trust_anchors": pem}
    return c2pa.Context.from_dict(settings)


def sign(src: Path, dst: Path, keys: Keys, *, title: str, model_id: str, operation: str,
         sources: tuple[Path, ...] = (), model_detail: dict | None = None, assertions: list[dict] = ()) -> None:
    """Write ``src`` with a signed manifest to ``dst``. ``sources``, the inputs of an edit, become its
    ingredients: the first its parent, the others components. A source C2PA cannot read as an
    ingredient (a .webm, say) is named in the action's parameters instead. ``assertions`` are added
    as they are. The manifest's hash covers every byte of the file outside the manifest itself:
    video, audio and caption tracks alike."""
    mime = MIME.get(Path(title).suffix.lower(), "video/mp4")
    definition = manifest(title, model_id, operation, bool(sources), model_detail)
    definition["assertions"] += list(assertions)
    try:
        _sign(src, dst, keys, definition, mime, sources)
    except c2pa.C2paError as e:
        if not sources:
            raise
        log.warning("cannot record %s as a C2PA ingredient (%s); naming it in the manifest instead",
                    ", ".join(Path(p).name for p in sources), str(e).splitlines()[0])
        definition = manifest(title, model_id, operation, False, model_detail)
        definition["assertions"] += list(assertions)
        definition["assertions"][0]["data"]["actions"][0]["parameters"]["sources"] = [Path(p).name for p in sources]
        _sign(src, dst, keys, definition, mime, ())


def _sign(src: Path, dst: Path, keys: Keys, definition: dict, mime: str, sources: tuple[Path, ...]) -> None:
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, keys.chain_pem, keys.key_pem, None))
    with signer, _context(keys.root_pem) as ctx, c2pa.Builder(definition, context=ctx) as builder:
        for i, source in enumerate(sources):
            ingredient = {"title": Path(source).name, "relationship": "componentOf" if i else "parentOf"}
            if i == 0:
                ingredient["label"] = "source"  # what c2pa.opened points at
            with open(source, "rb") as f:
                builder.add_ingredient(ingredient, MIME.get(Path(source).suffix.lower()) or "video/mp4", f)
        with open(src, "rb") as s, open(dst, "w+b") as d:
            builder.sign(signer, mime, s, d)


@dataclass
class Report:
    """What a file's C2PA data says. ``status``: valid, untrusted, tampered or missing."""

    status: str
    summary: dict = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    signer_serial: str | None = None  # of the signing certificate, to match against local keys
    error: str | None = None


def _has_c2pa_bytes(path: Path) -> bool:
    """Whether the file holds C2PA JUMBF boxes (both a "jumb" box and a "c2pa" label), read in 1 MiB chunks."""
    seen, tail = set(), b""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            seen |= {label for label in (b"jumb", b"c2pa") if label in tail + chunk}
            tail = chunk[-3:]
    return len(seen) == 2


def _summary(store: dict) -> dict:
    active = store["manifests"][store["active_manifest"]]
    actions = []
    for a in active.get("assertions", []):
        if a.get("label", "").startswith("c2pa.actions"):
            actions += a["data"].get("actions", [])
    created = next((a for a in actions if a["action"] in ("c2pa.created", "c2pa.edited")), {})
    sig = active.get("signature_info", {})
    return {
        "title": active.get("title"),
        "claim_generator": [f"{g.get('name')} {g.get('version', '')}".strip()
                            for g in active.get("claim_generator_info", [])],
        "actions": [a["action"] for a in actions],
        "digital_source_type": created.get("digitalSourceType"),
        "software_agent": created.get("softwareAgent"),
        "model": (created.get("parameters") or {}).get("model"),
        "operation": (created.get("parameters") or {}).get("operation"),
        "backend": (created.get("parameters") or {}).get("backend", "native"),
        "weights_sha256": (created.get("parameters") or {}).get("weights_sha256"),
        "ingredients": [{"title": i.get("title"), "relationship": i.get("relationship")}
                        for i in active.get("ingredients", [])],
        "signer": {"issuer": sig.get("issuer"), "common_name": sig.get("common_name"), "alg": sig.get("alg"),
                   "time": sig.get("time"), "serial": sig.get("cert_serial_number")},
        "manifests": len(store["manifests"]),
        "narration": next((a["data"] for a in active.get("assertions", []) if a.get("label") == "org.kino.narration"),
                          None),
    }


def read(path: str | Path, trust_anchors: bytes | str | None = None) -> Report:
    """Read and validate ``path``'s manifest against ``trust_anchors`` (PEM; None trusts nothing local)."""
    path = Path(path)
    mime = MIME.get(path.suffix.lower())
    try:
        with _context(trust_anchors) as ctx, open(path, "rb") as f:
            reader = c2pa.Reader.try_create(mime, f, None, ctx)  # None: the library detects the format
            if reader is None:  # no manifest found; a damaged one still leaves its labels behind
                damaged = _has_c2pa_bytes(path)
                return Report("tampered" if damaged else "missing",
                              error="C2PA data is present but cannot be read" if damaged else None)
            with reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state()
                results = reader.get_validation_results() or {}
    except c2pa.C2paError as e:
        # Unreadable: with C2PA data inside, the file was altered; without, there is nothing to check.
        error = str(e).splitlines()[0][:300]
        return Report("tampered" if _has_c2pa_bytes(path) else "missing", error=error)
    failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
    hard = [c for c in failures if c != "signingCredential.untrusted"]
    if hard or state == "Invalid" and not failures:
        status = "tampered"
    elif state == "Trusted":
        status = "valid"
    else:
        status = "untrusted"
    summary = _summary(store) if store.get("active_manifest") else {}
    serial = summary.get("signer", {}).get("serial") if summary else None
    return Report(status, summary, failures, serial)
