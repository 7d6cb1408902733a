"""The service makes every model's jobs, kino's own included, through its Backend and kino.core, and
writes them through kino.output as the CLI does (issue 24)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from kino.backends.registry import locate, weights_sha256
from kino.data.video_io import write_video
from kino.provenance.verify import verify

from service_helpers import add_user, wait_for


@pytest.fixture
def spied(monkeypatch) -> list[tuple[str, str]]:
    """(what, backend) for each call of kino.core's makers and of kino.output's stamp and save."""
    from kino import core, output

    calls = []

    def spy(module, name, backend_of):
        real = getattr(module, name)

        def wrapped(*args, **kwargs):
            calls.append((name, backend_of(*args)))
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapped)

    for name in ("stream", "continue_video", "storyboard"):
        spy(core, name, lambda backend, *_: backend.info.backend)
    spy(output, "stamp", lambda keys, info, *_: info.backend)
    spy(output, "save", lambda out, video, fps, mark, *_: mark.model_detail["backend"])
    return calls


def made(client, h, data: dict, files: dict | None = None) -> dict:
    r = client.post("/api/v1/jobs", data=data, files=files, headers=h)
    assert r.status_code == 201, r.text
    done = wait_for(client, h, r.json()["id"])
    assert done["status"] == "done" and done["step"] == done["total_steps"], done
    return done


def signed(client, h, done: dict, path) -> dict:
    """The C2PA summary of a job's video, checked valid and watermarked against the service's root."""
    path.write_bytes(client.get(done["video_url"], headers=h).content)
    keys = client.app.state.service.settings.signing_keys
    verdict = verify(path, keys.joinpath("root.pem").read_bytes()).to_dict()
    assert verdict["c2pa"]["status"] == "valid" and verdict["watermark"]["present"], verdict
    return verdict["c2pa"]["summary"]


def test_a_job_on_kinos_own_model_goes_through_its_backend(client, tiny_model_dir, spied, tmp_path):
    from kino.backends.native import NativeBackend

    svc = client.app.state.service
    assert isinstance(svc.pipelines.get("default"), NativeBackend)
    h = add_user(client, "ann", "artist")
    one = made(client, h, {"prompt": "a red ball rolls to the right", "steps": 2})
    summary = signed(client, h, one, tmp_path / "one.mp4")
    digest = weights_sha256(tiny_model_dir)
    assert summary["backend"] == "native" and summary["weights_sha256"] == digest
    assert summary["model"] == locate(tiny_model_dir).model_id(digest)  # as `kino generate` names it
    assert spied == [("stream", "native"), ("stamp", "native"), ("save", "native")]
    spied.clear()
    made(client, h, {"prompt": "Shot 1: a red ball Shot 2: a blue cube", "seconds": 2, "steps": 2})
    clip = tmp_path / "in.mp4"
    write_video(clip, np.full((9, 128, 128, 3), 90, np.uint8), 4)
    made(client, h, {"prompt": "it goes on", "seconds": 1, "steps": 2},
         {"video": ("in.mp4", clip.read_bytes(), "video/mp4")})
    assert [what for what, _ in spied] == ["storyboard", "stamp", "save", "continue_video", "stamp", "save"]
    assert {backend for _, backend in spied} == {"native"}


def png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((96, 160, 3), (200, 40, 40), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_kinos_own_model_and_an_open_model_share_the_output_path_of_the_service_and_the_cli(
        open_client, spied, tmp_path, ltx_folder, tiny_model_dir):
    from kino.cli import main

    h = add_user(open_client, "ann", "artist")
    for model in ("default", "ltx"):
        done = made(open_client, h, {"prompt": "a red ball", "model": model, "steps": 2},
                    {"image": ("first.png", png(), "image/png")})
        assert done["command"] == "image_to_video"
        summary = signed(open_client, h, done, tmp_path / f"{model}.mp4")
        folder = {"default": tiny_model_dir, "ltx": ltx_folder}[model]
        assert summary["weights_sha256"] == weights_sha256(folder)
    service = list(spied)
    assert service == [(what, backend) for backend in ("native", "ltx") for what in ("stream", "stamp", "save")]
    spied.clear()
    for folder in (tiny_model_dir, ltx_folder):
        assert main(["generate", "a red ball", "-o", str(tmp_path / "cli.mp4"), "--model", str(folder),
                     "--steps", "2", "--size", "128x128"]) == 0
    assert spied == [(what, backend) for backend in ("native", "ltx") for what in ("stamp", "stream", "save")]
