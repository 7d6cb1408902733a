"""The REST API end to end on SQLite with the in-process worker and the tiny model."""

from __future__ import annotations

import io
import json

import av
import numpy as np
import pytest
from PIL import Image

from kino.data.video_io import read_video, write_video

from service_helpers import post_burst, serve, add_user, wait_for, with_policy


def test_generate_download_and_play(client, tmp_path):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a red ball rolls to the right", "seed": 3, "steps": 3},
                    headers=h)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] in ("queued", "running") and job["params"]["steps"] == 3
    done = wait_for(client, h, job["id"])
    assert done["status"] == "done", done
    assert done["progress"] == 1.0 and done["step"] == done["total_steps"] > 3 and done["attempts"] == 1
    assert {"transformer", "vae_decode", "write_and_sign"} <= set(done["result"]["timings"])
    video = client.get(done["video_url"], headers=h)
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    path = tmp_path / "out.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == done["result"]["frames"] == 9  # tiny model: 2 s at 4 fps -> 1 + 4k frames
    assert frames[0].shape == (128, 128, 3)
    listed = client.get("/api/v1/jobs", headers=h).json()
    assert [j["id"] for j in listed["jobs"]] == [job["id"]] and listed["total"] == 1


def test_same_seed_same_video(client, tmp_path):
    h = add_user(client, "ann", "artist")
    ids = [client.post("/api/v1/jobs", data={"prompt": "a blue cube", "seed": 5, "steps": 2}, headers=h).json()["id"]
           for _ in range(2)]
    videos = []
    for n, i in enumerate(ids):
        path = tmp_path / f"{n}.mp4"
        path.write_bytes(client.get(wait_for(client, h, i)["video_url"], headers=h).content)
        videos.append(read_video(path)[0])
    # The frames; the signed files differ in their manifests.
    differ = [i for i, (a, b) in enumerate(zip(*videos, strict=True)) if not np.array_equal(a, b)]
    worst = max((np.abs(videos[0][i].astype(int) - videos[1][i]).max() for i in differ), default=0)
    assert not differ, f"frames {differ} differ, by up to {worst} grey levels"


def png(size=(64, 64), color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_image_to_video_and_extend(client, tmp_path):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 2},
                    files={"image": ("a.png", png(), "image/png")}, headers=h)
    assert r.status_code == 201, r.text
    first = wait_for(client, h, r.json()["id"])
    assert first["command"] == "image_to_video" and first["status"] == "done", first
    clip = client.get(first["video_url"], headers=h).content
    r = client.post("/api/v1/jobs", data={"prompt": "it goes on", "seconds": 1, "steps": 2},
                    files={"video": ("c.mp4", clip, "video/mp4")}, headers=h)
    assert r.status_code == 201, r.text
    ext = wait_for(client, h, r.json()["id"])
    assert ext["command"] == "extend" and ext["status"] == "done", ext
    assert ext["result"]["frames"] == first["result"]["frames"] + 4  # 1 s at 4 fps


@pytest.mark.parametrize("data, status, code", [
    ({"prompt": ""}, 422, "invalid_request"),
    ({"prompt": "a ball", "width": 50}, 422, "invalid_request"),
    ({"prompt": "a ball", "seconds": -1}, 422, "invalid_field"),
    ({"prompt": "a ball", "steps": "many"}, 422, "invalid_field"),
    ({"prompt": "a ball", "sampler": "magic"}, 422, "invalid_request"),
    ({"prompt": "a ball", "guidance": "nan"}, 422, "invalid_field"),
    ({"prompt": "a ball", "seed": -1}, 422, "invalid_field"),
    ({"prompt": "a ball", "model": "nope"}, 422, "unknown_model"),
    ({"prompt": "a ball", "steps": 500}, 403, "over_role_limit"),
    ({"prompt": "a ball", "seconds": 60}, 403, "over_role_limit"),
    ({"prompt": "\u200b\ufeff\u2060 \u200d"}, 422, "invalid_request"),  # invisible: empty
    ({"prompt": "a ball", "seconds": 1e-9}, 422, "invalid_request"),  # no frame at all
])
def test_bad_inputs_have_codes(client, data, status, code):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data=data, headers=h)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]


def test_prompts_are_stored_as_seen_and_invalid_utf8_is_refused(client):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a red\u200b ball\u2060 moves"}, headers=h)
    assert r.status_code == 201 and r.json()["params"]["prompt"] == "a red ball moves", r.text
    boundary = "kinoboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n".encode()
            + b"a red ball \xff\xfe\xc3 moves" + f"\r\n--{boundary}--\r\n".encode())
    r = client.post("/api/v1/jobs", content=body, headers={**h, "content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_text", r.text
    assert "UTF-8" in r.json()["error"]["message"]


def test_upload_limits(settings, make_client):
    import dataclasses

    client = make_client(dataclasses.replace(settings, max_upload_bytes=2000))
    h = add_user(client, "ann", "artist")
    big = png((256, 256))
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    cases = [
        ({"image": ("x.png", buf.getvalue(), "image/png")}, 413, "upload_too_large"),
        ({"image": ("x.png", b"GIF89a not allowed", "image/png")}, 415, "unsupported_media_type"),
        ({"image": ("x.png", b"\x89PNG\r\n\x1a\n broken", "image/png")}, 422, "unreadable_image"),
        ({"video": ("x.mp4", b"\x00\x00\x00\x18ftypmp42 broken", "video/mp4")}, 422, "unreadable_video"),
        ({"video": ("x.mp4", png(), "video/mp4")}, 415, "unsupported_media_type"),
        ({"video": ("x.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4"), "image": ("a.png", png(), "image/png")},
         422, "conflicting_inputs"),
    ]
    assert len(big) < 2000
    for files, status, code in cases:
        r = client.post("/api/v1/jobs", data={"prompt": "a ball"}, files=files, headers=h)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    huge = {"image": ("x.png", b"\0" * (2**20 + 7000), "image/png")}
    r = client.post("/api/v1/jobs", data={"prompt": "a ball"}, files=huge, headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (413, "request_too_large")
    assert client.get("/api/v1/jobs", headers=h).json()["total"] == 0  # nothing was queued


def test_auth_required(client):
    assert client.get("/api/v1/jobs").json()["error"]["code"] == "unauthorized"
    r = client.get("/api/v1/jobs", headers={"Authorization": "Bearer kino_wrong"})
    assert (r.status_code, r.json()["error"]["code"]) == (401, "invalid_key")


def test_users_never_see_each_others_jobs(client):
    a, b = add_user(client, "ann", "artist"), add_user(client, "bob", "admin")
    job = client.post("/api/v1/jobs", data={"prompt": "a green ball", "steps": 2}, headers=a).json()
    wait_for(client, a, job["id"])
    for method, path in [("get", ""), ("get", "/video"), ("get", "/events"), ("get", "/provenance"),
                         ("post", "/cancel"), ("delete", "")]:
        r = client.request(method.upper(), f"/api/v1/jobs/{job['id']}{path}", headers=b)
        assert (r.status_code, r.json()["error"]["code"]) == (404, "job_not_found"), (method, path)
    assert client.get("/api/v1/jobs", headers=b).json() == {"jobs": [], "total": 0}
    assert client.get(f"/api/v1/jobs/{job['id']}/video", headers=a).status_code == 200  # still there for ann


def test_refusal_codes_and_scores_by_role(client):
    prompt = "a man is beheaded in a gruesome execution"
    for role, sees in [("red_team", True), ("artist", False)]:
        h = add_user(client, role, role)
        r = client.post("/api/v1/jobs", data={"prompt": prompt}, headers=h)
        assert r.status_code == 403, r.text
        err = r.json()["error"]
        assert err["code"] == "refused" and err["category"] == "violence_extreme"
        assert ("scores" in err) == sees
        if sees:
            assert err["scores"]["violence_extreme"] >= 1.0
    admin = add_user(client, "root", "admin")
    events = client.get("/api/v1/admin/audit?action=job.refused", headers=admin).json()
    assert [e["actor"] for e in events] == ["artist", "red_team"]


def test_role_policy_staged_release(settings, make_client):
    s = with_policy(settings, "public", enabled=False)
    s = with_policy(s, "artist", commands=("generate",))
    client = make_client(s)
    pub, art = add_user(client, "pub", "public"), add_user(client, "art", "artist")
    r = client.post("/api/v1/jobs", data={"prompt": "a ball"}, headers=pub)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "role_not_released")
    r = client.post("/api/v1/jobs", data={"prompt": "a ball"}, files={"image": ("a.png", png(), "image/png")},
                    headers=art)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "command_not_allowed")
    assert client.get("/api/v1/me", headers=art).json()["policy"]["commands"] == ["generate"]


def test_rate_limit_and_quota(settings, make_client):
    client = make_client(with_policy(settings, "public", jobs_per_minute=2, jobs_per_day=3))
    h = add_user(client, "pub", "public")
    codes = [client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1}, headers=h).status_code
             for _ in range(3)]
    assert codes == [201, 201, 429]
    r = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1}, headers=h)
    assert r.json()["error"]["code"] == "rate_limited" and r.headers["retry-after"] == "60"
    # The minute limit is per key; the day quota is per user, whatever key they use.
    root = add_user(client, "root", "admin")
    uid = client.get("/api/v1/me", headers=h).json()["id"]
    new_key = client.post(f"/api/v1/admin/users/{uid}/keys", headers=root).json()["api_key"]
    second = {"Authorization": f"Bearer {new_key}"}
    assert client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1}, headers=second).status_code == 201
    r = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1}, headers=second)
    assert (r.status_code, r.json()["error"]["code"]) == (429, "quota_exceeded")


def test_cancel_and_delete(client):
    h = add_user(client, "ann", "admin")
    # A long job keeps the worker busy, so the second one is still queued when it is cancelled.
    long = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 200, "seconds": 16}, headers=h).json()
    queued = client.post("/api/v1/jobs", data={"prompt": "a cube", "steps": 2}, headers=h).json()
    wait_for(client, h, long["id"], until=("running",))
    r = client.post(f"/api/v1/jobs/{queued['id']}/cancel", headers=h)
    assert r.json()["status"] == "cancelled"
    r = client.post(f"/api/v1/jobs/{long['id']}/cancel", headers=h)
    assert r.status_code == 200
    stopped = wait_for(client, h, long["id"])
    assert stopped["status"] == "cancelled" and stopped["step"] < stopped["total_steps"]
    r = client.post(f"/api/v1/jobs/{long['id']}/cancel", headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "job_finished")
    done = client.post("/api/v1/jobs", data={"prompt": "a cube", "steps": 2}, headers=h).json()
    wait_for(client, h, done["id"])
    svc = client.app.state.service
    files = list((svc.settings.data_dir / "outputs").iterdir())
    assert len(files) == 1
    assert client.delete(f"/api/v1/jobs/{done['id']}", headers=h).status_code == 204
    assert not files[0].exists()
    assert client.get(f"/api/v1/jobs/{done['id']}", headers=h).status_code == 404
    actions = [e["action"] for e in client.get("/api/v1/admin/audit", headers=h).json()]
    assert actions.count("job.create") == 3 and "job.cancel" in actions and "job.delete" in actions
    assert actions.count("job.cancelled") == 1 and actions.count("job.done") == 1  # the running one, by its worker


def test_events_stream_progress(client):
    h = add_user(client, "ann", "artist")
    job = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 30}, headers=h).json()
    states = []
    with client.stream("GET", f"/api/v1/jobs/{job['id']}/events", headers=h) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        for line in r.iter_lines():
            if line.startswith("data: "):
                import json

                states.append(json.loads(line[6:]))
    assert states[-1]["status"] == "done"
    progress = [s["progress"] for s in states]
    assert progress == sorted(progress) and len(set(progress)) >= 2
    from kino.progress import STAGES

    assert all(s["stage"] in STAGES for s in states if s["status"] == "running" and s["progress"] > 0)


def test_verify_upload(client, tmp_path):
    h = add_user(client, "ann", "artist")
    job = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 2}, headers=h).json()
    clip = client.get(wait_for(client, h, job["id"])["video_url"], headers=h).content
    r = client.post("/api/v1/verify", files={"file": ("c.mp4", clip, "video/mp4")}, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["media"]["width"] == 128 and out["media"]["codec"] == "h264"
    assert out["provenance"]["c2pa"]["status"] == "valid" and out["provenance"]["watermark"]["local_key"]
    assert out["provenance_summary"] == "kino"
    assert client.get(f"/api/v1/jobs/{job['id']}/provenance", headers=h).json()["provenance_summary"] == "kino"
    plain = tmp_path / "plain.mp4"  # the same kind of file, made without kino's stamp
    write_video(plain, np.zeros((9, 64, 64, 3), np.uint8), 4)
    r = client.post("/api/v1/verify", files={"file": ("p.mp4", plain.read_bytes(), "video/mp4")}, headers=h)
    assert r.json()["provenance_summary"] == "none" and r.json()["provenance"]["c2pa"]["status"] != "valid"
    r = client.post("/api/v1/verify", files={"file": ("c.txt", b"hello", "text/plain")}, headers=h)
    assert (r.status_code, r.json()["error"]["code"]) == (415, "unsupported_media_type")


def test_admin_users_and_roles(client):
    root, pub = add_user(client, "root", "admin"), add_user(client, "pub", "public")
    assert client.get("/api/v1/admin/users", headers=pub).json()["error"]["code"] == "admin_only"
    r = client.post("/api/v1/admin/users", json={"name": "carol", "role": "artist"}, headers=root)
    assert r.status_code == 201
    carol = {"Authorization": f"Bearer {r.json()['api_key']}"}
    assert client.post("/api/v1/login", headers=carol).json()["role"] == "artist"
    r = client.post("/api/v1/admin/users", json={"name": "carol", "role": "artist"}, headers=root)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "user_exists")
    uid = r = client.get("/api/v1/me", headers=carol).json()["id"]
    changed = client.patch(f"/api/v1/admin/users/{uid}", json={"role": "red_team"}, headers=root).json()
    assert changed["role"] == "red_team"
    client.patch(f"/api/v1/admin/users/{uid}", json={"disabled": True}, headers=root)
    assert client.get("/api/v1/me", headers=carol).json()["error"]["code"] == "invalid_key"
    actions = [e["action"] for e in client.get("/api/v1/admin/audit", headers=root).json()]
    assert actions[:4] == ["admin.user_change", "admin.user_change", "login", "admin.user_add"]
    svc = client.app.state.service
    from kino.service.db import ApiKey

    with svc.sessions() as db:  # keys are stored hashed, never in the clear
        hashes = [k.key_hash for k in db.query(ApiKey).all()]
    assert r and all(len(x) == 64 and not x.startswith("kino_") for x in hashes)


def test_web_page_served(client):
    r = client.get("/")
    assert r.status_code == 200 and "<script src=\"/static/app.js\">" in r.text
    assert "Shot ${n + 1}" in client.get("/static/app.js").text
    spec = client.get("/openapi.json").json()
    assert "/api/v1/jobs" in spec["paths"] and "/api/v1/jobs/{job_id}/events" in spec["paths"]


def test_storyboard_loop_and_camera(client, tmp_path):
    h = add_user(client, "ann", "artist")
    story = "Shot 1: a red ball rolls to the right Shot 2: a blue cube falls"
    r = client.post("/api/v1/jobs", data={"prompt": story, "seconds": 2, "steps": 2}, headers=h)
    assert r.status_code == 201, r.text
    job = wait_for(client, h, r.json()["id"])
    assert job["status"] == "done" and job["params"]["shots"] == 2, job
    assert job["result"]["frames"] == 10  # two 1 s shots at 4 fps, 5 frames each, joined by a cut
    looped = client.post("/api/v1/jobs", data={"prompt": "a ball", "loop": "true", "steps": 2}, headers=h).json()
    assert wait_for(client, h, looped["id"])["status"] == "done"
    frames = {}
    for layout in ("true", "false"):  # the worker samples the model alone when asked
        job = client.post("/api/v1/jobs", data={"prompt": "a red ball on the left", "layout": layout, "steps": 2},
                          headers=h).json()
        assert job["params"]["layout"] == (layout == "true") and wait_for(client, h, job["id"])["status"] == "done"
        (tmp_path / f"{layout}.mp4").write_bytes(client.get(f"/api/v1/jobs/{job['id']}/video", headers=h).content)
        frames[layout] = read_video(tmp_path / f"{layout}.mp4")[0]
    assert not np.array_equal(frames["true"], frames["false"])
    panned = client.post("/api/v1/jobs", data={"prompt": "a ball", "camera": "pan-left", "steps": 2}, headers=h)
    assert panned.json()["params"]["prompt"] != "a ball"  # the camera phrase is part of what the model reads
    for data, code in [({"prompt": story, "loop": "true"}, "conflicting_inputs"),
                       ({"prompt": "a ball", "camera": "spin"}, "invalid_field"),
                       ({"prompt": "Once upon a time: Shot 1: a ball"}, "invalid_request")]:
        r = client.post("/api/v1/jobs", data=data, headers=h)
        assert (r.status_code, r.json()["error"]["code"]) == (422, code), r.text


def test_broken_model_is_503_not_500(settings, tmp_path):
    import dataclasses

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    s = dataclasses.replace(settings, models={"default": str(broken)})
    from fastapi.testclient import TestClient

    from kino.service.app import create_app

    with TestClient(create_app(s)) as client:  # its own Pipelines: this model is not the shared tiny one
        h = add_user(client, "ann", "artist")
        r = client.post("/api/v1/jobs", data={"prompt": "a ball"}, headers=h)
        assert (r.status_code, r.json()["error"]["code"]) == (503, "model_unavailable")


def test_every_response_carries_the_security_headers(client):
    h = add_user(client, "ann", "artist")
    responses = {"page": client.get("/"), "script": client.get("/static/app.js"), "api": client.get("/api/v1/jobs", headers=h),
                 "no key": client.get("/api/v1/jobs"), "missing": client.get("/nothing"), "docs": client.get("/docs"),
                 "schema": client.get("/openapi.json")}
    for name, r in responses.items():
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff", name
        assert r.headers["referrer-policy"] == "no-referrer", name
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, name
        if name != "docs":
            assert "'unsafe-inline'" not in csp and "script-src 'self';" in csp, name
    assert responses["no key"].status_code == 401 and responses["missing"].status_code == 404
    page = responses["page"].text
    assert "<script src=" in page and "<script>" not in page and " on" + "click=" not in page  # nothing inline


def test_disabling_a_user_or_revoking_their_key_stops_their_jobs(client):
    root = add_user(client, "root", "admin")
    ann, bob = add_user(client, "ann", "admin"), add_user(client, "bob", "artist")
    # ann's long job keeps the worker busy, so bob's job is queued behind it.
    long = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 200, "seconds": 16}, headers=ann).json()
    wait_for(client, ann, long["id"], until=("running",))
    queued = client.post("/api/v1/jobs", data={"prompt": "a cube", "steps": 2}, headers=bob).json()
    bob_id = client.get("/api/v1/me", headers=bob).json()["id"]
    assert client.patch(f"/api/v1/admin/users/{bob_id}", json={"disabled": True}, headers=root).status_code == 200
    from kino.service.db import Job

    with client.app.state.service.sessions() as db:  # bob's key no longer opens anything
        assert db.get(Job, queued["id"]).status == "cancelled"
    # Revoking ann's key stops her running job within a step.
    ann_id = client.get("/api/v1/me", headers=ann).json()["id"]
    new_key = client.post(f"/api/v1/admin/users/{ann_id}/keys?revoke_old=true", headers=root).json()["api_key"]
    stopped = wait_for(client, {"Authorization": f"Bearer {new_key}"}, long["id"])
    assert stopped["status"] == "cancelled" and stopped["step"] < stopped["total_steps"]
    audit = client.get("/api/v1/admin/audit", headers=root).json()
    changes = [e for e in audit if e["action"] in ("admin.user_change", "admin.key_add")]
    assert sorted(e["detail"]["jobs_stopped"] for e in changes) == [1, 1], changes


@pytest.mark.parametrize("role, per_minute", [("public", 4), ("artist", 20)])
def test_a_burst_of_requests_gets_exactly_the_rate_limit(settings, make_client, role, per_minute):
    """The per-minute limit holds under 40 concurrent requests over HTTP (it was check-then-insert:
    42 of 50 got through a limit of 4)."""
    import dataclasses

    settings = dataclasses.replace(settings, embedded_worker=False)  # nothing runs: the queue only fills
    client = make_client(with_policy(settings, role, jobs_per_minute=per_minute, jobs_per_day=1000))
    h = add_user(client, "pub", role)
    with serve(client) as url:
        codes = post_burst(url, h, 40, {"prompt": "a ball", "steps": 1})
    assert sorted(codes) == [201] * per_minute + [429] * (40 - per_minute), codes


def asgi_post(app, path: str, headers: dict, chunks, limit_chunks: int = 10_000):
    """POST ``chunks`` (an iterator of bytes, sent as a chunked body) straight to the ASGI ``app``;
    returns (status, JSON body, bytes of the body the app read)."""
    import asyncio

    read = {"bytes": 0, "n": 0}
    sent = []
    chunks = iter(chunks)

    async def receive():
        chunk = next(chunks, None)
        if chunk is None or read["n"] >= limit_chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        read["bytes"] += len(chunk)
        read["n"] += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in {"transfer-encoding": "chunked", **headers}.items()],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "app": app, "state": {}}
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), read["bytes"]


def test_bodies_are_gated_as_they_stream(settings, make_client):
    """A key is checked before any of the body is read; a chunked body is cut off at the limit; a
    multipart body cut before its closing boundary is a 400 (it was taken, its image dropped)."""
    import dataclasses

    client = make_client(dataclasses.replace(settings, max_upload_bytes=100_000))
    h = add_user(client, "ann", "artist")
    boundary = "kinoboundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"video\"; filename=\"a.mp4\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    mib = (head if i == 0 else b"\0" * 2**20 for i in range(201))  # 200 MiB, chunked, if anyone read it all
    form = {"content-type": f"multipart/form-data; boundary={boundary}"}
    status, body, read = asgi_post(client.app, "/api/v1/jobs", form, mib)
    assert (status, body["error"]["code"], read) == (401, "unauthorized", 0)
    status, body, read = asgi_post(client.app, "/api/v1/jobs", {**form, "authorization": "Bearer kino_nope"}, mib)
    assert (status, body["error"]["code"], read) == (401, "invalid_key", 0)
    status, body, read = asgi_post(client.app, "/api/v1/jobs", {**form, **h}, mib)
    assert (status, body["error"]["code"]) == (413, "request_too_large") and read <= 2**20 + 3 * 100_000 + 2**20
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na red ball\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n"
            f"Content-Type: image/png\r\n\r\n").encode() + png()
    status, body, _ = asgi_post(client.app, "/api/v1/jobs", {**form, **h}, [part])
    assert (status, body["error"]["code"]) == (400, "malformed_multipart")
    status, body, _ = asgi_post(client.app, "/api/v1/jobs", {**form, **h}, [part + f"\r\n--{boundary}--\r\n".encode()])
    assert status == 201 and body["command"] == "image_to_video", body
    assert client.get("/api/v1/jobs", headers=h).json()["total"] == 1


def test_the_page_session_is_an_httponly_cookie_that_other_sites_cannot_use(client):
    h = add_user(client, "ann", "artist")
    r = client.post("/api/v1/login", headers=h)
    cookie = r.headers["set-cookie"]
    assert r.status_code == 200 and "kino_session=" in cookie
    assert all(flag in cookie.lower() for flag in ("httponly", "samesite=strict", "path=/api/v1"))
    assert client.get("/api/v1/me").json()["name"] == "ann"  # the cookie alone opens reads
    r = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1})  # a cross-site form could send this
    assert (r.status_code, r.json()["error"]["code"]) == (403, "missing_page_header")
    r = client.post("/api/v1/jobs", data={"prompt": "a ball", "steps": 1}, headers={"X-Kino-Page": "1"})
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/logout", headers={"X-Kino-Page": "1"}).status_code == 204
    assert client.get("/api/v1/me").status_code == 401


def test_hostile_files_are_refused_from_their_headers(settings, make_client, tmp_path, monkeypatch, hostile):
    """Bombs and odd files, sent to /verify and as job inputs: each a clear 4xx naming what was wrong,
    refused before decoding (the 12000x12000 PNG took the server to 4.2 GB; 30000x30000 and an
    audio-only mp4 were 500s), and no answer names a path on the server."""
    import tracemalloc

    from kino import media
    from kino.service import uploads

    client = make_client(with_policy(settings, "artist", jobs_per_minute=100))
    h = add_user(client, "ann", "artist")
    long = tmp_path / "long.mp4"
    write_video(long, np.zeros((40, 64, 64, 3), np.uint8), 8)
    monkeypatch.setattr(uploads, "LIMITS", media.Limits(decoded_bytes=64 * 64 * 3 * 30))  # 40 frames is too many
    files = {
        "12000x12000 png": (hostile["png_12000"], "image/png", 422, "image_too_large"),
        "30000x30000 png": (hostile["png_30000"], "image/png", 422, "image_too_large"),
        "audio-only mp4": (hostile["audio_only_mp4"], "video/mp4", 422, "no_video_stream"),
        "long mp4": (long.read_bytes(), "video/mp4", 422, "video_too_large"),
    }
    for name, (data, kind, status, code) in files.items():
        field = "image" if kind.startswith("image") else "video"
        tracemalloc.start()
        for path, form in (("/api/v1/verify", {"file": ("x", data, kind)}), ("/api/v1/jobs", {field: ("x", data, kind)})):
            r = client.post(path, data={"prompt": "a ball"} if path.endswith("jobs") else None, files=form, headers=h)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (name, path, r.text)
            assert "/tmp" not in r.text and str(tmp_path) not in r.text, r.text
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 64 * 2**20, (name, peak)  # nothing was decoded
    ok = client.post("/api/v1/verify", files={"file": ("x.png", png(), "image/png")}, headers=h)
    assert ok.status_code == 200 and "/tmp" not in ok.text and ok.json()["provenance"]["file"] == "the file"


def test_verify_is_rate_limited(settings, make_client):
    client = make_client(with_policy(settings, "public", jobs_per_minute=2))
    h = add_user(client, "pub", "public")
    codes = [client.post("/api/v1/verify", files={"file": ("x.png", png(), "image/png")}, headers=h).status_code
             for _ in range(3)]
    assert codes == [200, 200, 429]
