"""Narration through the service (issue 26): lines checked, moderated and timed when a job is
submitted, spoken again by the worker into the mp4 (AAC and a caption track), captions served as
WebVTT and SRT beside the video and removed with it."""

from __future__ import annotations

import io
import re
import wave

import av
import numpy as np
import pytest
from service_helpers import add_user, wait_for
from sqlalchemy import select

from kino.service.db import AuditEvent


def stream_types(path) -> list[str]:
    with av.open(str(path)) as c:
        return [s.type for s in c.streams]


def vtt_cues(text: str) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue of a WebVTT file."""
    def seconds(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    found = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(.+)", text)
    return [(seconds(a), seconds(b), words) for a, b, words in found]


def wav(seconds: float = 3.0, rate: int = 22050) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def test_a_narrated_job_has_sound_captions_and_caption_files(client, tmp_path):
    h = add_user(client, "ann", "artist")
    line = "A red ball rolls to the right. Then it stops."
    r = client.post("/api/v1/jobs", data={"prompt": "a red ball rolls to the right", "steps": 2, "narration": line},
                    files={"music": ("bed.wav", wav(), "audio/wav")}, headers=h)
    assert r.status_code == 201, r.text
    job = r.json()
    kept = job["params"]["narration"]
    assert kept["lines"] == [line] and kept["voice"] == "en-us" and kept["music"]["file"] == "bed.wav"
    assert 1.5 < job["params"]["seconds"] < 8  # as long as the words and narration.TAIL: no seconds were asked
    done = wait_for(client, h, job["id"])
    assert done["status"] == "done", done
    said = done["result"]["narration"]
    assert said["captions"] == 2 and said["voices"][0]["voice"] == "en-us" and said["music"]["file"] == "bed.wav"
    path = tmp_path / "out.mp4"
    path.write_bytes(client.get(done["video_url"], headers=h).content)
    assert stream_types(path) == ["video", "audio", "subtitle"]
    signed = client.get(f"/api/v1/jobs/{job['id']}/provenance", headers=h).json()["provenance"]["c2pa"]
    assert signed["status"] == "valid" and signed["summary"]["narration"]["music"]["file"] == "bed.wav"

    vtt = client.get(done["captions_url"], headers=h)
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt"), vtt.text
    cues = vtt_cues(vtt.text)
    assert [c[2] for c in cues] == ["A red ball rolls to the right.", "Then it stops."]
    assert 0 < cues[0][0] < 0.1 and cues[0][1] <= cues[1][0] < cues[1][1] <= done["result"]["seconds"] + 1e-3
    srt = client.get(f"/api/v1/jobs/{job['id']}/captions.srt", headers=h)
    assert srt.status_code == 200 and "00:00:00," in srt.text and "Then it stops." in srt.text
    other = add_user(client, "bob", "artist")
    assert client.get(done["captions_url"], headers=other).status_code == 404  # as the video: owner only

    outputs = client.app.state.service.settings.data_dir / "outputs"
    assert sorted(p.suffix for p in outputs.iterdir()) == [".mp4", ".srt", ".vtt"]
    assert client.delete(f"/api/v1/jobs/{job['id']}", headers=h).status_code == 204
    assert list(outputs.iterdir()) == []  # the caption files went with the video


def test_each_shot_speaks_its_own_line_from_its_cut(client, tmp_path):
    h = add_user(client, "ann", "artist")
    story = "Shot 1: a red ball rolls to the right Shot 2: a blue cube falls Shot 3: a green ball"
    lines = ["The ball sets off.", "", "And the green one waits for a long while."]
    r = client.post("/api/v1/jobs", data={"prompt": story, "steps": 2, "shot_narration": lines}, headers=h)
    assert r.status_code == 201, r.text
    p = r.json()["params"]
    assert p["narration"]["lines"] == [lines[0], None, lines[2]]
    first, silent, last = p["shot_seconds"]
    assert silent == 2.0 and last > first  # the silent shot keeps the model's length; narrated ones their words'
    done = wait_for(client, h, r.json()["id"])
    assert done["status"] == "done", done
    cues = vtt_cues(client.get(done["captions_url"], headers=h).text)
    fps = done["params"]["fps"]
    frames = [narration_frames(s, fps) for s in p["shot_seconds"]]
    third = (frames[0] + frames[1]) / fps  # the third shot's first frame, in seconds
    assert [c[2] for c in cues] == [lines[0], lines[2]]
    assert cues[0][0] < 0.1 and third <= cues[1][0] < third + 0.1, (cues, third)
    path = tmp_path / "story.mp4"
    path.write_bytes(client.get(done["video_url"], headers=h).content)
    assert stream_types(path) == ["video", "audio", "subtitle"]
    first_only = client.post("/api/v1/jobs", data={"prompt": story, "steps": 2, "narration": lines[0]}, headers=h)
    assert first_only.json()["params"]["narration"]["lines"] == [lines[0], None, None], first_only.text
    client.post(f"/api/v1/jobs/{first_only.json()['id']}/cancel", headers=h)  # its params were the point
    silent = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 2}, headers=h).json()
    assert wait_for(client, h, silent["id"])["captions_url"] is None
    assert client.get(f"/api/v1/jobs/{silent['id']}/captions.vtt", headers=h).json()["error"]["code"] == "no_captions"


def narration_frames(seconds: float, fps: int) -> int:
    from kino.pipelines.text_to_video import num_frames_for

    return num_frames_for(seconds, fps, 4)


@pytest.mark.parametrize("data, code, words", [
    ({"narration": "It rolls on and on and on, far away to the right."}, "invalid_narration", "overruns by"),
    ({"prompt": "Shot 1: a ball Shot 2: a cube", "seconds": 2, "shot_narration": ["It rolls on and on, far away.", ""]},
     "invalid_narration", "shot 1: the narration takes"),
    ({"narration": "It rolls.", "voice": "nobody"}, "unknown_voice", "GET /api/v1/voices"),
    ({"narration": "It rolls.", "language": "xx"}, "unknown_voice", "GET /api/v1/voices"),
    ({"narration": "\u200b \u2060"}, "invalid_narration", "empty"),
    ({"shot_narration": ["It rolls."]}, "invalid_narration", "multi-shot prompt"),
    ({"prompt": "Shot 1: a ball Shot 2: a cube", "shot_narration": ["It rolls."]}, "invalid_narration", "one per shot"),
    ({"prompt": "Shot 1: a ball Shot 2: a cube", "shot_narration": ["a", "b"], "narration": "c"}, "invalid_narration",
     "not both"),
    ({"narration": "It rolls.", "rate": 3}, "invalid_field", "rate"),
])
def test_narration_that_cannot_be_made_is_a_422_and_nothing_is_queued(client, data, code, words):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a ball", "seconds": 1, **data}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == code and words in r.json()["error"]["message"], r.text
    assert client.get("/api/v1/jobs", headers=h).json()["total"] == 0


def test_a_voice_is_chosen_from_one_listing_of_the_voices(monkeypatch):
    from kino.audio import voices
    from kino.service import narration

    listed, espeak_voices = [], voices.espeak_voices
    monkeypatch.setattr(voices, "espeak_voices", lambda: listed.append(1) or espeak_voices())
    assert narration.voice(narration.Voicing(language="fr"), None).name == "fr-fr"
    with pytest.raises(narration.UnknownVoice, match=r"no voice 'nobody' here; .* \(e\.g\. "):
        narration.voice(narration.Voicing(voice="nobody"), None)
    assert len(listed) == 2  # once a call


def test_a_worker_without_the_jobs_voice_fails_it_once_saying_so(settings, make_client, tmp_path):
    import dataclasses

    from kino.audio.piper import tiny_random_voice
    from kino.service.jobs import Runner

    tiny_random_voice(tmp_path / "voices")
    (tmp_path / "no-voices").mkdir()
    settings = dataclasses.replace(settings, voices_dir=tmp_path / "voices", embedded_worker=False)
    client = make_client(settings)
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a red ball", "steps": 2, "narration": "It rolls.",
                                          "voice": "xx_XX-tiny-low"}, headers=h)
    assert r.status_code == 201, r.text
    svc = client.app.state.service
    elsewhere = dataclasses.replace(settings, voices_dir=tmp_path / "no-voices")  # a worker set up without it
    assert Runner(elsewhere, svc.sessions, svc.pipelines).run_next() == r.json()["id"]
    job = client.get(f"/api/v1/jobs/{r.json()['id']}", headers=h).json()
    assert job["status"] == "failed" and job["error"]["code"] == "unknown_voice", job  # not retried
    assert "xx_XX-tiny-low" in job["error"]["message"] and "GET /api/v1/voices" in job["error"]["message"]


def test_harmful_narration_is_refused_and_audited_like_a_prompt(client):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a red ball", "narration": "Then a man is beheaded."}, headers=h)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "refused" and r.json()["error"]["category"] == "violence_extreme"
    with client.app.state.service.sessions() as db:
        refused = db.scalars(select(AuditEvent).where(AuditEvent.action == "job.refused")).one()
    assert refused.detail["stage"] == "narration" and refused.detail["category"] == "violence_extreme"
    assert refused.detail["narration"] == "Then a man is beheaded." and refused.detail["prompt"] == "a red ball"
    assert client.get("/api/v1/jobs", headers=h).json()["total"] == 0


def test_voices_are_listed_and_music_goes_under_narration(client):
    h = add_user(client, "ann", "artist")
    voices = client.get("/api/v1/voices?language=en_US", headers=h).json()
    assert {"name": "en-us", "engine": "espeak-ng"}.items() <= voices[0].items()
    music = client.post("/api/v1/jobs", data={"prompt": "a red ball"}, files={"music": ("m.wav", wav(), "audio/wav")},
                        headers=h)
    assert music.status_code == 422 and "narration" in music.json()["error"]["message"], music.text
    noise = client.post("/api/v1/jobs", data={"prompt": "a red ball", "narration": "It rolls."},
                        files={"music": ("m.wav", b"RIFF\0\0\0\0WAVE broken", "audio/wav")}, headers=h)
    assert noise.status_code == 422 and noise.json()["error"]["code"] == "unreadable_audio", noise.text
    assert client.get("/api/v1/jobs", headers=h).json()["total"] == 0


def test_the_narrated_length_is_held_to_the_role_limit(client):
    h = add_user(client, "pat", "public")  # at most 4 s
    words = "A red ball rolls to the right, slowly, and then a blue cube falls down beside it."
    r = client.post("/api/v1/jobs", data={"prompt": "a red ball", "narration": words}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["code"] == "over_role_limit", r.text
