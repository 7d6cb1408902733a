import numpy as np
import torch

from kino.data import toyworld
from kino.data.datasets import ClipSpec, LatentCache, object_mask, toyworld_clip


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


def test_latent_cache_stores_object_masks(tmp_path):
    spec = ClipSpec(width=32, height=32, fps=4, seconds=1.0)  # 5 frames
    encode = lambda video: video[:, :, ::4, ::8, ::8][:, :, : 2]  # stand-in encoder with the VAE's grid
    cache = LatentCache(tmp_path)
    cache.build(encode, num_clips=3, shard_size=2, spec=spec, seed=0, factors=(4, 8))
    cache.load()
    assert cache.masks.shape == (3, 2, 4, 4) and len(cache) == 3
    assert cache.masks.any()
