import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kino.cli import main
from kino.data.video_io import read_video


def run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err


def generate(capsys, model, out, *extra):
    return run(capsys, "generate", "a red ball rolls to the right", "-o", str(out), "--model", str(model), *extra)


def test_generate_writes_a_playable_h264_mp4(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "clip.mp4"
    code, err = generate(capsys, tiny_model_dir, out, "--seed", "3", "--size", "192x128", "--seconds", "1", "--fps", "8")
    assert code == 0, err
    frames, fps = read_video(out)
    assert frames.shape == (9, 128, 192, 3) and fps == 8
    import av

    with av.open(str(out)) as c:
        ctx = c.streams.video[0].codec_context
        assert (ctx.name, ctx.pix_fmt) == ("h264", "yuv420p")
    assert "generating" in err  # the progress bar
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_no_layout_samples_the_model_alone(capsys, tmp_path, tiny_model_dir):
    a, b, c = (tmp_path / f"{n}.mp4" for n in "abc")
    for out, extra in ((a, ()), (b, ("--no-layout",)), (c, ())):
        code, err = generate(capsys, tiny_model_dir, out, "--seconds", "1", "--steps", "2", *extra)
        assert code == 0, err
    steered, alone, again = (read_video(x)[0] for x in (a, b, c))
    assert (steered == again).all() and not (steered == alone).all()  # "a red ball" is laid out unless asked not to


def test_generate_from_an_image(capsys, tmp_path, tiny_model_dir):
    from PIL import Image

    Image.new("RGB", (80, 40), (200, 30, 30)).save(tmp_path / "first.png")
    out = tmp_path / "clip.mp4"
    code, err = generate(capsys, tiny_model_dir, out, "--image", str(tmp_path / "first.png"), "--steps", "2")
    assert code == 0, err
    assert read_video(out)[0].shape[1:] == (128, 128, 3)


def test_extend_command(capsys, tmp_path, tiny_model_dir):
    import numpy as np

    from kino.data.video_io import write_video

    src = tmp_path / "in.mp4"
    write_video(src, np.full((9, 128, 128, 3), 120, np.uint8), 8)
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "extend", str(src), "the ball moves on", "-o", str(out), "--seconds", "1",
                    "--steps", "2", "--model", str(tiny_model_dir))
    assert code == 0, err
    assert len(read_video(out)[0]) == 17
    code, err = run(capsys, "extend", str(src), "-o", str(out), "--seconds", "1", "--steps", "2", "--no-fade",
                    "--model", str(tiny_model_dir))
    assert code == 0, err
    kept = np.abs(read_video(out)[0][:9].astype(int) - 120).mean(axis=(1, 2, 3))
    assert kept.max() < 5  # the grey input as it was, but for the watermark and H.264
    code, err = run(capsys, "extend", str(src), "-o", str(out), "--seconds", "1", "--steps", "2",
                    "--model", str(tiny_model_dir))
    faded = np.abs(read_video(out)[0][:9].astype(int) - 120).mean(axis=(1, 2, 3))
    assert faded[:3].max() < 5 and faded[-1] > 10  # by default its last frames fade into the (random) model's look


def test_extend_no_layout_stops_following_the_clips_motion(capsys, tmp_path, tiny_model_dir, monkeypatch):
    import numpy as np

    from kino.data.toyworld.scene import COLORS
    from kino.data.video_io import write_video
    from kino.director import motion

    clip = np.full((9, 128, 128, 3), 200, np.uint8)
    for t in range(9):  # a red square moving right 3 px a frame
        clip[t, 50:70, 20 + 3 * t : 40 + 3 * t] = COLORS["red"]
    src = tmp_path / "in.mp4"
    write_video(src, clip, 8)
    moved = []
    real = motion.move
    monkeypatch.setattr(motion, "move", lambda *a, **k: moved.append(1) or real(*a, **k))
    for extra in ([], ["--no-layout"]):
        code, err = run(capsys, "extend", str(src), "a red square moves right", "-o", str(tmp_path / "o.mp4"),
                        "--seconds", "1", "--steps", "2", "--model", str(tiny_model_dir), *extra)
        assert code == 0, err
    assert moved == [1]  # followed by default, not with --no-layout


@pytest.mark.parametrize("make, message", [(None, "no such file"), (b"garbage", "cannot be decoded")])
def test_extend_bad_input_exits_2(capsys, tmp_path, tiny_model_dir, make, message):
    src = tmp_path / "in.mp4"
    if make:
        src.write_bytes(make)
    code, err = run(capsys, "extend", str(src), "-o", str(tmp_path / "o.mp4"), "--model", str(tiny_model_dir))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.mp4").exists()


def test_same_seed_same_file_content(capsys, tmp_path, tiny_model_dir):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert generate(capsys, tiny_model_dir, a, "--seed", "5")[0] == 0
    assert generate(capsys, tiny_model_dir, b, "--seed", "5")[0] == 0
    assert (read_video(a)[0] == read_video(b)[0]).all()


def corrupt_weights(folder: Path) -> None:
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")


def bad_config(folder: Path) -> None:
    (folder / "config.json").write_text(json.dumps({"dit": {"width": "wide", "nonsense": 1}}))


def no_weights(folder: Path) -> None:
    (folder / "model.safetensors").unlink()


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "", "-o", "{out}"], "prompt is empty"),
        (["generate", "ball " * 100, "-o", "{out}"], "tokens long"),
        (["generate", "a ball", "-o", "{out}", "--size", "big"], "is not WIDTHxHEIGHT"),
        (["generate", "a ball", "-o", "{out}", "--size", "100x64"], "width 100 is not allowed"),
        (["generate", "a ball", "-o", "{out}", "--seconds", "-2"], "duration -2.0 s is not allowed"),
        (["generate", "a ball", "-o", "{out}", "--seconds", "1e6"], "is not allowed"),
        (["generate", "a ball", "-o", "{out}", "--fps", "0"], "fps 0 is not allowed"),
        (["generate", "a ball", "-o", "{out}", "--steps", "x"], "invalid int value"),
        (["generate", "a ball", "-o", "{tmp}/missing/dir/x.mp4"], "does not exist"),
        (["generate", "a ball", "-o", "{tmp}/clip.avi"], "must end in .mp4"),
        (["generate", "a ball", "-o", "{out}", "--model", "{tmp}/nowhere"], "does not exist"),
        (["generate", "a ball"], "required: -o/--output"),
        (["generate", "a ball", "-o", "{out}", "--image", "{tmp}/none.png"], "no such file"),
        (["generate", "a ball", "-o", "{out}", "--last-image", "{tmp}"], "not a readable image"),
        (["frobnicate"], "invalid choice"),
        (["train", "--preset", "huge", "--out", "{tmp}/run"], "unknown training preset 'huge'"),
        (["train", "--preset", "tiny", "--out", "{tmp}/run", "--max-minutes", "0"], "'0' is not a positive number"),
        (["train", "--preset", "tiny", "--out", "{tmp}/run", "--lr", "nan"], "'nan' is not a positive number"),
        (["train", "--preset", "tiny", "--out", "{tmp}/run", "--grounding", "1.5"], "'1.5' is not a fraction from 0 to 1"),
        (["train", "--preset", "tiny", "--out", "{tmp}/run", "--decoder-clip-seconds", "2,x"],
         "'2,x' is not a comma-separated list of positive seconds"),
        (["train", "--preset", "tiny", "--out", "{tmp}/run", "--decoder-clip-seconds", "0.5,4"],
         "--decoder-clip-seconds: 0.5 s is shorter than the decoder's crops of 1 s"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_file(capsys, tmp_path, tiny_model_dir, args, message):
    out = tmp_path / "out.mp4"
    argv = [a.format(out=out, tmp=tmp_path) for a in args]
    if "generate" in argv and "--model" not in argv:
        argv += ["--model", str(tiny_model_dir)]
    code, err = run(capsys, *argv)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("damage, message", [(corrupt_weights, "is corrupt"), (bad_config, "not a valid kino config"),
                                             (no_weights, "has no model.safetensors")])
def test_damaged_model_folder_exits_2(capsys, tmp_path, tiny_model_dir, damage, message):
    folder = tmp_path / "model"
    folder.mkdir()
    for f in tiny_model_dir.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    damage(folder)
    code, err = generate(capsys, folder, tmp_path / "out.mp4")
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out.mp4").exists()


def test_unwritable_folder_exits_2(capsys, tmp_path, tiny_model_dir):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    # sysfs refuses new files even for root; a mode-0500 folder refuses them for everyone else.
    target = Path("/sys/kino-test.mp4") if os.geteuid() == 0 else locked / "x.mp4"
    code, err = generate(capsys, tiny_model_dir, target)
    assert code == 2 and "cannot write" in err and len(err.strip().splitlines()) == 1


def test_failed_write_leaves_no_partial_file_and_keeps_old(tmp_path, monkeypatch):
    import numpy as np

    from kino.data import video_io

    target = tmp_path / "keep.mp4"
    target.write_bytes(b"old content")

    class Boom(RuntimeError):
        pass

    def explode(*a, **k):
        raise Boom()

    monkeypatch.setattr(video_io.av.VideoFrame, "from_ndarray", explode)
    with pytest.raises(Boom):
        video_io.write_video(target, np.zeros((5, 16, 16, 3), np.uint8), 8)
    assert target.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kino.cli", "generate", "a ball", "-o", str(tmp_path / "x.avi")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"kino: error: output {tmp_path / 'x.avi'} must end in .mp4"]


def test_bench_quick_writes_well_formed_json(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "bench.json"
    code = main(["bench", "--quick", "--model", str(tiny_model_dir), "--out", str(out)])
    assert code == 0
    data = json.loads(out.read_text())
    assert data["render"]["frames_per_s"] > 0
    assert data["vae"]["psnr_mean_db"] > 0
    best = data["generate"]["best"]
    assert set(best) >= {"text_encoding", "transformer", "vae_decode", "mp4_encode", "total"}
    assert data["transformer"]["models"]["kino"]["tokens_per_s"] > 0
    assert abs(sum(data["transformer"]["kino_time_split"].values()) - 1) < 1e-6
    assert data["decoders"]["models"]["kino"]["decode_s"] > 0
    assert [r["seconds"] for r in data["scaling"]["duration"]] == [1.0, 2.0]
    assert json.loads(capsys.readouterr().out) == data


def test_bench_sections_and_plots(tmp_path, tiny_model_dir):
    code = main(["bench", "--quick", "--model", str(tiny_model_dir), "--sections", "render, transformer",
                 "--out", str(tmp_path / "b.json")])
    assert code == 0
    assert set(json.loads((tmp_path / "b.json").read_text())) == {"machine", "render", "transformer"}


def test_bench_rejects_an_unknown_section(capsys, tiny_model_dir):
    assert main(["bench", "--model", str(tiny_model_dir), "--sections", "render,warp"]) == 2
    assert "unknown bench section 'warp'; choose from render, vae" in capsys.readouterr().err


def test_eval_writes_results_json(capsys, tmp_path, tiny_model_dir):
    code = main(["eval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"), "--limit", "1",
                 "--dims", "color,left_right", "--steps", "1", "--no-director"])
    assert code == 0
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert set(data["summary"]) == {"color", "left_right"} and list(data["modes"]) == ["model_alone"]
    assert all(0 <= row["model_alone"] <= 1 for row in data["summary"].values())
    records = data["modes"]["model_alone"]["results"]
    assert len(records) == 2 and all("checks" in r for r in records)


def test_eval_rejects_unknown_dimension(capsys, tmp_path, tiny_model_dir):
    code, err = run(capsys, "eval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"), "--dims", "smell")
    assert code == 2 and "unknown dimension 'smell'" in err


def test_atomic_write_gives_the_usual_file_mode(tmp_path):
    from kino.io import atomic_path, current_umask

    with atomic_path(tmp_path / "x.txt") as tmp:
        tmp.write_text("hi")
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o666 & ~current_umask()


@pytest.mark.parametrize("prompt, category", [("Taylor Swift dancing on a stage", "celebrity_likeness"),
                                              ("Mickey Mouse waves hello", "ip_character")])
def test_refused_prompt_exits_3_naming_the_category_and_writes_nothing(capsys, tmp_path, tiny_model_dir, prompt,
                                                                       category):
    out = tmp_path / "x.mp4"
    code, err = run(capsys, "generate", prompt, "-o", str(out), "--model", str(tiny_model_dir))
    assert code == 3
    assert err.strip().splitlines() == [err.strip()] and f"refused: {category}" in err
    assert list(tmp_path.iterdir()) == []


def test_toyworld_captions_are_never_refused():
    import numpy as np

    from kino.data import toyworld
    from kino.safety.moderation import moderate_prompt

    for seed in range(200):
        rng = np.random.default_rng(seed)
        scene = toyworld.sample_scene(rng)
        for caption in toyworld.captions(scene, rng):
            assert moderate_prompt(caption).allowed, caption


def test_eval_reports_prompts_the_model_cannot_read(capsys, tmp_path, tiny_model_dir, monkeypatch):
    from kino.evaluation import adherence

    real_suite = adherence.suite

    def suite_with_a_long_prompt(limit, dims):
        cases = real_suite(limit, dims)
        cases[0].prompt = "a red ball " * 40
        return cases

    monkeypatch.setattr(adherence, "suite", suite_with_a_long_prompt)
    code = main(["eval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"), "--limit", "2",
                 "--dims", "color", "--steps", "1", "--mode", "model_alone"])
    assert code == 0
    data = json.loads((tmp_path / "r" / "results.json").read_text())
    assert len(data["modes"]["model_alone"]["results"]) == 1
    assert len(data["skipped"]) == 1 and "tokens long" in data["skipped"][0]["reason"]


def test_an_output_refused_in_a_later_chunk_exits_3_and_leaves_no_file(capsys, tmp_path, tiny_model_dir, monkeypatch):
    from kino.safety import guard

    checked = []
    real = guard.Guard.video

    def video(self, frames, fps, what, prompt=None, user=None):  # the third chunk's frames are refused
        checked.append(what)
        if checked.count("output") == 3:
            self.refuse(guard.refusal("sexual", f"{what} frame 0"), "output", prompt, user)
        real(self, frames, fps, what, prompt, user)

    monkeypatch.setattr(guard.Guard, "video", video)
    out = tmp_path / "long.mp4"
    code, err = run(capsys, "generate", "a red ball", "-o", str(out), "--model", str(tiny_model_dir), "--seconds",
                    "8", "--steps", "1")
    assert code == 3 and "refused: sexual" in err and checked.count("output") == 3
    assert list(tmp_path.iterdir()) == []  # the two chunks already encoded went with the temporary file


def test_a_prompt_that_is_not_utf8_exits_2(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "x.mp4"
    prompt = b"a red ball \xff\xfe moves".decode("utf-8", "surrogateescape")  # as Python reads such an argv
    code, err = run(capsys, "generate", prompt, "-o", str(out), "--model", str(tiny_model_dir))
    assert code == 2 and "prompt is not valid UTF-8 text" in err and not out.exists()
