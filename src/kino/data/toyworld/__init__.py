"""Toyworld: kino's procedural video world and its pixel-level ground truth.

The contract it implements is /work/shared/toyworld.md.
"""

from kino.data.toyworld.scene import (
    COLORS,
    KINDS,
    SHAPES,
    SIZES,
    Actor,
    Event,
    Obj,
    Scene,
    Segment,
    Shot,
    sample_scene,
)
from kino.data.toyworld.render import render, render_fps

__all__ = [
    "COLORS", "KINDS", "SHAPES", "SIZES", "Actor", "Event", "Obj", "Scene", "Segment", "Shot",
    "render", "render_fps", "sample_scene",
]  # fmt: skip
