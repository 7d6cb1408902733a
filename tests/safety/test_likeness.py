"""Likeness protection with dlib's real face models and real photographs of two people.

Eileen Collins (scikit-image's astronaut) and Grace Hopper (matplotlib's sample) are the only
face photographs that installed packages ship, one photograph each, so "the same face in
another image" is the same photograph changed (resized, flipped, recompressed, reframed, inside
a video), and "another face" is the other person.
"""

import io
import json

import numpy as np
import pytest
from photos import astronaut, camera, chelsea, coffee, grace_hopper, resized
from PIL import Image

from kino.cli import main
from kino.safety import audit
from kino.safety.guard import Guard
from kino.safety.likeness import TOLERANCE, LikenessError, Registry, default_face_encoder
from kino.safety.moderation import SafetyRefusal, moderate_prompt


def jpeg(image: np.ndarray, quality: int = 30) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def collins_variants():
    a = astronaut()
    yield resized(a, 256, 256)
    yield np.ascontiguousarray(a[:, ::-1])
    yield jpeg(a)
    yield np.ascontiguousarray(a[40:400, 60:420])


@pytest.fixture
def registry(tmp_path):
    reg = Registry(tmp_path / "likeness")
    assert reg.add("Eileen Collins", [astronaut()]) == 1
    return reg


def test_registered_face_matches_in_changed_pictures_and_others_do_not(registry):
    for image in collins_variants():
        name, dist = registry.match(image)
        assert name == "Eileen Collins" and dist < TOLERANCE / 2
    for image in (grace_hopper(), coffee(), chelsea(), camera()):
        assert registry.match(image) is None


def test_two_people_are_told_apart_both_ways(registry):
    registry.add("Grace Hopper", [grace_hopper()])
    assert registry.match(resized(grace_hopper(), 256, 300))[0] == "Grace Hopper"
    assert registry.match(resized(astronaut(), 256, 256))[0] == "Eileen Collins"
    (collins,) = default_face_encoder()(astronaut(), upsample=0)
    (hopper,) = default_face_encoder()(grace_hopper(), upsample=0)
    assert np.linalg.norm(collins.encoding - hopper.encoding) > TOLERANCE


def test_registry_file_is_json_written_atomically_and_remove_works(registry):
    registry.add("Eileen Collins", [jpeg(astronaut())])
    assert registry.names() == {"Eileen Collins": 2}
    data = json.loads(registry.path.read_text())
    assert data["version"] == 1 and len(data["people"]["Eileen Collins"]["encodings"][1]) == 128
    assert sorted(p.name for p in registry.folder.iterdir()) == [".faces.json.lock", "faces.json"]  # no temp files
    registry.remove("Eileen Collins")
    assert registry.names() == {} and registry.match(astronaut()) is None
    with pytest.raises(LikenessError, match="no protected face named 'Nobody'"):
        registry.remove("Nobody")


def test_adding_a_picture_without_a_face_stores_nothing(tmp_path):
    reg = Registry(tmp_path)
    with pytest.raises(LikenessError, match="no face found in coffee.png"):
        reg.add("Someone", [astronaut(), coffee()], labels=["astronaut.png", "coffee.png"])
    assert reg.names() == {}
    with pytest.raises(LikenessError, match="is not allowed"):
        reg.add("  ", [astronaut()])


def test_guard_refuses_a_video_with_the_face_in_one_sampled_frame(registry, tmp_path):
    guard = Guard(moderate_prompt, nudity=None, likeness=registry, audit_log=tmp_path / "audit.jsonl")
    clip = np.stack([resized(coffee(), 256, 256)] * 9)
    guard.video(clip, 8, "output", "a cup of coffee")  # no face: passes
    clip[4] = resized(astronaut(), 256, 256)
    with pytest.raises(SafetyRefusal) as e:
        guard.video(clip, 8, "output", "a cup of coffee", user="bob")
    v = e.value.verdict
    assert v.category == "celebrity_likeness" and v.matched.startswith("Eileen Collins (distance")
    assert "output frame 4" in v.matched
    (entry,) = audit.read(tmp_path / "audit.jsonl")
    assert (entry["category"], entry["stage"], entry["user"]) == ("celebrity_likeness", "output", "bob")
    assert entry["prompt_sha256"] == audit.prompt_hash("a cup of coffee")


def test_cli_add_list_then_generate_from_that_face_is_refused_then_remove(capsys, tmp_path, tiny_model_dir,
                                                                        monkeypatch):
    monkeypatch.setenv("KINO_LIKENESS_DIR", str(tmp_path / "faces"))
    monkeypatch.setenv("KINO_AUDIT_LOG", str(tmp_path / "audit.jsonl"))
    Image.fromarray(astronaut()).save(tmp_path / "collins.png")
    Image.fromarray(resized(astronaut(), 200, 200)).save(tmp_path / "collins_small.jpg")
    Image.fromarray(coffee()).save(tmp_path / "coffee.png")

    assert main(["likeness", "add", "Eileen Collins", str(tmp_path / "collins.png")]) == 0
    assert main(["likeness", "list"]) == 0
    assert capsys.readouterr().out == "Eileen Collins\t1 face(s)\n"

    out = tmp_path / "clip.mp4"
    args = ["generate", "an astronaut waves", "-o", str(out), "--model", str(tiny_model_dir), "--steps", "1",
            "--seconds", "0.5"]
    assert main([*args, "--image", str(tmp_path / "collins_small.jpg")]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("kino: refused: celebrity_likeness (matched: Eileen Collins (distance")
    assert not out.exists()
    assert audit.read(tmp_path / "audit.jsonl")[0]["category"] == "celebrity_likeness"

    assert main([*args, "--image", str(tmp_path / "coffee.png")]) == 0 and out.exists()

    assert main(["likeness", "add", "Coffee", str(tmp_path / "coffee.png")]) == 2
    assert "no face found in" in capsys.readouterr().err
    assert main(["likeness", "remove", "Eileen Collins"]) == 0
    assert main(["likeness", "remove", "Eileen Collins"]) == 2
    assert main(["likeness", "list"]) == 0 and capsys.readouterr().out == ""


def test_cli_add_with_a_missing_or_unreadable_image_exits_2_with_one_line(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("KINO_LIKENESS_DIR", str(tmp_path / "faces"))
    (tmp_path / "junk.png").write_bytes(b"not an image")
    for path, message in ((tmp_path / "missing.png", "no such file"), (tmp_path / "junk.png", "not a readable image")):
        assert main(["likeness", "add", "Someone", str(path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1
    assert main(["likeness", "add", "", str(tmp_path / "junk.png")]) == 2
    assert not (tmp_path / "faces" / "faces.json").exists()
