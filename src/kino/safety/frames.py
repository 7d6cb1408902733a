"""Frame moderation for nudity with NudeNet's detector (the ONNX model shipped in the ``nudenet`` package).

``NudityDetector()(images) -> list[dict[class, score]]`` runs the detector on a batch of
(H, W, 3) uint8 RGB images; ``find_nudity(frames, indices)`` reports the first sampled frame
whose score for an explicit class reaches ``NUDITY_THRESHOLD``.

Preprocessing follows NudeNet 3.4 (``nudenet.nudenet._read_image``): pad right and bottom to a
square with black, resize to 320x320, scale to [0, 1], NCHW, but in RGB order: NudeNet's own
``cvtColor(COLOR_RGBA2BGR)`` then ``swapRB`` hands the model BGR (NudeNet issue #203), while the
YOLOv8 model was trained on RGB; on skimage's astronaut the true face scores 0.83 in RGB, 0.72 in BGR. The model is a YOLOv8 head:
its output is (B, 4 + 18, N) box proposals with one score per class. Instead of NudeNet's
class-agnostic non-maximum suppression, which can drop an exposed-class box under an
overlapping covered-class box, every proposal's score counts: a class's score is its maximum
over all proposals. That can only raise a score, never hide one.

A score below ``NUDITY_CERTAIN`` counts only for a proposal whose box is at least ``SKIN_SHARE``
skin-toned (the RGB rule of Kovac, Peer and Solina, 2003): the detector's false positives are whole
frames of grey and colour with no skin in them (scikit-image's colour wheel; a zooming shot of a
cyan ball on the default checkpoint's dotted set, 0.52-0.58 BUTTOCKS_EXPOSED in 9 frames of 17,
whose box is the whole frame and 0.1% skin), and an exposed body part shows skin. The cost: a
black-and-white picture, or a body of no skin tone, is judged on certain scores alone.

Which frames are read: ``sample_indices(n, fps)`` takes at least ``CHECK_FPS`` frames per second
of video, the first and last frame included.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# NudeNet 3.4's class order (``nudenet.nudenet.__labels``).
LABELS = (
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED", "BELLY_COVERED",
    "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE", "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED",
)
# Classes that make a frame sexual content. Exposed male chests, bellies, feet and armpits are
# ordinary (beaches, sport) and do not count.
NUDITY_CLASSES = frozenset({
    "FEMALE_BREAST_EXPOSED", "FEMALE_GENITALIA_EXPOSED", "MALE_GENITALIA_EXPOSED", "BUTTOCKS_EXPOSED",
    "ANUS_EXPOSED",
})
# A frame is refused when one of NUDITY_CLASSES scores at least this. NudeNet keeps detections
# from 0.2. Measured on benign pictures (NOTES.md, "Frame moderation"): toyworld renders at most
# 0.07, scikit-image's photographs at most 0.36 (coffee cup, half size), so 0.5 leaves a margin;
# scikit-image's synthetic colour wheel scores 0.83 (BUTTOCKS_EXPOSED) and is refused, a known
# false positive of the detector.
NUDITY_THRESHOLD = 0.5
# In a video (two or more sampled frames) a score between the threshold and NUDITY_CERTAIN must
# hold in NUDITY_PERSIST sampled frames: the default checkpoint's colour blobs once scored 0.51
# (FEMALE_GENITALIA_EXPOSED) in one frame of 9, a flicker real nudity does not make. One frame at
# NUDITY_CERTAIN or more is refused alone, so a single inserted frame cannot slip through.
NUDITY_CERTAIN = 0.8
NUDITY_PERSIST = 2
SKIN_SHARE = 0.1  # a middling score's box must be this skin-toned (the benign false positives: 0.1%, a face: 81%)
CHECK_FPS = 4.0  # frames per second of video that are checked (the issue asks for at least 2)
INPUT_SIZE = 320  # the shipped model's input side
BATCH = 16


def sample_indices(n_frames: int, fps: float, rate: float = CHECK_FPS) -> list[int]:
    """Indices of the frames to check: at least ``rate`` per second of video, first and last included."""
    if n_frames <= 0:
        return []
    step = max(1, math.floor(fps / rate)) if fps > 0 else 1
    return sorted(set(range(0, n_frames, step)) | {n_frames - 1})


def default_model_path() -> Path:
    import nudenet

    return Path(nudenet.__file__).parent / "320n.onnx"


def preprocess(image: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, size, size) float32, padded square as NudeNet does."""
    from PIL import Image

    h, w = image.shape[:2]
    side = max(h, w)
    square = np.zeros((side, side, 3), np.uint8)
    square[:h, :w] = image
    resized = Image.fromarray(square).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(resized, np.float32).transpose(2, 0, 1) / 255.0


def skin_shares(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(N,) share of skin-toned pixels in each of (4, N) boxes (centre x, centre y, width, height, in
    pixels) of a (3, S, S) float image in [0, 1] (``preprocess``'s): R > 95, G > 40, B > 20, a spread
    over 15, |R - G| > 15, R above G and B (Kovac, Peer and Solina's rule for daylight)."""
    r, g, b = image * 255.0
    spread = np.maximum(np.maximum(r, g), b) - np.minimum(np.minimum(r, g), b)
    skin = (r > 95) & (g > 40) & (b > 20) & (spread > 15) & (np.abs(r - g) > 15) & (r > g) & (r > b)
    size = skin.shape[0]
    sums = np.zeros((size + 1, size + 1))
    sums[1:, 1:] = skin.cumsum(0).cumsum(1)
    cx, cy, w, h = boxes
    x0, x1 = (np.clip(np.rint(v), 0, size).astype(int) for v in (cx - w / 2, cx + w / 2))
    y0, y1 = (np.clip(np.rint(v), 0, size).astype(int) for v in (cy - h / 2, cy + h / 2))
    area = (x1 - x0) * (y1 - y0)
    inside = sums[y1, x1] - sums[y0, x1] - sums[y1, x0] + sums[y0, x0]
    return np.where(area > 0, inside / np.maximum(area, 1), 0.0)


@dataclass(frozen=True)
class Finding:
    """A frame that was refused: which frame, the class and its score."""

    index: int
    label: str
    score: float

    def describe(self, what: str) -> str:
        name = self.label.lower().replace("_", " ")
        return f"{name} {self.score:.2f} ({what} frame {self.index})"


class NudityDetector:
    """NudeNet's ONNX detector; call it on a list of RGB images to get per-class scores."""

    def __init__(self, model_path: str | Path | None = None, threads: int | None = None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        # No memory arena: ONNX Runtime's keeps what each run took, so the chunks of a long clip each
        # raised its resident size (a 60 s clip peaked at 1.29x a 4 s one with it, 1.16x without).
        options.enable_cpu_mem_arena = False
        self.session = ort.InferenceSession(
            str(model_path or default_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, images: list[np.ndarray], skin_gate: bool = True) -> list[dict[str, float]]:
        """Each class's best score over the proposals, per image; with ``skin_gate``, a proposal below
        ``NUDITY_CERTAIN`` counts only when its box is at least ``SKIN_SHARE`` skin (``skin_shares``)."""
        out: list[dict[str, float]] = []
        for i in range(0, len(images), BATCH):
            batch = np.stack([preprocess(im) for im in images[i:i + BATCH]])
            (pred,) = self.session.run(None, {self.input_name: batch})  # (B, 4 + 18, N)
            scores = pred[:, 4:, :]
            if skin_gate:
                bare = np.stack([skin_shares(x, boxes) < SKIN_SHARE for x, boxes in zip(batch, pred[:, :4, :])])
                scores = np.where((scores < NUDITY_CERTAIN) & bare[:, None, :], 0.0, scores)
            best = scores.max(axis=2)  # (B, 18): each class's best proposal
            out += [dict(zip(LABELS, map(float, row))) for row in best]
        return out

    def find(
        self,
        frames: np.ndarray | list[np.ndarray],
        indices: list[int],
        classes: frozenset[str] = NUDITY_CLASSES,
        threshold: float = NUDITY_THRESHOLD,
    ) -> Finding | None:
        """The first of ``frames[indices]`` with a ``classes`` score at or above ``threshold``.

        With several frames, a score below ``NUDITY_CERTAIN`` counts only when ``NUDITY_PERSIST``
        sampled frames reach ``threshold``; a single image is judged on ``threshold`` alone.
        """
        scores = self([np.ascontiguousarray(frames[i]) for i in indices])
        hits = []
        for index, row in zip(indices, scores):
            label = max(classes, key=lambda c: row[c])
            if row[label] >= threshold:
                hits.append(Finding(index, label, row[label]))
        certain = [h for h in hits if h.score >= max(threshold, NUDITY_CERTAIN)]
        if certain:
            return certain[0]
        if hits and (len(hits) >= NUDITY_PERSIST or len(indices) < NUDITY_PERSIST):
            return hits[0]
        return None


@functools.cache
def default_nudity_detector() -> NudityDetector:
    """The detector over NudeNet's shipped model, loaded once per process."""
    return NudityDetector()
