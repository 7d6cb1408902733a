"""Piper voices: neural text-to-speech from a folder of ``NAME.onnx`` + ``NAME.onnx.json`` pairs.

A Piper voice is a VITS model exported to ONNX (Kim et al. 2021, "Conditional Variational
Autoencoder with Adversarial Learning for End-to-End Text-to-Speech") and its config: the sample
rate, the espeak-ng voice that turns text into phonemes, the phoneme -> id map and the default
noise and length scales. The ``piper-tts`` wheel carries the phonemizer and espeak-ng's data, so a
voice speaks offline; nothing here downloads.

    voice = piper_voices("~/voices")[0]
    samples = voice.synthesize("Hello.", rate=1.25)  # float32 mono in [-1, 1] at voice.sample_rate

``tiny_random_voice`` writes a small voice with a real Piper voice's inputs and outputs, for tests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import numpy as np
import piper
from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

from kino.audio.voices import Voice, VoiceError, check_rate, tag

log = logging.getLogger(__name__)

# Phoneme types that need nothing beyond the piper-tts wheel. "pinyin" downloads a g2pW model on
# first use; "japanese" and "thai" need packages (pyopenjtalk, tltk) kino does not install.
OFFLINE_PHONEME_TYPES = ("espeak", "text", "hebrew")

# First bytes an ONNX file (a serialized ModelProto) can start with: the protobuf tag of one of its
# fields (ir_version, producer_name, ..., graph, opset_import, metadata_props; training_info,
# functions and configuration take two bytes). Git LFS pointers, HTML error pages and empty files
# fail this; listing a folder must not load every model (real voices are tens of MB).
ONNX_FIRST_BYTES = frozenset(b"\x08\x12\x1a\x22\x28\x32\x3a\x42\x72\xa2\xaa\xb2")


class _Loaded:
    """What a voice loads on first use, behind one lock: piper's voice and the model's SHA-256."""

    def __init__(self):
        self.lock = threading.Lock()
        self.voice: piper.PiperVoice | None = None
        self.sha256: str | None = None

    def __reduce__(self):  # a copied or pickled voice loads afresh: locks and sessions do not travel
        return _Loaded, ()


@dataclass(frozen=True)
class PiperVoice(Voice):
    """A Piper voice: ``model`` is ``NAME.onnx``; its config ``NAME.onnx.json`` lies next to it."""

    model: Path
    _loaded: _Loaded = field(default_factory=_Loaded, init=False, repr=False, compare=False)

    def synthesize(self, text: str, rate: float = 1.0) -> np.ndarray:
        """``text`` spoken at ``rate`` times the voice's speed: piper's length scale divided by ``rate``.
        One chunk per sentence, each scaled by piper to peak at 1, joined with no pause."""
        rate = check_rate(rate)
        # One lock for the whole call: piper builds its Arabic and Hebrew helpers lazily, unguarded.
        with self._loaded.lock:
            voice = self._voice()
            speed = piper.SynthesisConfig(length_scale=voice.config.length_scale / rate)
            try:
                chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, syn_config=speed)]
            except Exception as e:  # onnxruntime's errors share no base class short of Exception
                raise VoiceError(f"Piper voice {self.name!r} could not speak {text!r}: {e}") from e
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)

    def identity(self) -> dict:
        """Adds piper-tts's version and the SHA-256 of the model file: the exact voice that spoke."""
        with self._loaded.lock:
            if self._loaded.sha256 is None:
                self._loaded.sha256 = file_sha256(self.model)
            sha256 = self._loaded.sha256
        return {**super().identity(), "engine_version": version("piper-tts"), "model_sha256": sha256}

    def _voice(self) -> piper.PiperVoice:
        """piper's voice, loaded on first use (the caller holds the lock)."""
        if self._loaded.voice is None:
            try:
                # espeak-ng's data from the wheel; download_dir is only read by "pinyin", refused above
                self._loaded.voice = piper.PiperVoice.load(self.model, download_dir=self.model.parent)
            except Exception as e:  # a missing or corrupt file, or any onnxruntime failure
                raise VoiceError(f"Piper voice {self.name!r} did not load from {self.model}: {e}") from e
        return self._loaded.voice


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as e:
        raise VoiceError(f"cannot read the voice model {path}: {e}") from e
    return digest.hexdigest()


def config_path(model: Path) -> Path:
    return model.with_name(model.name + ".json")


def piper_voice(model: str | Path) -> PiperVoice:
    """The voice of ``model`` (``NAME.onnx``), read from its config without loading the model;
    VoiceError when the pair is not a Piper voice kino can use offline."""
    model = Path(model)
    config = config_path(model)
    if not model.is_file():
        raise VoiceError(f"no voice model {model}")
    if not config.is_file():
        raise VoiceError(f"{model.name} has no config {config.name} next to it")
    with open(model, "rb") as f:
        head = f.read(1)
    if not head or head[0] not in ONNX_FIRST_BYTES:
        raise VoiceError(f"{model.name} is not an ONNX model (empty, a Git LFS pointer or a web page?)")
    try:
        raw = json.loads(config.read_text(encoding="utf-8"))
        settings = piper.PiperConfig.from_dict(raw)
    except (OSError, ValueError) as e:
        raise VoiceError(f"{config.name} is not a Piper voice config: {e}") from e
    except (KeyError, TypeError) as e:
        raise VoiceError(f"{config.name} is not a Piper voice config: it lacks {e}") from e
    if settings.phoneme_type.value not in OFFLINE_PHONEME_TYPES:
        raise VoiceError(f"{model.name} uses {settings.phoneme_type.value!r} phonemes, which piper "
                         f"cannot make offline; kino speaks {', '.join(OFFLINE_PHONEME_TYPES)} voices")
    if not isinstance(settings.sample_rate, int) or settings.sample_rate <= 0:
        raise VoiceError(f"{config.name} has no usable audio.sample_rate ({settings.sample_rate!r})")
    language = (raw.get("language") or {}).get("code") or settings.espeak_voice
    quality = raw["audio"].get("quality")
    description = " ".join(filter(None, [raw.get("dataset"), quality and f"({quality})"])) or "Piper voice"
    return PiperVoice("piper", model.name.removesuffix(".onnx"), tag(language),
                      description, settings.sample_rate, model)


def piper_voices(folder: str | Path) -> list[Voice]:
    """One voice per ``NAME.onnx`` with its ``NAME.onnx.json`` in ``folder``, sorted by name; a file
    that is not a usable voice is skipped with a warning that says why."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise VoiceError(f"no voices folder {folder}: name a folder of Piper voices (NAME.onnx + NAME.onnx.json)")
    found = []
    for model in folder.glob("*.onnx"):
        try:
            found.append(piper_voice(model))
        except VoiceError as e:
            log.warning("skipping %s: %s", model, e)
    return sorted(found, key=lambda v: v.name)


# --- a tiny random voice, for tests ------------------------------------------------------------------

TINY_SAMPLE_RATE = 16000
TINY_SAMPLES_PER_ID = 256  # one hop of a real voice: each phoneme id lasts 16 ms at length scale 1


def tiny_random_voice(folder: str | Path, name: str = "xx_XX-tiny-low", seed: int = 0) -> Path:
    """Write ``name.onnx`` and ``name.onnx.json`` to ``folder``: a few-KB voice with a real Piper
    voice's inputs and output (see ``tiny_piper_model``) that phonemizes with espeak-ng's en-us.
    Each phoneme id becomes ceil(256 * length_scale) samples of a tone whose pitch the id picks.
    Returns the ``.onnx`` path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    num_symbols = 1 + max(i for ids in DEFAULT_PHONEME_ID_MAP.values() for i in ids)
    tones = np.random.default_rng(seed).uniform(150.0, 1200.0, num_symbols).astype(np.float32)
    model = folder / f"{name}.onnx"
    model.write_bytes(tiny_piper_model(tones))
    language = name.split("-")[0]
    config = {
        "dataset": "tiny-random",
        "audio": {"sample_rate": TINY_SAMPLE_RATE, "quality": "low"},
        "espeak": {"voice": "en-us"},
        "language": {"code": language, "family": language.split("_")[0], "region": language.split("_")[-1]},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": num_symbols,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": version("piper-tts"),
    }
    config_path(model).write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    return model


def tiny_piper_model(tones: np.ndarray) -> bytes:
    """A serialized ONNX model with Piper's interface: inputs ``input`` int64 (1, N) phoneme ids,
    ``input_lengths`` int64 (1,), ``scales`` float32 (3,) = (noise, length, noise_w); output
    ``output`` float32 (1, 1, T), T = N * ceil(256 * length). ``tones``: Hz per phoneme id, (S,)."""
    # onnx is needed only to build this test voice, so it is a test dependency imported here
    from onnx import TensorProto, helper, numpy_helper

    def const(name, value, dtype):
        return numpy_helper.from_array(np.asarray(value, dtype), name)

    node = helper.make_node
    nodes = [
        node("Reshape", ["input", "flat"], ["ids"]),  # (N,)
        node("Gather", ["input_lengths", "zero"], ["n"]),
        node("Gather", ["scales", "one"], ["length_scale"]),
        node("Mul", ["samples_per_id", "length_scale"], ["per_f"]),
        node("Ceil", ["per_f"], ["per_ceil"]),
        node("Cast", ["per_ceil"], ["per_raw"], to=TensorProto.INT64),
        node("Max", ["per_raw", "one"], ["per"]),  # samples per phoneme id, at least one
        node("Mul", ["n", "per"], ["total"]),
        node("Range", ["zero", "total", "one"], ["t"]),  # (T,) sample index
        node("Div", ["t", "per"], ["k"]),  # (T,) which phoneme id each sample belongs to
        node("Mod", ["t", "per"], ["pos"]),  # (T,) sample index within it
        node("Gather", ["ids", "k"], ["id_t"]),
        node("Mod", ["id_t", "num_symbols"], ["id_safe"]),
        node("Gather", ["tones", "id_safe"], ["hz"]),  # (T,)
        node("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        node("Mul", ["hz", "t_f"], ["cycles"]),
        node("Mul", ["cycles", "two_pi_over_rate"], ["phase"]),
        node("Sin", ["phase"], ["tone"]),
        # a half-sine envelope per phoneme id, so the tones join without clicks
        node("Cast", ["pos"], ["pos_f"], to=TensorProto.FLOAT),
        node("Add", ["pos_f", "half"], ["pos_mid"]),
        node("Cast", ["per"], ["per_float"], to=TensorProto.FLOAT),
        node("Div", ["pos_mid", "per_float"], ["frac"]),
        node("Mul", ["frac", "pi"], ["arc"]),
        node("Sin", ["arc"], ["envelope"]),
        node("Mul", ["tone", "envelope"], ["shaped"]),
        node("Mul", ["shaped", "amplitude"], ["audio"]),
        node("Reshape", ["audio", "out_shape"], ["output"]),  # (1, 1, T)
    ]
    initializers = [
        const("flat", [-1], np.int64), const("zero", 0, np.int64), const("one", 1, np.int64),
        const("out_shape", [1, 1, -1], np.int64), const("num_symbols", len(tones), np.int64),
        const("samples_per_id", TINY_SAMPLES_PER_ID, np.float32), const("tones", tones, np.float32),
        const("two_pi_over_rate", 2 * np.pi / TINY_SAMPLE_RATE, np.float32), const("half", 0.5, np.float32),
        const("pi", np.pi, np.float32), const("amplitude", 0.5, np.float32),
    ]
    inputs = [
        helper.make_tensor_value_info("input", TensorProto.INT64, ["batch_size", "phonemes"]),
        helper.make_tensor_value_info("input_lengths", TensorProto.INT64, ["batch_size"]),
        helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
    ]
    outputs = [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch_size", 1, "time"])]
    graph = helper.make_graph(nodes, "tiny_piper", inputs, outputs, initializers)
    # opset 17 and IR 8: what every onnxruntime kino allows (>= 1.17) can run
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                              producer_name="kino.audio.piper")
    return model.SerializeToString()
