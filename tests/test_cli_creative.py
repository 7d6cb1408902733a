"""The creative commands end to end on the tiny model: real mp4 files in and out."""

import numpy as np
import pytest
from PIL import Image

from kino.cli import main
from kino.data.video_io import read_video, write_video


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture
def clips(tmp_path):
    rng = np.random.default_rng(0)
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    write_video(a, rng.integers(0, 255, (9, 128, 128, 3), dtype=np.uint8), 4)
    write_video(b, rng.integers(0, 255, (5, 128, 128, 3), dtype=np.uint8), 4)
    return a, b


def test_generate_loop_long_camera_and_enhance(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "loop.mp4"
    code, err = run(capsys, "generate", "red ball going right", "-o", out, "--model", tiny_model_dir, "--loop",
                    "--camera", "pan-left", "--enhance", "--seconds", "6", "--steps", "1")
    assert code == 0, err
    assert "enhanced prompt: A red ball starts on the left and moves right." in err
    assert "generating" in err
    frames, fps = read_video(out)
    assert len(frames) == 24 and fps == 4  # 6 s at 4 fps in five chunks, the loop's duplicate frame dropped


def test_generate_multi_shot_prompt(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "shots.mp4"
    code, err = run(capsys, "generate", "A cartoon: Shot 1: a red ball. Shot 2: the red ball bounces", "-o", out,
                    "--model", tiny_model_dir, "--seconds", "2", "--steps", "1")
    assert code == 0, err
    assert "shot 2: A cartoon: the red ball bounces" in err
    assert len(read_video(out)[0]) == 10  # two 1 s shots of 5 frames


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--camera", "zoom-in"], "conflicts with the prompt"),
        (["--camera", "dolly"], "invalid choice: 'dolly'"),
        (["--loop", "--last-image", "IMG"], "--last-image"),
    ],
)
def test_generate_creative_flags_bad_input(capsys, tmp_path, tiny_model_dir, extra, message):
    Image.new("RGB", (64, 64), (200, 30, 30)).save(tmp_path / "img.png")
    extra = [str(tmp_path / "img.png") if e == "IMG" else e for e in extra]
    out = tmp_path / "x.mp4"
    code, err = run(capsys, "generate", "the camera pans left over a red ball", "-o", out, "--model", tiny_model_dir,
                    "--steps", "1", *extra)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not out.exists()


def test_connect_command(capsys, tmp_path, tiny_model_dir, clips):
    out = tmp_path / "joined.mp4"
    code, err = run(capsys, *["connect", *clips, "a ball rolls over", "-o", out, "--seconds", "1", "--steps", "1",
                              "--model", tiny_model_dir])  # fmt: skip
    assert code == 0, err
    assert len(read_video(out)[0]) == 9 + 3 + 5


def test_connect_missing_clip_exits_2(capsys, tmp_path, tiny_model_dir, clips):
    code, err = run(capsys, "connect", clips[0], tmp_path / "none.mp4", "-o", tmp_path / "o.mp4",
                    "--model", tiny_model_dir)
    assert code == 2 and "none.mp4: no such file" in err and not (tmp_path / "o.mp4").exists()


def test_edit_command_with_mask_keeps_the_outside(capsys, tmp_path, tiny_model_dir, clips):
    mask = np.zeros((128, 128), np.uint8)
    mask[:, :64] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "edited.mp4"
    code, err = run(capsys, "edit", clips[0], "add a red ball on the left", "-o", out, "--mask", tmp_path / "mask.png",
                    "--strength", "1", "--steps", "1", "--model", tiny_model_dir)
    assert code == 0, err
    frames, _ = read_video(out)
    source, _ = read_video(clips[0])
    assert frames.shape == source.shape
    outside = np.abs(frames[:, :, 80:].astype(int) - source[:, :, 80:]).mean()
    inside = np.abs(frames[:, :, :48].astype(int) - source[:, :, :48]).mean()
    assert outside < inside  # only the region was redrawn (the rest differs by the re-encode)


@pytest.mark.parametrize(
    "extra, message",
    [(["--strength", "0"], "strength 0.0 is not allowed"), (["--mask", "NOIMG"], "--mask"),
     (["--mask", "BLACK"], "all black")],
)
def test_edit_bad_input_exits_2(capsys, tmp_path, tiny_model_dir, clips, extra, message):
    (tmp_path / "noimg.png").write_text("not a picture")
    Image.new("L", (128, 128), 0).save(tmp_path / "black.png")
    extra = [str(tmp_path / f"{e.lower()}.png") if e in ("NOIMG", "BLACK") else e for e in extra]
    out = tmp_path / "o.mp4"
    code, err = run(capsys, "edit", clips[0], "a ball", "-o", out, "--steps", "1", "--model", tiny_model_dir, *extra)
    assert code == 2 and message in err and not out.exists()


def test_storyboard_command(capsys, tmp_path, tiny_model_dir):
    story = tmp_path / "story.yaml"
    story.write_text("style: realistic\ncharacters:\n  bob: a big red ball\nshots:\n"
                     "  - prompt: bob moves left\n    seconds: 1\n  - prompt: bob bounces\n    camera: pan-right\n")
    out = tmp_path / "story.mp4"
    code, err = run(capsys, "storyboard", story, "-o", out, "--steps", "1", "--model", tiny_model_dir)
    assert code == 0, err
    assert "shot 2: A realistic render: a big red ball bounces. The camera pans right." in err
    assert "cuts at frames [5]" in err and len(read_video(out)[0]) == 14


@pytest.mark.parametrize(
    "text, message", [("shots: [a, b\n", "not valid YAML"), ("shots:\n  - prompt: a\n    camera: crane\n", "crane")]
)
def test_storyboard_bad_file_exits_2(capsys, tmp_path, tiny_model_dir, text, message):
    story = tmp_path / "story.yaml"
    story.write_text(text)
    code, err = run(capsys, "storyboard", story, "-o", tmp_path / "o.mp4", "--model", tiny_model_dir)
    assert code == 2 and message in err and not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("command", ["edit", "connect", "storyboard", "generate-shots"])
def test_refused_prompts_exit_3_in_every_creative_command(capsys, tmp_path, tiny_model_dir, clips, command):
    prompt = "Mickey Mouse waves hello"
    out = tmp_path / "o.mp4"
    if command == "edit":
        argv = ["edit", clips[0], prompt]
    elif command == "connect":
        argv = ["connect", *clips, prompt]
    elif command == "storyboard":
        (tmp_path / "s.yaml").write_text(f"shots:\n  - a red ball\n  - {prompt}\n")
        argv = ["storyboard", tmp_path / "s.yaml"]
    else:
        argv = ["generate", f"Shot 1: a red ball. Shot 2: {prompt}"]
    code, err = run(capsys, *argv, "-o", out, "--steps", "1", "--model", tiny_model_dir)
    assert code == 3 and "refused: ip_character" in err and not out.exists()
