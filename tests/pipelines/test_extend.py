import numpy as np
import pytest

from kino.pipelines.extend import extend
from kino.pipelines.text_to_video import RequestError


def clip(n=9, h=128, w=128):
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def test_forward_keeps_the_input_and_adds_seconds(tiny_pipeline):
    frames = clip()
    out = extend(tiny_pipeline, frames, fps=8, seconds=1.0, prompt="a red ball", steps=2)
    assert np.array_equal(out[: len(frames)], frames)
    assert len(out) == len(frames) + 8


def test_backward_puts_new_frames_first(tiny_pipeline):
    frames = clip()
    out = extend(tiny_pipeline, frames, fps=8, seconds=1.0, backward=True, steps=2)
    assert np.array_equal(out[-len(frames):], frames)
    assert len(out) == len(frames) + 8


def test_odd_sizes_are_cropped_to_the_model_multiple(tiny_pipeline):
    out = extend(tiny_pipeline, clip(5, 140, 180), fps=8, seconds=0.5, steps=1)
    assert out.shape[1:] == (128, 176, 3)


def test_too_small_video_is_refused(tiny_pipeline):
    with pytest.raises(RequestError, match="at least 128 pixels"):
        extend(tiny_pipeline, clip(5, 8, 8), fps=8, seconds=1.0)
