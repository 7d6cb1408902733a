"""A music bed under the voice: lowered (ducked) while speech plays, raised again in the pauses."""

from __future__ import annotations

import numpy as np

from kino.audio.narration import SAMPLE_RATE

MUSIC_GAIN_DB = -10.0  # the bed under no speech, against the music file's own level
DUCK_DB = -16.0  # further down while the voice speaks
ATTACK, RELEASE = 0.05, 0.40  # seconds for the bed to go down before speech, and to come back after it
WINDOW = 0.02  # seconds of each step of the speech detector
SPEECH_LEVEL = 0.01  # RMS above which a window holds speech (-40 dBFS)
FADE_OUT = 1.0  # seconds: the bed fades out at the end of the video


def speaking(voice: np.ndarray) -> np.ndarray:
    """Per sample, 1.0 where the voice speaks (RMS over WINDOW above SPEECH_LEVEL), else 0.0."""
    step = round(WINDOW * SAMPLE_RATE)
    n = -(-len(voice) // step)
    padded = np.zeros(n * step, np.float32)
    padded[: len(voice)] = voice
    rms = np.sqrt((padded.reshape(n, step) ** 2).mean(axis=1))
    return np.repeat((rms > SPEECH_LEVEL).astype(np.float32), step)[: len(voice)]


def gain_curve(voice: np.ndarray) -> np.ndarray:
    """The music's gain per sample: MUSIC_GAIN_DB, down by DUCK_DB from ATTACK before speech until
    RELEASE after it, with straight ramps between (no clicks)."""
    active = speaking(voice)
    lead, hold = round(ATTACK * SAMPLE_RATE), round(RELEASE * SAMPLE_RATE)
    # Widen every stretch of speech: ATTACK earlier (the bed is down when the word starts), RELEASE later.
    starts = np.flatnonzero(np.diff(np.concatenate([[0.0], active])) > 0)
    ends = np.flatnonzero(np.diff(np.concatenate([active, [0.0]])) < 0) + 1
    ducked = np.zeros(len(voice), np.float32)
    for a, b in zip(starts, ends):
        ducked[max(a - lead, 0): b + hold] = 1.0
    # A moving mean over ATTACK: the bed goes down over the ATTACK before each word and comes back
    # over the ATTACK after RELEASE.
    smooth = np.clip(np.convolve(ducked, np.full(lead, 1.0 / lead, np.float32))[: len(voice)], 0.0, 1.0)
    db = MUSIC_GAIN_DB + DUCK_DB * smooth
    return (10.0 ** (db / 20.0)).astype(np.float32)


def duck_under(voice: np.ndarray, music: np.ndarray) -> np.ndarray:
    """``music`` (float32 mono at SAMPLE_RATE; cut, or ended early, at the voice track's length) mixed
    under ``voice``, ducked while it speaks and faded out at the end; the sum scaled down if it
    would clip."""
    bed = np.zeros(len(voice), np.float32)
    bed[: min(len(music), len(voice))] = music[: len(voice)]
    fade = min(round(FADE_OUT * SAMPLE_RATE), len(voice))
    bed[len(voice) - fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    mixed = voice + bed * gain_curve(voice)
    peak = float(np.abs(mixed).max()) if len(mixed) else 0.0
    return (mixed / peak * 0.98 if peak > 0.98 else mixed).astype(np.float32)
