"""A model folder: ``config.json`` + ``model.safetensors`` (VAE and transformer, text encoder excluded)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from kino.config import ModelConfig
from kino.io import atomic_path
from kino.models.dit import DiT
from kino.models.vae import VideoVAE

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class ModelFolderError(ValueError):
    """A model folder is missing, incomplete or corrupt."""


def build_models(cfg: ModelConfig) -> tuple[VideoVAE, DiT]:
    return VideoVAE(cfg.vae), DiT(cfg.dit, cfg.vae.latent_channels)


def _grown(cfg: ModelConfig, dit: DiT, new: str) -> tuple[ModelConfig, DiT]:
    """A transformer of config ``cfg`` holding ``dit``'s weights; only parameters under ``new`` are
    its own (they start as the identity or at zero: ``DiT.initialize``)."""
    grown = DiT(cfg.dit, cfg.vae.latent_channels).to(next(dit.parameters()).device)
    missing, unexpected = grown.load_state_dict(dit.state_dict(), strict=False)
    if unexpected or any(not k.startswith(new) for k in missing):
        raise ValueError(f"cannot grow this transformer: missing {missing}, unexpected {unexpected}")
    return cfg, grown.train(dit.training)


def grow_positions(cfg: ModelConfig, dit: DiT, positions: int) -> tuple[ModelConfig, DiT]:
    """``dit`` with absolute position features added (``DiTConfig.positions``): its projection starts
    at zero, so the grown transformer computes exactly what ``dit`` did until training moves it."""
    if cfg.dit.positions:
        raise ValueError(f"the transformer already has position features ({cfg.dit.positions} frequencies)")
    return _grown(dataclasses.replace(cfg, dit=dataclasses.replace(cfg.dit, positions=positions)), dit, "pos_embed.")


def grow_text_refiner(cfg: ModelConfig, dit: DiT, blocks: int) -> tuple[ModelConfig, DiT]:
    """``dit`` with ``blocks`` text blocks (``DiTConfig.text_refiner``) where it had fewer: the new
    ones start as the identity, so the grown transformer computes exactly what ``dit`` did."""
    if blocks <= cfg.dit.text_refiner:
        raise ValueError(f"cannot grow {cfg.dit.text_refiner} text blocks into {blocks}")
    return _grown(dataclasses.replace(cfg, dit=dataclasses.replace(cfg.dit, text_refiner=blocks)), dit, "text_blocks.")


def grow_text_layers(cfg: ModelConfig, dit: DiT, layers: tuple[int, ...]) -> tuple[ModelConfig, DiT]:
    """``dit`` reading the text encoder's hidden states ``layers`` instead of its own
    (``DiTConfig.text_layers``): the projections of layers it already read keep their weights, new
    layers' start at zero, so the grown transformer computes exactly what ``dit`` did until training
    moves it."""
    old, layers = cfg.dit.text_layers, tuple(layers)
    width = cfg.dit.text_dim // len(old)
    if not set(old) <= set(layers) or old == layers:
        raise ValueError(f"cannot grow text layers {old} into {tuple(layers)}: a layer would be dropped")
    cfg = dataclasses.replace(cfg, dit=cfg.dit.reading(layers))
    grown = DiT(cfg.dit, cfg.vae.latent_channels).to(next(dit.parameters()).device)
    state = dit.state_dict()
    for name in ("text_proj.0.weight", "pooled_proj.weight"):  # (D, text_dim): one block of columns per layer
        w = torch.zeros_like(grown.state_dict()[name])
        for i, layer in enumerate(old):
            j = layers.index(layer)
            w[:, j * width : (j + 1) * width] = state[name][:, i * width : (i + 1) * width]
        state[name] = w
    grown.load_state_dict(state)
    return cfg, grown.train(dit.training)


def save_model_folder(
    folder: str | Path, cfg: ModelConfig, vae: VideoVAE, dit: DiT, dtype: torch.dtype = torch.bfloat16, meta=None
) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {f"vae.{k}": v.detach().to("cpu", dtype).contiguous() for k, v in vae.state_dict().items()}
    tensors |= {f"dit.{k}": v.detach().to("cpu", dtype).contiguous() for k, v in dit.state_dict().items()}
    with atomic_path(folder / WEIGHTS_NAME) as tmp:
        save_file(tensors, str(tmp), metadata={k: str(v) for k, v in (meta or {}).items()})
    with atomic_path(folder / CONFIG_NAME) as tmp:
        tmp.write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")


def load_meta(folder: str | Path) -> dict[str, str]:
    """The training record stored in a model folder's weights file (step, seed, ...)."""
    from safetensors import safe_open

    with safe_open(str(Path(folder) / WEIGHTS_NAME), "pt") as f:
        return dict(f.metadata() or {})


def load_config(folder: str | Path) -> ModelConfig:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"model folder {folder} does not exist")
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise ModelFolderError(f"model folder {folder} has no {CONFIG_NAME}")
    try:
        return ModelConfig.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as e:
        raise ModelFolderError(f"{path} is not a valid kino config: {e}") from e


def load_model_folder(folder: str | Path, dtype: torch.dtype = torch.float32) -> tuple[ModelConfig, VideoVAE, DiT]:
    folder = Path(folder)
    cfg = load_config(folder)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise ModelFolderError(f"model folder {folder} has no {WEIGHTS_NAME}")
    try:
        tensors = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFolderError(f"{weights} is corrupt: {e}") from e
    vae, dit = build_models(cfg)
    for prefix, module in (("vae.", vae), ("dit.", dit)):
        state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise ModelFolderError(f"{weights} does not match {CONFIG_NAME}: {str(e).splitlines()[0]}") from e
    return cfg, vae.to(dtype).eval(), dit.to(dtype).eval()
