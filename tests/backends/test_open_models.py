"""Open models behind kino (issue 24): tiny random Wan2.1, LTX-Video and CogVideoX folders, built
offline, run through the real CLI; every output is a signed, watermarked mp4."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from kino.cli import main
from kino.data.video_io import read_video

FAMILIES = ("wan", "ltx", "cogvideox")


@pytest.fixture(scope="session")
def open_models(tmp_path_factory):
    from kino.backends.random_folders import build

    root = tmp_path_factory.mktemp("open_models")
    return {family: build(family, root / family)
            for family in (*FAMILIES, "wan-flf2v", "wan-vace", "cogvideox-i2v")}


@pytest.fixture(scope="session")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    a = np.zeros((96, 160, 3), np.uint8)
    a[:, :80] = (200, 40, 40)
    b = np.zeros((96, 160, 3), np.uint8)
    b[:, 80:] = (40, 40, 200)
    Image.fromarray(a).save(folder / "first.png")
    Image.fromarray(b).save(folder / "last.png")
    return folder


def verified(path, capsys) -> dict:
    """``kino verify --json`` of ``path``: C2PA valid and the watermark found, or the test fails."""
    capsys.readouterr()
    assert main(["verify", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["c2pa"]["status"] == "valid", report
    assert report["watermark"]["present"], report
    return report


@pytest.mark.parametrize("family", FAMILIES)
def test_text_to_video_on_each_open_model_is_signed_and_names_the_model(open_models, family, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["generate", "a red dog runs on the beach", "-o", str(out), "--model", str(open_models[family])]) == 0
    frames, fps = read_video(out)
    assert frames.shape == (17, 128, 128, 3) and fps == 8  # the folder's kino.json: 2 s at 8 fps, 128 px
    assert frames.std() > 1  # random weights draw noise, not a blank
    c2pa = verified(out, capsys)["c2pa"]["summary"]
    from kino.backends.registry import weights_sha256

    assert c2pa["backend"] == family
    assert c2pa["weights_sha256"] == weights_sha256(open_models[family])
    assert c2pa["model"].endswith("@sha256:" + c2pa["weights_sha256"][:16])


def test_ltx_animates_an_image_reaches_a_last_frame_loops_and_runs_past_its_window(open_models, pictures, tmp_path,
                                                                                   capsys):
    model = str(open_models["ltx"])
    runs = {
        "image": (["--image", str(pictures / "first.png")], 17),
        "first_last": (["--image", str(pictures / "first.png"), "--last-image", str(pictures / "last.png")], 17),
        "loop": (["--loop"], 16),  # the last frame is the first: shown once
        "long": (["--seconds", "6"], 49),  # past the 17-frame window: four calls, each led by the last 5 frames
    }
    for name, (flags, frames) in runs.items():
        out = tmp_path / f"{name}.mp4"
        assert main(["generate", "a red dog runs", "-o", str(out), "--model", model, *flags]) == 0, name
        video, _ = read_video(out)
        assert len(video) == frames, name
        verified(out, capsys)


def test_a_capability_the_model_lacks_exits_2_naming_the_models_that_have_it(open_models, pictures, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    for flags, capability in ((["--image", str(pictures / "first.png")], "image to video"),
                              (["--seconds", "30"], "extend"), (["--loop"], "image to video")):
        capsys.readouterr()
        assert main(["generate", "a dog", "-o", str(out), "--model", str(open_models["wan"]), *flags]) == 2
        err = capsys.readouterr().err
        assert f"cannot do {capability}" in err and "Lightricks/LTX-Video" in err, err
        assert err.count("\n") == 1
    assert not out.exists()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_harmful_prompt_is_refused_before_the_model_loads(open_models, family, tmp_path, capsys):
    broken = tmp_path / family  # its weights are gone: loading it would fail with exit 2
    shutil.copytree(open_models[family], broken)
    for f in broken.glob("transformer/*.safetensors"):
        f.unlink()
    out = tmp_path / "out.mp4"
    assert main(["generate", "a man stabs a woman to death, blood everywhere", "-o", str(out), "--model",
                 str(broken)]) == 3
    assert "violence" in capsys.readouterr().err
    assert main(["generate", "a dog runs", "-o", str(out), "--model", str(broken)]) == 2  # it did not load
    assert not out.exists()


def test_models_are_named_by_folder_or_hub_id_and_a_missing_hub_model_says_how_to_download(open_models, tmp_path,
                                                                                          capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    out = tmp_path / "out.mp4"
    assert main(["generate", "a dog", "-o", str(out), "--model", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]) == 2
    err = capsys.readouterr().err
    assert "hf download Wan-AI/Wan2.1-T2V-1.3B-Diffusers" in err and "not in the local Hugging Face cache" in err
    # A Hub id found in the cache runs: a snapshot laid out as huggingface_hub lays it out.
    snapshot = tmp_path / "hub" / "models--kino-tests--tiny-wan" / "snapshots" / ("0" * 40)
    shutil.copytree(open_models["wan"], snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("0" * 40)
    assert main(["generate", "a dog", "-o", str(out), "--model", "kino-tests/tiny-wan", "--seconds", "1"]) == 0
    assert main(["models", str(open_models["ltx"].parent)]) == 0
    listed = capsys.readouterr().out
    for family in FAMILIES:
        assert str(open_models[family]) in listed
    assert "kino-tests/tiny-wan\n  wan (WanPipeline): text to video, video to video" in listed
    assert "ltx (LTXPipeline): text to video, image to video, first-last frame, extend, video to video" in listed


def test_sizes_and_frame_counts_are_checked_against_the_models_rules(open_models, tmp_path, capsys):
    out = tmp_path / "out.mp4"
    assert main(["generate", "a dog", "-o", str(out), "--model", str(open_models["wan"]), "--size", "136x128"]) == 2
    assert "width 136 is not allowed; use a multiple of 16 from 128 to 1920" in capsys.readouterr().err
    assert main(["generate", "a dog", "-o", str(out), "--model", str(open_models["cogvideox"]),
                 "--seconds", "3"]) == 2  # 25 frames > the 17 its positions were made for, and it cannot extend
    assert "cannot do extend" in capsys.readouterr().err
    assert not out.exists()


def test_core_and_backends_import_nothing_of_toyworld_or_the_director():
    """kino's own backend (native.py) runs kino's models through its pipelines; no file here imports
    the director or toyworld itself."""
    import ast
    from pathlib import Path

    import kino

    src = Path(kino.__file__).parent
    files = [src / "core.py", *sorted((src / "backends").glob("*.py"))]
    for f in files:
        forbidden = ("kino.director", "kino.data.toyworld")
        if f.name != "native.py":
            forbidden += ("kino.pipelines", "kino.models")
        for node in ast.walk(ast.parse(f.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(forbidden), (f.name, name)


def test_no_import_cycles_in_the_core_the_backends_the_pipelines_or_the_director():
    """Every import, lazy ones too, read from the source: no two of these modules need each other."""
    import ast
    from pathlib import Path

    import kino

    src = Path(kino.__file__).parent
    files = [src / "core.py", *sorted(src.glob("backends/*.py")), *sorted(src.glob("pipelines/*.py")),
             *sorted(src.glob("director/*.py"))]
    names = {f: "kino." + ".".join(f.relative_to(src).with_suffix("").parts).removesuffix(".__init__") for f in files}
    modules = set(names.values())
    graph = {}
    for f, name in names.items():
        deps = set()
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                deps |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                         for a in node.names}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names}
        graph[name] = deps & modules - {name}

    def reaches(start, goal, seen):
        return any(d == goal or (d not in seen and not seen.add(d) and reaches(d, goal, seen)) for d in graph[start])

    cycles = sorted(name for name in graph if reaches(name, name, set()))
    assert cycles == []


def test_extend_connect_and_restyle_on_open_models(open_models, tmp_path, capsys):
    ltx = str(open_models["ltx"])
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    assert main(["generate", "a red dog runs", "-o", str(a), "--model", ltx]) == 0
    assert main(["generate", "a blue cat walks", "-o", str(b), "--model", ltx, "--seed", "3"]) == 0
    first, _ = read_video(a)
    runs = {  # output: frames, and the input frames it keeps at its start
        "extend": (["extend", str(a), "the dog jumps", "--seconds", "3"], 17 + 24),
        "extend_back": (["extend", str(a), "--seconds", "1", "--backward"], 8 + 17),
        "connect": (["connect", str(a), str(b), "--seconds", "1"], 17 + 8 - 1 + 17),
        "restyle_wan": (["edit", str(a), "a red ball", "--strength", "0.5", "--model", str(open_models["wan"])], 17),
        "restyle_cogvideox": (["edit", str(a), "a dog", "--model", str(open_models["cogvideox"])], 17),
    }
    for name, (argv, frames) in runs.items():
        out = tmp_path / f"{name}.mp4"
        model = [] if "--model" in argv else ["--model", ltx]
        assert main([*argv, "-o", str(out), *model]) == 0, name
        video, _ = read_video(out)
        assert len(video) == frames, name
        if name in ("extend", "connect"):  # the input is kept: only re-encoding tells them apart
            assert np.abs(video[:17].astype(int) - first.astype(int)).mean() < 6, name
        report = verified(out, capsys)
        assert "c2pa.edited" in report["c2pa"]["summary"]["actions"], name  # an edit of its input
    capsys.readouterr()
    assert main(["edit", str(a), "a hat", "-o", str(tmp_path / "m.mp4"), "--model", ltx, "--mask", str(a)]) == 2
    assert "cannot do masked edit" in capsys.readouterr().err


def test_wan_flf2v_and_vace_do_what_their_folders_can(open_models, pictures, tmp_path, capsys):
    first, last = str(pictures / "first.png"), str(pictures / "last.png")
    a = tmp_path / "a.mp4"
    assert main(["generate", "a red dog runs", "-o", str(a), "--model", str(open_models["wan"])]) == 0
    runs = {
        "flf2v": (["generate", "a dog", "--model", "wan-flf2v", "--image", first, "--last-image", last], 17),
        "flf2v_loop": (["generate", "a dog", "--model", "wan-flf2v", "--image", first, "--loop"], 16),
        "vace_text": (["generate", "a dog", "--model", "wan-vace"], 17),
        "vace_first_last": (["generate", "a dog", "--model", "wan-vace", "--image", first, "--last-image", last], 17),
        "vace_long": (["generate", "a dog", "--model", "wan-vace", "--seconds", "4"], 33),
        "vace_extend": (["extend", str(a), "a dog", "--model", "wan-vace", "--seconds", "1"], 17 + 8),
        "vace_connect": (["connect", str(a), str(a), "--model", "wan-vace", "--seconds", "1"], 17 + 8 - 1 + 17),
    }
    for name, (argv, frames) in runs.items():
        out = tmp_path / f"{name}.mp4"
        argv = [str(open_models[x]) if x in open_models else x for x in argv]
        assert main([*argv, "-o", str(out)]) == 0, name
        assert len(read_video(out)[0]) == frames, name
        verified(out, capsys)
    capsys.readouterr()
    assert main(["generate", "a dog", "-o", str(tmp_path / "x.mp4"), "--model", str(open_models["wan-flf2v"])]) == 2
    assert "cannot do text to video" in capsys.readouterr().err


def test_a_masked_edit_redraws_inside_the_mask_and_keeps_the_rest(open_models, tmp_path, capsys):
    a, out = tmp_path / "a.mp4", tmp_path / "edited.mp4"
    assert main(["generate", "a red dog runs", "-o", str(a), "--model", str(open_models["wan"])]) == 0
    mask = np.zeros((128, 128), np.uint8)
    mask[:, :64] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert main(["edit", str(a), "a hat", "-o", str(out), "--model", str(open_models["wan-vace"]), "--mask",
                 str(tmp_path / "mask.png")]) == 0
    before, after = read_video(a)[0].astype(int), read_video(out)[0].astype(int)
    change = np.abs(before - after).mean(axis=(0, 3))
    assert change[:, 70:].mean() < 8  # kept: only re-encoding and the watermark differ
    assert change[:, :58].mean() > 3 * change[:, 70:].mean()  # redrawn by the model
    verified(out, capsys)
    Image.fromarray(np.zeros((128, 128), np.uint8)).save(tmp_path / "empty.png")
    assert main(["edit", str(a), "a hat", "-o", str(tmp_path / "e.mp4"), "--model", str(open_models["wan-vace"]),
                 "--mask", str(tmp_path / "empty.png")]) == 2
    assert "the mask is empty" in capsys.readouterr().err


def test_a_wan_i2v_folder_without_last_frame_positions_offers_image_to_video_only(open_models, tmp_path):
    from kino.backends.registry import locate

    folder = tmp_path / "i2v"
    shutil.copytree(open_models["wan-flf2v"], folder)
    config = json.loads((folder / "transformer" / "config.json").read_text())
    config["pos_embed_seq_len"] = None
    (folder / "transformer" / "config.json").write_text(json.dumps(config))
    assert locate(folder).capabilities == ("image to video",)
    assert "first-last frame" in locate(open_models["wan-flf2v"]).capabilities


def test_a_cogvideox_image_to_video_folder_animates_an_image_at_its_one_size(open_models, pictures, tmp_path,
                                                                             capsys):
    folder = str(open_models["cogvideox-i2v"])
    out = tmp_path / "i2v.mp4"
    assert main(["generate", "a red dog runs", "-o", str(out), "--model", folder,
                 "--image", str(pictures / "first.png")]) == 0
    video, _ = read_video(out)
    assert video.shape == (17, 128, 128, 3)
    verified(out, capsys)
    assert main(["generate", "a red dog runs", "-o", str(tmp_path / "t.mp4"), "--model", folder]) == 2
    assert "cannot do text to video" in capsys.readouterr().err
    assert main(["generate", "a dog", "-o", str(tmp_path / "s.mp4"), "--model", folder, "--image",
                 str(pictures / "first.png"), "--size", "256x128"]) == 2
    assert "128x128 only" in capsys.readouterr().err


def test_a_minute_is_made_call_by_call(open_models, tmp_path, capsys):
    folder = tmp_path / "ltx"
    shutil.copytree(open_models["ltx"], folder)  # a longer window, as real models have: fewer calls
    (folder / "kino.json").write_text(json.dumps({"defaults": {"width": 128, "height": 128, "seconds": 8, "fps": 4,
                                                               "steps": 1}}))
    out = tmp_path / "minute.mp4"
    assert main(["generate", "a dog runs along a beach", "-o", str(out), "--model", str(folder), "--seconds", "60"]) == 0
    video, fps = read_video(out)
    assert len(video) == 241 and fps == 4
    verified(out, capsys)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_two_shot_storyboard_on_each_open_model(open_models, family, tmp_path, capsys):
    story = tmp_path / "story.yaml"
    story.write_text("seed: 4\ncharacters:\n  rex: a small dog\nshots:\n  - prompt: rex runs on the beach\n"
                     "    seconds: 2\n  - prompt: rex walks in the park\n    seconds: 1\n")
    out = tmp_path / "story.mp4"
    assert main(["storyboard", str(story), "-o", str(out), "--model", str(open_models[family])]) == 0
    assert len(read_video(out)[0]) == 17 + 9
    assert "cuts at frames [17]" in capsys.readouterr().err
    verified(out, capsys)
    story.write_text("shots:\n  - prompt: a dog runs\n  - prompt: a man stabs a woman to death, blood everywhere\n")
    assert main(["storyboard", str(story), "-o", str(tmp_path / "no.mp4"), "--model", str(open_models[family])]) == 3
    assert not (tmp_path / "no.mp4").exists()


def test_device_script_times_stock_diffusers_and_kino_on_the_same_folder(tmp_path):
    """tools/device/open_models.py (the lent-GPU check) at tiny size on the CPU: both sides sample
    the same steps, and kino's side makes the frames asked for."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "tools" / "device" / "open_models.py"
    spec = importlib.util.spec_from_file_location("open_models_device", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "r.json"
    assert script.main(["--size", "tiny", "--device", "cpu", "--steps", "2", "--families", "ltx",
                        "--work", str(tmp_path), "--out", str(out)]) == 0
    row = json.loads(out.read_text())["families"]["ltx"]
    assert row["stock"]["steps"] == row["kino"]["steps"] == 2
    assert row["kino"]["frames"] == row["clip"]["frames"]
    assert row["kino_over_stock"]["step"] > 0 and row["stock"]["peak_gib"] is None


@pytest.mark.parametrize("family", [*FAMILIES, "wan-flf2v", "wan-vace", "cogvideox-i2v"])
def test_a_backend_described_by_its_configs_checks_requests_as_the_loaded_one(open_models, family):
    """The service's API process checks requests without reading weights: the described backend
    has the loaded one's rules, defaults and token counts, and holds no real tensor."""
    from kino.backends.registry import checker, load, locate

    info = locate(open_models[family])
    described, loaded = checker(info), load(info, "fp32", "cpu")
    assert described.rules == loaded.rules and described.defaults == loaded.defaults
    assert described.count_tokens("a dog runs on a beach") == loaded.count_tokens("a dog runs on a beach")
    assert {p.device.type for p in described.pipe.transformer.parameters()} == {"meta"}


def test_the_service_api_checks_open_models_without_loading_them(open_models):
    from kino.service.models import Pipelines

    pipelines = Pipelines({"ltx": str(open_models["ltx"])})
    described = pipelines.checker("ltx")
    assert "ltx" not in pipelines._loaded and described.guard is not None
    loaded = pipelines.get("ltx")
    assert described.rules == loaded.rules and pipelines.checker("ltx") is loaded  # where loaded, the loaded one


def test_narration_on_an_open_model_sets_the_length_and_starts_each_line_with_its_shot(open_models, tmp_path, capsys,
                                                                                      guards_built):
    import av

    def streams_and_cues(path):
        with av.open(str(path)) as c:
            kinds = sorted(s.type for s in c.streams)
            cues = [float(p.pts * p.time_base) for p in c.demux(c.streams.subtitles[0]) if p.size > 2]
        return kinds, cues

    out = tmp_path / "told.mp4"
    assert main(["generate", "a dog runs along a beach", "-o", str(out), "--model", str(open_models["ltx"]),
                 "--narration", "A dog runs. It runs along the beach, far away."]) == 0
    assert len(guards_built) == 1  # the guard that moderated the narration checks the prompt and the frames
    kinds, cues = streams_and_cues(out)
    assert kinds == ["audio", "subtitle", "video"] and cues[0] == pytest.approx(0.01, abs=0.005)
    assert verified(out, capsys)["c2pa"]["summary"]["narration"]["voices"][0]["engine"] == "espeak-ng"

    story = tmp_path / "story.yaml"
    story.write_text("shots:\n  - prompt: a dog runs on the beach\n    narration: A dog runs.\n"
                     "  - prompt: a dog walks in the park\n    seconds: 1\n    narration: It rests.\n")
    out = tmp_path / "story.mp4"
    assert main(["storyboard", str(story), "-o", str(out), "--model", str(open_models["ltx"])]) == 0
    assert len(guards_built) == 2
    cut = int(capsys.readouterr().err.split("cuts at frames [")[1].split("]")[0])
    fps = read_video(out)[1]
    kinds, cues = streams_and_cues(out)
    assert len(cues) == 2 and cues[1] == pytest.approx(cut / fps + 0.01, abs=0.005)
    story.write_text(story.read_text().replace("It rests.", "It rests in the park for a long while, then goes home."))
    assert main(["storyboard", str(story), "-o", str(tmp_path / "no.mp4"), "--model", str(open_models["ltx"])]) == 2
    assert "overruns by" in capsys.readouterr().err


def source_video() -> np.ndarray:
    """(17, 128, 128, 3): red left, blue right, a yellow square in the middle."""
    video = np.zeros((17, 128, 128, 3), np.uint8)
    video[:, :, :64], video[:, :, 64:] = (200, 40, 40), (40, 40, 200)
    video[:, 40:90, 40:90] = (230, 230, 30)
    return video


def test_vace_redraws_to_the_strength_asked_the_lower_the_closer_to_the_source(open_models, monkeypatch):
    """VACE takes no strength of its own: kino starts it part-way, from the source noised to where
    the last ``strength`` of its steps begin. The tiny VAE's random decoder draws any latents much
    alike, so closeness is read where the model works: the latents it decodes, against the source's."""
    import torch

    from kino.backends.base import Clip
    from kino.backends.registry import load, locate

    backend = load(locate(open_models["wan-vace"]), "fp32", "cpu")
    vae, decoded = backend.pipe.vae, []
    decode = vae.decode
    monkeypatch.setattr(vae, "decode", lambda z, *a, **k: decoded.append(z.clone()) or decode(z, *a, **k))
    video = source_video()[:9]
    with torch.inference_mode():
        source = vae.encode(torch.from_numpy(video).permute(3, 0, 1, 2)[None].float() / 127.5 - 1).latent_dist.mode()
    half = np.zeros((128, 128), bool)
    half[:, :64] = True
    for mask in (None, half):  # a restyle of the whole clip, and a masked edit
        distances = []
        for strength in (0.2, 0.6, 1.0):
            clip = Clip("a red dog runs", seed=1, width=128, height=128, frames=9, fps=8, steps=5, guidance=5.0,
                        video=video, mask=mask, strength=strength)
            assert backend.units(clip) == int(5 * strength) + 1  # the steps it samples, then the decode
            backend.generate(clip)
            distances.append(float((decoded[-1] - source).abs().mean()))
        assert distances[0] < 0.7 * distances[1] and distances[1] < distances[2], (mask is not None, distances)


def test_kino_edit_on_vace_takes_the_strength_and_says_when_it_samples_no_step(open_models, tmp_path, capsys):
    a = tmp_path / "a.mp4"
    from kino.data.video_io import write_video

    write_video(a, source_video()[:9], 8)
    runs = {}
    for strength in ("0.4", "1"):
        out = tmp_path / f"restyle_{strength}.mp4"
        assert main(["edit", str(a), "a red ball", "-o", str(out), "--model", str(open_models["wan-vace"]),
                     "--strength", strength, "--steps", "3"]) == 0
        runs[strength] = read_video(out)[0].astype(int)
        verified(out, capsys)
    assert np.abs(runs["0.4"] - runs["1"]).mean() > 1  # not ignored: a part-way start draws another video
    assert main(["edit", str(a), "a red ball", "-o", str(tmp_path / "x.mp4"), "--model",
                 str(open_models["wan-vace"]), "--strength", "0.2", "--steps", "2"]) == 2
    assert "strength 0.2 of 2 steps samples none" in capsys.readouterr().err


def test_last_steps_keeps_the_tail_of_wans_schedules():
    """Both schedulers Wan folders ship with: a flow-matching Euler's, and UniPC's over flow sigmas
    (the released Wan2.1 folders')."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    from kino.backends.diffusers_video import last_steps

    for scheduler in (FlowMatchEulerDiscreteScheduler(shift=7.0),
                      UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)):
        whole, tail = last_steps(scheduler, 10), last_steps(scheduler, 4)
        whole.set_timesteps(10)
        tail.set_timesteps(10)
        assert tail.timesteps.tolist() == whole.timesteps[-4:].tolist()
        assert tail.sigmas.tolist() == whole.sigmas[-5:].tolist() and tail.sigmas[-1] == 0
        assert "set_timesteps" not in vars(scheduler)  # the original is left as it was


def test_a_pipeline_made_for_another_task_keeps_the_dtypes_the_model_was_loaded_in(open_models):
    import torch

    from kino.backends.registry import load, locate

    for family, variant in (("ltx", "LTXConditionPipeline"), ("wan", "WanVideoToVideoPipeline")):
        backend = load(locate(open_models[family]), torch.bfloat16, "cpu")
        before = {name: part.dtype for name, part in backend.pipe.components.items() if hasattr(part, "dtype")}
        made = backend.variant(variant)
        after = {name: part.dtype for name, part in backend.pipe.components.items() if hasattr(part, "dtype")}
        assert after == before and before["transformer"] == torch.bfloat16, (family, before, after)
        assert made.transformer is backend.pipe.transformer  # the same weights, not a copy


def test_a_reference_image_reaches_vace_and_is_moderated_like_any_input_picture(open_models, pictures, tmp_path,
                                                                              capsys):
    import os

    import skimage.data

    from kino.safety import audit

    model = str(open_models["wan-vace"])
    videos = {}
    for name, refs in (("a", ["first.png"]), ("again", ["first.png"]), ("b", ["last.png"]), ("none", [])):
        out = tmp_path / f"{name}.mp4"
        flags = [x for ref in refs for x in ("--reference", str(pictures / ref))]
        assert main(["generate", "a red dog runs", "-o", str(out), "--model", model, "--seconds", "1", *flags]) == 0
        videos[name] = read_video(out)[0].astype(int)
    verified(tmp_path / "a.mp4", capsys)
    # The same seed and picture give the same video to the bit, so any change comes from the picture.
    # A tiny random model heeds it little: 0.9 levels (fp32, AVX2) to 4.3 (bf16, AMX) for another.
    assert np.abs(videos["a"] - videos["again"]).mean() == 0
    assert np.abs(videos["a"] - videos["b"]).mean() > 0.2  # another picture: another video
    assert np.abs(videos["a"] - videos["none"]).mean() > 1
    # The colour wheel: the nudity detector's one known false positive (tests/safety/photos.py).
    wheel = os.path.join(os.path.dirname(skimage.data.__file__), "color.png")
    capsys.readouterr()
    out = tmp_path / "refused.mp4"
    assert main(["generate", "a spinning disc", "-o", str(out), "--model", model, "--reference", wheel]) == 3
    assert capsys.readouterr().err.startswith("kino: refused: sexual") and not out.exists()
    entry = audit.read(os.environ["KINO_AUDIT_LOG"])[-1]
    assert entry["stage"] == "input" and "reference image 1" in entry["matched"]


def test_reference_images_on_a_model_without_them_exit_2_naming_the_models_with_them(open_models, pictures,
                                                                                      tmp_path, capsys):
    from kino.cli import DEFAULT_MODEL

    out = tmp_path / "out.mp4"
    for model in (str(open_models["ltx"]), str(DEFAULT_MODEL)):
        assert main(["generate", "a dog", "-o", str(out), "--model", model, "--reference",
                     str(pictures / "first.png")]) == 2
        err = capsys.readouterr().err
        assert "cannot do reference images" in err and "Wan-AI/Wan2.1-VACE-1.3B-diffusers" in err, err
    story = tmp_path / "story.yaml"
    story.write_text("reference: true\nshots:\n  - prompt: a dog runs\n  - prompt: a dog sleeps\n")
    assert main(["storyboard", str(story), "-o", str(out), "--model", str(open_models["ltx"])]) == 2
    assert "cannot do reference images" in capsys.readouterr().err
    assert not out.exists()


def test_a_storyboard_on_vace_shows_each_shot_its_characters_as_an_earlier_shot_drew_them(open_models, tmp_path,
                                                                                         capsys, monkeypatch):
    """Each later shot that names a character is given the first frame of the shot that introduced
    it; a model without reference images says that its characters are kept by words only."""
    from diffusers import WanVACEPipeline

    given, call = [], WanVACEPipeline.__call__

    def recorded(self, *args, **kw):
        given.append([np.asarray(img) for img in kw.get("reference_images") or []])
        return call(self, *args, **kw)

    monkeypatch.setattr(WanVACEPipeline, "__call__", recorded)
    story = tmp_path / "story.yaml"
    story.write_text("characters:\n  rex: a small dog\n  mia: a red cat\nshots:\n"
                     "  - {prompt: rex runs on the beach, seconds: 1}\n  - {prompt: mia sits on a wall, seconds: 1}\n"
                     "  - {prompt: rex and mia walk in the park, seconds: 1}\n  - {prompt: the sky at night, seconds: 1}\n")
    out = tmp_path / "story.mp4"
    assert main(["storyboard", str(story), "-o", str(out), "--model", str(open_models["wan-vace"])]) == 0
    err = capsys.readouterr().err
    assert "shot 3: a small dog and a red cat walk in the park (references: shot 1 first frame, shot 2 first frame)" \
        in err, err
    assert [len(g) for g in given] == [0, 0, 2, 0]
    video = read_video(out)[0].astype(int)
    for ref, first in zip(given[2], (0, 9), strict=True):  # shot 1's first frame, then shot 2's
        assert np.abs(ref - video[first]).mean() < 8  # the frame as made: the file's is watermarked and encoded
    verified(out, capsys)
    capsys.readouterr()
    assert main(["storyboard", str(story), "-o", str(tmp_path / "wan.mp4"), "--model", str(open_models["wan"])]) == 0
    assert "takes no reference images, so who appears in several shots is kept by the same words only" in (
        capsys.readouterr().err)
