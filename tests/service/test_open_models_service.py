"""An open model (a tiny random LTX-Video folder) served by `kino serve`'s app: allowed or forbidden
by role, moderated before it is queued, signed with its backend and weights (issue 24)."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from kino.data.video_io import read_video

from service_helpers import add_user, wait_for


def png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((96, 160, 3), (200, 40, 40), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_an_open_model_makes_a_signed_video_through_the_service(open_client, tmp_path):
    from kino.backends.registry import weights_sha256
    from kino.provenance.verify import verify

    h = add_user(open_client, "ann", "artist")
    r = open_client.post("/api/v1/jobs", data={"prompt": "a red dog runs", "model": "ltx", "seed": 2},
                         files={"image": ("first.png", png(), "image/png")}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["params"]["backend"] == "ltx" and r.json()["command"] == "image_to_video"
    done = wait_for(open_client, h, r.json()["id"])
    assert done["status"] == "done", done
    path = tmp_path / "out.mp4"
    path.write_bytes(open_client.get(done["video_url"], headers=h).content)
    frames, _ = read_video(path)
    assert frames.shape == (17, 128, 128, 3)
    svc = open_client.app.state.service
    verdict = verify(path, svc.settings.signing_keys.joinpath("root.pem").read_bytes()).to_dict()
    assert verdict["c2pa"]["status"] == "valid" and verdict["watermark"]["present"]
    summary = verdict["c2pa"]["summary"]
    ltx = svc.settings.models["ltx"]
    assert summary["backend"] == "ltx" and summary["weights_sha256"] == weights_sha256(ltx)
    from sqlalchemy import select

    from kino.service.db import AuditEvent

    with svc.sessions() as db:
        created = db.scalars(select(AuditEvent).where(AuditEvent.action == "job.create")).all()
    assert [e.detail["model"] for e in created] == ["ltx"]


def test_open_models_are_refused_by_role_by_capability_and_by_moderation(open_client):
    svc = open_client.app.state.service
    h = add_user(open_client, "ann", "artist")
    p = add_user(open_client, "pat", "public")  # its policy allows the default model only
    r = open_client.post("/api/v1/jobs", data={"prompt": "a dog", "model": "ltx"}, headers=p)
    assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
    r = open_client.post("/api/v1/jobs", data={"prompt": "a man stabs a woman to death, blood everywhere",
                                               "model": "ltx"}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["category"] == "violence_extreme", r.text
    r = open_client.post("/api/v1/jobs", data={"prompt": "a dog", "model": "ltx", "width": 100}, headers=h)
    assert r.status_code == 422 and "width 100 is not allowed" in r.json()["error"]["message"], r.text
    with svc.sessions() as db:
        from sqlalchemy import func, select

        from kino.service.db import Job

        assert db.scalar(select(func.count()).select_from(Job)) == 0


def test_a_job_asking_the_toyworld_model_for_the_real_world_carries_a_note(open_client):
    h = add_user(open_client, "ann", "artist")
    r = open_client.post("/api/v1/jobs", data={"prompt": "a dog on a beach", "steps": 1}, headers=h)
    assert r.status_code == 201, r.text
    assert "has never seen: dog, beach" in r.json()["params"]["note"]
    r = open_client.post("/api/v1/jobs", data={"prompt": "a red ball moves right", "steps": 1}, headers=h)
    assert "note" not in r.json()["params"]


def test_an_open_model_extends_an_uploaded_clip_forwards_and_backwards(open_client, tmp_path):
    from kino.data.video_io import write_video

    h = add_user(open_client, "ann", "artist")
    clip = tmp_path / "in.mp4"
    frames = np.zeros((17, 128, 128, 3), np.uint8)
    frames[:, :, :64] = (200, 40, 40)
    write_video(clip, frames, 8)
    for backward, new in ((False, 8), (True, 8)):
        r = open_client.post("/api/v1/jobs", data={"prompt": "the dog jumps", "model": "ltx", "seconds": 1,
                                                   "backward": str(backward).lower()},
                             files={"video": ("in.mp4", clip.read_bytes(), "video/mp4")}, headers=h)
        assert r.status_code == 201, r.text
        assert r.json()["command"] == "extend" and r.json()["params"]["input_frames"] == 17
        done = wait_for(open_client, h, r.json()["id"])
        assert done["status"] == "done" and done["step"] == done["total_steps"], done
        out = tmp_path / f"out-{backward}.mp4"
        out.write_bytes(open_client.get(done["video_url"], headers=h).content)
        made, _ = read_video(out)
        assert len(made) == 17 + new, (backward, len(made))
        kept = made[new:] if backward else made[:17]  # the input's frames, through one more encode
        assert np.abs(kept.astype(int) - frames.astype(int)).mean() < 12


def test_an_open_model_job_is_narrated(open_client, tmp_path):
    import av

    h = add_user(open_client, "ann", "artist")
    r = open_client.post("/api/v1/jobs", data={"prompt": "a red dog runs", "model": "ltx", "seconds": 1,
                                               "narration": "The dog runs off, far away to the left."}, headers=h)
    assert r.status_code == 422 and "overruns by" in r.json()["error"]["message"], r.text
    r = open_client.post("/api/v1/jobs", data={"prompt": "a red dog runs", "model": "ltx", "steps": 1,
                                               "narration": "The dog runs."}, headers=h)
    assert r.status_code == 201, r.text
    done = wait_for(open_client, h, r.json()["id"])
    assert done["status"] == "done" and done["result"]["narration"]["captions"] == 1, done
    assert "The dog runs." in open_client.get(done["captions_url"], headers=h).text
    path = tmp_path / "out.mp4"
    path.write_bytes(open_client.get(done["video_url"], headers=h).content)
    with av.open(str(path)) as c:
        assert [s.type for s in c.streams] == ["video", "audio", "subtitle"]


def test_a_multi_shot_prompt_on_an_open_model_is_a_storyboard(open_client):
    """Its shots are made by kino.core, as `kino generate` makes them on that model: each shot's prompt
    moderated before it is queued, the shots joined with hard cuts."""
    h = add_user(open_client, "ann", "artist")
    r = open_client.post("/api/v1/jobs", data={"prompt": "Shot 1: a red dog runs. Shot 2: a man stabs a woman to "
                                                         "death, blood everywhere", "model": "ltx"}, headers=h)
    assert r.status_code == 403 and r.json()["error"]["category"] == "violence_extreme", r.text
    r = open_client.post("/api/v1/jobs", data={"prompt": "Shot 1: a red dog runs. Shot 2: a blue cat sits",
                                               "model": "ltx", "seconds": 2, "steps": 2}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["params"]["shots"] == 2 and r.json()["params"]["shot_seconds"] == [1.0, 1.0]
    done = wait_for(open_client, h, r.json()["id"])
    assert done["status"] == "done" and done["step"] == done["total_steps"], done
    assert done["result"]["frames"] == 2 * 9  # LTX-Video: 1 + 8k frames a shot (1 s at 8 fps)
