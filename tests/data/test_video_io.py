import hashlib

import numpy as np
import pytest

from kino.data.datasets import ClipSpec, toyworld_clip
from kino.data.video_io import read_video, write_video


def noisy_frames(width=64, height=64):
    """A toyworld clip (33 frames) with pixel noise: hard for the encoder's rate control."""
    frames, _, _ = toyworld_clip(5, ClipSpec(width=width, height=height, fps=8, seconds=4.0))
    noise = np.random.default_rng(0).integers(-20, 20, frames.shape)
    return np.clip(frames.astype(int) + noise, 0, 255).astype(np.uint8)


def test_the_same_frames_always_encode_to_the_same_stream(tmp_path):
    # x264's default macroblock-tree rate control gave a different stream almost every time.
    frames = noisy_frames()
    digests = set()
    for i in range(8):
        write_video(tmp_path / f"{i}.mp4", frames, fps=8)
        digests.add(hashlib.sha256(read_video(tmp_path / f"{i}.mp4")[0].tobytes()).hexdigest())
    assert len(digests) == 1


def test_round_trip_keeps_shape_rate_and_picture(tmp_path):
    frames, _, _ = toyworld_clip(5, ClipSpec(width=80, height=48, fps=12, seconds=1.0))
    write_video(tmp_path / "a.mp4", frames, fps=12)
    back, fps = read_video(tmp_path / "a.mp4")
    assert back.shape == frames.shape and fps == 12
    error = np.abs(back.astype(int) - frames).mean()
    assert error < 3, error


@pytest.mark.parametrize("frames, message", [
    (np.zeros((4, 63, 64, 3), np.uint8), "even width and height"),
    (np.zeros((4, 64, 64), np.uint8), "must be (T, H, W, 3) uint8"),
])
def test_bad_frames_are_refused_and_leave_no_file(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        write_video(tmp_path / "a.mp4", frames, fps=8)
    assert list(tmp_path.iterdir()) == []


def test_pieces_are_encoded_as_they_come_and_give_the_clip(tmp_path):
    frames = noisy_frames()
    write_video(tmp_path / "whole.mp4", frames, fps=8)
    pieces = (frames[a:b] for a, b in ((0, 5), (5, 6), (6, 20), (20, 33)))
    assert write_video(tmp_path / "pieces.mp4", pieces, fps=8) == 33
    assert np.array_equal(read_video(tmp_path / "pieces.mp4")[0], read_video(tmp_path / "whole.mp4")[0])


def test_pieces_that_fail_halfway_leave_no_file(tmp_path):
    frames = noisy_frames()

    def refused():
        yield frames[:9]
        raise RuntimeError("refused halfway")  # as a safety refusal in a later chunk would

    with pytest.raises(RuntimeError, match="halfway"):
        write_video(tmp_path / "out.mp4", refused(), fps=8)
    with pytest.raises(ValueError, match="every piece of a clip must be 64x64"):
        write_video(tmp_path / "out.mp4", iter([frames[:4], frames[:4, :32]]), fps=8)
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "out.mp4", iter([]), fps=8)
    assert list(tmp_path.iterdir()) == []
