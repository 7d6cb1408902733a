"""Voices that speak narration offline: espeak-ng, always there, and Piper voices from a folder.

espeak-ng comes in the ``espeakng-loader`` wheel (its library and language data), so the default
voice installs with kino and needs nothing at run time. Better-sounding Piper voices (an ``.onnx``
file with its ``.onnx.json``) are found in a folder the user names (``--voices DIR`` or
``KINO_VOICES``); ``kino voices`` lists what there is.

    voice = find("en-us")                # an espeak-ng voice by language or name
    samples = voice.synthesize("Hello.")  # float32 mono in [-1, 1] at voice.sample_rate
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_LANGUAGE = "en-us"
ESPEAK_WORDS_PER_MINUTE = 175  # espeak-ng's own default rate: what rate 1.0 means
# Common tags that espeak-ng spells otherwise, or where it has several voices and one is usual.
ALIASES = {"en": "en-us", "zh": "cmn", "zh-cn": "cmn", "zh-tw": "cmn", "zh-hk": "yue", "fr": "fr-fr", "pt-pt": "pt"}
RATES = (0.5, 2.0)  # rate multipliers allowed: half to twice the voice's own speed


class VoiceError(Exception):
    """No such voice, or a voice that cannot speak: the message says what is available."""


@dataclass(frozen=True)
class Voice:
    """One voice: ``name`` is what ``--voice`` takes; ``language`` a language tag (en-us)."""

    engine: str
    name: str
    language: str
    description: str
    sample_rate: int

    def synthesize(self, text: str, rate: float = 1.0) -> np.ndarray:
        """``text`` spoken at ``rate`` times the voice's own speed: float32 mono in [-1, 1]."""
        raise NotImplementedError

    def identity(self) -> dict:
        """What a manifest records of the voice: engine, its version, name and language."""
        return {"engine": self.engine, "voice": self.name, "language": self.language}


def tag(language: str) -> str:
    """A language tag in one spelling: en_US, en-US and en-us are all en-us."""
    return language.lower().replace("_", "-")


def check_rate(rate: float) -> float:
    if not (RATES[0] <= rate <= RATES[1]):
        raise VoiceError(f"rate {rate:g} is not allowed; use {RATES[0]:g} (half speed) to {RATES[1]:g} (twice)")
    return float(rate)


class _Espeak:
    """espeak-ng's C library, loaded once. It keeps one global state, so every call holds ``lock``."""

    AUDIO_OUTPUT_SYNCHRONOUS = 2
    DONT_EXIT = 0x8000  # espeakINITIALIZE_DONT_EXIT: report errors instead of exiting the process
    CHARS_UTF8 = 1
    POS_CHARACTER = 1
    RATE = 1

    class _Voice(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p), ("identifier", ctypes.c_char_p),
                    ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte),
                    ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]

    _Callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

    def __init__(self):
        import espeakng_loader

        self.lock = threading.Lock()
        self.lib = lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data = os.path.dirname(espeakng_loader.get_data_path())  # the folder that holds espeak-ng-data
        self.sample_rate = lib.espeak_Initialize(self.AUDIO_OUTPUT_SYNCHRONOUS, 0, data.encode(), self.DONT_EXIT)
        if self.sample_rate <= 0:
            raise VoiceError(f"espeak-ng did not start (its data at {data})")
        lib.espeak_Info.restype = ctypes.c_char_p
        self.version = lib.espeak_Info(None).decode()
        self._chunks: list[np.ndarray] = []
        self._callback = self._Callback(self._take)  # kept: the library holds only a pointer to it
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(self._Voice))

    def _take(self, wav, n, _events) -> int:
        if n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        return 0  # go on

    def voices(self) -> list[tuple[str, str]]:
        """(language, description) of every voice espeak-ng has."""
        with self.lock:
            found, listed = [], self.lib.espeak_ListVoices(None)
            i = 0
            while listed[i]:
                v = listed[i].contents
                # ``languages``: a priority byte, then the language name, NUL; the first is the voice's own
                found.append((ctypes.string_at(v.languages + 1).decode(), v.name.decode()))
                i += 1
        return found

    def synthesize(self, language: str, text: str, rate: float) -> np.ndarray:
        data = text.encode("utf-8")
        with self.lock:
            if self.lib.espeak_SetVoiceByName(language.encode()) != 0:
                raise VoiceError(f"espeak-ng has no voice {language!r}")
            self.lib.espeak_SetParameter(self.RATE, round(ESPEAK_WORDS_PER_MINUTE * rate), 0)
            self._chunks = []
            status = self.lib.espeak_Synth(data, len(data) + 1, 0, self.POS_CHARACTER, 0, self.CHARS_UTF8, None, None)
            chunks, self._chunks = self._chunks, []
        if status != 0:
            raise VoiceError(f"espeak-ng could not speak the text (error {status})")
        if not chunks:
            return np.zeros(0, np.float32)
        return np.concatenate(chunks).astype(np.float32) / 32768.0


_engine: _Espeak | None = None
_engine_lock = threading.Lock()


def espeak() -> _Espeak:
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _Espeak()
        return _engine


@dataclass(frozen=True)
class EspeakVoice(Voice):
    def synthesize(self, text: str, rate: float = 1.0) -> np.ndarray:
        return espeak().synthesize(self.language, text, check_rate(rate))

    def identity(self) -> dict:
        return {**super().identity(), "engine_version": espeak().version}


def espeak_voices() -> list[Voice]:
    engine = espeak()
    return [EspeakVoice("espeak-ng", language, language, description, engine.sample_rate)
            for language, description in engine.voices()]


def voices_dir(folder: str | Path | None = None) -> Path | None:
    """The folder of extra voices: ``folder``, else ``KINO_VOICES``, else none."""
    folder = folder or os.environ.get("KINO_VOICES")
    return Path(folder) if folder else None


def available(folder: str | Path | None = None) -> list[Voice]:
    """Every voice: the folder's Piper voices first, then espeak-ng's."""
    found: list[Voice] = []
    folder = voices_dir(folder)
    if folder is not None:
        from kino.audio.piper import piper_voices

        found += piper_voices(folder)
    return found + espeak_voices()


def find(name: str | None = None, language: str | None = None, folder: str | Path | None = None) -> Voice:
    """The voice called ``name`` (a Piper voice's file name, or an espeak-ng language such as en-gb),
    else the first voice for ``language`` (default en-us), Piper voices first; VoiceError naming
    what there is when none matches."""
    return pick(available(folder), name, language)


def pick(voices: list[Voice], name: str | None = None, language: str | None = None) -> Voice:
    """``find`` among ``voices`` (``available``'s, listed once by the caller)."""
    if name:
        key = name.lower().removeprefix("espeak-ng:").removeprefix("piper:")
        for v in voices:
            if v.name.lower() == key:
                return v
        raise VoiceError(f"no voice {name!r}; `kino voices` lists them (e.g. {', '.join(v.name for v in voices[:4])})")
    language = tag(language or DEFAULT_LANGUAGE)
    language = ALIASES.get(language, language)
    for v in voices:
        if tag(v.language) == language:
            return v
    base = language.split("-")[0]
    near = [v for v in voices if tag(v.language).split("-")[0] == base]
    for v in sorted(near, key=lambda v: (tag(v.language) not in (base, f"{base}-{base}"), voices.index(v))):
        return v  # "de" finds de, "es-mx" finds es
    raise VoiceError(f"no voice speaks {language!r}; `kino voices` lists the languages there are")
