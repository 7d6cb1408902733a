"""Samplers as small stateless functions of (velocity_fn, x, times), after k-diffusion.

``velocity_fn(x, t)`` returns the velocity at scalar time t (see rectified_flow.py);
``times`` runs from 1 (noise) down to 0 (data).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kino.flow.rectified_flow import time_shift

VelocityFn = Callable[[torch.Tensor, float], torch.Tensor]


def flow_times(steps: int, shift: float = 1.0) -> torch.Tensor:
    """``steps + 1`` times from 1 to 0, uniform then shifted towards noise."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return time_shift(torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64), shift)


def euler(velocity_fn: VelocityFn, x: torch.Tensor, times: torch.Tensor, callback=None) -> torch.Tensor:
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        x = x + (t_next - t) * velocity_fn(x, t)
        if callback is not None:
            callback(i, x)
    return x


def heun(velocity_fn: VelocityFn, x: torch.Tensor, times: torch.Tensor, callback=None) -> torch.Tensor:
    """Heun's second-order method (Karras et al. 2022, alg. 1); the last step to t = 0 is Euler."""
    for i in range(len(times) - 1):
        t, t_next = float(times[i]), float(times[i + 1])
        v = velocity_fn(x, t)
        x_euler = x + (t_next - t) * v
        if t_next > 0:
            v_next = velocity_fn(x_euler, t_next)
            x = x + (t_next - t) * 0.5 * (v + v_next)
        else:
            x = x_euler
        if callback is not None:
            callback(i, x)
    return x


SAMPLERS = {"euler": euler, "heun": heun}


def get_sampler(name: str):
    if name not in SAMPLERS:
        raise ValueError(f"unknown sampler {name!r}; choose one of: {', '.join(SAMPLERS)}")
    return SAMPLERS[name]
