"""The service's models by name, each a Backend (kino.backends.registry), kino's own as the open
ones: loaded on first use and kept for the life of the process."""

from __future__ import annotations

import threading

import torch

from kino import precision
from kino.backends import registry
from kino.backends.base import Backend, ModelInfo
from kino.safety.guard import Guard


class Pipelines:
    def __init__(self, models: dict[str, str], torch_threads: int | None = None, dtype: str | None = None):
        """``dtype``: what every model computes in (kino.precision; None reads ``$KINO_DTYPE``, else
        auto), decided here so that a bad name stops the service before it takes a job."""
        self.models = dict(models)
        self.torch_threads = torch_threads
        self.dtype = precision.choose(dtype)
        self._loaded: dict[str, Backend] = {}
        self._described: dict[str, Backend] = {}
        self._digests: dict[str, str] = {}
        # One lock a model: two threads asking for it at once (the worker's preload, the API's check
        # of a request) load it once, and loading one model keeps no request for another waiting.
        self._locks = {name: threading.RLock() for name in self.models}

    def names(self) -> list[str]:
        return list(self.models)

    def info(self, name: str) -> ModelInfo:
        """What the model ``name`` is, read from its folder (no weights)."""
        return registry.locate(self.models[name])

    def get(self, name: str) -> Backend:
        """The loaded model, carrying the service's safety checks as ``guard``."""
        with self._locks[name]:
            if name not in self._loaded:
                if self.torch_threads:
                    torch.set_num_threads(self.torch_threads)
                self._loaded[name] = self._guarded(registry.load(self.info(name), self.dtype))
            return self._loaded[name]

    def checker(self, name: str) -> Backend:
        """What the API checks a request against before queueing it: the loaded model where it is,
        else the model as ``registry.checker`` gives it: an open model described by its configuration
        files (no weights read, so a server whose workers run elsewhere never loads a large one), kino's
        own loaded by ``get``, the one instance the worker makes its jobs with."""
        with self._locks[name]:
            if name not in self._loaded and name not in self._described:
                described = registry.checker(self.info(name), loaded=lambda: self.get(name))
                if name not in self._loaded:  # a description, not the model itself
                    self._described[name] = self._guarded(described)
            return self._loaded[name] if name in self._loaded else self._described[name]

    def weights_sha256(self, name: str) -> str:
        """The SHA-256 over the model's weight files, for the C2PA manifest: read once per process."""
        with self._locks[name]:
            if name not in self._digests:
                self._digests[name] = registry.weights_sha256(self.info(name).path)
            return self._digests[name]

    @staticmethod
    def _guarded(backend: Backend) -> Backend:
        backend.guard = Guard.from_env()
        return backend
