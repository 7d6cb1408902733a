"""Real photographs that installed packages ship (no download): two people and some without a face."""

import functools
import os

import numpy as np
from PIL import Image


def _skimage(name: str) -> np.ndarray:
    import skimage.data

    return np.asarray(Image.open(os.path.join(os.path.dirname(skimage.data.__file__), name)).convert("RGB"))


@functools.cache
def astronaut() -> np.ndarray:
    """Eileen Collins, NASA portrait (scikit-image), 512x512."""
    return _skimage("astronaut.png")


@functools.cache
def grace_hopper() -> np.ndarray:
    """Grace Hopper, US Navy portrait (matplotlib's sample data), 600x512."""
    from matplotlib import cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as img:
        return np.asarray(img.convert("RGB"))


def coffee() -> np.ndarray:
    return _skimage("coffee.png")


def chelsea() -> np.ndarray:
    """A cat."""
    return _skimage("chelsea.png")


def camera() -> np.ndarray:
    """The cameraman (a person seen from the side: no frontal face)."""
    return _skimage("camera.png")


def color_wheel() -> np.ndarray:
    """scikit-image's synthetic HSV colour wheel: NudeNet scores it 0.83 BUTTOCKS_EXPOSED (a false positive)."""
    return _skimage("color.png")


def resized(image: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))
