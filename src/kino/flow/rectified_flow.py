"""Rectified flow, defined once for all of kino.

Convention (Liu et al. 2022; Esser et al. 2024, "Scaling Rectified Flow Transformers"):
    x_t = (1 - t) * x0 + t * noise,    t in [0, 1], t = 0 is data, t = 1 is noise,
    velocity v = d x_t / d t = noise - x0.
A sampler integrates dx/dt = v from t = 1 down to t = 0.
"""

from __future__ import annotations

import math

import torch


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """x_t for a batch; t is (B,)."""
    t = t.view(-1, *([1] * (x0.dim() - 1))).to(x0.dtype)
    return (1 - t) * x0 + t * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def predict_x0(x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Invert the convention: x0 = x_t - t v."""
    if isinstance(t, torch.Tensor):
        t = t.view(-1, *([1] * (x_t.dim() - 1))).to(x_t.dtype)
    return x_t - t * v


def sample_time_logit_normal(
    batch: int, generator: torch.Generator | None = None, mean: float = 0.0, std: float = 1.0
) -> torch.Tensor:
    """Logit-normal training times (SD3 section 3.1): t = sigmoid(N(mean, std))."""
    return torch.sigmoid(mean + std * torch.randn(batch, generator=generator))


def time_shift(t: torch.Tensor, shift: float) -> torch.Tensor:
    """Move time towards noise for larger inputs (SD3 eq. 23): t' = s t / (1 + (s - 1) t)."""
    return shift * t / (1 + (shift - 1) * t)


def resolution_shift(num_tokens: int, base_tokens: int, base_shift: float) -> float:
    """Shift grows with the square root of the token count: more tokens keep more signal at a given t."""
    return base_shift * math.sqrt(num_tokens / base_tokens)


def flow_loss(
    v_pred: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared velocity error; ``weight`` (broadcastable, e.g. 1 where frames are unknown) masks it."""
    err = (v_pred.float() - velocity_target(x0, noise).float()) ** 2
    if weight is None:
        return err.mean()
    weight = weight.expand_as(err).float()
    return (err * weight).sum() / weight.sum().clamp(min=1.0)
