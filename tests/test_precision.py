"""The compute dtype follows the hardware's flags, and --dtype / $KINO_DTYPE override it."""

import pytest
import torch

from kino import precision
from kino.cli import main


def cpu(monkeypatch, amx: bool, avx512_bf16: bool, isa: str = "AVX512", onednn_bf16: bool = True):
    """Pretend the CPU has (or lacks) AMX and AVX512-BF16, and ATen dispatches to ``isa``."""
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: isa)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: onednn_bf16)
    monkeypatch.delenv(precision.ENV, raising=False)


@pytest.mark.parametrize(
    "amx, avx512_bf16, isa, onednn, expected, capability",
    [
        (True, True, "AVX512", True, torch.bfloat16, "AMX"),
        (False, True, "AVX512", True, torch.bfloat16, "AVX512-BF16"),
        (False, False, "AVX512", True, torch.float32, "AVX512"),  # AVX-512 without bf16 (Skylake)
        (False, False, "AVX2", False, torch.float32, "AVX2"),  # most laptops, AMD EPYC
        (True, True, "AVX2", True, torch.float32, "AVX2"),  # AMX chip, ATen held to AVX2 (ATEN_CPU_CAPABILITY)
        (True, True, "AVX512", False, torch.float32, "AVX512"),  # oneDNN held below bf16 (ONEDNN_MAX_CPU_ISA)
    ],
)
def test_auto_follows_the_cpu_flags(monkeypatch, amx, avx512_bf16, isa, onednn, expected, capability):
    cpu(monkeypatch, amx, avx512_bf16, isa, onednn)
    assert precision.choose() == expected
    assert precision.choose("auto") == expected
    assert precision.describe(expected)["capability"] == capability


def test_a_named_dtype_overrides_the_flags(monkeypatch):
    cpu(monkeypatch, amx=False, avx512_bf16=False, isa="AVX2", onednn_bf16=False)
    assert precision.choose("bf16") == torch.bfloat16
    cpu(monkeypatch, amx=True, avx512_bf16=True)
    assert precision.choose("fp32") == torch.float32
    assert precision.choose("fp16") == torch.float16
    monkeypatch.setenv(precision.ENV, "fp32")
    assert precision.choose() == torch.float32  # the environment, where no name is given
    assert precision.choose("bf16") == torch.bfloat16  # a name given beats the environment


def test_unknown_dtype_names_what_is_allowed(monkeypatch):
    with pytest.raises(precision.DtypeError, match="auto, bf16, fp16, fp32"):
        precision.choose("float8")
    monkeypatch.setenv(precision.ENV, "double")
    with pytest.raises(precision.DtypeError, match="'double'"):
        precision.choose()


def test_flags_this_torch_cannot_read_fall_back_to_a_probe(monkeypatch):
    def missing():
        raise AttributeError("no such flag on this build")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", missing)
    monkeypatch.delenv(precision.ENV, raising=False)
    monkeypatch.setattr(precision, "_probe_bf16", lambda: True)
    assert precision.choose() == torch.bfloat16
    monkeypatch.setattr(precision, "_probe_bf16", lambda: False)
    assert precision.choose() == torch.float32


def test_pipeline_and_text_encoder_compute_in_the_chosen_dtype(monkeypatch, tiny_model_dir):
    from kino.pipelines.text_to_video import TextToVideoPipeline

    cpu(monkeypatch, amx=False, avx512_bf16=False, isa="AVX2", onednn_bf16=False)
    pipe = TextToVideoPipeline.from_pretrained(tiny_model_dir)
    assert pipe.dtype == torch.float32 and next(pipe.vae.parameters()).dtype == torch.float32
    assert pipe.text_encoder.dtype == torch.float32
    cpu(monkeypatch, amx=True, avx512_bf16=True)
    pipe = TextToVideoPipeline.from_pretrained(tiny_model_dir)
    assert pipe.dtype == torch.bfloat16 and pipe.text_encoder.dtype == torch.bfloat16
    assert TextToVideoPipeline.from_pretrained(tiny_model_dir, dtype="fp32").dtype == torch.float32


def test_generate_dtype_flag_overrides_and_verbose_says_what_ran(monkeypatch, capsys, tmp_path, tiny_model_dir):
    cpu(monkeypatch, amx=True, avx512_bf16=True)
    seen = []
    real = precision.choose
    monkeypatch.setattr(precision, "choose", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    out = tmp_path / "clip.mp4"
    argv = ["generate", "a red ball", "-o", str(out), "--model", str(tiny_model_dir), "--seconds", "0.5",
            "--steps", "1", "-v"]
    assert main(argv + ["--dtype", "fp32"]) == 0
    err = capsys.readouterr().err
    assert seen[0] == torch.float32 and "computing in fp32 on cpu (AMX)" in err
    seen.clear()
    assert main(argv) == 0
    assert seen[0] == torch.bfloat16 and "computing in bf16 on cpu (AMX)" in capsys.readouterr().err


def test_bad_dtype_is_a_usage_error(monkeypatch, capsys, tmp_path, tiny_model_dir):
    argv = ["generate", "a red ball", "-o", str(tmp_path / "x.mp4"), "--model", str(tiny_model_dir)]
    assert main(argv + ["--dtype", "fp8"]) == 2
    assert "invalid choice: 'fp8'" in capsys.readouterr().err
    monkeypatch.setenv(precision.ENV, "fp64")
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "KINO_DTYPE" in err[0] and "auto, bf16, fp16, fp32" in err[0]
    assert list(tmp_path.iterdir()) == []


def test_training_and_the_service_use_the_same_choice(monkeypatch):
    import contextlib

    from kino.service.models import Pipelines
    from kino.training.trainer import TrainConfig, autocast_for

    cpu(monkeypatch, amx=False, avx512_bf16=False, isa="AVX2", onednn_bf16=False)
    assert isinstance(autocast_for(TrainConfig(), torch.device("cpu")), contextlib.nullcontext)
    assert Pipelines({}).dtype == torch.float32
    cpu(monkeypatch, amx=True, avx512_bf16=True)
    with autocast_for(TrainConfig(), torch.device("cpu")):
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16 and torch.is_autocast_enabled("cpu")
    assert Pipelines({}).dtype == torch.bfloat16
    assert Pipelines({}, dtype="fp32").dtype == torch.float32
    monkeypatch.setenv(precision.ENV, "fp32")  # what workers started with KINO_DTYPE=fp32 use
    assert Pipelines({}).dtype == torch.float32
