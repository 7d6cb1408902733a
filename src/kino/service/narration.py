"""Narration of a service job (kino.audio): its lines checked and timed when the job is submitted,
spoken again by the worker.

A job speaks one line per shot (a one-shot video is one shot); a silent shot has none. When the
job is submitted every line is checked, moderated like a prompt (``Guard.narration``; the API
answers refusals) and spoken: its length sets its shot's seconds, or must fit the seconds asked
(``narration.speak_lines``, as on the command line). The job's params keep the words, the voice
and the options, not the sound: speaking is deterministic, so the worker speaks the lines again
and lays each from its shot's first frame (``Soundtrack.place``), the shot lengths having been
planned from the same samples.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kino import media
from kino.audio.captions import sidecar_paths
from kino.audio.narration import SAMPLE_RATE, Line, NarrationError, Soundtrack, Speech, speak
from kino.audio.voices import Voice, VoiceError, available, pick

PARAM = "narration"  # the key of a job's params that holds its narration (absent: a silent job)
LISTED_AT = "GET /api/v1/voices"


class UnknownVoice(ValueError):
    """The voice or language asked for is not one this server has: the message says where they are listed.
    A worker fails a job whose voice it lacks with ``code``, once: another run would find the same voices."""

    code = "unknown_voice"


@dataclass(frozen=True)
class Voicing:
    """How the lines are spoken: the voice (a name, else the first voice of ``language``), the rate,
    and whether the captions are also drawn into the frames."""

    voice: str | None = None
    language: str | None = None
    rate: float = 1.0
    burn: bool = False


@dataclass(frozen=True)
class Music:
    """An uploaded music file mixed under the narration: its name as uploaded and its SHA-256 (for
    the manifest); the file itself is the job's ``music`` upload."""

    name: str
    sha256: str

    @classmethod
    def of(cls, name: str | None, data: bytes) -> Music:
        return cls(Path(name or "music").name[:200], hashlib.sha256(data).hexdigest())


def shot_lines(narration: str | None, per_shot: list[str] | None, shots: int | None) -> list[str | None]:
    """The line each shot speaks (None: silent) from the form's fields: ``narration`` is spoken from
    the start (the first shot's line when the prompt has ``shots`` shots; None: one shot),
    ``per_shot`` holds one line per shot in order, empty for a silent shot. NarrationError when
    they do not fit together."""
    if per_shot is None:
        return [narration] + [None] * ((shots or 1) - 1)
    if shots is None:
        raise NarrationError('shot_narration goes with a multi-shot prompt ("Shot 1: ... Shot 2: ..."); '
                             "for one shot send narration")
    if narration is not None:
        raise NarrationError("send narration (the first shot's line) or shot_narration (every shot's), not both")
    if len(per_shot) != shots:
        raise NarrationError(f"shot_narration has {len(per_shot)} lines for {shots} shots; send one per shot, "
                             "empty for a silent one")
    return [line if line.strip() else None for line in per_shot]


def where(shot: int, shots: int | None) -> str:
    """How messages name a shot: "narration" for a one-shot video (the field), else "shot N"."""
    return "narration" if shots is None else f"shot {shot + 1}"


def named(shot: int, shots: int | None) -> str:
    """How messages name a shot's line."""
    return "narration" if shots is None else f"shot {shot + 1} narration"


def lines(texts: list[str | None], seconds: list[float | None], shots: int | None) -> list[Line]:
    """Each shot's line (``shot_lines``) with the seconds asked of its shot (None for the model's
    default), named as messages name it, for ``narration.speak_lines``."""
    return [Line(text, asked, where(i, shots), named(i, shots))
            for i, (text, asked) in enumerate(zip(texts, seconds, strict=True))]


def advice(shots: int | None) -> str:
    """What a message about words that overrun their shot suggests."""
    if shots is None:
        return "shorten it, raise rate, or give more seconds"
    return ("shorten the line, raise rate, give more seconds, which the shots share evenly, or leave seconds out so "
            "that each narrated shot lasts as long as its words")


def voice(voicing: Voicing, folder: Path | None) -> Voice:
    """The voice ``voicing`` names, from espeak-ng's and the Piper voices in ``folder``: UnknownVoice
    when there is none such, VoiceError when the voices cannot be listed (the server's problem)."""
    known = available(folder)  # listed first, so that a broken voices folder is not taken for a wrong name
    try:
        return pick(known, voicing.voice, voicing.language)
    except VoiceError:
        if voicing.voice:
            examples = ", ".join(v.name for v in known[:4])
            raise UnknownVoice(f"no voice {voicing.voice!r} here; {LISTED_AT} lists the voices this server has "
                               f"(e.g. {examples})") from None
        raise UnknownVoice(f"no voice speaks {voicing.language!r} here; {LISTED_AT} lists the voices and their "
                           "languages") from None


def params(lines: list[str | None], spoken_by: Voice, voicing: Voicing, music: Music | None) -> dict:
    """What a job's params keep of its narration: enough for the worker to speak it again."""
    out = {"lines": lines, "voice": spoken_by.name, "engine": spoken_by.engine, "language": spoken_by.language,
           "rate": voicing.rate, "burn_captions": voicing.burn}
    if music is not None:
        out["music"] = {"file": music.name, "sha256": music.sha256}
    return out


def soundtrack(kept: dict, starts: list[float], seconds: float, folder: Path | None,
               music: Path | None = None) -> Soundtrack:
    """The audio and captions of a video of ``seconds``, from what ``params`` kept: each line
    spoken again and laid from its shot's start (``starts``, seconds), ``music`` (the upload)
    under them. UnknownVoice when ``folder`` lacks the voice the job was queued with."""
    spoken_by = voice(Voicing(kept["voice"]), folder)
    lines: list[tuple[float, Speech]] = [(start, speak(text, spoken_by, kept["rate"]))
                                         for start, text in zip(starts, kept["lines"], strict=True) if text]
    track = Soundtrack.place(lines, seconds, burn=kept["burn_captions"])
    if music is not None:
        samples = media.read_audio(music, "music", SAMPLE_RATE)
        track = track.with_music(samples, kept["music"]["file"], kept["music"]["sha256"])
    return track


def caption_files(video: Path) -> dict[str, Path]:
    """Where the caption files of a job's video are, by format ("vtt", "srt")."""
    return {path.suffix[1:]: path for path in sidecar_paths(video)}


def remove(video: Path) -> None:
    """A job's video and its caption files, gone."""
    for path in [video, *sidecar_paths(video)]:
        path.unlink(missing_ok=True)
