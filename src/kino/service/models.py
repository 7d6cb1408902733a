"""Pipelines by model name, loaded on first use and kept for the life of the process."""

from __future__ import annotations

import threading

import torch

from kino import precision
from kino.pipelines.text_to_video import TextToVideoPipeline


class Pipelines:
    def __init__(self, models: dict[str, str], torch_threads: int | None = None, dtype: str | None = None):
        """``dtype``: what every model computes in (kino.precision; None reads ``$KINO_DTYPE``, else
        auto), decided here so that a bad name stops the service before it takes a job."""
        self.models = dict(models)
        self.torch_threads = torch_threads
        self.dtype = precision.choose(dtype)
        self._loaded: dict[str, TextToVideoPipeline] = {}
        self._described: dict[str, object] = {}
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.models)

    def get(self, name: str) -> TextToVideoPipeline:
        with self._lock:  # two threads asking at once load the model once
            if name not in self._loaded:
                if self.torch_threads:
                    torch.set_num_threads(self.torch_threads)
                self._loaded[name] = self._load(self.models[name])
            return self._loaded[name]

    def checker(self, name: str):
        """What the API checks a request against before queueing it: kino's own pipeline (small, and
        it checks in its own terms), or for an open model its Backend as its configuration files
        describe it (kino.backends.diffusers_video.DiffusersBackend.describe: no weights read), so a
        server whose workers run elsewhere never loads a large model. The loaded one where it is."""
        from kino.backends.registry import checker, locate

        info = locate(self.models[name])
        if info.backend == "native" or name in self._loaded:
            return self.get(name)
        with self._lock:
            if name not in self._described:
                from kino.safety.guard import Guard

                backend = checker(info)
                backend.guard = Guard.from_env()
                self._described[name] = backend
            return self._described[name]

    def _load(self, folder: str):
        """kino's own pipeline for a kino folder; for an open model (a diffusers folder or a cached Hub
        id) its Backend (kino.backends), carrying the service's safety checks as ``guard``."""
        from kino.backends.registry import load, locate

        info = locate(folder)
        if info.backend == "native":
            return TextToVideoPipeline.from_pretrained(info.path, dtype=self.dtype)
        from kino.safety.guard import Guard

        backend = load(info, self.dtype)
        backend.guard = Guard.from_env()
        return backend

    def model_id(self, name: str) -> str:
        """``name@sha256:...`` of the weights, for the C2PA manifest (ModelInfo.model_id, as the CLI
        names it; hashed once per process)."""
        from kino.backends.registry import locate

        with self._lock:
            if name not in self._ids:
                self._ids[name] = locate(self.models[name]).model_id(self.detail(name)["weights_sha256"])
            return self._ids[name]

    def detail(self, name: str) -> dict:
        """What the C2PA manifest records of a model beside its id: backend, pipeline, weights' SHA-256."""
        from kino.backends.registry import locate, weights_sha256

        info = locate(self.models[name])
        return {"backend": info.backend, "pipeline": info.pipeline, "weights_sha256": weights_sha256(info.path)}
