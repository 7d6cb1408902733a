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


@pytest.fixture(scope="session", autouse=True)
def signing_keys_in_tmp(tmp_path_factory):
    """kino's C2PA signing keys for the tests: a temporary folder (made on first output), not the user's."""
    folder = tmp_path_factory.mktemp("kino_keys") / "keys"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KINO_KEYS_DIR", str(folder))
        mp.delenv("KINO_TRUST_ANCHORS", raising=False)
        yield folder


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> dict:
    """Files an attacker sends: PNGs whose headers say 12000x12000 and 30000x30000 pixels (one bit
    each, a few dozen bytes: decompression bombs) and an mp4 with sound only; name -> bytes."""
    import struct
    import zlib

    import av
    import numpy as np

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def png(side: int) -> bytes:
        ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
        return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (side // 8 + 1)))
                + chunk(b"IEND", b""))

    sound = tmp_path_factory.mktemp("hostile") / "sound.mp4"
    with av.open(str(sound), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return {"png_12000": png(12000), "png_30000": png(30000), "audio_only_mp4": sound.read_bytes()}
