"""Multi-shot videos: shots with hard cuts, named characters and one style throughout.

A storyboard is a YAML file or a "Shot 1: ... Shot 2: ..." prompt:

    style: cartoon                  # optional: cartoon or realistic, said in every shot
    seed: 3                         # optional
    characters:                     # optional: defined once, referred to by name
      bob: a big red ball
    shots:
      - prompt: bob moves to the right
        seconds: 2                  # optional (default: the model's clip length)
        camera: pan-left            # optional: still, pan-left, pan-right, zoom-in, zoom-out
        backdrop: 1                 # optional: toyworld's backdrop 0, 1 or 2 (default: see below)
        narration: Bob sets off.    # optional: spoken over the shot, with captions (kino.audio); the
                                    # shot then lasts as long as its words need, unless seconds is given

Each shot is generated on its own (chunk by chunk when long) and the shots are joined with
hard cuts. A cut changes the set, as toyworld's cuts do: a shot that names no backdrop stands
against another one than the shot before it (the model's own, backdrop 0, after any other; 2
after 0), which the pipeline sets in its draft (kino.director.backdrop), since no words can.
A character keeps its look because every shot that names it reads the same words for it, with
the same seed, and is drawn in from the first shot that drew it (its latent cells,
``render_story(carry=True)``); the style words are the same in every shot.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kino.data.toyworld.scene import BACKDROPS
from kino.director.backdrop import known, regrade
from kino.pipelines.long_video import clip_shares, gather, stream
from kino.pipelines.prompting import CAMERAS, split_shots, with_camera
from kino.pipelines.text_to_video import MAX_SECONDS, Request, RequestError, TextToVideoPipeline
from kino.progress import Progress

STYLE_LEADS = {"cartoon": "A cartoon: ", "realistic": "A realistic render: "}  # captions' first wording
_STYLE_IN_TEXT = re.compile(r"^\s*(?:a\s+)?(?:cartoon|flat cartoon animation|realistic(?:\s+(?:render|3d scene))?|"
                            r"(?:in\s+a\s+)?(?:cartoon|realistic)\s+style)\s*[:.,]\s*", re.IGNORECASE)  # fmt: skip
MAX_SHOTS = 32


@dataclass(frozen=True)
class ShotSpec:
    prompt: str
    seconds: float | None = None
    camera: str | None = None
    backdrop: int | None = None  # toyworld's backdrop (kino.director.backdrop); None: another than the last shot's
    narration: str | None = None  # words spoken over the shot (kino.audio.commands sets its seconds from them)


@dataclass(frozen=True)
class Storyboard:
    shots: tuple[ShotSpec, ...]
    characters: dict[str, str] = field(default_factory=dict)
    style: str | None = None
    seed: int = 0
    reference: bool = False  # later shots start from the first shot's first frame (render_story)

    def prompts(self) -> list[str]:
        """The prompt the model reads for each shot: names expanded, camera and style words added."""
        prompts = []
        for i, shot in enumerate(self.shots):
            try:
                prompts.append(self.shot_prompt(shot))
            except RequestError as e:
                raise RequestError(f"shot {i + 1}: {e}") from None
        return prompts

    def backdrops(self) -> list[int | None]:
        """The backdrop of each shot: its own, else 2 (the lightest) after backdrop 0 and None (the
        model's own, which is 0) after any other, so every cut changes the set."""
        out: list[int | None] = []
        for shot in self.shots:
            if shot.backdrop is not None or not out:
                out.append(shot.backdrop)
            else:
                out.append(2 if not out[-1] else None)  # after the model's own (None or 0): 2
        return out

    def with_seconds(self, seconds: Sequence[float | None] | None) -> Storyboard:
        """This storyboard with each shot lasting its entry of ``seconds`` (None: the model's default);
        ``seconds`` None: as it is."""
        if seconds is None:
            return self
        shots = tuple(dataclasses.replace(shot, seconds=s) for shot, s in zip(self.shots, seconds, strict=True))
        return dataclasses.replace(self, shots=shots)

    def introductions(self) -> list[tuple[int, ...]]:
        """For each shot, the earlier shots that first named the characters it names (each once, in
        order): where a model that takes reference images finds how they looked."""
        if not self.characters:
            return [()] * len(self.shots)
        pattern, first, out = _names(self.characters), {}, []
        for i, shot in enumerate(self.shots):
            named = {m.group(1).lower() for m in pattern.finditer(shot.prompt)}
            out.append(tuple(sorted({first[n] for n in named if n in first})))
            for n in named:
                first.setdefault(n, i)
        return out

    def shot_prompt(self, shot: ShotSpec) -> str:
        text = expand_characters(shot.prompt, self.characters)
        text = with_camera(text, shot.camera)
        if self.style:
            text = STYLE_LEADS[self.style] + text[0].lower() + text[1:]
        return text


def expand_characters(text: str, characters: dict[str, str]) -> str:
    """Each character's name (and an article before it) replaced by its description, in one pass
    (a description that holds another character's name is left as written)."""
    if not characters:
        return text
    by_name = {name.lower(): description for name, description in characters.items()}
    return _names(characters).sub(lambda m: _match_case(by_name[m.group(1).lower()], m.group(0)), text)


def _names(characters: dict[str, str]) -> re.Pattern:
    """Any character's name, with an article before it; group 1 is the name."""
    names = "|".join(re.escape(n) for n in sorted(characters, key=len, reverse=True))
    return re.compile(rf"\b(?:(?:the|a|an)\s+)?({names})\b", re.IGNORECASE)


def _match_case(description: str, found: str) -> str:
    return description[0].upper() + description[1:] if found[0].isupper() else description


def _fail(where: str, what: str) -> RequestError:
    return RequestError(f"storyboard {where}: {what}")


def from_dict(data: object) -> Storyboard:
    """A storyboard from parsed YAML; RequestError names the field that is wrong."""
    if not isinstance(data, dict):
        raise _fail("file", "must be a mapping with a 'shots' list")
    unknown = sorted(set(data) - {"shots", "characters", "style", "seed", "reference"})
    if unknown:
        raise _fail(f"key {unknown[0]!r}", "is not known; use shots, characters, style, seed, reference")
    reference = data.get("reference", False)
    if not isinstance(reference, bool):
        raise _fail("reference", f"{reference!r} is not allowed; use true or false")
    style = data.get("style")
    if style is not None and style not in STYLE_LEADS:
        raise _fail("style", f"{style!r} is not allowed; use {' or '.join(STYLE_LEADS)}")
    seed = data.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise _fail("seed", f"{seed!r} is not allowed; use a whole number from 0")
    characters = data.get("characters") or {}
    if not isinstance(characters, dict):
        raise _fail("characters", "must map names to descriptions, e.g. bob: a big red ball")
    for name, description in characters.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name):
            raise _fail(f"character {name!r}", "a name is one word of letters, digits, - or _")
        if not isinstance(description, str) or not description.strip():
            raise _fail(f"character {name!r}", "needs a description, e.g. a big red ball")
    shots = data.get("shots")
    if not isinstance(shots, list) or not shots:
        raise _fail("shots", "must be a non-empty list of shots, each with a prompt")
    if len(shots) > MAX_SHOTS:
        raise _fail("shots", f"has {len(shots)} shots; at most {MAX_SHOTS} are allowed")
    specs = [_shot(i, s) for i, s in enumerate(shots)]
    return Storyboard(tuple(specs), {k: v.strip() for k, v in characters.items()}, style, seed, reference)


def _shot(i: int, s: object) -> ShotSpec:
    where = f"shot {i + 1}"
    if isinstance(s, str):
        s = {"prompt": s}
    if not isinstance(s, dict):
        raise _fail(where, "must be a prompt or a mapping with prompt, seconds, camera, backdrop, narration")
    unknown = sorted(set(s) - {"prompt", "seconds", "camera", "backdrop", "narration"})
    if unknown:
        raise _fail(where, f"key {unknown[0]!r} is not known; use prompt, seconds, camera, backdrop, narration")
    prompt = s.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _fail(where, "needs a prompt")
    seconds = s.get("seconds")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not (math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS)):  # fmt: skip
        raise _fail(where, f"seconds {seconds!r} is not allowed; use more than 0 and at most {MAX_SECONDS:g}")
    camera = s.get("camera")
    if camera is not None and camera not in CAMERAS:
        raise _fail(where, f"camera {camera!r} is not allowed; use one of {', '.join(CAMERAS)}")
    backdrop = s.get("backdrop")
    if backdrop is not None and not known(backdrop):
        raise _fail(where, f"backdrop {backdrop!r} is not allowed; use 0 to {len(BACKDROPS) - 1}")
    narration = s.get("narration")
    if narration is not None and (not isinstance(narration, str) or not narration.strip()):
        raise _fail(where, f"narration {narration!r} is not allowed; give the words to speak, or leave it out")
    return ShotSpec(prompt.strip(), None if seconds is None else float(seconds), camera, backdrop,
                    None if narration is None else narration.strip())


def load(path: str | Path) -> Storyboard:
    """A storyboard from a YAML file; RequestError for a file that is not one."""
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RequestError(f"storyboard {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RequestError(f"storyboard {path} cannot be read: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise RequestError(f"storyboard {path} is not valid YAML: {' '.join(str(e).split())}") from None
    return from_dict(data)


def from_prompt(prompt: str, seconds: float | None = None, seed: int = 0) -> Storyboard | None:
    """The storyboard of a "Shot 1: ... Shot 2: ..." prompt (None for a one-shot prompt).

    Words before "Shot 1:" that name a style ("A cartoon:") lead every shot; ``seconds``
    (the whole video) is split evenly between the shots, as in toyworld's multi-shot clips.
    """
    lead, shots = split_shots(prompt)
    if not shots:
        return None
    style = None
    if lead:
        low = lead.lower()
        style = "cartoon" if "cartoon" in low else "realistic" if "realistic" in low else None
        if style is None or not _STYLE_IN_TEXT.fullmatch(lead + " "):
            raise RequestError(f"{lead!r} before Shot 1 is not a style; start with Shot 1: or a style such as "
                               "'A cartoon:'")  # fmt: skip
    per_shot = None if seconds is None else seconds / len(shots)
    return Storyboard(tuple(ShotSpec(_STYLE_IN_TEXT.sub("", s) or s, per_shot) for s in shots), {}, style, seed)


@dataclass
class StoryResult:
    frames: np.ndarray  # (T, H, W, 3) uint8, the shots one after another
    fps: int
    cuts: list[int]  # index of the first frame of each shot after the first
    prompts: list[str]  # what the model read for each shot


def shot_requests(pipe: TextToVideoPipeline, story: Storyboard, **options) -> list[Request]:
    """One checked request per shot (the whole storyboard is checked before any shot is made)."""
    requests = []
    for i, (shot, prompt, backdrop) in enumerate(zip(story.shots, story.prompts(), story.backdrops())):
        request = Request(prompt, seed=story.seed, seconds=shot.seconds, backdrop=backdrop, **options)
        try:
            requests.append(pipe.resolve(request))
        except RequestError as e:
            raise RequestError(f"shot {i + 1}: {e}") from None
    total = sum(r.seconds for r in requests)
    if total > MAX_SECONDS + 1e-9:
        raise RequestError(f"the shots add up to {total:g} s; at most {MAX_SECONDS:g} s are allowed")
    return requests


def shot_units(requests: list[Request], pipe: TextToVideoPipeline) -> list[int]:
    """Units of work (kino.progress) of each shot, chunks included, for one progress bar
    over the story."""
    return [sum(clip_shares(pipe, r)) for r in requests]


@dataclass
class StoryStream:
    """A storyboard's video handed out in pieces as its shots are made (``stream_story``): iterating
    gives (n, H, W, 3) uint8 pieces in order; everything but ``timings`` (seconds per stage, all shots
    together, complete once the last piece is out) is known before the first piece."""

    pieces: Iterator[np.ndarray]
    frames: int
    height: int
    width: int
    fps: int
    cuts: list[int]  # index of the first frame of each shot after the first
    prompts: list[str]  # what the model reads for each shot
    timings: dict[str, float]

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.pieces

    def __len__(self) -> int:
        return self.frames


def render_story(
    pipe: TextToVideoPipeline, story: Storyboard, progress=None, reference: bool | None = None, carry: bool = True,
    **options,
) -> StoryResult:
    """Every shot generated with the same seed, joined with hard cuts, as one array: ``stream_story``'s
    pieces put together."""
    made = stream_story(pipe, story, progress, reference, carry, **options)
    return StoryResult(gather(made), made.fps, made.cuts, made.prompts)


def stream_story(
    pipe: TextToVideoPipeline, story: Storyboard, progress=None, reference: bool | None = None, carry: bool = True,
    **options,
) -> StoryStream:
    """Every shot generated with the same seed, joined with hard cuts, handed out as it is made (each
    shot chunk by chunk, ``long_video.stream``): a minute of shots never sits in memory whole. Every
    shot's request is checked before any is made.

    ``carry``: a character that an earlier shot drew is drawn into each later shot that names it
    from the earlier shot's own drawing (its latent cells, set at the place this shot gives it; the
    shot is then sampled again from part-way, kino.director.motion), so it keeps its look.

    ``reference`` (default: the storyboard's): every shot after the first starts from the first
    shot's first frame (kept through the first-frame channel), so its characters are drawn from the
    same pixels; the shot's own words then say where they go (its opening place is the reference's).

    ``progress`` (a ``(done, total)`` callback or a Progress, kino.progress) counts the
    work of every shot, planned here.
    """
    from kino.pipelines.text_to_video import num_frames_for

    reference = story.reference if reference is None else reference
    requests = shot_requests(pipe, story, **options)
    lengths = [num_frames_for(r.seconds, r.fps, pipe.cfg.vae.temporal_factor) for r in requests]
    cuts = [int(x) for x in np.cumsum(lengths)[:-1]]
    first = requests[0]
    timings: dict[str, float] = {}
    units = shot_units(requests, pipe)
    progress = Progress.of(progress)
    progress.expect(sum(units))
    pieces = _shots(pipe, requests, units, progress, reference, carry, timings)
    return StoryStream(pieces, sum(lengths), first.height, first.width, first.fps, cuts, [r.prompt for r in requests],
                       timings)


def _shots(
    pipe, requests: list[Request], units: list[int], progress: Progress, reference: bool, carry: bool, timings: dict
):
    """The frames of ``stream_story``, shot after shot, each as ``long_video.stream`` hands it out and
    counted as its ``units`` of ``progress``."""
    cast, opening = {}, None
    for k, (r, n) in enumerate(zip(requests, units)):
        if reference and k > 0:  # the first shot's first frame, against this shot's set
            image = opening if r.backdrop is None else regrade(opening[None], r.backdrop)[0]
            r = dataclasses.replace(r, image=image)
        with progress.part(n) as part:
            shot = stream(pipe, r, progress=part, cast=cast if carry else None)
            for piece in shot:
                if opening is None:
                    opening = piece[0].copy()  # the first shot's first frame: the reference of the others
                yield piece
        cast = {**shot.looks, **cast}  # a character keeps the look of the first shot that drew it
        for key, seconds in shot.timings.items():
            timings[key] = timings.get(key, 0.0) + seconds
