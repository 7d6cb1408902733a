import math

import torch

from kino.flow.rectified_flow import (
    flow_loss, interpolate, predict_x0, resolution_shift, sample_time_logit_normal, time_shift, velocity_target,
)
from kino.flow.samplers import euler, flow_times, heun


def test_interpolation_endpoints_and_velocity():
    x0, noise = torch.randn(3, 4), torch.randn(3, 4)
    assert torch.allclose(interpolate(x0, noise, torch.zeros(3)), x0)
    assert torch.allclose(interpolate(x0, noise, torch.ones(3)), noise)
    t = torch.tensor([0.2, 0.5, 0.9])
    eps = 1e-3
    numeric = (interpolate(x0, noise, t + eps) - interpolate(x0, noise, t - eps)) / (2 * eps)
    assert torch.allclose(numeric, velocity_target(x0, noise), atol=1e-3)
    x_t = interpolate(x0, noise, t)
    assert torch.allclose(predict_x0(x_t, velocity_target(x0, noise), t), x0, atol=1e-6)


def test_logit_normal_times_in_open_interval_and_median_half():
    t = sample_time_logit_normal(20000, generator=torch.Generator().manual_seed(0))
    assert 0 < t.min() and t.max() < 1
    assert abs(t.median().item() - 0.5) < 0.02


def test_time_shift_formula_and_resolution_dependence():
    t = torch.linspace(0, 1, 11)
    assert torch.allclose(time_shift(t, 1.0), t)
    s = 3.0
    assert torch.allclose(time_shift(t, s), s * t / (1 + (s - 1) * t))
    assert (time_shift(t[1:-1], s) > t[1:-1]).all()  # towards noise
    assert resolution_shift(576, 576, 1.5) == 1.5
    assert math.isclose(resolution_shift(4 * 576, 576, 1.5), 3.0)


def test_flow_times_run_from_noise_to_data():
    times = flow_times(10, shift=2.0)
    assert len(times) == 11 and times[0] == 1 and times[-1] == 0
    assert (times[1:] < times[:-1]).all()


def test_flow_loss_masks_known_entries():
    x0, noise = torch.zeros(1, 2), torch.ones(1, 2)
    v = torch.tensor([[1.0, 5.0]])  # right in the first entry, wrong in the second
    assert flow_loss(v, x0, noise, weight=torch.tensor([[1.0, 0.0]])) == 0
    assert flow_loss(v, x0, noise) == 8.0


def gaussian_mixture_velocity(means: torch.Tensor, std: float):
    """Exact velocity field of rectified flow from a 2D Gaussian mixture to N(0, I)."""

    def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
        # x_t = (1 - t) x0 + t n: per component, x_t ~ N((1 - t) mu, ((1 - t) std)^2 + t^2).
        var = ((1 - t) * std) ** 2 + t**2
        diff = x[:, None, :] - (1 - t) * means[None]
        logw = -(diff**2).sum(-1) / (2 * var)
        w = torch.softmax(logw, dim=1)  # (N, K) posterior over components
        # E[x0 | x_t, k] and E[n | x_t, k] by Gaussian conditioning; v = E[n - x0 | x_t].
        e_x0 = means[None] + ((1 - t) * std**2 / var) * diff
        e_n = (t / var) * diff
        return ((e_n - e_x0) * w[..., None]).sum(1)

    return velocity


def test_samplers_converge_on_toy_2d_distribution():
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0]], dtype=torch.float64)
    std = 0.2
    velocity = gaussian_mixture_velocity(means, std)
    noise = torch.randn(4000, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    errors = {}
    for name, sampler, steps in (("euler", euler, 50), ("heun", heun, 25)):
        x = sampler(velocity, noise.clone(), flow_times(steps))
        nearest = ((x[:, None] - means[None]) ** 2).sum(-1).argmin(1)
        errors[name] = (x - means[nearest]).pow(2).sum(-1).sqrt()
        # Samples land on the components with the right spread and both modes are used.
        assert abs(errors[name].pow(2).mean().sqrt().item() - std * math.sqrt(2)) < 0.05
        assert 0.4 < nearest.double().mean().item() < 0.6
    # Against a fine solution: both converge as steps grow, and Heun is the more accurate per step.
    fine = heun(velocity, noise.clone(), flow_times(400))
    err = lambda sampler, steps: (sampler(velocity, noise.clone(), flow_times(steps)) - fine).norm(dim=1).mean()
    assert err(euler, 32) < err(euler, 8) / 2
    assert err(heun, 32) < err(heun, 8) / 4
    assert err(heun, 16) < err(euler, 16)
