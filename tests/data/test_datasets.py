import numpy as np
import torch

from kino.data import toyworld
from kino.data.datasets import ClipSpec, LatentCache, frames_to_tensor, object_colors, object_mask, toyworld_clip


def test_object_mask_marks_the_object_cells_on_the_latent_grid():
    frames, _, scene = toyworld_clip(3, ClipSpec(width=64, height=64, fps=4, seconds=2.0))  # 9 frames
    mask = object_mask(frames, temporal_factor=4, spatial_factor=8)
    assert mask.shape == (3, 8, 8) and mask.dtype == torch.bool
    assert 0 < mask.float().mean() < 0.5  # objects are there, and most of the frame is background
    # Frame 0 is its own latent frame: its cells are exactly the 8x8 blocks holding coloured pixels.
    coloured = toyworld.readback.color_masks(frames[:1])[0] >= 0
    blocks = coloured.reshape(8, 8, 8, 8).any(axis=(1, 3))
    assert np.array_equal(mask[0].numpy(), blocks)
    # A blank (achromatic) clip has no object cells.
    assert not object_mask(np.full_like(frames, 128), 4, 8).any()


def test_object_colors_hold_one_bit_per_colour_in_each_cell():
    frames, _, scene = toyworld_clip(5, ClipSpec(width=64, height=64, fps=4, seconds=2.0))
    colors = object_colors(frames, temporal_factor=4, spatial_factor=8)
    assert colors.shape == (3, 8, 8) and colors.dtype == torch.uint8
    index = toyworld.readback.color_masks(frames)
    present = {toyworld.readback.PALETTE[i] for i in np.unique(index) if i >= 0}
    assert present == {o["color"] for o in scene["objects"]}
    for c, color in enumerate(toyworld.readback.PALETTE):  # each colour's bit is exactly its own cells
        cells = (index[1:5] == c).reshape(4, 8, 8, 8, 8).any(axis=(0, 2, 4))  # latent frame 1: frames 1-4
        assert np.array_equal(((colors[1] >> c) & 1).numpy().astype(bool), cells), color
    assert torch.equal(object_mask(frames, 4, 8), colors > 0)


def encode(frames):  # stand-in encoder with the VAE's grid: (B, T, H, W, 3) uint8 -> (B, 3, T', h, w)
    return frames_to_tensor(frames)[:, :, ::4, ::8, ::8]


def test_frames_to_tensor_keeps_a_batch_dim():
    frames = np.random.default_rng(0).integers(0, 256, (2, 5, 8, 8, 3), dtype=np.uint8)
    batch = frames_to_tensor(torch.from_numpy(frames))
    assert batch.shape == (2, 3, 5, 8, 8)
    assert torch.equal(batch[1], frames_to_tensor(frames[1]))
    assert batch.min() >= -1 and batch.max() <= 1


def test_latent_cache_stores_object_masks(tmp_path):
    spec = ClipSpec(width=32, height=32, fps=4, seconds=1.0)  # 5 frames
    cache = LatentCache(tmp_path)
    cache.build(encode, num_clips=3, shard_size=2, spec=spec, seed=0, factors=(4, 8))
    cache.load()
    assert cache.masks.shape == (3, 2, 4, 4) and len(cache) == 3
    assert cache.masks.any()
    assert cache.colors.shape == (3, 2, 4, 4) and torch.equal(cache.colors > 0, cache.masks)


def test_a_cache_from_before_masks_gets_them_from_its_stored_scenes(tmp_path):
    spec = ClipSpec(width=32, height=32, fps=4, seconds=1.0)
    cache = LatentCache(tmp_path)
    cache.build(encode, num_clips=3, shard_size=2, spec=spec, seed=0, factors=(4, 8))
    expected = LatentCache(tmp_path).load()
    for k, path in enumerate(sorted(tmp_path.glob("shard_*.pt"))):  # as written before masks / colours
        shard = torch.load(path, weights_only=True)
        del shard["colors"]
        if k == 0:
            del shard["masks"]
        torch.save(shard, path)
    old = LatentCache(tmp_path).load()
    assert old.masks is None and old.colors is None  # the object-weighted loss and grounding would be off
    assert cache.fill_masks(spec, (4, 8)) == 2 and cache.fill_masks(spec, (4, 8)) == 0
    filled = LatentCache(tmp_path).load()
    assert torch.equal(filled.masks, expected.masks) and torch.equal(filled.colors, expected.colors)


def test_latent_cache_rendered_by_workers_matches_one_process(tmp_path):
    spec = ClipSpec(width=32, height=32, fps=4, seconds=1.0)
    one, many = LatentCache(tmp_path / "one"), LatentCache(tmp_path / "many")
    one.build(encode, num_clips=5, shard_size=2, spec=spec, seed=1, encode_batch=1)
    many.build(encode, num_clips=5, shard_size=2, spec=spec, seed=1, workers=2, encode_batch=3)
    for a, b in zip(sorted(one.folder.glob("shard_*.pt")), sorted(many.folder.glob("shard_*.pt")), strict=True):
        a, b = torch.load(a, weights_only=True), torch.load(b, weights_only=True)
        assert torch.equal(a["latents"], b["latents"]) and torch.equal(a["masks"], b["masks"])
        assert a["scenes"] == b["scenes"]
    assert len(one.load()) == len(many.load()) == 5


def test_latent_cache_build_resumes_keeping_finished_shards(tmp_path):
    spec = ClipSpec(width=32, height=32, fps=4, seconds=1.0)
    cache = LatentCache(tmp_path)
    cache.build(encode, num_clips=4, shard_size=2, spec=spec, seed=0)
    first = cache.shard_path(0)
    stamp = first.stat().st_mtime_ns
    cache.shard_path(1).unlink()  # as if the build had stopped after shard 0
    done = []
    cache.build(encode, num_clips=4, shard_size=2, spec=spec, seed=0, progress=done.append)
    assert first.stat().st_mtime_ns == stamp and cache.shard_path(1).exists()
    assert sum(done) == 4
