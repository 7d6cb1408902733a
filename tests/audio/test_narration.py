"""Narration end to end through the real CLI: the mp4's streams, speech onsets measured from the
decoded audio against the caption cues, refusals and overruns, provenance over the audio."""

import json
import re
import shutil
import struct
from fractions import Fraction

import av
import numpy as np
import pytest

from kino.audio import captions, narration
from kino.audio.mix import DUCK_DB
from kino.audio.voices import find
from kino.cli import main
from kino.data.video_io import write_video

WINDOW = 0.01  # seconds of each RMS window of the onset detector
LOUD = 0.02  # RMS above which a window holds speech


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def streams(path):
    with av.open(str(path)) as c:
        return [s.type for s in c.streams]


def decoded_audio(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.concatenate([f.to_ndarray()[0] for f in c.decode(c.streams.audio[0])])


def video_seconds(path) -> float:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = sum(1 for _ in c.decode(s))
        return frames / float(s.average_rate)


def fps(path) -> float:
    with av.open(str(path)) as c:
        return float(c.streams.video[0].average_rate)


def track_cues(path) -> list[tuple[float, float, str]]:
    """The caption track's cues as the mp4 holds them (mov_text: a 2-byte length, then the text)."""
    out = []
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        for p in c.demux(s):
            data = bytes(p)
            if p.size and len(data) > 2 and struct.unpack(">H", data[:2])[0]:
                start = float(p.pts * p.time_base)
                out.append((start, start + float(p.duration * p.time_base), data[2:].decode()))
    return out


def envelope(samples: np.ndarray) -> np.ndarray:
    step = round(WINDOW * narration.SAMPLE_RATE)
    n = len(samples) // step
    return np.sqrt((samples[: n * step].reshape(n, step) ** 2).mean(axis=1))


def onset_after(env: np.ndarray, t: float) -> float:
    """The first loud window from ``t`` seconds on (the speech onset the ear would hear)."""
    i = max(int(t / WINDOW), 0)
    loud = np.flatnonzero(env[i:] > LOUD)
    assert len(loud), f"no speech after {t:.2f} s"
    return (i + loud[0]) * WINDOW


def last_sound_before(env: np.ndarray, t: float) -> float:
    loud = np.flatnonzero(env[: int(t / WINDOW)] > LOUD)
    return (loud[-1] + 1) * WINDOW


@pytest.fixture
def story(tmp_path):
    path = tmp_path / "story.yaml"
    path.write_text("shots:\n"
                    "  - prompt: a red ball moves to the right\n"
                    "    narration: A red ball rolls along the floor.\n"
                    "  - prompt: a blue square moves to the left\n"
                    "    narration: Then a blue square slides back, slowly.\n")
    return path


def test_two_shot_storyboard_speaks_each_line_over_its_shot(capsys, tmp_path, story, tiny_model_dir, guards_built):
    out = tmp_path / "told.mp4"
    code, _, err = run(capsys, "storyboard", story, "-o", out, "--model", tiny_model_dir, "--size", "128x128", "--steps", 2)
    assert code == 0 and len(guards_built) == 1, err
    assert sorted(streams(out)) == ["audio", "subtitle", "video"]
    audio, seconds = decoded_audio(out), video_seconds(out)
    assert abs(len(audio) / narration.SAMPLE_RATE - seconds) <= 0.05
    cut = int(re.search(r"cuts at frames \[(\d+)\]", err).group(1)) / fps(out)

    cues = track_cues(out)
    assert [c[2] for c in cues] == ["A red ball rolls along the floor.", "Then a blue square slides back, slowly."]
    env = envelope(audio)
    for start, _, text in cues:  # measured from the sound: no speech in the half second before a cue
        assert abs(onset_after(env, start - 0.5) - start) <= 0.25, text
    # The second shot starts after the first shot's line has ended, and its own line starts with it.
    assert last_sound_before(env, cues[1][0] - 0.05) <= cut < cues[1][0]
    assert abs(cues[1][0] - cut) <= 0.25
    vtt = (tmp_path / "told.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "A red ball rolls along the floor." in vtt
    assert "00:00:00,010 --> " in (tmp_path / "told.srt").read_text()


def test_harmful_narration_exits_3_and_writes_nothing(capsys, tmp_path, story, tiny_model_dir,
                                                      safety_state_in_tmp):
    story.write_text(story.read_text().replace("Then a blue square slides back, slowly.",
                                               "Then the gunman executes the hostages one by one."))
    out = tmp_path / "bad.mp4"
    code, _, err = run(capsys, "storyboard", story, "-o", out, "--model", tiny_model_dir)
    assert code == 3 and "violence" in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.glob("bad*"))
    entry = json.loads((safety_state_in_tmp / "audit.jsonl").read_text().splitlines()[-1])
    assert entry["stage"] == "narration" and entry["category"].startswith("violence")


def test_overlong_line_for_a_fixed_length_shot_exits_2_with_the_overrun(capsys, tmp_path, story, tiny_model_dir):
    story.write_text(story.read_text().replace("    narration: A red ball", "    seconds: 1\n    narration: A red ball"))
    out = tmp_path / "long.mp4"
    code, _, err = run(capsys, "storyboard", story, "-o", out, "--model", tiny_model_dir)
    assert code == 2 and not out.exists()
    overrun = float(re.search(r"overruns by (\d+\.\d+) s", err).group(1))
    assert err.startswith("kino: error: shot 1:") and 0.5 < overrun < 3


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A plain 4 s video to narrate (a moving gradient, 128x96 at 8 fps)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    t = np.arange(32)[:, None, None, None]
    x = np.arange(128)[None, None, :, None]
    frames = np.broadcast_to((x * 2 + t * 5) % 256, (32, 96, 128, 3)).astype(np.uint8)
    write_video(path, frames, 8)
    return path


def test_narrate_an_existing_video_and_verify_it(capsys, tmp_path, clip):
    out = tmp_path / "n.mp4"
    code, _, err = run(capsys, "narrate", clip, "A clip of colours. They slide by.", "-o", out, "--start", 0.5)
    assert code == 0, err
    cues = track_cues(out)
    assert cues[0][0] == pytest.approx(0.51, abs=0.02)
    assert abs(len(decoded_audio(out)) / narration.SAMPLE_RATE - 4.0) <= 0.05

    code, text, _ = run(capsys, "verify", out, "--json")
    verdict = json.loads(text)
    assert code == 0 and verdict["c2pa"]["status"] == "valid" and verdict["watermark"]["present"]
    told = verdict["c2pa"]["summary"]["narration"]
    assert told["voices"][0]["engine"] == "espeak-ng" and told["voices"][0]["voice"] == "en-us"
    assert verdict["c2pa"]["summary"]["operation"] == "narrate" and verdict["c2pa"]["summary"]["backend"] == "voice"
    code, text, _ = run(capsys, "verify", out)
    assert "narration: espeak-ng en-us" in text

    # One byte of the sound changed: the manifest no longer matches the file.
    with av.open(str(out)) as c:
        where = next(p.pos for p in c.demux(c.streams.audio[0]) if p.size > 64) + 32
    tampered = tmp_path / "tampered.mp4"
    shutil.copy(out, tampered)
    with open(tampered, "r+b") as f:
        f.seek(where)
        byte = f.read(1)[0]
        f.seek(where)
        f.write(bytes([byte ^ 0xFF]))
    code, text, _ = run(capsys, "verify", tampered, "--json")
    assert json.loads(text)["c2pa"]["status"] == "tampered"


def test_narration_longer_than_the_video_exits_2(capsys, tmp_path, clip):
    words = "This sentence is far too long to be spoken in the four seconds that the clip lasts, by any voice."
    code, _, err = run(capsys, "narrate", clip, words, "-o", tmp_path / "x.mp4")
    assert code == 2 and "overruns by" in err and "kino extend" in err
    assert not (tmp_path / "x.mp4").exists()


def test_a_narrated_prompt_with_misnumbered_shots_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "generate", "Shot 2: a ball", "--narration", "Hi.", "-o", tmp_path / "x.mp4")
    assert code == 2 and "Shot 1:" in err
    assert not (tmp_path / "x.mp4").exists()


def test_burnt_captions_are_drawn_where_the_cue_shows(capsys, tmp_path, clip):
    plain, burnt = tmp_path / "plain.mp4", tmp_path / "burnt.mp4"
    for out, extra in ((plain, []), (burnt, ["--burn-captions"])):
        assert run(capsys, "narrate", clip, "Colours.", "-o", out, *extra)[0] == 0
    with av.open(str(plain)) as a, av.open(str(burnt)) as b:
        fa = np.stack([f.to_ndarray(format="rgb24") for f in a.decode(video=0)]).astype(int)
        fb = np.stack([f.to_ndarray(format="rgb24") for f in b.decode(video=0)]).astype(int)
    (start, end, _), = track_cues(burnt)
    showing = [i for i in range(len(fa)) if start <= i / 8 < end]
    hidden = [i for i in range(len(fa)) if i / 8 >= end + 0.2]
    bottom = slice(96 * 2 // 3, None)
    assert all(np.abs(fa[i, bottom] - fb[i, bottom]).mean() > 10 for i in showing)
    assert all(np.abs(fa[i] - fb[i]).mean() < 2 for i in hidden)


def test_music_is_ducked_while_the_voice_speaks(capsys, tmp_path, clip):
    music = tmp_path / "bed.wav"
    with av.open(str(music), "w") as c:  # 6 s of a 220 Hz tone: louder than the clip
        s = c.add_stream("pcm_s16le", rate=44100)
        s.layout = "mono"
        tone = (0.5 * np.sin(2 * np.pi * 220 * np.arange(6 * 44100) / 44100) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(tone[None], format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 44100, 0, Fraction(1, 44100)
        c.mux(s.encode(frame))
        c.mux(s.encode())
    out = tmp_path / "m.mp4"
    code, _, err = run(capsys, "narrate", clip, "Look.", "-o", out, "--music", music, "--start", 1.5)
    assert code == 0, err
    audio = decoded_audio(out)
    (start, end, _), = track_cues(out)
    # The bed alone before the speech (0.5-1.0 s) against the bed during it: a 220 Hz band's level.
    def tone_level(a, b):
        part = audio[int(a * narration.SAMPLE_RATE): int(b * narration.SAMPLE_RATE)]
        spectrum = np.abs(np.fft.rfft(part * np.hanning(len(part))))
        freqs = np.fft.rfftfreq(len(part), 1 / narration.SAMPLE_RATE)
        return spectrum[(freqs > 210) & (freqs < 230)].max()
    ducked_db = 20 * np.log10(tone_level(start + 0.05, min(end, start + 0.4)) / tone_level(0.5, 1.0))
    assert ducked_db < DUCK_DB / 2, ducked_db
    assert json.loads(run(capsys, "verify", out, "--json")[1])["c2pa"]["summary"]["narration"]["music"]["file"] == "bed.wav"


def test_generate_with_narration_sets_the_length_from_the_words(capsys, tmp_path, tiny_model_dir, guards_built):
    out = tmp_path / "g.mp4"
    text = "One ball. It rolls away, and then it comes back again."
    code, _, err = run(capsys, "generate", "a red ball", "-o", out, "--model", tiny_model_dir, "--size", "128x128",
                       "--steps", 2, "--narration", text)
    assert code == 0 and len(guards_built) == 1, err
    speech = narration.speak(text, find())
    step = 5 / fps(out)  # the model makes 1 + 4k frames, 4k at least the seconds asked: up to 5 frames more
    assert speech.duration + narration.TAIL <= video_seconds(out) <= speech.duration + narration.TAIL + step + 1e-6
    code, _, err = run(capsys, "generate", "a red ball", "-o", out, "--model", tiny_model_dir, "--seconds", 1,
                       "--narration", text)
    assert code == 2 and "overruns by" in err


def test_cue_files_and_phrases():
    cues = [narration.Cue(0.01, 1.5, "Hello --> there"), narration.Cue(61.25, 3725.0, "Later.")]
    assert captions.webvtt(cues).splitlines()[:4] == ["WEBVTT", "", "1", "00:00:00.010 --> 00:00:01.500"]
    assert "Hello -> there" in captions.webvtt(cues)
    assert "00:01:01,250 --> 01:02:05,000" in captions.srt(cues)
    cut = narration.phrases("Short one. " + "word " * 30 + "end, then more.")
    assert cut[0] == ("Short one.", "sentence") and all(len(p) <= narration.MAX_CUE_CHARS for p, _ in cut)
    assert cut[-1][1] == "sentence"
    with pytest.raises(narration.NarrationError, match="empty"):
        narration.check_text("\u200b \u2060")


class FakeGuard:
    """A guard that refuses lines with "beheaded" and records what it was asked."""

    def __init__(self, asked: list):
        self.asked = asked

    def narration(self, text, user=None):
        from kino.safety.guard import refusal
        from kino.safety.moderation import SafetyRefusal

        self.asked.append(("moderate", text, user))
        if "beheaded" in text:
            raise SafetyRefusal(refusal("violence_extreme", "beheaded"))


def test_speak_lines_checks_and_moderates_every_line_before_any_is_spoken():
    asked = []

    def voice():
        asked.append(("voice",))
        return find()

    def line(text, seconds=None, where="shot 1"):
        return narration.Line(text, seconds, where, f"{where} narration")

    lines = [line("  It  rolls. "), line(None, 2.0, "shot 2"), line("It stops.", 30.0, "shot 3")]
    said = narration.speak_lines(FakeGuard(asked), lines, voice, 1.0, "shorten it", user="ann")
    assert asked == [("moderate", "It rolls.", "ann"), ("moderate", "It stops.", "ann"), ("voice",)]
    assert said.texts == ["It rolls.", None, "It stops."] and said.voice.name == "en-us" and said.speeches[1] is None
    assert said.seconds == [said.speeches[0].duration + narration.TAIL, 2.0, 30.0]

    asked.clear()
    with pytest.raises(narration.RefusedNarration) as refused:
        narration.speak_lines(FakeGuard(asked), [lines[0], line("He is beheaded.")], voice, 1.0, "")
    assert refused.value.text == "He is beheaded." and ("voice",) not in asked
    with pytest.raises(narration.NarrationError, match="shot 3 narration is empty"):
        narration.speak_lines(FakeGuard([]), [lines[0], line(" ", where="shot 3")], voice, 1.0, "")
    with pytest.raises(narration.NarrationError, match=r"overruns by .* \(shorten it\)"):
        narration.speak_lines(FakeGuard([]), [line("It rolls far away.", 0.2)], voice, 1.0, "shorten it")
    with pytest.raises(narration.NarrationError, match="^rate 3 is not allowed"):
        narration.speak_lines(FakeGuard([]), lines, voice, 3.0, "")
    assert narration.speak_lines(FakeGuard([]), [lines[1]], None, 1.0, "").voice is None  # nothing to speak: no voice


def test_voices_lists_espeak_and_a_folder_of_piper_voices(capsys, tmp_path):
    from kino.audio.piper import tiny_random_voice

    tiny_random_voice(tmp_path)
    code, text, _ = run(capsys, "voices", "--voices", tmp_path, "--json")
    names = {v["name"]: v for v in json.loads(text)}
    assert code == 0 and names["en-us"]["engine"] == "espeak-ng" and names["xx_XX-tiny-low"]["engine"] == "piper"
    code, _, err = run(capsys, "voices", "--voices", tmp_path / "nowhere")
    assert code == 2 and "nowhere" in err


def test_narrate_with_a_piper_voice_records_it(capsys, tmp_path, clip):
    from kino.audio.piper import tiny_random_voice

    tiny_random_voice(tmp_path / "voices")
    out = tmp_path / "p.mp4"
    code, _, err = run(capsys, "narrate", clip, "Hi.", "-o", out, "--voices", tmp_path / "voices", "--voice",
                       "xx_XX-tiny-low")
    assert code == 0, err
    told = json.loads(run(capsys, "verify", out, "--json")[1])["c2pa"]["summary"]["narration"]
    assert told["voices"][0]["engine"] == "piper" and len(told["voices"][0]["model_sha256"]) == 64
    code, _, err = run(capsys, "narrate", clip, "Hi.", "-o", out, "--voice", "no-such-voice")
    assert code == 2 and "kino voices" in err


def test_languages_find_the_usual_voice_and_speak():
    for language, name in (("en", "en-us"), ("zh", "cmn"), ("fr", "fr-fr"), ("ru", "ru"), ("ja", "ja"), ("ar", "ar"),
                           ("es-MX", "es")):
        assert find(language=language).name == name
    assert len(find(language="zh").synthesize("你好，世界")) > 0.3 * 22050
    assert narration.Soundtrack.place([(0.0, narration.speak("你好。", find(language="zh")))], 1.0).language == "zho"


def test_a_multi_shot_prompts_narration_is_its_first_shots_line(capsys, tmp_path, tiny_model_dir, guards_built):
    out = tmp_path / "two.mp4"
    code, _, err = run(capsys, "generate", "Shot 1: a red ball. Shot 2: a blue box.", "-o", out, "--model",
                       tiny_model_dir, "--size", "128x128", "--steps", 2, "--narration", "A ball, then a box.")
    assert code == 0 and len(guards_built) == 1, err
    cut = int(re.search(r"cuts at frames \[(\d+)\]", err).group(1)) / fps(out)
    speech = narration.speak("A ball, then a box.", find())
    assert speech.duration + narration.TAIL <= cut <= speech.duration + narration.TAIL + 5 / fps(out) + 1e-6
    assert [c[2] for c in track_cues(out)] == ["A ball, then a box."]
