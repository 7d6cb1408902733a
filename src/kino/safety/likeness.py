"""Likeness protection: a registry of protected faces, and a check of images and frames against it.

Faces are encoded as face_recognition does it (``face_recognition.face_encodings``): dlib's HOG
frontal face detector, its 5-point landmark model, and its ResNet face descriptor (128 numbers,
99.38% on LFW), with the model files of the ``face_recognition_models`` package. Two faces are
the same person when their descriptors are at most ``TOLERANCE`` apart (Euclidean), the
face_recognition default. dlib is used directly rather than through ``face_recognition``
because that package's metadata requires ``dlib``, which builds from source (minutes, a
compiler, cmake); ``dlib-bin`` is the same library as a wheel. The model files are found without
importing ``face_recognition_models``, whose ``__init__`` needs ``pkg_resources`` (gone from
setuptools 81 on).

The registry is one JSON file, ``faces.json``, in a folder the caller gives (the CLI uses
``KINO_LIKENESS_DIR`` or the user's data folder): ``{"version": 1, "people": {NAME: {"encodings":
[[128 floats], ...], "added": ISO time}}}``. Writes are atomic (write beside, then rename) and
serialised by an advisory lock, so concurrent ``kino likeness add`` never lose an update.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from kino.io import atomic_path

log = logging.getLogger(__name__)

TOLERANCE = 0.6  # descriptor distance at or under which two faces are one person (face_recognition's default)
SMALL_SIDE = 640  # below this, images are upsampled once so faces down to about 40 px are found
REGISTRY_FILE = "faces.json"
MAX_NAME = 100


class LikenessError(ValueError):
    """Bad input to the registry (no face in an image, an unknown name, a bad name); says what is wrong."""


def model_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise LikenessError("face_recognition_models is not installed (pip install face-recognition-models)")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in pixels
    encoding: np.ndarray  # (128,) float64

    @property
    def area(self) -> int:
        left, top, right, bottom = self.box
        return (right - left) * (bottom - top)


class FaceEncoder:
    """Finds faces in an (H, W, 3) uint8 RGB image and encodes each as a 128-d descriptor."""

    def __init__(self, models: Path | None = None):
        import dlib

        models = models or model_dir()
        self.detector = dlib.get_frontal_face_detector()
        self.landmarks = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self.descriptor = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def __call__(self, image: np.ndarray, upsample: int | None = None) -> list[Face]:
        image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        if upsample is None:
            upsample = 1 if max(image.shape[:2]) < SMALL_SIDE else 0
        faces = []
        for rect in self.detector(image, upsample):
            shape = self.landmarks(image, rect)
            encoding = np.asarray(self.descriptor.compute_face_descriptor(image, shape), np.float64)
            faces.append(Face((rect.left(), rect.top(), rect.right(), rect.bottom()), encoding))
        return faces


@functools.cache
def default_face_encoder() -> FaceEncoder:
    """dlib's models, loaded once per process (about 30 MB)."""
    return FaceEncoder()


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise LikenessError(f"name {name!r} is not allowed; use 1 to {MAX_NAME} printable characters")
    return name


class Registry:
    """The protected faces stored in ``folder/faces.json``; every method reads the file afresh."""

    def __init__(self, folder: str | Path, encoder: FaceEncoder | None = None):
        self.folder = Path(folder)
        self.path = self.folder / REGISTRY_FILE
        self._encoder = encoder

    @property
    def encoder(self) -> FaceEncoder:
        if self._encoder is None:
            self._encoder = default_face_encoder()
        return self._encoder

    # -- storage ----------------------------------------------------------------------------------

    def load(self) -> dict[str, dict]:
        """{name: {"encodings": [[...]], "added": ...}}; empty when there is no registry yet."""
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return dict(data["people"])
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise LikenessError(f"likeness registry {self.path} is damaged: {e}") from e

    def _save(self, people: dict[str, dict]) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text(json.dumps({"version": 1, "people": people}, indent=1) + "\n", encoding="utf-8")

    @contextlib.contextmanager
    def _locked(self):
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f".{REGISTRY_FILE}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    # -- commands ---------------------------------------------------------------------------------

    def add(self, name: str, images: list[np.ndarray], labels: list[str] | None = None) -> int:
        """Register the largest face of each image under ``name``; returns how many faces were added.

        Every image must show a face (a LikenessError names the first that does not); nothing is
        stored unless all do.
        """
        name = check_name(name)
        labels = labels or [f"image {i + 1}" for i in range(len(images))]
        encodings = []
        for image, label in zip(images, labels):
            faces = self.encoder(image, upsample=1)
            if not faces:
                raise LikenessError(f"no face found in {label}; use a clear, frontal photograph")
            if len(faces) > 1:
                log.info("%s shows %d faces; registering the largest", label, len(faces))
            encodings.append(max(faces, key=lambda f: f.area).encoding.tolist())
        with self._locked():
            people = self.load()
            entry = people.setdefault(name, {"encodings": [], "added": None})
            entry["encodings"] += encodings
            entry["added"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
            self._save(people)
        return len(encodings)

    def remove(self, name: str) -> None:
        with self._locked():
            people = self.load()
            if name not in people:
                known = ", ".join(sorted(people)) or "none"
                raise LikenessError(f"no protected face named {name!r}; registered: {known}")
            del people[name]
            self._save(people)

    def names(self) -> dict[str, int]:
        """{name: number of face encodings}, sorted by name."""
        return {k: len(v["encodings"]) for k, v in sorted(self.load().items())}

    # -- matching ---------------------------------------------------------------------------------

    def gallery(self) -> tuple[list[str], np.ndarray]:
        """Every registered encoding (N, 128) and the name each belongs to."""
        names, rows = [], []
        for name, entry in self.load().items():
            for enc in entry["encodings"]:
                names.append(name)
                rows.append(enc)
        return names, np.asarray(rows, np.float64).reshape(-1, 128)

    def match(self, image: np.ndarray, gallery: tuple[list[str], np.ndarray] | None = None) -> tuple[str, float] | None:
        """(name, distance) of the closest registered face within TOLERANCE of a face in the image, if any."""
        names, known = gallery if gallery is not None else self.gallery()
        if not names:
            return None
        best = None
        for face in self.encoder(image):
            dist = np.linalg.norm(known - face.encoding, axis=1)
            i = int(dist.argmin())
            if dist[i] <= TOLERANCE and (best is None or dist[i] < best[1]):
                best = (names[i], float(dist[i]))
        return best
