"""Shared fixtures: a synthetic tiny model folder, so no test needs a download or the shipped weights."""

import pytest
import torch

from kino.config import preset
from kino.models.folder import build_models, save_model_folder


@pytest.fixture(scope="session", autouse=True)
def safety_state_in_tmp(tmp_path_factory):
    """The audit log and the likeness registry of every test live in a temporary folder, not the user's."""
    folder = tmp_path_factory.mktemp("kino_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KINO_AUDIT_LOG", str(folder / "audit.jsonl"))
        mp.setenv("KINO_LIKENESS_DIR", str(folder / "likeness"))
        yield folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    cfg = preset("tiny")
    vae, dit = build_models(cfg)
    for p in dit.parameters():  # random, non-zero weights so outputs depend on every input
        torch.nn.init.normal_(p, std=0.05)
    folder = tmp_path_factory.mktemp("tiny_model")
    save_model_folder(folder, cfg, vae, dit)
    return folder


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_model_dir):
    from kino.pipelines.text_to_video import TextToVideoPipeline

    return TextToVideoPipeline.from_pretrained(tiny_model_dir)


@pytest.fixture(scope="session")
def ltx_folder(tmp_path_factory):
    """A tiny random LTX-Video folder (kino.backends.random_folders): an open model."""
    from kino.backends.random_folders import build

    return build("ltx", tmp_path_factory.mktemp("open") / "ltx")


@pytest.fixture(scope="session", autouse=True)
def signing_keys_in_tmp(tmp_path_factory):
    """kino's C2PA signing keys for the tests: a temporary folder (made on first output), not the user's."""
    folder = tmp_path_factory.mktemp("kino_keys") / "keys"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KINO_KEYS_DIR", str(folder))
        mp.delenv("KINO_TRUST_ANCHORS", raising=False)
        yield folder


@pytest.fixture(scope="session")
def hostile() -> dict:
    """Files an attacker sends (kino.service.loadtest.hostile_files): decompression-bomb PNGs and an
    audio-only mp4; name -> bytes."""
    from kino.service.loadtest import hostile_files

    return hostile_files()


@pytest.fixture
def guards_built(monkeypatch) -> list:
    """One entry per ``Guard.from_env()`` a test makes: a command builds its guard once (it checks
    the narration, the prompt and the frames)."""
    from kino.safety.guard import Guard

    built, build = [], Guard.from_env

    def counted(cls, *args, **kwargs):
        built.append(cls)
        return build(*args, **kwargs)

    monkeypatch.setattr(Guard, "from_env", classmethod(counted))
    return built
