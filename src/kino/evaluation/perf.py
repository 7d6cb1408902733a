"""Transformer and VAE speed against a matmul roofline and against diffusers' video models.

Everything here is measured in one run on one machine and reported as ratios: a matmul
roofline in the same dtype, kino's transformer at a configuration matched to Wan 2.1's and
LTX-Video's transformers (width, depth, heads, tokens, random weights), and kino's VAE
decoder against theirs at a matched output. ``diffusers`` is optional: without it the
peer rows say so instead of failing.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from kino import precision

from kino.config import DiTConfig, VAEConfig
from kino.models.dit import DiT
from kino.models.vae import VideoVAE


@dataclass(frozen=True)
class Shape:
    """A matched transformer configuration: ``tokens`` = frames x (height / 2) x (width / 2) latent patches."""

    width: int = 384
    depth: int = 12
    heads: int = 6
    frames: int = 5  # latent frames
    height: int = 32  # latent cells
    width_cells: int = 32
    text_tokens: int = 32
    text_dim: int = 384
    latent_channels: int = 16

    @property
    def tokens(self) -> int:
        return self.frames * (self.height // 2) * (self.width_cells // 2)


QUICK = Shape(width=64, depth=2, heads=2, frames=2, height=8, width_cells=8, text_tokens=8)


def timed(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """Median wall seconds of ``fn`` after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_roofline(dtype: torch.dtype | None = None, n: int = 2048, repeats: int = 5) -> float:
    """Achieved FLOP/s of an n x n x n matmul: the ceiling the transformer is measured against
    (``dtype`` None: kino.precision's choice here)."""
    dtype = precision.choose() if dtype is None else dtype
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    with torch.inference_mode():
        return 2 * n**3 / timed(lambda: a @ b, repeats)


def transformer_flops(s: Shape, mlp_ratio: float = 4.0) -> float:
    """Multiply-add FLOPs of one forward pass (the matmuls and attention; the same count for every model)."""
    n, d, lt = s.tokens, s.width, s.text_tokens
    self_attn = 2 * n * d * 4 * d + 4 * n * n * d
    cross = 2 * n * d * 2 * d + 2 * lt * s.text_dim * 2 * d + 4 * n * lt * d
    mlp = 2 * n * d * int(mlp_ratio * d) * 2
    return s.depth * (self_attn + cross + mlp)


def kino_transformer(s: Shape, dtype: torch.dtype, compile: bool = False) -> Callable[[], torch.Tensor]:
    """kino's transformer; ``compile``: through torch.compile (inductor), which the first call pays for."""
    dit = DiT(DiTConfig(width=s.width, depth=s.depth, heads=s.heads, patch=(1, 2, 2), text_dim=s.text_dim),
              s.latent_channels)
    _randomise(dit)
    dit = dit.to(dtype).eval()
    if compile:
        dit = torch.compile(dit)
    x = torch.randn(1, s.latent_channels, s.frames, s.height, s.width_cells, dtype=dtype)
    t = torch.full((1,), 0.5)
    text = torch.randn(1, s.text_tokens, s.text_dim, dtype=dtype)
    mask = torch.ones(1, s.text_tokens, dtype=torch.bool)
    return lambda: dit(x, t, text, mask)


def wan_transformer(s: Shape, dtype: torch.dtype) -> Callable[[], torch.Tensor]:
    from diffusers import WanTransformer3DModel

    model = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=s.heads, attention_head_dim=s.width // s.heads,
        in_channels=s.latent_channels, out_channels=s.latent_channels, text_dim=s.text_dim,
        ffn_dim=4 * s.width, num_layers=s.depth,
    )
    _randomise(model)
    model = model.to(dtype).eval()
    x = torch.randn(1, s.latent_channels, s.frames, s.height, s.width_cells, dtype=dtype)
    t = torch.full((1,), 500)
    text = torch.randn(1, s.text_tokens, s.text_dim, dtype=dtype)
    return lambda: model(x, t, text, return_dict=False)[0]


def ltx_transformer(s: Shape, dtype: torch.dtype) -> Callable[[], torch.Tensor]:
    """LTX-Video's transformer reads pre-patchified tokens: 2x2 patches of 16 channels are 64 channels."""
    from diffusers import LTXVideoTransformer3DModel

    channels = s.latent_channels * 4
    model = LTXVideoTransformer3DModel(
        in_channels=channels, out_channels=channels, num_attention_heads=s.heads,
        attention_head_dim=s.width // s.heads, cross_attention_dim=s.width, num_layers=s.depth,
        caption_channels=s.text_dim,
    )
    _randomise(model)
    model = model.to(dtype).eval()
    h, w = s.height // 2, s.width_cells // 2
    x = torch.randn(1, s.frames * h * w, channels, dtype=dtype)
    t = torch.full((1,), 500)
    text = torch.randn(1, s.text_tokens, s.text_dim, dtype=dtype)
    mask = torch.ones(1, s.text_tokens, dtype=torch.long)
    return lambda: model(x, text, t, mask, num_frames=s.frames, height=h, width=w,
                         rope_interpolation_scale=(1.0, 1.0, 1.0), return_dict=False)[0]


PEERS = {"kino": kino_transformer, "wan2.1": wan_transformer, "ltx-video": ltx_transformer}


def _randomise(model: torch.nn.Module) -> None:
    """Random weights everywhere (zero-initialised gates would skip work some kernels notice)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)


def bench_transformers(s: Shape = Shape(), dtype: torch.dtype | None = None, repeats: int = 5,
                       compile: bool = False) -> dict:
    """One sampling step of each transformer at the matched shape: s, tokens/s, FLOP/s, roofline fraction.

    ``compile`` adds a row for kino's transformer through torch.compile (its compile time apart).
    """
    dtype = precision.choose() if dtype is None else dtype
    roof = matmul_roofline(dtype)
    flops = transformer_flops(s)
    rows = {}
    peers = dict(PEERS)
    if compile:
        peers["kino+compile"] = lambda shape, dt: kino_transformer(shape, dt, compile=True)
    for name, build in peers.items():
        try:
            step = build(s, dtype)
        except ImportError as e:
            rows[name] = {"skipped": f"needs {e.name}"}
            continue
        with torch.inference_mode():
            t0 = time.perf_counter()
            step()  # warm-up (and, compiled, the compilation)
            first = time.perf_counter() - t0
            sec = timed(step, repeats, warmup=0)
        rows[name] = {"step_s": sec, "first_call_s": first, "tokens_per_s": s.tokens / sec, "flop_per_s": flops / sec,
                      "roofline_fraction": flops / sec / roof}
    _speedups(rows, "step_s")
    return {"shape": {**s.__dict__, "tokens": s.tokens}, "dtype": str(dtype), "flop_per_step": flops,
            "matmul_roofline_flop_per_s": roof, "models": rows}


def _speedups(rows: dict[str, dict], key: str) -> None:
    """Each measured row's ``kino_speedup``: its ``key`` seconds over kino's (skipped rows have none)."""
    base = rows["kino"][key]
    for row in rows.values():
        if key in row:
            row["kino_speedup"] = row[key] / base


def time_split(step: Callable[[], object]) -> dict[str, float]:
    """Where a step's CPU time goes, by kind of operator (fractions of self time)."""
    from torch.profiler import profile

    kinds = {
        "matmul": ("mm", "addmm", "bmm", "linear", "matmul", "baddbmm"),
        "attention": ("scaled_dot_product", "flash_attention", "softmax"),
        "copy_cast": ("copy_", "to", "_to_copy", "contiguous", "clone", "cat", "stack"),
        "norm": ("layer_norm", "rms_norm", "group_norm", "native_layer_norm"),
        "conv": ("convolution", "conv", "mkldnn"),
    }
    with torch.inference_mode():
        step()
        with profile() as prof:
            step()
    split: dict[str, float] = {}
    for ev in prof.key_averages():
        name = ev.key.removeprefix("aten::")
        kind = next((k for k, names in kinds.items() if any(n in name for n in names)), "elementwise_other")
        split[kind] = split.get(kind, 0.0) + ev.self_cpu_time_total
    total = sum(split.values()) or 1.0
    return {k: v / total for k, v in sorted(split.items(), key=lambda kv: -kv[1])}


def kino_vae_decoder(frames: int, height: int, width: int, dtype: torch.dtype):
    vae = VideoVAE(VAEConfig())
    _randomise(vae)
    vae = vae.to(dtype).eval()
    z = torch.randn(1, 16, 1 + (frames - 1) // 4, height // 8, width // 8, dtype=dtype)
    return lambda: vae.decode(z), sum(p.numel() for p in vae.decoder.parameters())


# Peer decoders are shrunk to about kino's decoder size (1.7M parameters): Wan 1.55M, LTX 1.95M.


def wan_vae_decoder(frames: int, height: int, width: int, dtype: torch.dtype, base_dim: int = 16):
    """Wan 2.1's VAE (8x space, 4x time, 16 channels, like kino's) at a small width."""
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan(base_dim=base_dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=1)
    _randomise(vae)
    vae = vae.to(dtype).eval()
    z = torch.randn(1, 16, 1 + (frames - 1) // 4, height // 8, width // 8, dtype=dtype)
    return lambda: vae.decode(z, return_dict=False)[0], sum(p.numel() for p in vae.decoder.parameters())


def ltx_vae_decoder(frames: int, height: int, width: int, dtype: torch.dtype):
    """LTX-Video's VAE (32x space, 8x time, 128 channels in the original) shrunk to kino's 8x/4x/16 ratio."""
    from diffusers import AutoencoderKLLTXVideo

    vae = AutoencoderKLLTXVideo(
        latent_channels=16, block_out_channels=(32, 64, 64), decoder_block_out_channels=(32, 64, 64),
        layers_per_block=(1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False), decoder_spatio_temporal_scaling=(True, True, False),
        decoder_inject_noise=(False, False, False, False), upsample_residual=(False, False, False),
        upsample_factor=(1, 1, 1), down_block_types=("LTXVideoDownBlock3D",) * 3,
        downsample_type=("conv", "conv", "conv"), patch_size=2, patch_size_t=1,
    )
    _randomise(vae)
    vae = vae.to(dtype).eval()
    z = torch.randn(1, 16, 1 + (frames - 1) // 4, height // 8, width // 8, dtype=dtype)
    return lambda: vae.decode(z, return_dict=False)[0], sum(p.numel() for p in vae.decoder.parameters())


VAE_PEERS = {"kino": kino_vae_decoder, "wan2.1": wan_vae_decoder, "ltx-video": ltx_vae_decoder}


def bench_vae_decoders(frames: int = 33, height: int = 256, width: int = 256, dtype=None,
                       repeats: int = 3) -> dict:
    """Decode of the same latent grid to the same (frames, height, width) video by each VAE
    (``dtype`` None: kino.precision's choice here)."""
    dtype = precision.choose() if dtype is None else dtype
    rows = {}
    for name, build in VAE_PEERS.items():
        try:
            decode, params = build(frames, height, width, dtype)
        except ImportError as e:
            rows[name] = {"skipped": f"needs {e.name}"}
            continue
        with torch.inference_mode():
            out = decode()
            sec = timed(decode, repeats, warmup=0)
        rows[name] = {"decode_s": sec, "frames_per_s": frames / sec, "decoder_params": params,
                      "output": list(out.shape)}
    _speedups(rows, "decode_s")
    return {"frames": frames, "height": height, "width": width, "dtype": str(dtype), "models": rows}
