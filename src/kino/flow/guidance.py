"""Classifier-free guidance (Ho & Salimans 2022) on velocities."""

from __future__ import annotations

import torch


def guided_velocity(v_uncond: torch.Tensor, v_cond: torch.Tensor, scale: float) -> torch.Tensor:
    return v_uncond + scale * (v_cond - v_uncond)
