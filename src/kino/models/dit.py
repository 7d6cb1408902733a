"""Diffusion transformer over spacetime patches of video latents.

DiT (Peebles & Xie 2023) with adaLN-Zero timestep conditioning, cross-attention to
frozen text-encoder token states (PixArt-alpha, Chen et al. 2023), QK-normalisation,
and 3D rotary positions (factorised over time, height and width, as in Wan 2.1 and
HunyuanVideo), so width, height and duration can change at inference.

Frame conditioning (animate an image, extend, loop, connect) is by channel concatenation:
the input carries the noisy latents, the known latents (zero where unknown) and the mask.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F
from torch import nn

from kino.config import DiTConfig


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of flow time t in [0, 1] (scaled by 1000 like DDPM steps). (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = (t.float() * 1000.0)[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def per_token(axes: list[torch.Tensor], grid: tuple[int, int, int]) -> torch.Tensor:
    """Per-axis features (T, a), (H, b), (W, c) -> (T * H * W, a + b + c), one row per token in
    (time, height, width) order."""
    t, h, w = grid
    return torch.cat(
        [
            axes[0][:, None, None].expand(t, h, w, -1),
            axes[1][None, :, None].expand(t, h, w, -1),
            axes[2][None, None, :].expand(t, h, w, -1),
        ],
        dim=-1,
    ).reshape(t * h * w, -1)


def rope_frequencies(grid: tuple[int, int, int], head_dim: int, device, theta: float = 10000.0) -> torch.Tensor:
    """Rotation angles for a (T, H, W) token grid as (2, N, head_dim // 2): cos and sin.

    Time, height and width share the channel pairs; the tables are real so the rotation
    fuses under torch.compile (complex tensors do not).
    """
    dt = head_dim // 2 - 2 * (head_dim // 6)  # channel pairs given to time; the rest split between H and W
    dims = (dt, head_dim // 6, head_dim // 6)
    axes = []
    for size, d in zip(grid, dims):
        inv = 1.0 / theta ** (torch.arange(d, device=device, dtype=torch.float32) / d)
        axes.append(torch.outer(torch.arange(size, device=device, dtype=torch.float32), inv))
    angles = per_token(axes, grid)
    return torch.stack([angles.cos(), angles.sin()])


def position_features(grid: tuple[int, int, int], frequencies: int, device) -> torch.Tensor:
    """Frame-relative coordinates of a (T, H, W) token grid's centres, each in (0, 1), as sines and
    cosines of pi 2^k u for k < ``frequencies``: (N, 6 * frequencies), ordered (time, height, width).
    Relative to the frame, so "top left" is the same tokens at every size and duration."""
    axes = []
    for size in grid:
        u = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) / size
        a = math.pi * u[:, None] * 2.0 ** torch.arange(frequencies, device=device, dtype=torch.float32)
        axes.append(torch.cat([a.sin(), a.cos()], dim=-1))
    return per_token(axes, grid)


def rope_tables(freqs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(cos, sin) (2, N, hd / 2) -> (2, N, hd) for ``apply_rope``: cos per channel, and sin
    signed (-sin, +sin) per pair, so a rotation is two multiplies and an add in ``dtype``."""
    cos, sin = freqs
    return torch.stack([cos.repeat_interleave(2, -1), torch.stack([-sin, sin], -1).flatten(-2)]).to(dtype)


def apply_rope(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """x (B, heads, N, head_dim) with channel pairs (2i, 2i+1) rotated by ``rope_tables`` (2, N, head_dim),
    computed once per forward; the rotation runs in x's dtype (bf16 on the hot path)."""
    cos, sin = freqs.to(x.dtype)
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (b, a) for each pair (a, b)
    return torch.addcmul(x * cos, swapped, sin)


class RMSNorm(nn.Module):
    """RMSNorm whose weight follows the input dtype, so bf16 activations take the fused kernel."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.shape[-1],), self.weight.to(x.dtype), self.eps)


# Bytes of attention scores one chunk of queries may hold on the CPU path.
SCORE_BYTES = 256 * 2**20


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax attention, (B, heads, N, hd) x (B, heads, M, hd) -> (B, heads, N, hd); ``mask``
    (bool, broadcast to the scores) hides keys, ``bias`` (B, 1, N, M) is added to the logits.

    On the CPU in bf16, two AMX matmuls around a bf16 softmax beat the fused CPU kernel
    about 1.5-2x at a few thousand tokens (``kino bench`` measures both); queries go in
    chunks so the scores never exceed ``SCORE_BYTES``. Elsewhere: PyTorch's fused SDPA.
    """
    if bias is not None:  # the mask folds into the bias once, not once per chunk of queries
        bias = bias.to(q.dtype)
        if mask is not None:
            bias = bias.masked_fill(~mask, float("-inf"))
    if q.device.type != "cpu" or q.dtype not in (torch.bfloat16, torch.float16):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask if bias is None else bias)
    scale = q.shape[-1] ** -0.5
    kt = k.transpose(-1, -2)
    if bias is None and mask is not None:
        bias = torch.zeros(mask.shape, dtype=q.dtype).masked_fill(~mask, float("-inf"))
    per_query = bias is not None and bias.shape[2] > 1  # a layout bias has a row per query; a mask has one
    rows = max(1, SCORE_BYTES // (q.shape[0] * q.shape[1] * k.shape[2] * q.element_size()))
    out = []
    for i in range(0, q.shape[2], rows):
        scores = (q[:, :, i : i + rows] * scale) @ kt
        if bias is not None:
            scores = scores + (bias[:, :, i : i + rows] if per_query else bias)
        out.append(torch.softmax(scores, dim=-1) @ v)
    return out[0] if len(out) == 1 else torch.cat(out, dim=2)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, context_dim: int | None = None):
        super().__init__()
        self.heads = heads
        self.cross = context_dim is not None
        if self.cross:
            self.q = nn.Linear(dim, dim)
            self.kv = nn.Linear(context_dim, 2 * dim)
        else:
            self.qkv = nn.Linear(dim, 3 * dim)
        self.q_norm = RMSNorm(dim // heads)
        self.k_norm = RMSNorm(dim // heads)
        self.proj = nn.Linear(dim, dim)
        self.maps: list[torch.Tensor] | None = None  # where DiT.cross_attention_maps collects them

    def forward(self, x, context=None, context_mask=None, freqs=None, bias=None):
        b, n, d = x.shape
        split = lambda y: y.view(b, y.shape[1], -1, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        if self.cross:
            q = split(self.q(x))[0]
            k, v = split(self.kv(context))
        else:
            q, k, v = split(self.qkv(x))
        q, k = self.q_norm(q), self.k_norm(k)
        if freqs is not None:
            q, k = apply_rope(q, freqs), apply_rope(k, freqs)
        mask = None if context_mask is None else context_mask[:, None, None, :]
        if self.maps is not None:  # the probabilities themselves are wanted (an attention loss)
            scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)
            if bias is not None:
                scores = scores + bias[:, None].to(scores.dtype)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            probs = scores.softmax(-1)  # (B, heads, N, M)
            self.maps.append(probs.mean(1))
            out = probs @ v
        else:
            out = attend(q, k, v, mask, None if bias is None else bias[:, None])  # (B, heads, N, head_dim)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(shift[:, None], x, 1 + scale[:, None])


class TextBlock(nn.Module):
    """Self-attention and MLP over the text tokens alone (``DiTConfig.text_refiner``)."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.width
        self.norm1 = nn.LayerNorm(d, eps=1e-6)
        self.attn = Attention(d, cfg.heads)
        self.norm2 = nn.LayerNorm(d, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))

    def forward(self, x, mask):
        x = x + self.attn(self.norm1(x), context_mask=mask)
        return x + self.mlp(self.norm2(x))


class Block(nn.Module):
    """Self-attention and MLP modulated by adaLN-Zero; cross-attention to the text in between."""

    def __init__(self, cfg: DiTConfig):
        super().__init__()
        d = cfg.width
        self.norm1 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(d, cfg.heads)
        self.norm_cross = nn.LayerNorm(d, eps=1e-6)
        self.cross = Attention(d, cfg.heads, context_dim=d)
        self.norm2 = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        hidden = int(d * cfg.mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        self.ada = nn.Linear(d, 6 * d)

    def forward(self, x, c, context, context_mask, freqs, text_bias=None):
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(F.silu(c)).chunk(6, dim=-1)
        x = torch.addcmul(x, gate1[:, None], self.attn(modulate(self.norm1(x), shift1, scale1), freqs=freqs))
        x = x + self.cross(self.norm_cross(x), context, context_mask, bias=text_bias)
        return torch.addcmul(x, gate2[:, None], self.mlp(modulate(self.norm2(x), shift2, scale2)))


class DiT(nn.Module):
    def __init__(self, cfg: DiTConfig, latent_channels: int):
        super().__init__()
        self.cfg = cfg
        self.latent_channels = latent_channels
        d, (pt, ph, pw) = cfg.width, cfg.patch
        in_channels = 2 * latent_channels + 1  # noisy latents, known latents, known mask
        self.patch_in = nn.Linear(in_channels * pt * ph * pw, d)
        self.pos_embed = nn.Linear(6 * cfg.positions, d) if cfg.positions else None
        self.t_embed = nn.Sequential(nn.Linear(256, d), nn.SiLU(), nn.Linear(d, d))
        self.text_proj = nn.Sequential(nn.Linear(cfg.text_dim, d), nn.GELU(), nn.Linear(d, d))
        self.pooled_proj = nn.Linear(cfg.text_dim, d)
        self.text_blocks = nn.ModuleList(TextBlock(cfg) for _ in range(cfg.text_refiner))
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(d, elementwise_affine=False, eps=1e-6)
        self.ada_out = nn.Linear(d, 2 * d)
        self.patch_out = nn.Linear(d, latent_channels * pt * ph * pw)
        self.initialize()

    def initialize(self) -> None:
        """Xavier for linears; adaLN and output projections zeroed so every block starts as identity."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.t_embed[0].weight, std=0.02)
        nn.init.normal_(self.t_embed[2].weight, std=0.02)
        for block in self.blocks:
            nn.init.zeros_(block.ada.weight)
            nn.init.zeros_(block.ada.bias)
            nn.init.zeros_(block.cross.proj.weight)
        for block in self.text_blocks:  # each starts as the identity, so one can be added to a trained model
            nn.init.zeros_(block.attn.proj.weight)
            nn.init.zeros_(block.mlp[2].weight)
        # Zero: a model grown from one without absolute positions starts out computing what it did.
        for m in (self.ada_out, self.patch_out) + ((self.pos_embed,) if self.pos_embed is not None else ()):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    @contextlib.contextmanager
    def cross_attention_maps(self):
        """Collect every block's cross-attention probabilities, averaged over heads, (B, N, L) each,
        into the yielded list while the context is open (the forward pass then computes them in full)."""
        maps: list[torch.Tensor] = []
        for block in self.blocks:
            block.cross.maps = maps
        try:
            yield maps
        finally:
            for block in self.blocks:
                block.cross.maps = None

    def patchify(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int, int]]:
        """(B, C, T, H, W) -> tokens (B, N, C pt ph pw) and the token grid (T/pt, H/ph, W/pw)."""
        b, c, t, h, w = x.shape
        pt, ph, pw = self.cfg.patch
        if t % pt or h % ph or w % pw:
            raise ValueError(f"latent grid {(t, h, w)} is not divisible by the patch {self.cfg.patch}")
        g = (t // pt, h // ph, w // pw)
        x = x.reshape(b, c, g[0], pt, g[1], ph, g[2], pw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        return x.reshape(b, g[0] * g[1] * g[2], c * pt * ph * pw), g

    def unpatchify(self, tokens: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        b = tokens.shape[0]
        pt, ph, pw = self.cfg.patch
        x = tokens.reshape(b, *grid, self.latent_channels, pt, ph, pw).permute(0, 4, 1, 5, 2, 6, 3, 7)
        return x.reshape(b, self.latent_channels, grid[0] * pt, grid[1] * ph, grid[2] * pw)

    def forward(
        self,
        x: torch.Tensor,  # (B, C, T, H, W) noisy latents
        t: torch.Tensor,  # (B,) flow time
        text: torch.Tensor,  # (B, L, text_dim) token states
        text_mask: torch.Tensor,  # (B, L) bool, True where a real token
        known: torch.Tensor | None = None,  # (B, C, T, H, W) known latents, zero elsewhere
        known_mask: torch.Tensor | None = None,  # (B, 1, T, H, W) 1 where known
        text_bias: torch.Tensor | None = None,  # (B, N, L) added to cross-attention logits (layout steering)
    ) -> torch.Tensor:
        """Predicted velocity, (B, C, T, H, W)."""
        if known is None:
            known = torch.zeros_like(x)
            known_mask = torch.zeros_like(x[:, :1])
        tokens, grid = self.patchify(torch.cat([x, known, known_mask], dim=1))
        dtype = self.patch_in.weight.dtype
        h = self.patch_in(tokens.to(dtype))  # (B, N, D)
        if self.pos_embed is not None:
            h = h + self.pos_embed(position_features(grid, self.cfg.positions, x.device).to(dtype))
        pooled = (text * text_mask[..., None]).sum(1) / text_mask.sum(1, keepdim=True).clamp(min=1)
        c = self.t_embed(timestep_embedding(t, 256).to(dtype)) + self.pooled_proj(pooled.to(dtype))  # (B, D)
        context = self.text_proj(text.to(dtype))  # (B, L, D)
        for block in self.text_blocks:
            context = block(context, text_mask)
        freqs = rope_tables(rope_frequencies(grid, self.cfg.width // self.cfg.heads, x.device), dtype)
        for block in self.blocks:
            h = block(h, c, context, text_mask, freqs, text_bias)
        shift, scale = self.ada_out(F.silu(c)).chunk(2, dim=-1)
        out = self.patch_out(modulate(self.norm_out(h), shift, scale))
        return self.unpatchify(out, grid).to(x.dtype)
