"""End to end: every video kino writes is watermarked and signed; ``kino verify`` tells what happened to it."""

import ast
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kino.cli
from kino.cli import main
from kino.data.video_io import read_video, write_video
from kino.provenance import attacks


def verify(path, capsys) -> dict:
    capsys.readouterr()
    assert main(["verify", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def made(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("verify")
    out = folder / "gen.mp4"
    argv = ["generate", "a red ball moves right", "-o", str(out), "--model", str(tiny_model_dir), "--size", "256x256"]
    assert main(argv) == 0
    return folder, out


def test_generated_video_is_valid_and_marked(made, capsys, tiny_model_dir):
    _, out = made
    v = verify(out, capsys)
    assert v["c2pa"]["status"] == "valid"
    s = v["c2pa"]["summary"]
    assert s["actions"] == ["c2pa.created"] and s["digital_source_type"].endswith("trainedAlgorithmicMedia")
    assert s["software_agent"]["name"] == "kino" and s["model"].startswith(f"{Path(tiny_model_dir).name}@sha256:")
    assert v["watermark"]["present"] and v["watermark"]["local_key"]
    assert v["watermark"]["p_value"] < 1e-6
    capsys.readouterr()
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "C2PA: valid" in text and "watermark: present" in text


def test_a_changed_byte_is_tampered_but_still_marked(made, capsys, tmp_path):
    _, out = made
    data = bytearray(out.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0x01
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    v = verify(bad, capsys)
    assert v["c2pa"]["status"] == "tampered"
    assert v["watermark"]["present"]


def test_stripped_metadata_loses_c2pa_but_not_the_watermark(made, capsys, tmp_path):
    _, out = made
    stripped = tmp_path / "stripped.mp4"
    stripped.write_bytes(attacks.remux(out.read_bytes()))
    assert (read_video(stripped)[0] == read_video(out)[0]).all()  # not a pixel changed
    v = verify(stripped, capsys)
    assert v["c2pa"]["status"] == "missing"
    assert v["watermark"]["present"] and v["watermark"]["local_key"]


def test_a_video_kino_did_not_make_has_neither(capsys, tmp_path):
    plain = tmp_path / "plain.mp4"
    write_video(plain, attacks.toyworld_clip(7), 8)  # a fixture, written without provenance
    v = verify(plain, capsys)
    assert v["c2pa"]["status"] == "missing"
    assert not v["watermark"]["present"] and v["watermark"]["key_id"] is None


def test_a_frame_saved_as_an_image_still_carries_the_mark(made, capsys, tmp_path):
    _, out = made
    frames, _ = read_video(out)
    png = tmp_path / "frame.png"
    Image.fromarray(frames[4]).save(png)
    v = verify(png, capsys)
    assert v["c2pa"]["status"] == "missing"
    assert v["watermark"]["present"] and v["watermark"]["frames"] == 1


def test_an_extension_is_an_edit_of_its_source(made, capsys, tiny_model_dir):
    folder, out = made
    ext = folder / "ext.mp4"
    assert main(["extend", str(out), "-o", str(ext), "--seconds", "1", "--model", str(tiny_model_dir)]) == 0
    v = verify(ext, capsys)
    assert v["c2pa"]["status"] == "valid"
    assert v["c2pa"]["summary"]["actions"] == ["c2pa.opened", "c2pa.edited"]
    assert v["c2pa"]["summary"]["ingredients"] == [{"title": "gen.mp4", "relationship": "parentOf"}]
    assert v["watermark"]["present"]


def test_visible_mark_is_in_the_corner_only(made, tiny_model_dir):
    folder, out = made
    marked = folder / "visible.mp4"
    argv = ["generate", "a red ball moves right", "-o", str(marked), "--model", str(tiny_model_dir), "--size", "256x256",
            "--visible-mark"]
    assert main(argv) == 0
    a, b = read_video(out)[0].astype(int), read_video(marked)[0].astype(int)
    corner = np.abs(a[:, -40:, -90:] - b[:, -40:, -90:]).mean()
    rest = np.abs(a[:, :180, :150] - b[:, :180, :150]).mean()
    assert corner > 5 * rest  # elsewhere only the invisible mark and coding noise differ


def test_verify_rejects_what_it_cannot_read(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nothing.mp4")]) == 2
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video")
    assert main(["verify", str(junk)]) == 2
    assert capsys.readouterr().err.count("\n") == 2


def test_every_video_the_cli_and_the_service_write_goes_through_kino_output_with_a_stamp():
    import kino.service.jobs

    def writers(module, name: str) -> list[str]:  # the functions of ``module`` that call ``name``
        tree = ast.parse(Path(module.__file__).read_text())
        return [f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and any(
            isinstance(n, ast.Call) and name in (getattr(n.func, "id", None), getattr(n.func, "attr", None))
            for n in ast.walk(f))]

    assert writers(kino.cli, "write_video") == writers(kino.service.jobs, "write_video") == []
    assert writers(kino.cli, "save") == ["save_video"] and writers(kino.service.jobs, "save") == ["execute"]
    tree = ast.parse(Path(kino.cli.__file__).read_text())
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    saves = [c for c in calls if c.func.id == "save_video"]
    assert saves and all(len(c.args) == 4 for c in saves)
