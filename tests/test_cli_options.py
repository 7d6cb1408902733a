"""Options and storyboards the same way on every model: an option a model ignores is said on
stderr (kino.backends.base.ignored), a storyboard is one path whose notes follow the model's
capabilities and vocabulary."""

from kino.cli import main
from kino.data.video_io import read_video

PROMPT = "a big red ball on the left moves to the right"


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def test_options_kinos_own_model_ignores_are_said_and_the_negative_prompt_is_honoured(capsys, tmp_path,
                                                                                    tiny_model_dir):
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "generate", PROMPT, "-o", out, "--model", tiny_model_dir, "--steps", "1", "--offload",
                    "model", "--vae-tiling", "--compile", "--negative-prompt", "a small blue square")
    assert code == 0, err
    for option, why in (("--offload", "the model is small enough to load whole onto one device"),
                        ("--vae-tiling", "the model's VAE decodes whole"), ("--compile", "the model runs eagerly")):
        assert f"kino: note: {option} has no effect on {tiny_model_dir}: {why}" in err
    assert "--negative-prompt has no effect" not in err
    plain = tmp_path / "plain.mp4"
    code, err = run(capsys, "generate", PROMPT, "-o", plain, "--model", tiny_model_dir, "--steps", "1")
    assert code == 0 and "has no effect" not in err, err
    assert (read_video(out)[0] != read_video(plain)[0]).any()  # guidance steered away from the negative prompt


def test_a_storyboard_is_one_path_its_notes_from_the_models_capabilities_and_vocabulary(capsys, tmp_path,
                                                                                       tiny_model_dir, ltx_folder):
    out = tmp_path / "out.mp4"
    shots = "Shot 1: a red ball. Shot 2: a dog"
    words_only = "takes no reference images, so who appears in several shots is kept by the same words only"
    code, err = run(capsys, "generate", shots, "-o", out, "--model", tiny_model_dir, "--seconds", "2", "--steps", "1",
                    "--camera", "pan-left", "--offload", "model")
    assert code == 0, err
    assert words_only not in err  # toyworld's director draws who a shot introduced in the shots after
    assert "has never seen: dog" in err and "--offload has no effect" in err
    assert "shot 2: a dog. The camera pans left." in err
    code, err = run(capsys, "generate", shots, "-o", out, "--model", tiny_model_dir, "--seconds", "2", "--steps", "1",
                    "--no-director")
    assert code == 0 and words_only in err, err
    code, err = run(capsys, "generate", shots, "-o", out, "--model", ltx_folder, "--seconds", "2", "--steps", "1",
                    "--size", "128x128", "--camera", "pan-left", "--offload", "model")
    assert code == 0, err
    assert words_only in err and "has never seen" not in err and "has no effect" not in err
    assert "shot 2: a dog. The camera pans left." in err  # --camera on every shot, as on kino's own model


def test_what_only_kinos_own_models_do_exits_2_on_an_open_model_before_it_loads(capsys, tmp_path, ltx_folder,
                                                                              monkeypatch):
    from kino.backends import registry

    monkeypatch.setattr(registry, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("loaded")))
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "generate", "a red ball", "-o", out, "--model", ltx_folder, "--sampler", "heun")
    assert code == 2 and "cannot do sampler choice" in err and "Models that can: kino's own toyworld models" in err
    code, err = run(capsys, "generate", "a red ball", "-o", out, "--model", ltx_folder, "--enhance")
    assert code == 2 and "--enhance rewrites a prompt in toyworld's caption words" in err, err
    assert not out.exists()
