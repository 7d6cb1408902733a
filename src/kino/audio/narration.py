"""Narration: text spoken by a voice, cut into caption cues whose times are where the words are said.

Every cue (a phrase of at most ``MAX_CUE_CHARS``, split at sentence ends, then clause marks, then
between words) is spoken on its own and the pieces are laid end to end with short pauses; each
piece's silence before its first sound is cut, so a cue starts where its speech starts, whatever
the engine (Piper gives no word times, and espeak-ng's are only estimates). The cost is that the
intonation starts again at each cue, which at clause and sentence ends is what a speaker does.

    speech = speak("A red ball rolls left. Then it stops.", voices.find())
    speech.duration, speech.cues        # seconds; [Cue(start, end, text), ...]
    track = Soundtrack.place([(0.0, speech)], seconds=4.0)   # the mp4's audio and captions
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kino.audio.voices import Voice, VoiceError, check_rate, tag
from kino.safety.moderation import SafetyRefusal, Verdict

SAMPLE_RATE = 48_000  # the mp4's audio: AAC frames of 1024 samples are 21 ms, so the track ends within that of the video
MAX_CUE_CHARS = 42  # a caption line as subtitle guidelines have it (one line, read at a glance)
PAUSES = {"sentence": 0.30, "clause": 0.15, "words": 0.04}  # silence after a cue, by how its text ended
TAIL = 0.5  # seconds of picture after the last word, when the narration sets the length
MIN_CUE_SECONDS = 1.0  # a caption stays at least this long (unless the next one starts)
ONSET_LEVEL = 0.01  # |sample| above which a piece of speech has begun (-40 dBFS)
LEAD = 0.01  # seconds kept before a piece's first sound, so its onset is not clipped
MAX_TEXT_CHARS = 2000
MAX_SECONDS = 60.0  # a video's longest (kino.pipelines.text_to_video.MAX_SECONDS, kino.backends.base)


class NarrationError(ValueError):
    """Narration that cannot be spoken or does not fit: the message says what to change."""


class RefusedNarration(SafetyRefusal):
    """A line the guard refused (``Guard.narration``), with its ``text`` for callers that record it."""

    def __init__(self, verdict: Verdict, text: str):
        super().__init__(verdict)
        self.text = text


@dataclass(frozen=True)
class Cue:
    start: float  # seconds from the start of the video
    end: float
    text: str

    def shifted(self, by: float) -> Cue:
        return Cue(self.start + by, self.end + by, self.text)


@dataclass
class Speech:
    """One line spoken: ``samples`` float32 mono at SAMPLE_RATE, its cues timed from its start."""

    samples: np.ndarray
    cues: list[Cue]
    voice: dict  # the voice's identity (Voice.identity), for the manifest
    rate: float = 1.0

    @property
    def duration(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def phrases(text: str, max_chars: int = MAX_CUE_CHARS) -> list[tuple[str, str]]:
    """``text`` cut into caption-sized phrases, each with how it ended (a key of PAUSES)."""
    out = []
    for sentence in re.split(r"(?<=[.!?\u2026\u3002\uff01\uff1f])\s+", " ".join(text.split())):
        clauses = re.split(r"(?<=[,;:\u2014\u2013\uff0c\u3001])\s+", sentence) if len(sentence) > max_chars else [sentence]
        for k, clause in enumerate(clauses):
            chunks = _words_into_lines(clause, max_chars)
            for j, chunk in enumerate(chunks):
                last_chunk = j == len(chunks) - 1
                end = "words" if not last_chunk else "clause" if k < len(clauses) - 1 else "sentence"
                out.append((chunk, end))
    return [(p, e) for p, e in out if p]


def _words_into_lines(clause: str, max_chars: int) -> list[str]:
    """Words put greedily into lines of at most ``max_chars`` (a longer word is a line of its own)."""
    lines: list[str] = []
    for word in clause.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= max_chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def check_text(text: str, what: str = "narration") -> str:
    """``text`` with whitespace tidied, or NarrationError when it has nothing to say or is too long."""
    from kino.safety.normalize import visible

    tidy = " ".join(text.split())
    if not visible(tidy).strip():
        raise NarrationError(f"{what} is empty; give the words to speak")
    if len(tidy) > MAX_TEXT_CHARS:
        raise NarrationError(f"{what} has {len(tidy)} characters; at most {MAX_TEXT_CHARS}")
    if not any(ch.isalnum() for ch in tidy):
        raise NarrationError(f"{what} {text!r} has no words to speak")
    return tidy


def resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """float32 mono at ``rate`` -> float32 mono at SAMPLE_RATE (libswresample, through PyAV)."""
    if rate == SAMPLE_RATE or not len(samples):
        return samples.astype(np.float32)
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples, np.float32)[None], format="flt", layout="mono")
    frame.sample_rate = rate
    out = [f.to_ndarray()[0] for f in resampler.resample(frame)] + [f.to_ndarray()[0] for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def trimmed(samples: np.ndarray) -> np.ndarray:
    """The samples from LEAD before the first sound to just after the last (empty if silent)."""
    loud = np.flatnonzero(np.abs(samples) > ONSET_LEVEL)
    if not len(loud):
        return samples[:0]
    lead = round(LEAD * SAMPLE_RATE)
    return samples[max(loud[0] - lead, 0): loud[-1] + lead]


def speak(text: str, voice: Voice, rate: float = 1.0, what: str = "narration") -> Speech:
    """``text`` spoken by ``voice``, one caption cue per phrase (see the module's docstring)."""
    text = check_text(text, what)
    pieces, cues, at = [], [], 0.0
    for phrase, ending in phrases(text):
        said = trimmed(resample(voice.synthesize(phrase, rate), voice.sample_rate))
        if not len(said):
            continue  # punctuation alone: nothing said, no caption
        start = at + LEAD
        at += len(said) / SAMPLE_RATE
        cues.append(Cue(start, at, phrase))
        pause = np.zeros(round(PAUSES[ending] * SAMPLE_RATE), np.float32)
        pieces += [said, pause]
        at += len(pause) / SAMPLE_RATE
    if not cues:
        raise NarrationError(f"{what} {text!r} gives no speech with voice {voice.name}")
    samples = np.concatenate(pieces[:-1])  # no pause after the last words
    return Speech(samples, _held(cues), voice.identity(), rate)


def _held(cues: list[Cue]) -> list[Cue]:
    """Each cue kept up for at least MIN_CUE_SECONDS, but never past the next cue's start."""
    out = []
    for i, c in enumerate(cues):
        end = max(c.end, c.start + MIN_CUE_SECONDS)
        if i + 1 < len(cues):
            end = min(end, cues[i + 1].start)
        out.append(Cue(c.start, max(end, c.end), c.text))
    return out


def seconds_needed(speech: Speech) -> float:
    """How long a shot that this speech sets the length of lasts: the words, then TAIL."""
    return speech.duration + TAIL


def check_fits(speech: Speech, seconds: float, where: str, advice: str) -> None:
    """NarrationError, with the overrun in seconds, when ``speech`` is longer than ``seconds``."""
    if speech.duration > seconds + 1e-6:
        raise NarrationError(f"{where}: the narration takes {speech.duration:.2f} s but the shot lasts {seconds:.2f} s; "
                             f"it overruns by {speech.duration - seconds:.2f} s ({advice})")


def shot_seconds(speech: Speech, seconds: float | None, where: str, advice: str,
                 most: float = MAX_SECONDS) -> float:
    """How long the shot ``speech`` is spoken over lasts: ``seconds`` when given (NarrationError with
    the overrun when the words do not fit), else the words and TAIL (NarrationError past ``most``)."""
    if seconds is not None:
        check_fits(speech, seconds, where, advice)
        return seconds
    needed = seconds_needed(speech)
    if needed > most:
        raise NarrationError(f"{where}: the narration takes {speech.duration:.1f} s; a video lasts at most {most:g} s "
                             "(shorten it or speak faster)")
    return needed


@dataclass(frozen=True)
class Line:
    """One shot's words: ``text`` (None: a silent shot), the ``seconds`` asked of the shot (None: as
    long as its words need; a silent shot, the model's default), and how messages name the shot
    (``where``, e.g. "shot 2") and its words (``what``, e.g. "shot 2 narration")."""

    text: str | None
    seconds: float | None
    where: str
    what: str


@dataclass
class Spoken:
    """Lines as ``speak_lines`` made them: tidied, each with its shot's seconds, its speech (None for
    a silent shot), and the voice that spoke them (None when no line has words)."""

    lines: list[Line]
    speeches: list[Speech | None]
    voice: Voice | None

    @property
    def seconds(self) -> list[float | None]:
        return [line.seconds for line in self.lines]

    @property
    def texts(self) -> list[str | None]:
        return [line.text for line in self.lines]


def speak_lines(guard, lines: list[Line], voice: Callable[[], Voice], rate: float, advice: str,
                user: str | None = None) -> Spoken:
    """Each shot's line checked (``check_text``) and moderated (``guard.narration``, a Guard) before
    the voice is chosen (``voice()``, only when a line has words) and any line is spoken; each
    narrated shot then lasts ``shot_seconds`` (``advice``: what the overrun message suggests).
    NarrationError says what to change; RefusedNarration names the line the guard refused. The
    CLI and the service each answer both in their own form."""
    tidy = [line if line.text is None else dataclasses.replace(line, text=check_text(line.text, line.what))
            for line in lines]
    for line in tidy:
        if line.text is not None:
            try:
                guard.narration(line.text, user)
            except SafetyRefusal as e:
                raise RefusedNarration(e.verdict, line.text) from None
    if all(line.text is None for line in tidy):
        return Spoken(tidy, [None] * len(tidy), None)
    spoken_by = voice()
    try:
        rate = check_rate(rate)
    except VoiceError as e:
        raise NarrationError(str(e)) from None
    timed, speeches = [], []
    for line in tidy:
        speech = None
        if line.text is not None:
            try:
                speech = speak(line.text, spoken_by, rate, line.what)
            except VoiceError as e:  # the engine refused these words: theirs to change, as any other check of them
                raise NarrationError(f"{line.what}: {e}") from None
            line = dataclasses.replace(line, seconds=shot_seconds(speech, line.seconds, line.where, advice))
        timed.append(line)
        speeches.append(speech)
    return Spoken(timed, speeches, spoken_by)


@dataclass
class Soundtrack:
    """What goes with a video's frames: ``samples`` float32 mono at SAMPLE_RATE (cut or padded with
    silence to the video's length when written), caption ``cues``, whether they are drawn into the
    frames, and what the manifest records of how the sound was made."""

    samples: np.ndarray
    cues: list[Cue]
    burn: bool = False
    language: str = "und"
    record: dict = field(default_factory=dict)

    @classmethod
    def place(cls, lines: list[tuple[float, Speech]], seconds: float, burn: bool = False) -> Soundtrack:
        """Each speech from its start time (seconds) in a track of ``seconds``."""
        samples = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
        cues = []
        for start, speech in lines:
            at = round(start * SAMPLE_RATE)
            end = min(at + len(speech.samples), len(samples))
            samples[at:end] += speech.samples[: end - at]
            cues += [c.shifted(start) for c in speech.cues]
        cues = [Cue(c.start, min(c.end, seconds), c.text) for c in cues if c.start < seconds]
        voices = [s.voice for _, s in lines]
        unique = [v for i, v in enumerate(voices) if v not in voices[:i]]
        language = _iso639_2(unique[0].get("language", "")) if unique else "und"
        record = {"voices": unique, "rate": lines[0][1].rate if lines else 1.0, "lines": len(lines),
                  "captions": len(cues), "burnt_in": burn}
        return cls(samples, cues, burn, language, record)

    def with_music(self, music: np.ndarray, name: str, sha256: str) -> Soundtrack:
        from kino.audio.mix import duck_under

        mixed = duck_under(self.samples, music)
        return Soundtrack(mixed, self.cues, self.burn, self.language, {**self.record, "music": {"file": name,
                                                                                              "sha256": sha256}})

    def manifest_assertion(self) -> dict:
        """The C2PA assertion that records how the audio was made (kino verify reads it)."""
        return {"label": "org.kino.narration", "data": self.record}


def _iso639_2(language: str) -> str:
    """The three-letter code an mp4 track's language takes, from a tag such as en-us ("und" if unknown)."""
    codes = {"en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por", "ru": "rus",
             "zh": "zho", "ja": "jpn", "ar": "ara", "nl": "nld", "pl": "pol", "ko": "kor", "hi": "hin",
             "tr": "tur", "sv": "swe", "cs": "ces", "uk": "ukr", "el": "ell", "fi": "fin", "da": "dan",
             "cmn": "zho", "yue": "zho"}
    return codes.get(tag(language).split("-")[0], "und")
