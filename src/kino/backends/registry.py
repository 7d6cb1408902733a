"""Which model ``--model`` names, what it can do, and loading it.

``--model`` takes a kino folder (``config.json`` + ``model.safetensors``), a diffusers folder
(``model_index.json``), or a Hugging Face Hub id found in the local Hub cache. What a model can do
is read from its folder without loading any weights, so a request it cannot serve, or a prompt the
safety layer refuses, is answered before the model loads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from kino.backends.base import (DIFFUSERS_OPTIONS, IMAGE_TO_VIDEO, NATIVE_CAPABILITIES, NATIVE_OPTIONS, PIPELINES,
                                ModelInfo)

HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


class ModelError(ValueError):
    """``--model`` names nothing kino can load; the message says what to do."""


def locate(spec: str | Path) -> ModelInfo:
    """What ``spec`` names, read from its folder's configs (no weights are loaded)."""
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_dir():
        return describe(path, text)
    if path.exists():
        raise ModelError(f"model {text} is a file; give a model folder (kino's, or a diffusers folder with "
                         "model_index.json) or a Hugging Face Hub id")
    if HUB_ID.fullmatch(text) and not text.startswith((".", "/")):
        return describe(hub_folder(text), text)
    raise ModelError(f"model folder {text} does not exist; give a model folder (kino's, or a diffusers folder with "
                     "model_index.json) or a Hugging Face Hub id such as Wan-AI/Wan2.1-T2V-1.3B-Diffusers")


def hub_folder(hub_id: str) -> Path:
    """The folder of ``hub_id`` in the local Hugging Face cache; nothing is downloaded."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(hub_id, local_files_only=True, cache_dir=hub_cache()))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        raise ModelError(f"model {hub_id} is not in the local Hugging Face cache ({hub_cache()}); kino downloads "
                         f"nothing itself. Download it with: hf download {hub_id}") from None


def hub_cache() -> str:
    """The Hugging Face Hub cache folder, as ``$HF_HUB_CACHE`` or ``$HF_HOME`` say now."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return constants.HF_HUB_CACHE


def describe(folder: Path, name: str) -> ModelInfo:
    if (folder / "model_index.json").is_file():
        try:
            index = json.loads((folder / "model_index.json").read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ModelError(f"model {name}: model_index.json cannot be read: {e}") from None
        cls = index.get("_class_name", "")
        if cls not in PIPELINES:
            raise ModelError(f"model {name} is a {cls or 'diffusers'} folder, which kino does not run yet; it runs "
                             f"{', '.join(PIPELINES)}")
        backend, caps = PIPELINES[cls]
        if cls == "WanImageToVideoPipeline" and not _config(folder / "transformer").get("pos_embed_seq_len"):
            caps = (IMAGE_TO_VIDEO,)  # Wan2.1-I2V: a first frame only (FLF2V places a last one too)
        return ModelInfo(name, str(folder), backend, cls, caps, options=DIFFUSERS_OPTIONS)
    if (folder / "config.json").is_file():  # kino's own; its loader says what is wrong with it, if anything
        return ModelInfo(name, str(folder), "native", "kino DiT + causal video VAE", NATIVE_CAPABILITIES,
                         vocabulary=_config(folder).get("vocabulary", "toyworld"), options=NATIVE_OPTIONS)
    raise ModelError(f"model {name}: {folder} holds neither model_index.json (a diffusers folder) nor "
                     "config.json and model.safetensors (a kino folder)")


def _config(component: Path) -> dict:
    try:
        return json.loads((component / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin", ".pt", ".gguf"))


def weights_sha256(folder: str | Path) -> str:
    """SHA-256 over a model folder's weight files (each file's own digest with its relative path, in
    order): which weights made a video. Digests of files are kept in kino's cache by path, size and
    time, so a 30 GB model is read once, not at every video."""
    folder = Path(folder).resolve()
    cache_file = Path(os.environ.get("KINO_CACHE", Path.home() / ".cache" / "kino")) / "weight-digests.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, json.JSONDecodeError):
        cache = {}
    total, changed = hashlib.sha256(), False
    for f in weight_files(folder):
        st = f.stat()
        key = f"{f}:{st.st_size}:{st.st_mtime_ns}"
        if key not in cache:
            h = hashlib.sha256()
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
            cache[key], changed = h.hexdigest(), True
        total.update(f"{f.relative_to(folder)}\0{cache[key]}\n".encode())
    if changed:
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache))
            os.replace(tmp, cache_file)
        except OSError:
            pass  # the digest is still right; only the next run reads the files again
    return total.hexdigest()


def load(info: ModelInfo, dtype=None, device: str | None = None, **options):
    """The Backend for ``info`` on ``device`` (default: CUDA when there is one) in ``dtype`` (a torch
    dtype or a name; None: ``$KINO_DTYPE``, else what the device runs natively, kino.precision).
    ``options``: the backend's own (kino.backends.native.NativeBackend.load, DiffusersBackend.load)."""
    if info.backend == "native":
        from kino.backends.native import NativeBackend

        return NativeBackend.load(info, dtype, device, **options)
    from kino.backends.diffusers_video import DiffusersBackend

    return DiffusersBackend.load(info, dtype, device, **options)


def checker(info: ModelInfo, loaded=None):
    """A backend for checking requests against ``info``'s rules and defaults without its weights
    (kino's own models are small: loaded, or ``loaded()``, the one a caller that keeps models keeps)."""
    if info.backend == "native":
        return load(info) if loaded is None else loaded()
    from kino.backends.diffusers_video import DiffusersBackend

    return DiffusersBackend.describe(info)


def catalogue(folders: list[str | Path]) -> tuple[list[ModelInfo], list[str]]:
    """The models kino finds: each of ``folders`` that is a model folder, or holds model folders one
    level down, and the diffusers models in the local Hugging Face cache. Returns (models, notes on
    folders and cached models that cannot be run, each saying why)."""
    found: list[ModelInfo] = []
    notes: list[str] = []
    for folder in folders:
        folder = Path(folder)
        candidates = [folder] if _is_model(folder) else sorted(p for p in folder.glob("*") if _is_model(p))
        for c in candidates:
            try:
                found.append(describe(c, str(c)))
            except ModelError as e:
                notes.append(str(e))
    try:
        from huggingface_hub import scan_cache_dir

        repos = sorted(scan_cache_dir(hub_cache()).repos, key=lambda r: r.repo_id)
    except Exception:  # noqa: BLE001 - no cache folder yet, or one huggingface_hub cannot read: nothing cached
        repos = []
    for repo in repos:
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)[:1]:
            if (Path(rev.snapshot_path) / "model_index.json").is_file():
                try:
                    found.append(describe(Path(rev.snapshot_path), repo.repo_id))
                except ModelError as e:
                    notes.append(str(e))
    return found, notes


def _is_model(folder: Path) -> bool:
    return (folder / "model_index.json").is_file() or (folder / "config.json").is_file() and (
        folder / "model.safetensors").is_file()
