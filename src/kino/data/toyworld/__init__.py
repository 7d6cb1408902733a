"""Toyworld: kino's procedural video world and its pixel-level ground truth.

    scene = sample_scene(rng, seconds=4.0, kinds=None)
    frames = render(scene, width=256, height=256, fps=8)   # (T, H, W, 3) uint8
    captions(scene, rng), describe(scene)                  # true of the frames
    readback.check(frames, scene).ok                       # ...as read back from pixels

The contract it implements is /work/shared/toyworld.md.
"""

from kino.data.toyworld import readback
from kino.data.toyworld.captions import Claim, captions, claims, describe
from kino.data.toyworld.render import render, render_fps
from kino.data.toyworld.scene import (
    CAMERAS,
    COLORS,
    KINDS,
    MOTIONS,
    SHAPES,
    SIZES,
    STYLES,
    Actor,
    Event,
    Obj,
    Scene,
    Segment,
    Shot,
    sample_scene,
)

__all__ = [
    "CAMERAS", "COLORS", "KINDS", "MOTIONS", "SHAPES", "SIZES", "STYLES",
    "Actor", "Claim", "Event", "Obj", "Scene", "Segment", "Shot",
    "captions", "claims", "describe", "readback", "render", "render_fps", "sample_scene",
]  # fmt: skip
