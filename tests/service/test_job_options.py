"""A job's options on kino's own model as on every model: a negative prompt reaches the model, an
option the model ignores is said in the job's status (kino.backends.base.ignored), and the API's
checks and the worker share one loaded instance of kino's own model."""

from __future__ import annotations

import threading

from kino.data.video_io import read_video

from service_helpers import add_user, wait_for


def video(client, h, data: dict, path) -> tuple[dict, object]:
    """The finished job of ``data`` and its video's frames (written to ``path``)."""
    r = client.post("/api/v1/jobs", data=data, headers=h)
    assert r.status_code == 201, r.text
    done = wait_for(client, h, r.json()["id"])
    assert done["status"] == "done", done
    path.write_bytes(client.get(done["video_url"], headers=h).content)
    return done, read_video(path)[0]


def test_a_negative_prompt_reaches_kinos_own_model_and_one_it_ignores_is_said(client, monkeypatch, tmp_path):
    h = add_user(client, "ann", "artist")
    job = {"prompt": "a red ball rolls to the right", "steps": 1}
    plain, frames = video(client, h, job, tmp_path / "plain.mp4")
    steered, steered_frames = video(client, h, {**job, "negative_prompt": "a small blue square"}, tmp_path / "s.mp4")
    assert steered["params"]["negative_prompt"] == "a small blue square" and plain["params"]["negative_prompt"] == ""
    assert "note" not in steered["params"]
    assert (frames != steered_frames).any()  # guidance steered away from it
    model = client.app.state.service.pipelines.checker("default")
    monkeypatch.setattr(model.info, "options", ())  # a model without negative prompts
    r = client.post("/api/v1/jobs", data={**job, "negative_prompt": "blue"}, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["params"]["note"] == (f"negative_prompt has no effect on {model.info.name}: the model guides away "
                                          "from the empty prompt only")


def test_the_api_and_the_worker_share_one_loaded_kinos_own_model(tiny_model_dir, monkeypatch):
    """A request checked while the worker's preload loads the model waits for that load, and the
    other way round: the model is loaded once."""
    from kino.backends import registry
    from kino.service.models import Pipelines

    loads, real, entered = [], registry.load, threading.Event()

    def slow_load(*args, **kwargs):
        loads.append(args[0].name)
        entered.set()
        threading.Event().wait(0.3)  # the other thread asks meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(registry, "load", slow_load)
    for first, then in (("checker", "get"), ("get", "checker")):
        pipelines, got = Pipelines({"default": str(tiny_model_dir)}), {}
        entered.clear()
        ahead = threading.Thread(target=lambda: got.setdefault(first, getattr(pipelines, first)("default")))
        ahead.start()
        entered.wait(10)
        got[then] = getattr(pipelines, then)("default")
        ahead.join()
        assert got["checker"] is got["get"], first
    assert loads == [str(tiny_model_dir)] * 2  # once for each Pipelines
