"""The safety checks a pipeline runs, in one object: prompt, input pictures, output frames, audit.

``Guard`` is held by the pipeline (``TextToVideoPipeline.guard``), so every caller gets it:

1. ``prompt``: prompt moderation (lexicon, then the multilingual classifier);
2. ``image`` / ``video``: input pictures and output frames, at least ``CHECK_FPS`` frames per
   second of video, for nudity (NudeNet) and for faces in the likeness registry;
3. every refusal is appended to the audit log (when one is configured), then raised as
   ``SafetyRefusal`` naming the category and what matched.

``Guard.from_env()`` is the default: the shipped models, the likeness registry in
``KINO_LIKENESS_DIR`` (else the user's data folder) and the audit log at ``KINO_AUDIT_LOG`` (else
``audit.jsonl`` in the user's data folder). The environment is read there, once, when the guard
is built; the checks themselves take everything from the guard.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kino.safety import audit
from kino.safety.frames import CHECK_FPS, NUDITY_CLASSES, NUDITY_THRESHOLD, NudityDetector, sample_indices
from kino.safety.likeness import Registry
from kino.safety.moderation import SafetyRefusal, Verdict

log = logging.getLogger(__name__)


def user_data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """$XDG_DATA_HOME/kino, else ~/.local/share/kino."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "kino"


def likeness_dir(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("KINO_LIKENESS_DIR") or user_data_dir(environ) / "likeness")


def audit_log_path(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("KINO_AUDIT_LOG") or user_data_dir(environ) / "audit.jsonl")


def refusal(category: str, matched: str) -> Verdict:
    return Verdict(False, category, matched, {category: 1.0})


@dataclass
class Guard:
    moderate: Callable[[str], Verdict]
    nudity: NudityDetector | None
    likeness: Registry | None = None
    audit_log: Path | None = None
    check_fps: float = CHECK_FPS
    nudity_classes: frozenset[str] = field(default=NUDITY_CLASSES)
    nudity_threshold: float = NUDITY_THRESHOLD

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Guard":
        from kino.safety.classifier import moderate_prompt_combined
        from kino.safety.frames import default_nudity_detector

        return cls(
            moderate=moderate_prompt_combined,
            nudity=default_nudity_detector(),
            likeness=Registry(likeness_dir(environ)),
            audit_log=audit_log_path(environ),
        )

    # -- checks -----------------------------------------------------------------------------------

    def prompt(self, prompt: str, user: str | None = None) -> None:
        verdict = self.moderate(prompt)
        if not verdict.allowed:
            self.refuse(verdict, "prompt", prompt, user)

    def narration(self, text: str, user: str | None = None) -> None:
        """Words to be spoken, checked exactly as a prompt is (the audit log names the stage)."""
        verdict = self.moderate(text)
        if not verdict.allowed:
            self.refuse(verdict, "narration", text, user)

    def image(self, image: np.ndarray, what: str, prompt: str | None = None, user: str | None = None) -> None:
        """Check one picture, (H, W, 3) uint8 RGB."""
        self.video(image[None], 1.0, what, prompt, user)

    def video(
        self, frames: np.ndarray, fps: float, what: str, prompt: str | None = None, user: str | None = None
    ) -> None:
        """Check (T, H, W, 3) uint8 frames at ``check_fps`` or more; ``what`` names them in the refusal."""
        indices = sample_indices(len(frames), fps, self.check_fps)
        stage = "output" if what == "output" else "input"
        if self.nudity is not None:
            found = self.nudity.find(frames, indices, self.nudity_classes, self.nudity_threshold)
            if found is not None:
                self.refuse(refusal("sexual", found.describe(what)), stage, prompt, user)
        if self.likeness is not None:
            gallery = self.likeness.gallery()
            if gallery[0]:  # nothing registered: no face needs finding
                for i in indices:
                    hit = self.likeness.match(frames[i], gallery)
                    if hit is not None:
                        name, dist = hit
                        matched = f"{name} (distance {dist:.2f}, {what} frame {i})"
                        self.refuse(refusal("celebrity_likeness", matched), stage, prompt, user)

    def refuse(self, verdict: Verdict, stage: str, prompt: str | None, user: str | None):
        """Record the refusal in the audit log, then raise it."""
        if self.audit_log is not None:
            try:
                audit.record(self.audit_log, category=verdict.category, prompt=prompt, matched=verdict.matched,
                             stage=stage, user=user)
            except OSError as e:  # the refusal stands even when the log cannot be written
                log.error("could not write the audit log %s: %s", self.audit_log, e)
        raise SafetyRefusal(verdict)
