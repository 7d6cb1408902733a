"""Service fixtures: a real app over a real SQLite file (and PostgreSQL/Redis when their servers run)."""

from __future__ import annotations

import os

import pytest

from kino.service.settings import Settings

IN_CI = os.environ.get("CI") == "true"
PG_URL = os.environ.get("KINO_TEST_PG_URL", "postgresql://kino:kino@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("KINO_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def settings(tmp_path, tiny_model_dir) -> Settings:
    return Settings(db_url=f"sqlite:///{tmp_path / 'kino.db'}", data_dir=tmp_path / "data",
                    models={"default": str(tiny_model_dir)}, lease_seconds=3.0, poll_seconds=0.05)


@pytest.fixture(scope="session")
def pipelines(tiny_model_dir):
    """Loaded once for the session: every app in these tests serves the same tiny model."""
    from kino.service.models import Pipelines

    return Pipelines({"default": str(tiny_model_dir)})


@pytest.fixture
def make_client(pipelines):
    """Start an app (lifespan included: migrations, worker thread) for given settings."""
    from fastapi.testclient import TestClient

    from kino.service.app import create_app

    clients = []

    def make(settings: Settings):
        c = TestClient(create_app(settings, pipelines))
        c.__enter__()
        clients.append(c)
        return c

    yield make
    for c in reversed(clients):
        c.__exit__(None, None, None)


@pytest.fixture
def client(settings, make_client):
    return make_client(settings)


@pytest.fixture
def live(client):
    """The test client's app, also served over HTTP by uvicorn on loopback."""
    from service_helpers import serve

    with serve(client) as url:
        yield client, url


@pytest.fixture
def open_client(tmp_path, tiny_model_dir, ltx_folder):
    """An app serving kino's own tiny model ("default") and the tiny LTX-Video ("ltx"), both open to artists."""
    from fastapi.testclient import TestClient

    from kino.service.app import create_app
    from kino.service.models import Pipelines
    from service_helpers import with_policy

    models = {"default": str(tiny_model_dir), "ltx": str(ltx_folder)}
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'kino.db'}", data_dir=tmp_path / "data", models=models,
                        lease_seconds=3.0, poll_seconds=0.05)
    settings = with_policy(settings, "artist", models=("default", "ltx"))
    with TestClient(create_app(settings, Pipelines(models))) as client:
        yield client
