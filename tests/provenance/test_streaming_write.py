"""The signed write path marks a few frames at a time: a minute of video is never copied whole."""

import tracemalloc

import numpy as np

from kino.data.video_io import read_video, write_video
from kino.provenance import Stamp, attacks, keys, watermark


def test_marked_output_is_the_embedded_clip_and_is_never_copied_whole(tmp_path):
    clip = np.concatenate([attacks.toyworld_clip(7)] * 4)  # (132, 256, 256, 3), 26 MB: many CHUNKs
    stamp = Stamp(keys.init(tmp_path / "keys"), "tiny@sha256:0")
    tracemalloc.start()
    write_video(tmp_path / "out.mp4", clip, 8, provenance=stamp)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # A whole marked copy would be clip.nbytes; the marker's own tables are a fixed ~6 MB.
    assert peak < clip.nbytes / 2, (peak, clip.nbytes)
    # The streamed marks are exactly the whole-clip embedding: same encoded pixels.
    write_video(tmp_path / "ref.mp4", watermark.embed(clip, stamp.keys.key_id), 8)
    out, _ = read_video(tmp_path / "out.mp4")
    ref, _ = read_video(tmp_path / "ref.mp4")
    assert len(out) == len(clip) and np.array_equal(out, ref)
    assert watermark.detect(out).present
