import numpy as np
import pytest

from kino.pipelines.extend import extend
from kino.pipelines.text_to_video import RequestError


def clip(n=9, h=128, w=128):
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (n, h, w, 3), dtype=np.uint8)


def between(faded, a, b):
    """Every pixel of ``faded`` lies between ``a``'s and ``b``'s (rounded), and the frames are not ``a``."""
    lo, hi = np.minimum(a, b).astype(int), np.maximum(a, b).astype(int)
    return bool(np.all((faded >= lo - 1) & (faded <= hi + 1))) and not np.array_equal(faded, a)


def test_forward_keeps_the_input_and_adds_seconds(tiny_pipeline):
    frames = clip()
    exact = extend(tiny_pipeline, frames, fps=8, seconds=1.0, prompt="a red ball", steps=2, fade_frames=0)
    assert np.array_equal(exact[: len(frames)], frames)
    assert len(exact) == len(frames) + 8
    out = extend(tiny_pipeline, frames, fps=8, seconds=1.0, prompt="a red ball", steps=2)
    assert np.array_equal(out[len(frames):], exact[len(frames):])  # the same new frames
    assert np.array_equal(out[:3], frames[:3])  # the input up to the fade is kept
    decoded = tiny_pipeline.reconstruct(frames)  # the model's look of the input, where the new frames start from
    assert between(out[3:9], frames[3:9], decoded[3:9])  # its last 6 frames fade into it


def test_backward_puts_new_frames_first(tiny_pipeline):
    frames = clip()
    exact = extend(tiny_pipeline, frames, fps=8, seconds=1.0, backward=True, steps=2, fade_frames=0)
    assert np.array_equal(exact[-len(frames):], frames)
    assert len(exact) == len(frames) + 8
    out = extend(tiny_pipeline, frames, fps=8, seconds=1.0, backward=True, steps=2)
    assert np.array_equal(out[:8], exact[:8]) and np.array_equal(out[-3:], frames[-3:])
    assert between(out[8:14], tiny_pipeline.reconstruct(frames)[:6], frames[:6])  # the input comes in from the model's look


def test_odd_sizes_are_cropped_to_the_model_multiple(tiny_pipeline):
    out = extend(tiny_pipeline, clip(5, 140, 180), fps=8, seconds=0.5, steps=1)
    assert out.shape[1:] == (128, 176, 3)


def test_too_small_video_is_refused(tiny_pipeline):
    with pytest.raises(RequestError, match="at least 128 pixels"):
        extend(tiny_pipeline, clip(5, 8, 8), fps=8, seconds=1.0)
