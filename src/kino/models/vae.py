"""Causal video autoencoder.

The first frame is encoded on its own, then every ``temporal_factor`` frames become one
latent frame (as in CogVideoX, Yang et al. 2024, and LTX-Video, HaCohen et al. 2024):
a video of ``1 + 4k`` frames has ``1 + k`` latent frames and an image is a 1-frame video.
Every temporal operation looks only backwards, so changing frame ``i`` never changes a
latent that covers frames before ``i``.

Heavy work happens per frame in 2D at H/4 and H/8; only the latent grid is mixed in 3D.
This keeps decoding a 256x256 clip cheap on a CPU while staying causal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kino.config import VAEConfig


def frames_to_latent_frames(num_frames: int, temporal_factor: int = 4) -> int:
    if num_frames < 1 or (num_frames - 1) % temporal_factor:
        raise ValueError(f"a video must have 1 + {temporal_factor}k frames, got {num_frames}")
    return 1 + (num_frames - 1) // temporal_factor


class FrameNorm(nn.Module):
    """GroupNorm applied to each frame alone: statistics over time would leak the future."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.GroupNorm(min(8, channels // 4 or 1), channels, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = self.norm(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, c, h, w).transpose(1, 2)


class CausalConv3d(nn.Module):
    """3x3x3 convolution padded only on the past side of time (with copies of frame 0)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3):
        super().__init__()
        self.pad_t = kernel - 1
        self.conv = nn.Conv3d(cin, cout, kernel, padding=(0, kernel // 2, kernel // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_t:
            x = torch.cat([x[:, :, :1].expand(-1, -1, self.pad_t, -1, -1), x], dim=2)
        return self.conv(x)


class FrameConv(nn.Module):
    """A 2D convolution applied to every frame independently (trivially causal)."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        y = self.conv(x.transpose(1, 2).reshape(b * t, c, h, w))
        return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


class ResBlock(nn.Module):
    def __init__(self, channels: int, temporal: bool):
        super().__init__()
        conv = CausalConv3d if temporal else FrameConv
        self.norm1, self.conv1 = FrameNorm(channels), conv(channels, channels)
        self.norm2, self.conv2 = FrameNorm(channels), conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        return x + self.conv2(F.silu(self.norm2(h)))


def pixel_unshuffle_frames(x: torch.Tensor, r: int) -> torch.Tensor:
    b, c, t, h, w = x.shape
    y = F.pixel_unshuffle(x.transpose(1, 2).reshape(b * t, c, h, w), r)
    return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


def pixel_shuffle_frames(x: torch.Tensor, r: int) -> torch.Tensor:
    b, c, t, h, w = x.shape
    y = F.pixel_shuffle(x.transpose(1, 2).reshape(b * t, c, h, w), r)
    return y.reshape(b, t, *y.shape[1:]).transpose(1, 2)


def time_to_channels(x: torch.Tensor, r: int) -> torch.Tensor:
    """(B, C, 1 + r k, H, W) -> (B, C r, 1 + k, H, W); frame 0 is repeated r times, alone."""
    x = torch.cat([x[:, :, :1].expand(-1, -1, r - 1, -1, -1), x], dim=2)
    b, c, t, h, w = x.shape
    return x.reshape(b, c, t // r, r, h, w).transpose(2, 3).reshape(b, c * r, t // r, h, w)


def channels_to_time(x: torch.Tensor, r: int) -> torch.Tensor:
    """Inverse of ``time_to_channels``: (B, C r, 1 + k, H, W) -> (B, C, 1 + r k, H, W)."""
    b, cr, t, h, w = x.shape
    x = x.reshape(b, cr // r, r, t, h, w).transpose(2, 3).reshape(b, cr // r, t * r, h, w)
    return x[:, :, r - 1 :]


class Encoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c1, c2, c3 = cfg.channels
        r = cfg.temporal_factor
        self.r = r
        self.stem = FrameConv(3 * 16, c1)  # pixels (4x4 per cell) -> H/4
        self.block1 = ResBlock(c1, temporal=False)
        self.down = FrameConv(c1, c2, stride=2)  # -> H/8
        self.block2 = ResBlock(c2, temporal=False)
        self.merge_time = nn.Conv3d(c2 * r, c3, 1)
        self.block3 = ResBlock(c3, temporal=True)
        self.norm_out = FrameNorm(c3)
        self.out = CausalConv3d(c3, 2 * cfg.latent_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, T, H, W) in [-1, 1] -> (B, 2 C, T', H/8, W/8): mean and log-variance."""
        h = self.block1(self.stem(pixel_unshuffle_frames(x, 4)))
        h = self.block2(self.down(F.silu(h)))
        h = self.block3(self.merge_time(time_to_channels(h, self.r)))
        return self.out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        c1, c2, c3 = cfg.channels
        r = cfg.temporal_factor
        self.r = r
        self.stem = CausalConv3d(cfg.latent_channels, c3)
        self.block3 = ResBlock(c3, temporal=True)
        self.split_time = nn.Conv3d(c3, c2 * r, 1)
        self.block2 = ResBlock(c2, temporal=False)
        self.up = FrameConv(c2, c1 * 4)  # pixel shuffle x2 -> H/4
        self.block1 = ResBlock(c1, temporal=False)
        self.norm_out = FrameNorm(c1)
        self.out = FrameConv(c1, 3 * 16)  # pixel shuffle x4 -> H

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, C, T', h, w) -> (B, 3, 1 + 4 (T' - 1), 8 h, 8 w), roughly in [-1, 1]."""
        h = self.block3(self.stem(z))
        h = self.block2(channels_to_time(self.split_time(h), self.r))
        h = self.block1(pixel_shuffle_frames(self.up(F.silu(h)), 2))
        return pixel_shuffle_frames(self.out(F.silu(self.norm_out(h))), 4)


class VideoVAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        if cfg.spatial_factor != 8:
            raise ValueError(f"VideoVAE supports spatial_factor 8, got {cfg.spatial_factor}")
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        c = cfg.latent_channels
        mean = torch.tensor(cfg.latent_mean or [0.0] * c).view(1, c, 1, 1, 1)
        std = torch.tensor(cfg.latent_std or [1.0] * c).view(1, c, 1, 1, 1)
        self.register_buffer("latent_mean", mean, persistent=False)
        self.register_buffer("latent_std", std, persistent=False)

    def check_video_shape(self, x: torch.Tensor) -> None:
        _, c, t, h, w = x.shape
        frames_to_latent_frames(t, self.cfg.temporal_factor)
        f = self.cfg.spatial_factor
        if c != 3 or h % f or w % f:
            raise ValueError(f"expected (B, 3, T, H, W) with H and W multiples of {f}, got {tuple(x.shape)}")

    def encode_dist(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw posterior (mean, logvar), each (B, C, T', H/8, W/8)."""
        self.check_video_shape(x)
        mean, logvar = self.encoder(x).chunk(2, dim=1)
        return mean, logvar.clamp(-20.0, 10.0)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Video in [-1, 1] -> normalised latents (posterior mean), ~N(0, 1) per channel."""
        mean, _ = self.encode_dist(x)
        return (mean - self.latent_mean.to(mean)) / self.latent_std.to(mean)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Training pass: (reconstruction, mean, logvar), sampling the posterior with ``generator``."""
        mean, logvar = self.encode_dist(x)
        noise = torch.randn(mean.shape, generator=generator, dtype=torch.float32).to(mean)
        return self.decoder(mean + noise * (0.5 * logvar).exp()), mean, logvar

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents -> video in [-1, 1]."""
        z = latents * self.latent_std.to(latents) + self.latent_mean.to(latents)
        return self.decoder(z).clamp(-1.0, 1.0)
