"""Training on toyworld in three stages: the VAE, a cache of its latents, the transformer.

``train(TrainConfig, out_dir)`` runs whatever stage is unfinished, so re-running the same
command resumes exactly: each step's data and noise are functions of (seed, step, rank),
and the state file holds weights, EMA, optimiser and step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from kino import precision
from kino.config import ModelConfig, preset
from kino.data.datasets import ClipSpec, LatentCache, frames_to_tensor, step_seed, toyworld_clip
from kino.flow.rectified_flow import flow_loss, interpolate, sample_time_logit_normal, time_shift
from kino.io import atomic_path
from kino.models.folder import build_models, grow_positions, grow_text_layers, grow_text_refiner, load_meta, load_model_folder, save_model_folder
from kino.models.text_encoder import TextEncoder
from kino.training.distributed import DistInfo, all_reduce_mean, barrier, init_distributed, shutdown

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    model: str = "default"  # a name in kino.config.PRESETS
    seed: int = 0
    # Stage 1: VAE on short clips, random crops.
    vae_steps: int = 2000
    vae_batch: int = 6
    vae_seconds: float = 1.0
    vae_crop: int = 128
    vae_lr: float = 1e-3
    vae_kl: float = 1e-6
    # Stage 2: latent cache.
    cache_clips: int = 2048
    shard_size: int = 64
    cache_workers: int = 0  # processes rendering clips while the main one encodes them
    encode_batch: int = 8
    # Stage 3: transformer.
    dit_steps: int = 4000
    batch: int = 16
    accum: int = 1
    lr: float = 4e-4
    warmup: int = 100
    weight_decay: float = 0.01
    ema: float = 0.999
    text_dropout: float = 0.1
    # Velocity-loss weight is 1 + object_weight on latent cells that hold an object: the
    # achromatic background is most of every frame and would otherwise drown the objects.
    object_weight: float = 3.0
    # The share of samples trained with the layout bias that steers sampling (kino.director.layout),
    # made from where each colour truly is: the model learns to fill the box its words are pointed
    # at with one whole object. Needs a cache with object colours.
    grounding: float = 0.5
    # Weight of an attention loss (TokenCompose, Wang et al. 2024): each word naming an object puts
    # its cross-attention on the video tokens that hold that object, so a colour word's state must
    # say where its object goes ("purple ... bottom left") for the video there to find it. Needs a
    # cache with object colours. 0: none.
    attention_loss: float = 0.0
    checkpoint_every: int = 100
    dtype: str = "auto"  # autocast dtype (kino.precision: auto is bf16 where the hardware runs it natively)
    compile: bool = False  # torch.compile the transformer's training step (fuses its elementwise work)
    init_from: str = ""  # a model folder to continue from (skips the VAE stage)
    # A model folder whose VAE (frozen) a new transformer of preset ``model`` is trained over: a small
    # transformer on the shipped latents, to try a recipe in minutes (skips the VAE stage).
    vae_from: str = ""
    text_layers: tuple[int, ...] = ()  # the text encoder's hidden states to read (DiTConfig.text_layers); (): the preset's
    text_refiner: int | None = None  # blocks over the text tokens alone (DiTConfig.text_refiner); None: the preset's
    kinds: tuple[str, ...] = ()  # toyworld's kinds of scene to train on (kino.data.toyworld.scene.KINDS); (): all
    # Training times t = shift t / (1 + (shift - 1) t) over logit-normal t (SD3 eq. 23), towards noise:
    # where the layout of a clip is decided (t near 1), which logit-normal alone seldom reaches.
    time_shift: float = 1.0
    # The share of samples that get clean known frames (first, last, a prefix, or first and last):
    # what image-to-video, extension and connecting learn from. A clean first frame shows where
    # everything is, so those samples teach nothing about where the words put things.
    known_frames: float = 0.45
    # With init_from: fine-tune the VAE's decoder on the frozen encoder first. The latent space
    # stays the same, so a transformer trained on it stays valid; edges are weighted.
    decoder_steps: int = 0
    decoder_lr: float = 2e-4
    edge_weight: float = 1.0
    # Decoder fine-tune only: the L1 weight is 1 + rim_weight within RIM pixels of an object's colour,
    # and colour_weight weighs a loss on where colour is (soft_colour), over that rim: without them
    # the decoder blurs a small triangle's tip into a rounded blob (NOTES, session 10).
    rim_weight: float = 0.0
    colour_weight: float = 0.0
    # Decoder fine-tune only: its crops of vae_seconds are cut at a random time from clips of one of
    # these lengths (seconds), so objects move at the speeds of the clips kino makes (a 4 s clip, a
    # 2 s storyboard shot); toyworld spreads a move over its whole clip, so a 1 s clip moves them
    # 2-4x faster. Empty: clips of vae_seconds.
    decoder_clip_seconds: tuple[float, ...] = ()
    # Wall-clock budget for the whole run (0: none). When it runs out, the stage in progress
    # checkpoints and the run stops; the same command resumes it.
    max_minutes: float = 0.0


TRAIN_PRESETS: dict[str, TrainConfig] = {
    "tiny": TrainConfig(
        model="tiny", vae_steps=4, vae_batch=2, vae_seconds=1.0, vae_crop=32, cache_clips=8, shard_size=4,
        dit_steps=4, batch=2, warmup=2, checkpoint_every=2,
    ),
    "default": TrainConfig(),
    # A recipe tried small (issue 25): a 1.7M-parameter transformer over the shipped VAE's latents
    # of 1 s clips at 128 px, meant with --vae-from and --kinds; minutes on a 2-core CPU.
    "small": TrainConfig(model="small", cache_clips=1024, shard_size=64, dit_steps=1500, batch=32, lr=1e-3,
                         warmup=50, checkpoint_every=250, grounding=0.0, ema=0.995),
}


def model_preset(tc: TrainConfig) -> ModelConfig:
    """The model preset ``tc`` names, with ``tc.text_layers`` and ``tc.text_refiner`` where given."""
    dit = preset(tc.model).dit
    if tc.text_layers:
        dit = dit.reading(tc.text_layers)
    if tc.text_refiner is not None:
        dit = dataclasses.replace(dit, text_refiner=tc.text_refiner)
    return dataclasses.replace(preset(tc.model), dit=dit)


def autocast_for(tc: TrainConfig, device: torch.device):
    """Autocast to the training dtype (kino.precision's choice for ``device``); none in float32."""
    dtype = precision.choose(tc.dtype, device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def train_preset(name: str) -> TrainConfig:
    if name not in TRAIN_PRESETS:
        raise ValueError(f"unknown training preset {name!r}; choose one of: {', '.join(TRAIN_PRESETS)}")
    return TRAIN_PRESETS[name]


class EMA:
    """Exponential moving average of parameters, with the usual warm-up of the decay for a model
    trained from scratch. A model that continues a trained one (``warmup=False``) averages at the
    full decay from the first step: the average starts at the trained weights and moves away from
    them only as fast as many small-batch steps agree (with the warm-up, a continued checkpoint's
    average would be the last ~45 noisy batch-16 steps by step 400)."""

    def __init__(self, model: nn.Module, decay: float, warmup: bool = True):
        self.decay, self.warmup = decay, warmup
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step)) if self.warmup else self.decay
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(d).add_(v.float(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def copy_to(self, model: nn.Module) -> nn.Module:
        model.load_state_dict(self.shadow)
        return model


def lr_at(step: int, base: float, warmup: int) -> float:
    return base * min(1.0, (step + 1) / max(1, warmup))


def save_state(path: Path, **state) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def run_loop(
    name: str,
    model: nn.Module,
    loss_fn: Callable[[nn.Module, int, int], tuple[torch.Tensor, int]],
    steps: int,
    lr: float,
    tc: TrainConfig,
    state_path: Path,
    info: DistInfo,
    on_checkpoint: Callable[[EMA, int], None] | None = None,
    accum: int = 1,
    deadline: float | None = None,
    compiled: bool = False,
) -> tuple[EMA, int]:
    """AdamW + EMA + bf16 autocast + gradient accumulation, checkpointing to ``state_path``.

    ``loss_fn(model, step, micro)`` returns (loss, samples) for one micro-batch of this rank.
    Past ``deadline`` (``time.monotonic()``) every rank checkpoints and stops. Returns the
    EMA and the number of steps done.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), weight_decay=tc.weight_decay)
    ema = EMA(model, tc.ema, warmup=not tc.init_from)
    start = 0
    if state_path.exists():
        state = torch.load(state_path, weights_only=True, map_location="cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        ema.shadow = {k: v.to(info.device) for k, v in state["ema"].items()}
        start = state["step"]
        if info.is_main:
            log.info("%s: resuming at step %d from %s", name, start, state_path)
    device_ids = [info.device.index] if info.device.type == "cuda" else None
    ddp = DistributedDataParallel(model, device_ids=device_ids) if info.world_size > 1 else model
    net = torch.compile(ddp) if compiled else ddp
    autocast = autocast_for(tc, info.device)
    bar = tqdm(total=steps, initial=start, desc=name, file=sys.stderr, disable=not info.is_main, dynamic_ncols=True)
    t0, seen, done = time.perf_counter(), 0, start
    for step in range(start, steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, lr, tc.warmup)
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), device=info.device)
        for micro in range(accum):
            sync = micro == accum - 1 or info.world_size == 1
            with (contextlib.nullcontext() if sync else ddp.no_sync()), autocast:
                loss, n = loss_fn(net, step, micro)
            (loss / accum).backward()
            total += loss.detach().float() / accum
            seen += n * info.world_size
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        ema.update(model, step)
        total = all_reduce_mean(total, info)
        bar.update(1)
        bar.set_postfix(loss=f"{total.item():.4f}", samples_s=f"{seen / (time.perf_counter() - t0):.1f}")
        done = step + 1
        late = False
        if deadline is not None:  # every rank stops at the same step if any is late
            late = time.monotonic() > deadline
            late = bool(all_reduce_mean(torch.tensor(float(late), device=info.device), info).item() > 0)
        if info.is_main and (done % tc.checkpoint_every == 0 or done == steps or late):
            save_state(state_path, model=model.state_dict(), optimizer=opt.state_dict(), ema=ema.shadow, step=done)
            if on_checkpoint:
                on_checkpoint(ema, done)
        if done % tc.checkpoint_every == 0 or late:
            barrier(info)
        if late:
            if info.is_main:
                log.info("%s: out of time after step %d of %d; the same command resumes", name, done, steps)
            break
    bar.close()
    return ema, done


def vae_clips(
    tc: TrainConfig, spec: ClipSpec, rng: np.random.Generator, lengths: tuple[float, ...] = ()
) -> torch.Tensor:
    """A batch of random crops of fresh toyworld clips, (vae_batch, 3, T, crop, crop) in [-1, 1], of
    ``spec``'s length; with ``lengths``, each crop's T frames are cut at a random time from a clip of
    one of these lengths (seconds)."""
    clips, frames_per_crop = [], round(spec.seconds * spec.fps) + 1
    for _ in range(tc.vae_batch):
        seed = int(rng.integers(2**62))
        if lengths:
            seconds = lengths[int(rng.integers(len(lengths)))]
            frames, _, _ = toyworld_clip(seed, dataclasses.replace(spec, seconds=seconds))
            t = int(rng.integers(0, len(frames) - frames_per_crop + 1))
            frames = frames[t : t + frames_per_crop]
        else:
            frames, _, _ = toyworld_clip(seed, spec)
        y = int(rng.integers(0, spec.height - tc.vae_crop + 1))
        x = int(rng.integers(0, spec.width - tc.vae_crop + 1))
        clips.append(frames_to_tensor(frames[:, y : y + tc.vae_crop, x : x + tc.vae_crop]))
    return torch.stack(clips)


def reconstruction_loss(recon: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """L1 + L2 between a decoded video and its input, both (B, 3, T, H, W)."""
    return (recon - video).abs().mean() + ((recon - video) ** 2).mean()


RIM = 3  # pixels around an object's colour that the decoder's rim weight covers


def soft_colour(video: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W) in (0, 1): how surely each pixel of a (B, 3, T, H, W) video in [-1, 1] has a
    colour by the contract's rule (saturation >= 0.35, value >= 0.25; toyworld.readback), smoothed."""
    v = (video + 1) / 2
    hi, lo = v.max(1).values, v.min(1).values
    return torch.sigmoid((hi - lo - 0.35 * hi) / 0.02) * torch.sigmoid((hi - 0.25) / 0.02)


def object_rims(video: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, H, W) float: 1 within RIM pixels of a pixel with a palette colour, else 0."""
    from scipy import ndimage

    from kino.data.toyworld.readback import color_masks

    frames = ((video.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).movedim(1, -1).numpy()
    coloured = color_masks(frames) >= 0  # (B, T, H, W)
    grown = ndimage.binary_dilation(coloured, structure=np.ones((1, 1, 3, 3), bool), iterations=RIM)
    return torch.from_numpy(grown).float()[:, None].to(video.device)


def decoder_loss(recon: torch.Tensor, video: torch.Tensor, tc: TrainConfig) -> torch.Tensor:
    """The decoder fine-tune's loss: L1 (weighted up on objects' rims) + L2, edges, and where colour is."""
    edges = tc.edge_weight * edge_loss(recon, video)
    if not (tc.rim_weight or tc.colour_weight):
        return reconstruction_loss(recon, video) + edges
    rim = object_rims(video)
    weight = 1 + tc.rim_weight * rim
    loss = ((recon - video).abs() * weight).mean() / weight.mean() + ((recon - video) ** 2).mean() + edges
    if tc.colour_weight and rim.sum() > 0:
        loss = loss + tc.colour_weight * ((soft_colour(recon) - soft_colour(video)).abs() * rim[:, 0]).sum() / rim.sum()
    return loss


def edge_loss(recon: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
    """Mean L1 distance between horizontal and vertical pixel differences of (B, 3, T, H, W) videos."""
    dx = lambda v: v[..., :, 1:] - v[..., :, :-1]
    dy = lambda v: v[..., 1:, :] - v[..., :-1, :]
    return (dx(recon) - dx(video)).abs().mean() + (dy(recon) - dy(video)).abs().mean()


def vae_loss_fn(tc: TrainConfig, spec: ClipSpec, device: torch.device):
    def loss_fn(vae, step: int, micro: int, rank: int = 0):
        video = vae_clips(tc, spec, np.random.default_rng(step_seed(tc.seed, 1, step, micro, rank))).to(device)
        gen = torch.Generator().manual_seed(step_seed(tc.seed, 2, step, micro, rank))
        recon, mean, logvar = vae(video, generator=gen)
        recon = recon.float()
        kl = 0.5 * (mean.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).mean()
        loss = reconstruction_loss(recon, video) + tc.vae_kl * kl
        return loss, len(video)

    return loss_fn


@torch.no_grad()
def latent_statistics(vae, tc: TrainConfig, spec: ClipSpec, device, clips: int = 32) -> tuple[list[float], list[float]]:
    zs = []
    for i in range(clips):
        frames, _, _ = toyworld_clip(step_seed(tc.seed, 3, i), spec)
        zs.append(vae.encode_dist(frames_to_tensor(frames)[None].to(device))[0].cpu())
    z = torch.cat(zs).transpose(0, 1).flatten(1).float()  # (C, everything)
    return z.mean(1).tolist(), z.std(1).clamp(min=1e-3).tolist()


def known_mask(rng: np.random.Generator, frames: int, share: float = 0.45) -> torch.Tensor:
    """Random frame-conditioning mask over latent frames, (frames,): none (1 - share of the
    time), else first, last, a prefix, or first and last, in the proportions 20 : 8 : 10 : 7."""
    m = torch.zeros(frames)
    u = rng.random()
    if frames < 2 or u < 1 - share:
        return m
    u = 0.55 + 0.45 * (u - (1 - share)) / share  # the same draw, spread over the four kinds
    if u < 0.75:
        m[0] = 1
    elif u < 0.83:
        m[-1] = 1
    elif u < 0.93:
        m[: int(rng.integers(1, frames))] = 1
    else:
        m[0] = m[-1] = 1
    return m


def unwrapped(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel and torch.compile wrappers."""
    model = getattr(model, "module", model)
    return getattr(model, "_orig_mod", model)


def attention_loss(maps: list[torch.Tensor], inside: torch.Tensor, named: torch.Tensor) -> torch.Tensor:
    """TokenCompose's token loss: for each word naming an object in view, the share of its
    cross-attention that falls outside the object's tokens, averaged over such words and over
    ``maps`` ((B, N, L) each, ``DiT.cross_attention_maps``); ``inside`` (B, N, L) and ``named``
    (B, L) as ``grounding_targets`` gives them."""
    seen = (named & (inside.sum(1) > 0)).float()  # (B, L): words whose object is in view
    if not seen.any():
        return maps[0].sum() * 0.0
    losses = []
    for probs in maps:
        probs = probs.float()
        share = (probs * inside).sum(1) / probs.sum(1).clamp(min=1e-6)  # (B, L)
        losses.append(((1 - share) * seen).sum() / seen.sum())
    return torch.stack(losses).mean()


def dit_loss_fn(
    tc: TrainConfig, cache: LatentCache, text_encoder: TextEncoder, rank: int, device: torch.device,
    patch: tuple[int, int, int] = (1, 4, 4),
):
    from kino.director.layout import grounding_bias, grounding_targets, word_colors

    # The cache lives where the model does: on a GPU a step then moves no latents.
    latents = cache.latents.to(device)
    masks = cache.masks.to(device) if cache.masks is not None and tc.object_weight else None
    colors = cache.colors.to(device) if cache.colors is not None and (tc.grounding or tc.attention_loss) else None
    length = text_encoder.max_tokens

    @functools.cache
    def words(caption: str) -> tuple[int, ...]:  # each caption is read once
        return tuple(word_colors(text_encoder.offsets(caption), caption, length))

    def loss_fn(dit, step: int, micro: int):
        rng = np.random.default_rng(step_seed(tc.seed, 4, step, micro, rank))
        idx = rng.integers(len(cache), size=tc.batch)
        prompts = [
            "" if rng.random() < tc.text_dropout else cache.captions[i][int(rng.integers(len(cache.captions[i])))]
            for i in idx
        ]
        rows = torch.from_numpy(idx).to(device)
        x0 = latents[rows].float()  # (B, C, T, h, w)
        weight = torch.ones(len(idx), 1, *x0.shape[2:], device=device)
        if masks is not None:
            weight += tc.object_weight * masks[rows][:, None].float()
        gen = torch.Generator().manual_seed(step_seed(tc.seed, 5, step, micro, rank))
        noise_gen = torch.Generator(device).manual_seed(step_seed(tc.seed, 6, step, micro, rank))
        noise = torch.randn(x0.shape, generator=noise_gen, device=device)
        t = time_shift(sample_time_logit_normal(len(idx), generator=gen), tc.time_shift).to(device)
        mask = torch.stack([known_mask(rng, x0.shape[2], tc.known_frames) for _ in idx]).view(len(idx), 1, -1, 1, 1)
        mask = mask.expand(-1, 1, -1, *x0.shape[3:]).to(device)
        x_t = interpolate(x0, noise, t)
        x_t = mask * x0 + (1 - mask) * x_t  # known frames are clean in the input too
        text, text_mask = (v.to(device) for v in text_encoder(prompts))
        cond = {}
        if colors is not None and tc.grounding:
            grounded = rng.random(len(idx)) < tc.grounding
            named = [words(p) if g else (-1,) * length for p, g in zip(prompts, grounded)]
            cond["text_bias"] = grounding_bias(colors[rows], torch.tensor(named, device=device), patch)
        attended = colors is not None and tc.attention_loss > 0
        with unwrapped(dit).cross_attention_maps() if attended else contextlib.nullcontext() as maps:
            v = dit(x_t, t, text, text_mask, known=x0 * mask, known_mask=mask, **cond)
        loss = flow_loss(v, x0, noise, weight=(1 - mask) * weight)
        if attended:
            named = torch.tensor([words(p) for p in prompts], device=device)
            loss = loss + tc.attention_loss * attention_loss(maps, *grounding_targets(colors[rows], named, patch))
        return loss, len(idx)

    return loss_fn


def clip_fields(cfg: ModelConfig) -> dict:
    return {"width": cfg.sample.width, "height": cfg.sample.height, "fps": cfg.sample.fps, "seconds": cfg.sample.seconds}


def decoder_stage(tc: TrainConfig, vae, spec: ClipSpec, out: Path, info: DistInfo, deadline):
    """Fine-tune the decoder on the frozen encoder's posterior samples: sharper frames from the
    same latents. Returns the VAE, or None when the deadline stopped the stage."""
    spec = dataclasses.replace(spec, seconds=tc.vae_seconds)
    vae.requires_grad_(False).eval()
    vae.decoder.requires_grad_(True).train()

    def loss_fn(decoder, step: int, micro: int):
        rng = np.random.default_rng(step_seed(tc.seed, 7, step, micro, info.rank))
        video = vae_clips(tc, spec, rng, tc.decoder_clip_seconds)
        video = video.to(info.device)
        gen = torch.Generator().manual_seed(step_seed(tc.seed, 8, step, micro, info.rank))
        with torch.no_grad():
            mean, logvar = vae.encode_dist(video)
            z = mean + torch.randn(mean.shape, generator=gen).to(mean) * (0.5 * logvar).exp()
        recon = decoder(z).float()
        return decoder_loss(recon, video, tc), len(video)

    ema, done = run_loop(
        "decoder", vae.decoder, loss_fn, tc.decoder_steps, tc.decoder_lr, tc, out / "decoder_state.pt", info,
        deadline=deadline,
    )
    if done < tc.decoder_steps:
        return None
    ema.copy_to(vae.decoder)
    return vae.eval().requires_grad_(False)


def vae_stage(tc: TrainConfig, cfg: ModelConfig, vae, spec: ClipSpec, out: Path, info: DistInfo, deadline):
    """Train the VAE, then measure its latent statistics; returns (config with them, normalising VAE),
    or None when the deadline stopped the VAE's training."""
    vae_spec = dataclasses.replace(spec, seconds=tc.vae_seconds)
    vae_fn = vae_loss_fn(tc, vae_spec, info.device)
    ema, done = run_loop(
        "vae", vae, lambda m, s, k: vae_fn(m, s, k, info.rank), tc.vae_steps, tc.vae_lr, tc, out / "vae_state.pt", info,
        deadline=deadline,
    )
    if done < tc.vae_steps:
        return None
    ema.copy_to(vae).eval().requires_grad_(False)
    stats_path = out / "latent_stats.json"
    if not stats_path.exists():
        if info.is_main:
            mean, std = latent_statistics(vae, tc, spec, info.device)
            with atomic_path(stats_path) as tmp:
                tmp.write_text(json.dumps({"mean": mean, "std": std}))
        barrier(info)
    stats = json.loads(stats_path.read_text())
    cfg = dataclasses.replace(
        cfg, vae=dataclasses.replace(cfg.vae, latent_mean=tuple(stats["mean"]), latent_std=tuple(stats["std"]))
    )
    normalising = build_models(cfg)[0].to(info.device)
    normalising.load_state_dict(vae.state_dict())
    return cfg, normalising.eval().requires_grad_(False)


def train(tc: TrainConfig, out: str | Path, env: dict[str, str] | None = None) -> Path | None:
    """Run every unfinished stage; returns the model folder ``out/model``, or None when
    ``tc.max_minutes`` ran out before the transformer stage had saved one."""
    deadline = time.monotonic() + 60 * tc.max_minutes if tc.max_minutes else None
    info = init_distributed(env)
    if info.device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN time its 3D convolutions once
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(tc.seed)  # model initialisation is the same on every rank
    cfg = wanted = model_preset(tc)
    if info.is_main:
        (out / "train_config.json").write_text(json.dumps(dataclasses.asdict(tc), indent=2) + "\n")

    # 1. The VAE, trained here or taken from the model folder training continues from.
    if tc.vae_from and not tc.init_from:
        folder_cfg, vae, _ = load_model_folder(tc.vae_from)
        cfg = dataclasses.replace(cfg, vae=folder_cfg.vae)
        dit = build_models(cfg)[1].to(info.device).train()
        vae = vae.to(info.device).requires_grad_(False)
    elif tc.init_from:
        # Continue from a model folder (e.g. the shipped checkpoint): its VAE is kept as it is.
        cfg, vae, dit = load_model_folder(tc.init_from)
        if wanted.dit.positions and not cfg.dit.positions:
            cfg, dit = grow_positions(cfg, dit, wanted.dit.positions)  # v2 -> absolute positions
        layers = wanted.dit.text_layers
        if set(cfg.dit.text_layers) < set(layers) or (tc.text_layers and layers != cfg.dit.text_layers):
            cfg, dit = grow_text_layers(cfg, dit, layers)  # also read the layers the preset adds
        if wanted.dit.text_refiner > cfg.dit.text_refiner:
            cfg, dit = grow_text_refiner(cfg, dit, wanted.dit.text_refiner)
        vae, dit = vae.to(info.device).requires_grad_(False), dit.to(info.device).train()
        if tc.decoder_steps:
            vae = decoder_stage(tc, vae, ClipSpec(**clip_fields(cfg)), out, info, deadline)
            if vae is None:
                shutdown(info)
                return None
            if not tc.dit_steps:  # a decoder-only run: the model folder is the old one with the new decoder
                if info.is_main:
                    meta = load_meta(tc.init_from) | {"decoder_steps": tc.decoder_steps}
                    meta |= {k: getattr(tc, k) for k in ("rim_weight", "colour_weight") if getattr(tc, k)}
                    if tc.decoder_clip_seconds:
                        meta["decoder_clip_seconds"] = ",".join(f"{s:g}" for s in tc.decoder_clip_seconds)
                    save_model_folder(out / "model", cfg, vae, dit, meta=meta)
                shutdown(info)
                return out / "model"
    else:
        vae, dit = (m.to(info.device) for m in build_models(cfg))
        staged = vae_stage(tc, cfg, vae, ClipSpec(**clip_fields(cfg)), out, info, deadline)
        if staged is None:
            shutdown(info)
            return None
        cfg, vae = staged

    # 2. A cache of latents of toyworld clips at the model's default size.
    spec = ClipSpec(**clip_fields(cfg))
    encode = lambda frames: vae.encode(frames_to_tensor(frames.to(info.device))).cpu()
    cache = LatentCache(out / "cache")
    bar = tqdm(total=tc.cache_clips, desc="cache", file=sys.stderr, disable=not info.is_main, dynamic_ncols=True)
    with autocast_for(tc, info.device):
        cache.build(
            encode, tc.cache_clips, tc.shard_size, spec, tc.seed, info.rank, info.world_size, bar.update,
            factors=(cfg.vae.temporal_factor, cfg.vae.spatial_factor), workers=tc.cache_workers,
            encode_batch=tc.encode_batch, kinds=tc.kinds or None,
        )
    bar.close()
    barrier(info)
    cache.load()
    if (tc.object_weight and cache.masks is None) or ((tc.grounding or tc.attention_loss) and cache.colors is None):
        # a cache written before masks or colours: every rank sees the same files
        if info.is_main:
            cache.fill_masks(spec, (cfg.vae.temporal_factor, cfg.vae.spatial_factor))
        barrier(info)
        cache.load()

    # 3. Transformer.
    text_encoder = TextEncoder.from_pretrained(max_tokens=cfg.dit.max_text_tokens, layers=cfg.dit.text_layers,
                                               dtype=precision.choose(tc.dtype, info.device)).to(info.device)
    model_dir = out / "model"

    def export(ema_dit: EMA, step: int) -> None:
        shipped = build_models(cfg)[1]
        ema_dit.copy_to(shipped)
        save_model_folder(model_dir, cfg, vae, shipped, meta={"step": step, "seed": tc.seed, "grounding": tc.grounding})

    run_loop(
        "dit", dit, dit_loss_fn(tc, cache, text_encoder, info.rank, info.device, cfg.dit.patch), tc.dit_steps, tc.lr, tc,
        out / "dit_state.pt", info, on_checkpoint=export, accum=tc.accum, deadline=deadline, compiled=tc.compile,
    )
    barrier(info)
    shutdown(info)
    return model_dir if model_dir.exists() else None
