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


def test_a_clip_marked_in_pieces_of_any_size_is_the_clip_marked_whole():
    clip = attacks.toyworld_clip(8)  # 33 frames: CHUNKs of 8 and a last one of 1
    whole = watermark.embed(clip, 0x1234)
    cuts = (0, 3, 4, 13, 21, 33)
    pieces = [clip[a:b] for a, b in zip(cuts, cuts[1:])]
    marked = list(watermark.embed_chunks(iter(pieces), 0x1234))
    assert [len(c) for c in marked] == [8, 8, 8, 8, 1]
    assert np.array_equal(np.concatenate(marked), whole)
