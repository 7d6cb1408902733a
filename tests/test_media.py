"""kino.media, the guarded reader of files kino did not make, and the commands that read through it."""

from __future__ import annotations

import numpy as np
import pytest

from kino import media
from kino.cli import main
from kino.data.video_io import write_video


def test_limits_are_judged_from_headers_before_decoding(tmp_path, hostile):
    with pytest.raises(media.MediaError, match="12000x12000; at most 4096x4096") as e:
        media.read_image(hostile["png_12000"], "the image")
    assert e.value.code == "image_too_large"
    with pytest.raises(media.MediaError, match="more pixels than Pillow will decode"):
        media.probe_image(hostile["png_30000"], "the image")
    clip = tmp_path / "c.mp4"
    write_video(clip, np.zeros((40, 64, 64, 3), np.uint8), 8)
    p = media.probe_video(clip, "the clip")
    assert (p.width, p.height, p.frames, p.fps) == (64, 64, 40, 8.0)
    small = media.Limits(decoded_bytes=64 * 64 * 3 * 30)
    with pytest.raises(media.MediaError, match="40 frames of 64x64") as e:
        media.read_video(clip, "the clip", small)
    assert e.value.code == "video_too_large"
    frames, fps = media.read_video(clip, "the clip")
    assert frames.shape == (40, 64, 64, 3) and fps == 8.0
    with pytest.raises(media.MediaError, match="at most 32x32 pixels a frame"):
        media.probe_video(clip, "the clip", media.Limits(pixels=32 * 32))


def test_commands_refuse_bombs_and_audio_only_files_with_exit_2(capsys, tmp_path, tiny_model_dir, hostile):
    bomb, sound = tmp_path / "bomb.png", tmp_path / "sound.mp4"
    bomb.write_bytes(hostile["png_12000"])
    sound.write_bytes(hostile["audio_only_mp4"])
    out = tmp_path / "o.mp4"
    cases = [
        (["verify", str(bomb)], "12000x12000"),
        (["verify", str(sound)], "no video stream"),
        (["generate", "a red ball", "-o", str(out), "--image", str(bomb), "--model", str(tiny_model_dir)], "12000x12000"),
        (["extend", str(sound), "-o", str(out), "--model", str(tiny_model_dir)], "no video stream"),
    ]
    for argv, message in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not out.exists()
