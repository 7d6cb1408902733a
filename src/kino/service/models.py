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
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.models)

    def get(self, name: str) -> TextToVideoPipeline:
        with self._lock:  # two threads asking at once load the model once
            if name not in self._loaded:
                if self.torch_threads:
                    torch.set_num_threads(self.torch_threads)
                self._loaded[name] = TextToVideoPipeline.from_pretrained(self.models[name], dtype=self.dtype)
            return self._loaded[name]

    def model_id(self, name: str) -> str:
        """``folder@sha256:...`` of the weights, for the C2PA manifest (hashed once per process)."""
        from kino.provenance import model_id

        with self._lock:
            if name not in self._ids:
                self._ids[name] = model_id(self.models[name])
            return self._ids[name]
