"""Toyworld training data: clips rendered on demand, and a cache of their VAE latents.

Every clip is a pure function of its integer seed, so a training step's batch is a
pure function of (run seed, step, rank): resuming replays exactly the same data.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kino.data import toyworld
from kino.io import atomic_path

log = logging.getLogger(__name__)


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., T, H, W, 3) uint8 -> (..., 3, T, H, W) float in [-1, 1]; a batch keeps its leading dim."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.require(frames, requirements=["C", "W"]))
    return frames.movedim(-1, -4).float().div(127.5).sub(1.0)


def tensor_to_frames(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) in [-1, 1] -> (T, H, W, 3) uint8."""
    x = ((video.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).contiguous().numpy()


@dataclass(frozen=True)
class ClipSpec:
    width: int = 256
    height: int = 256
    fps: int = 8
    seconds: float = 4.0


def toyworld_clip(seed: int, spec: ClipSpec, kinds=None) -> tuple[np.ndarray, list[str], dict]:
    """One clip: frames (T, H, W, 3) uint8, its captions, and its scene as a dict."""
    rng = np.random.default_rng(seed)
    scene = toyworld.sample_scene(rng, seconds=spec.seconds, kinds=kinds)
    frames = toyworld.render(scene, width=spec.width, height=spec.height, fps=spec.fps)
    return frames, toyworld.captions(scene, rng), scene.to_dict()


def object_colors(frames: np.ndarray, temporal_factor: int, spatial_factor: int) -> torch.Tensor:
    """Which colours of object each latent cell holds: (T', h, w) uint8, bit c set for colour c of
    ``toyworld.readback.PALETTE``, by the contract's colour rule.

    Toyworld backgrounds, outlines and shadows are achromatic, so a coloured pixel is an
    object pixel. A latent cell holds a colour when any of its pixels has it: frame 0 alone,
    then groups of ``temporal_factor`` frames (the causal VAE's layout), ``spatial_factor``
    pixels square.
    """
    colours = len(toyworld.readback.PALETTE)
    index = toyworld.readback.color_masks(frames)  # (T, H, W), -1 for none
    onehot = torch.from_numpy(index[:, None] == np.arange(colours)[None, :, None, None]).float()  # (T, 6, H, W)
    rest = onehot[1:].reshape(-1, temporal_factor, *onehot.shape[1:]).amax(1)
    pooled = torch.nn.functional.max_pool2d(torch.cat([onehot[:1], rest]), spatial_factor)  # (T', 6, h, w)
    return (pooled.long() << torch.arange(colours)[:, None, None]).sum(1).to(torch.uint8)


def object_mask(frames: np.ndarray, temporal_factor: int, spatial_factor: int) -> torch.Tensor:
    """Where objects are, on the latent grid: (T', h, w) bool (see ``object_colors``)."""
    return object_colors(frames, temporal_factor, spatial_factor) > 0


def step_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from integers (run seed, step, rank, ...)."""
    return int(np.random.SeedSequence(list(parts)).generate_state(2, dtype=np.uint64)[0] >> np.uint64(1))


class ClipFrames(torch.utils.data.Dataset):
    """The clips of a latent cache, rendered on demand: item k is clip ``indices[k]`` as
    (frames (T, H, W, 3) uint8, scene as JSON, object colours (T', h, w), see ``object_colors``)."""

    def __init__(self, indices: list[int], spec: ClipSpec, seed: int, factors: tuple[int, int], kinds=None):
        self.indices, self.spec, self.seed, self.factors, self.kinds = indices, spec, seed, factors, kinds

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, str, torch.Tensor]:
        frames, _, scene = toyworld_clip(step_seed(self.seed, self.indices[k]), self.spec, self.kinds)
        return torch.from_numpy(frames), json.dumps(scene), object_colors(frames, *self.factors)


class LatentCache:
    """Shards of encoded clips: ``shard_XXXXX.pt`` holds latents (N, C, T', h, w) bf16, the scenes
    they were rendered from, and on the latent grid object masks (N, T', h, w) bool and the colours
    each cell holds (N, T', h, w) uint8 bits (``object_colors``)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.latents: torch.Tensor | None = None
        self.masks: torch.Tensor | None = None
        self.colors: torch.Tensor | None = None
        self.captions: list[list[str]] = []

    def shard_path(self, index: int) -> Path:
        return self.folder / f"shard_{index:05d}.pt"

    @torch.no_grad()
    def build(
        self, encode, num_clips: int, shard_size: int, spec: ClipSpec, seed: int, rank=0, world=1, progress=None,
        factors: tuple[int, int] = (4, 8), workers: int = 0, encode_batch: int = 8, kinds=None,
    ):
        """Encode ``num_clips`` clips (of toyworld's ``kinds`` of scene; None: all, in its mixture);
        shards already on disk are kept (so a stopped build resumes).

        ``encode(frames)`` maps uint8 frames (B, T, H, W, 3) to latents (B, C, T', h, w);
        ``workers`` processes render the clips while this one encodes them.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        todo = []
        for shard in range(rank, -(-num_clips // shard_size), world):
            clips = range(shard * shard_size, min(num_clips, (shard + 1) * shard_size))
            if self.shard_path(shard).exists():
                if progress:
                    progress(len(clips))
            else:
                todo.append((shard, clips))
        if not todo:
            return
        rendered = iter(torch.utils.data.DataLoader(
            ClipFrames([i for _, clips in todo for i in clips], spec, seed, factors, kinds),
            batch_size=None, num_workers=workers, multiprocessing_context="spawn" if workers else None,
        ))
        for shard, clips in todo:
            frames, scenes, colors = zip(*(next(rendered) for _ in clips))
            latents = [
                encode(torch.stack(frames[i : i + encode_batch])).to(torch.bfloat16)
                for i in range(0, len(frames), encode_batch)
            ]
            with atomic_path(self.shard_path(shard)) as tmp:
                colors = torch.stack(colors)
                torch.save({"latents": torch.cat(latents), "scenes": list(scenes), "masks": colors > 0, "colors": colors}, tmp)
            if progress:
                progress(len(clips))

    def fill_masks(self, spec: ClipSpec, factors: tuple[int, int] = (4, 8)) -> int:
        """Give shards written before object masks (or colours) existed both, rendered again from
        the scenes they store (the renderer is deterministic, so these are the clips that were
        encoded); without masks the object-weighted loss is silently off, without colours training
        has no layout to ground. Returns shards filled."""
        filled = 0
        for path in sorted(self.folder.glob("shard_*.pt")):
            shard = torch.load(path, weights_only=True)
            if "masks" in shard and "colors" in shard:
                continue
            colors = []
            for d in shard["scenes"]:
                scene = toyworld.Scene.from_dict(json.loads(d))
                frames = toyworld.render(scene, width=spec.width, height=spec.height, fps=spec.fps)
                colors.append(object_colors(frames, *factors))
            colors = torch.stack(colors)
            with atomic_path(path) as tmp:  # a new file: a hard-linked copy of the cache elsewhere keeps its own
                torch.save(shard | {"masks": colors > 0, "colors": colors}, tmp)
            filled += 1
        return filled

    def load(self) -> "LatentCache":
        paths = sorted(self.folder.glob("shard_*.pt"))
        if not paths:
            raise FileNotFoundError(f"no latent shards in {self.folder}")
        shards = [torch.load(p, weights_only=True) for p in paths]
        self.latents = torch.cat([s["latents"] for s in shards])
        if all("masks" in s for s in shards):
            self.masks = torch.cat([s["masks"] for s in shards])
        if all("colors" in s for s in shards):
            self.colors = torch.cat([s["colors"] for s in shards])
        # Captions are written from the stored scenes at load time, so caption wording can
        # improve without re-encoding a single clip.
        scenes = [toyworld.Scene.from_dict(json.loads(d)) for s in shards for d in s["scenes"]]
        self.captions = [toyworld.captions(sc, np.random.default_rng(i)) for i, sc in enumerate(scenes)]
        log.info("latent cache: %d clips, latents %s", len(self.captions), tuple(self.latents.shape))
        return self

    def __len__(self) -> int:
        return len(self.captions)
