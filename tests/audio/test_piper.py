import hashlib
import json
import logging
import pickle
import socket
import threading
from importlib.metadata import version

import numpy as np
import onnxruntime
import pytest

from kino.audio import voices
from kino.audio.piper import PiperVoice, piper_voice, piper_voices, tiny_random_voice

NAME = "xx_XX-tiny-low"


@pytest.fixture
def folder(tmp_path):
    tiny_random_voice(tmp_path / "voices", NAME)
    return tmp_path / "voices"


@pytest.fixture
def voice(folder):
    return piper_voice(folder / f"{NAME}.onnx")


def test_tiny_voice_has_a_real_voices_interface_and_is_small(folder):
    model = folder / f"{NAME}.onnx"
    assert model.stat().st_size < 100_000
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    inputs = {i.name: (i.type, len(i.shape)) for i in session.get_inputs()}
    assert inputs == {"input": ("tensor(int64)", 2), "input_lengths": ("tensor(int64)", 1),
                      "scales": ("tensor(float)", 1)}
    (output,) = session.get_outputs()
    assert output.name == "output" and output.type == "tensor(float)" and len(output.shape) == 3
    ids = np.array([[1, 20, 0, 14, 0, 2]], np.int64)
    audio = session.run(None, {"input": ids, "input_lengths": np.array([6], np.int64),
                               "scales": np.array([0.667, 1.0, 0.8], np.float32)})[0]
    assert audio.shape == (1, 1, 6 * 256)
    other = session.run(None, {"input": ids[:, ::-1].copy(), "input_lengths": np.array([6], np.int64),
                               "scales": np.array([0.667, 1.0, 0.8], np.float32)})[0]
    assert not np.allclose(audio, other)  # the audio depends on which ids


def test_folder_lists_its_voices_and_skips_broken_files_with_a_warning(folder, caplog):
    config = (folder / f"{NAME}.onnx.json").read_text()
    (folder / "broken.onnx").write_text("version https://git-lfs.github.com/spec/v1\n")  # an LFS pointer
    (folder / "broken.onnx.json").write_text(config)
    (folder / "bad-config.onnx").write_bytes((folder / f"{NAME}.onnx").read_bytes())
    (folder / "bad-config.onnx.json").write_text(json.dumps({"audio": {"sample_rate": 22050}}))
    (folder / "lonely.onnx").write_bytes((folder / f"{NAME}.onnx").read_bytes())
    tiny_random_voice(folder, "aa_AA-another-low", seed=1)
    with caplog.at_level(logging.WARNING, logger="kino.audio.piper"):
        found = piper_voices(folder)
    assert [v.name for v in found] == ["aa_AA-another-low", NAME]
    (tiny,) = [v for v in found if v.name == NAME]
    assert (tiny.engine, tiny.language, tiny.sample_rate) == ("piper", "xx-xx", 16000)
    assert tiny.description == "tiny-random (low)"
    assert "broken.onnx is not an ONNX model" in caplog.text
    assert "bad-config.onnx.json is not a Piper voice config" in caplog.text
    assert "lonely.onnx has no config lonely.onnx.json" in caplog.text


def test_a_voice_that_needs_a_download_is_skipped(folder, caplog):
    config = json.loads((folder / f"{NAME}.onnx.json").read_text())
    (folder / "zh_CN-x-low.onnx").write_bytes((folder / f"{NAME}.onnx").read_bytes())
    (folder / "zh_CN-x-low.onnx.json").write_text(json.dumps({**config, "phoneme_type": "pinyin"}))
    with caplog.at_level(logging.WARNING, logger="kino.audio.piper"):
        assert [v.name for v in piper_voices(folder)] == [NAME]
    assert "'pinyin' phonemes" in caplog.text


def test_find_returns_the_piper_voice_by_name(folder):
    assert isinstance(voices.find(NAME, folder=folder), PiperVoice)
    assert voices.find(f"piper:{NAME}", folder=folder).name == NAME
    assert voices.find(language="xx-xx", folder=folder).name == NAME


def test_missing_voice_or_folder_raises_voice_error(folder, tmp_path):
    with pytest.raises(voices.VoiceError, match="no voice 'nobody'"):
        voices.find("nobody", folder=folder)
    with pytest.raises(voices.VoiceError, match="no voices folder"):
        piper_voices(tmp_path / "absent")
    with pytest.raises(voices.VoiceError, match="no voice model"):
        piper_voice(folder / "absent.onnx")


def test_synthesize_gives_float32_speech_at_the_configs_rate(voice, folder):
    audio = voice.synthesize("Hello world. How are you?")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert voice.sample_rate == json.loads((folder / f"{NAME}.onnx.json").read_text())["audio"]["sample_rate"]
    assert 0.2 * voice.sample_rate < len(audio) < 5 * voice.sample_rate
    assert np.abs(audio).max() <= 1.0 and np.sqrt(np.mean(audio**2)) > 0.05
    assert len(voice.synthesize("Hello world, and everyone in it.")) > len(voice.synthesize("Hi."))
    assert len(voice.synthesize("")) == 0


def test_rate_scales_the_length(voice):
    normal, fast, slow = (len(voice.synthesize("The red ball rolls left.", rate)) for rate in (1.0, 2.0, 0.5))
    assert fast / normal == pytest.approx(0.5, abs=0.02)
    assert slow / normal == pytest.approx(2.0, abs=0.04)
    with pytest.raises(voices.VoiceError, match="rate 3 is not allowed"):
        voice.synthesize("Hi.", 3.0)


def test_identity_names_the_model_file_by_its_hash(voice, folder):
    identity = voice.identity()
    sha256 = hashlib.sha256((folder / f"{NAME}.onnx").read_bytes()).hexdigest()
    assert identity == {"engine": "piper", "voice": NAME, "language": "xx-xx",
                        "engine_version": version("piper-tts"), "model_sha256": sha256}


def test_a_corrupt_or_vanished_model_raises_voice_error(folder):
    model = folder / f"{NAME}.onnx"
    model.write_bytes(model.read_bytes()[:200])  # truncated: still starts like an ONNX model
    voice = piper_voice(model)
    with pytest.raises(voices.VoiceError, match="did not load"):
        voice.synthesize("Hello.")
    model.unlink()
    with pytest.raises(voices.VoiceError, match="cannot read the voice model"):
        voice.identity()


def test_threads_share_one_loaded_voice_and_get_the_same_audio(voice):
    results = [None] * 4

    def speak(i):
        results[i] = voice.synthesize("One voice, many threads.")

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, results[0]) for r in results)
    copy = pickle.loads(pickle.dumps(voice))  # a copy loads afresh and speaks the same
    assert copy == voice and np.array_equal(copy.synthesize("One voice, many threads."), results[0])


def test_speaking_never_touches_the_network(folder, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a Piper voice tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    voice = piper_voice(folder / f"{NAME}.onnx")
    assert len(voice.synthesize("Nothing is downloaded.")) > 0


def test_piper_and_espeak_ng_speak_in_one_process(voice):
    # piper's wheel links its own copy of espeak-ng; kino's default voice loads another
    assert len(voice.synthesize("First Piper.")) > 0
    espeak = voices.find("en-us")
    assert len(espeak.synthesize("Then espeak.")) > 0
    assert len(voice.synthesize("Piper again.")) > 0
