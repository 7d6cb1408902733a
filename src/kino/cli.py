"""The ``kino`` command. Exit codes: 0 done, 2 bad input or usage, 3 refused by the safety layer."""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

from kino.safety.moderation import SafetyRefusal

EXIT_OK, EXIT_USAGE, EXIT_REFUSED = 0, 2, 3

DEFAULT_MODEL = Path(__file__).parent / "checkpoints" / "toyworld"
CAMERA_CHOICES = ("still", "pan-left", "pan-right", "zoom-in", "zoom-out")


class UsageError(Exception):
    """Bad input: printed as one line on stderr, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not argparse's usage block
        raise UsageError(f"{self.prog}: {message}" if " " in self.prog else message)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")  # fails every range check below


def positive_float(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def non_negative_float(text: str) -> float:
    value = _number(text)
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of 0 or more")
    return value


def seconds_list(text: str) -> tuple[float, ...]:
    """Comma-separated positive lengths in seconds: "2,4"."""
    try:
        return tuple(positive_float(part) for part in text.split(","))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of positive seconds, like 2,4") from None


def toyworld_kinds(text: str) -> tuple[str, ...]:
    """Comma-separated kinds of toyworld scene: "color,place"."""
    from kino.data.toyworld.scene import KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"{text!r}: {'unknown kind ' + repr(unknown[0]) if unknown else 'no kinds'}; "
                                         f"choose from {', '.join(KINDS)}")
    return kinds


def text_layers(text: str) -> tuple[int, ...]:
    """Comma-separated hidden-state indices of the text encoder: "0,-1" (0: embeddings, -1: last)."""
    try:
        layers = tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        layers = ()
    if not layers or len(set(layers)) != len(layers):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct layer numbers such as 0,-1 (0: the embedding layer, "
                                         "-1: the last)")
    return layers


def block_count(text: str) -> int:
    """A number of blocks: a whole number from 0 to 16."""
    if not (text.strip().isdigit() and int(text) <= 16):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of blocks from 0 to 16")
    return int(text)


def fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a fraction from 0 to 1")
    return value


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not m:
        raise UsageError(f"--size {text!r} is not WIDTHxHEIGHT, e.g. 256x256 or 320x192")
    return int(m.group(1)), int(m.group(2))


def check_output(path: Path, suffix: str = ".mp4") -> Path:
    if path.suffix.lower() != suffix:
        raise UsageError(f"output {path} must end in {suffix}")
    if path.is_dir():
        raise UsageError(f"output {path} is a folder; give a file name ending in {suffix}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError(f"cannot write {path}: folder {parent} does not exist")
    try:  # a real write probe: permission bits alone are wrong for root and read-only mounts
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror.lower()}") from e
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {path}: permission denied")
    return path


def load_image(path: str | None, flag: str):
    """An image file as (H, W, 3) uint8 RGB (kino.media's limits), or a UsageError naming the flag."""
    if path is None:
        return None
    from kino import media

    try:
        return media.read_image(path, f"{flag} {path}")
    except FileNotFoundError:
        raise UsageError(f"{flag} {path}: no such file") from None
    except media.MediaError as e:
        raise UsageError(str(e)) from None


def compute_dtype(args):
    """The torch dtype a command computes in: ``--dtype``, else ``$KINO_DTYPE``, else what this
    machine runs natively (kino.precision); with ``-v`` it says which, and on what hardware."""
    from kino import precision

    try:
        dtype = precision.choose(getattr(args, "dtype", None))
    except precision.DtypeError as e:
        raise UsageError(f"{precision.ENV}: {e}") from e
    if getattr(args, "verbose", False):
        d = precision.describe(dtype)
        print(f"computing in {d['dtype']} on {d['device']} ({d['capability']})", file=sys.stderr)
    return dtype


def load_pipeline(args, guard=None):
    """The pipeline for ``args.model`` in ``args.dtype``; a missing or damaged folder is bad input (exit 2).
    ``guard``: the safety checks the command already built (kino.safety.guard; None: the pipeline's own)."""
    from kino.models.folder import ModelFolderError
    from kino.pipelines.text_to_video import TextToVideoPipeline

    dtype = compute_dtype(args)
    try:
        return TextToVideoPipeline.from_pretrained(args.model, dtype=dtype, guard=guard)
    except ModelFolderError as e:
        raise UsageError(str(e)) from e


def save_video(out: Path, frames, fps: int, stamp, progress=None, soundtrack=None) -> None:
    """The one way every command writes a video, so whatever is done to outputs applies to all:
    ``stamp`` (from ``output_stamp``) watermarks the frames and signs the file. ``frames``: a clip,
    or its pieces as they are made (``long_video.stream``). ``progress`` (kino.progress) counts the
    writing too, so a bar ends only when the file is there. A ``soundtrack`` (kino.audio) goes into
    the file, and its captions beside it (.vtt, .srt) once the video is there: kino.output.save, the
    service's way too."""
    from kino import output

    output.save(out, frames, fps, stamp, progress, soundtrack)


def set_aside_writing(progress, frames: int) -> int:
    """Plan the writing of a video of about ``frames`` frames on ``progress`` before it is made (its
    units, returned, for a ``progress.part`` to write it in), so the bar never goes back after."""
    from kino.data.video_io import write_units

    units = write_units(frames)
    progress.expect(units)
    return units


def keys_dir() -> Path:
    from kino.provenance.keys import default_dir

    return default_dir(os.environ)


def output_stamp(args, operation: str, *sources: str, model_id: str | None = None):
    """The provenance of one output: C2PA manifest and watermark, signed with this machine's keys
    (created on first use). ``sources`` are the videos an edit started from; ``model_id`` names the
    model (default: kino's own folder ``args.model``)."""
    from kino import provenance
    from kino.provenance.keys import KeysError, ensure

    try:
        keys = ensure(keys_dir())
    except (KeysError, OSError) as e:
        raise UsageError(f"signing keys: {e}") from e
    return provenance.Stamp(keys, model_id or provenance.model_id(args.model), operation, tuple(Path(s) for s in sources),
                            getattr(args, "visible_mark", False))


def progress_bar(desc: str):
    """A tqdm bar on stderr and the Progress (kino.progress) that drives it: units of work done of
    its total (which may grow), the stage at work named after ``desc``."""
    from tqdm import tqdm

    from kino.progress import Progress

    bar = tqdm(total=None, desc=desc, unit="unit", file=sys.stderr, dynamic_ncols=True)

    def show(done: int, total: int) -> None:
        label = f"{desc} ({progress.stage})" if progress.stage else desc
        if bar.total != total or bar.desc != label:
            bar.total = total
            bar.set_description_str(label, refresh=False)
            bar.refresh()
        bar.update(done - bar.n)

    progress = Progress(show)
    return bar, progress


def toyworld_note(prompt: str) -> None:
    """Say on stderr when a prompt asks the toyworld model for things it never saw."""
    from kino.data.toyworld.vocabulary import note

    said = note(prompt)
    if said:
        print(f"kino: note: {said}", file=sys.stderr)


def load_references(args, info) -> tuple:
    """The ``--reference`` pictures as (H, W, 3) uint8, for a model that takes reference images;
    exit 2 naming the models that do, for one that does not."""
    from kino.backends.base import REFERENCE, CapabilityError, require

    paths = getattr(args, "reference", None) or []
    if not paths:
        return ()
    try:
        require(info, REFERENCE)
    except CapabilityError as e:
        raise UsageError(str(e)) from e
    return tuple(load_image(path, "--reference") for path in paths)


def locate_model(args):
    """What ``--model`` names (kino.backends.registry), read without loading it; exit 2 if nothing."""
    from kino.backends.registry import ModelError, locate

    try:
        return locate(args.model)
    except ModelError as e:
        raise UsageError(str(e)) from e


def open_stamp(args, info, operation: str, *sources: str):
    """The provenance of an output of ``info``'s model (kino.output.stamp, the service's too): its
    manifest names the backend and the SHA-256 of its weight files."""
    from kino import output
    from kino.provenance.keys import KeysError, ensure

    try:
        keys = ensure(keys_dir())
    except (KeysError, OSError) as e:
        raise UsageError(f"signing keys: {e}") from e
    return output.stamp(keys, info, operation, tuple(Path(s) for s in sources), getattr(args, "visible_mark", False))


def load_backend(args, info):
    """The loaded Backend for ``info`` in the command's dtype, with its memory options, as the command
    configures it (toyworld's director, sampler, fade: the model's where it has them). Every option
    given that the model ignores is said on stderr first (kino.backends.base.ignored)."""
    from kino.backends.base import COMPILE, NEGATIVE_PROMPT, OFFLOAD, VAE_TILING, RequestError, ignored
    from kino.backends.diffusers_video import Memory
    from kino.backends.registry import load

    memory = Memory(offload=getattr(args, "offload", "none"), vae_tiling=getattr(args, "vae_tiling", False),
                    compile=getattr(args, "compile", False))
    given = (("--negative-prompt", NEGATIVE_PROMPT, getattr(args, "negative_prompt", None)),
             ("--offload", OFFLOAD, memory.offload != "none"), ("--vae-tiling", VAE_TILING, memory.vae_tiling),
             ("--compile", COMPILE, memory.compile))
    for note in ignored(info, {option: need for option, need, on in given if on}):
        print(f"kino: note: {note}", file=sys.stderr)
    try:
        return load(info, compute_dtype(args), getattr(args, "device", None), memory=memory).configured(
            layout=not getattr(args, "no_layout", False), sampler=getattr(args, "sampler", None),
            fade=not getattr(args, "no_fade", False))
    except RequestError as e:
        raise UsageError(str(e)) from e


def generate_on_backend(args, info, out: Path, width, height, image, last_image, speech=None, guard=None,
                        references: tuple = ()) -> int:
    """``kino generate`` on any model (kino.core): checked and moderated before it loads; ``speech``,
    the narration (kino.audio), from the start; ``guard``, the safety checks that moderated it (None:
    built here); ``references``, pictures every call is given (REFERENCE). A multi-shot prompt is a
    storyboard (``make_story``)."""
    from kino import core
    from kino.backends.base import SAMPLER, RequestError, require
    from kino.pipelines import prompting, storyboard
    from kino.safety.guard import Guard

    if args.enhance and info.vocabulary != "toyworld":
        raise UsageError(f"--enhance rewrites a prompt in toyworld's caption words, which {info.name} has not learnt")
    if args.loop and last_image is not None:
        raise UsageError("--loop ends on the first frame; it cannot be combined with --last-image")
    try:
        if args.sampler:  # refused before the model loads, as its Backend would refuse it
            require(info, SAMPLER)
        prompt = args.prompt
        if args.enhance:
            prompt = prompting.enhance(prompt)
            print(f"enhanced prompt: {prompt}", file=sys.stderr)
        story = storyboard.from_prompt(prompt, args.seconds, args.seed)
        if story is not None:
            if args.loop or image is not None or last_image is not None:
                raise UsageError("a multi-shot prompt cannot be combined with --loop, --image or --last-image")
            if args.camera:
                story = storyboard.Storyboard(tuple(storyboard.ShotSpec(s.prompt, s.seconds, args.camera)
                                                    for s in story.shots), story.characters, story.style, story.seed)
            options = dict(width=width, height=height, fps=args.fps, steps=args.steps, guidance=args.guidance,
                           negative_prompt=args.negative_prompt, references=references)
            return make_story(args, info, story.with_seconds(args.shot_seconds), out, options, "generate",
                              speeches=[speech], guard=guard)
        prompt = prompting.with_camera(prompt, args.camera)
        job = core.Job(prompt, seed=args.seed, seconds=args.seconds, fps=args.fps, width=width, height=height,
                       steps=args.steps, guidance=args.guidance, negative_prompt=args.negative_prompt, image=image,
                       last_image=last_image, loop=args.loop, references=references)
        core.check_job(info, job)
        guard = Guard.from_env() if guard is None else guard
        core.guard_inputs(guard, job)
        if info.vocabulary == "toyworld":
            toyworld_note(job.prompt)  # after the guard passed it: a refusal is the only line a refused prompt gets
        stamp = open_stamp(args, info, "generate")
        backend = load_backend(args, info)
        r = core.resolve(backend, job)
        bar, progress = progress_bar("generating")
        with bar:  # each piece is encoded as it is made: a minute never sits in memory whole
            video = core.stream(backend, r, guard, progress)
            track = narrated(args, [(0, speech)], [0], video.frames, video.fps)
            save_video(out, video, video.fps, stamp, progress=progress, soundtrack=track)
    except RequestError as e:
        raise UsageError(str(e)) from e
    how = ", ".join(x for x in (info.backend, f"{r.steps} steps", backend.making) if x)
    t = video.timings
    stages = ", ".join(f"{name} {t[key]:.2f}s" for name, key in (("text", "text_encoding"), ("transformer", "transformer"),
                                                                 ("decode", "vae_decode")) if key in t)
    print(f"wrote {out} ({video.width}x{video.height}, {video.frames} frames at {video.fps} fps) with "
          f"{info.name} ({how}) in {t.get('total', 0):.1f}s{f' ({stages})' if stages else ''}{said(out, track)}",
          file=sys.stderr)
    return EXIT_OK


def make_story(args, info, story, out: Path, options: dict, operation: str, speeches=(), guard=None) -> int:
    """A storyboard's shots made by any model (kino.core.storyboard, the service's way too), joined
    with hard cuts: every shot's prompt is moderated before the model loads. Characters carry over
    in words (each shot's prompt names them as the storyboard describes them); on a model that takes
    reference images, in pictures too (a shot that names a character an earlier shot named is given
    that shot's first frame; with ``reference: true``, every shot the first shot's); with toyworld's
    director, as the shot that introduced them drew them. ``options``: width, height, fps, steps,
    guidance, negative_prompt, references (None: the model's); ``speeches``: each shot's narration
    (kino.audio; None for a silent shot), spoken from the shot's start; ``guard``, the safety checks
    that moderated it (None: built here)."""
    from kino import core
    from kino.backends.base import REFERENCE, RequestError, models_with
    from kino.safety.guard import Guard

    try:
        jobs, leads = core.story_jobs(info, story, **options)
        for i, job in enumerate(jobs):
            lead = leads[i] if leads else ()
            given = f" (references: {', '.join(f'shot {j + 1} first frame' for j in lead)})" if lead else ""
            print(f"shot {i + 1}: {job.prompt}{given}", file=sys.stderr)
            core.check_job(info, job)
        guard = Guard.from_env() if guard is None else guard
        for job in jobs:
            core.guard_inputs(guard, job)
        # After the guard passed them: a refusal is the only line refused shots get.
        directed = info.vocabulary == "toyworld" and not getattr(args, "no_layout", False)
        if leads is None and not directed and len(jobs) > 1:
            print(f"kino: note: {info.name} takes no reference images, so who appears in several shots is kept by "
                  f"the same words only (models that take them: {models_with(REFERENCE)})", file=sys.stderr)
        if info.vocabulary == "toyworld":
            toyworld_note(" ".join(job.prompt for job in jobs))
        stamp = open_stamp(args, info, operation)
        backend = load_backend(args, info)
        bar, progress = progress_bar("storyboard")
        with bar:  # each shot is encoded as it is made
            video = core.storyboard(backend, story, guard, progress, **options)
            track = narrated(args, list(enumerate(speeches)), [0, *video.cuts], video.frames, video.fps)
            save_video(out, video, video.fps, stamp, progress=progress, soundtrack=track)
    except RequestError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {out} ({len(jobs)} shots, {video.frames} frames at {video.fps} fps; cuts at frames {video.cuts}) "
          f"with {info.name} ({info.backend}){said(out, track)}", file=sys.stderr)
    return EXIT_OK


def edit_on_backend(args, info, out: Path, operation: str, sources: list[str], make) -> int:
    """``kino extend``, ``connect`` or ``edit`` on any model, its inputs read (``out`` checked): the
    prompt is moderated before the model loads, the file signed as every model's (``open_stamp``);
    ``make(backend, job, guard, progress)`` returns the frames to write (kino.core, which leaves kino's
    own model to its own extend, connect and edit), their frame rate and the units of ``progress`` it
    set aside for writing them (``set_aside_writing``)."""
    from kino import core
    from kino.backends.base import RequestError
    from kino.safety.guard import Guard

    job = core.Job(args.prompt, seed=args.seed, seconds=getattr(args, "seconds", None), steps=args.steps,
                   guidance=args.guidance)
    try:
        guard = Guard.from_env()
        core.guard_inputs(guard, job)
        stamp = open_stamp(args, info, operation, *sources)
        backend = load_backend(args, info)
        bar, progress = progress_bar(f"{operation}ing")
        with bar:
            video, fps, writing = make(backend, job, guard, progress)
            with progress.part(writing) as part:
                save_video(out, video, fps, stamp, progress=part)
    except RequestError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {out} ({len(video)} frames at {fps} fps) with {info.name} ({info.backend})", file=sys.stderr)
    return EXIT_OK


def cmd_generate(args) -> int:
    from kino.pipelines.text_to_video import RequestError

    out = check_output(Path(args.output))
    width, height = parse_size(args.size) if args.size else (None, None)
    image, last_image = load_image(args.image, "--image"), load_image(args.last_image, "--last-image")
    info = locate_model(args)
    references = load_references(args, info)
    speech, args.shot_seconds, guard = None, None, None
    if args.narration is not None:  # moderated and spoken first: its length sets the video's
        from kino.audio import commands as narrate
        from kino.pipelines.prompting import split_shots

        # A multi-shot prompt's narration is its first shot's line (as in the service); a
        # storyboard gives each shot its own.
        try:
            shots = len(split_shots(args.prompt)[1])
        except RequestError as e:  # a malformed "Shot N:" prompt, as generation itself would say
            raise UsageError(str(e)) from e
        fixed = None if args.seconds is None else args.seconds / max(shots, 1)
        lines = [narrate.shot_line(None if i else args.narration, fixed, f"shot {i + 1}" if shots else "--narration")
                 for i in range(max(shots, 1))]
        guard = narrate.guard()  # built once: it goes on to check the prompt and the frames
        spoken = narrate.spoken(args, guard, lines, "shorten it, raise --rate, or give more --seconds")
        speech = spoken.speeches[0]
        if shots:
            args.shot_seconds = spoken.seconds
        else:
            args.seconds = spoken.seconds[0]
    return generate_on_backend(args, info, out, width, height, image, last_image, speech, guard, references)


def narrated(args, speeches, starts: list[int], frames: int, fps: int):
    """The soundtrack (kino.audio) of a video of ``frames``: each (shot index, speech) from its
    shot's first frame in ``starts``; None when nothing is spoken."""
    lines = [(starts[i] / fps, speech) for i, speech in speeches if speech is not None]
    if not lines:
        return None
    from kino.audio import commands as narrate

    return narrate.soundtrack(args, lines, frames / fps)


def said(out: Path, track) -> str:
    from kino.audio.commands import told

    return told(out, track)


def cmd_storyboard(args) -> int:
    import dataclasses

    from kino.audio import commands as narrate
    from kino.pipelines import storyboard
    from kino.pipelines.text_to_video import RequestError

    out = check_output(Path(args.output))
    width, height = parse_size(args.size) if args.size else (None, None)
    try:
        story = storyboard.load(args.story)
        if args.seed is not None:
            story = dataclasses.replace(story, seed=args.seed)
        info = locate_model(args)
        references = load_references(args, info)
        guard = narrate.guard() if any(shot.narration for shot in story.shots) else None  # built once
        story, speeches = narrate.story_lines(args, story, guard)  # spoken first: the lines set the shots' lengths
        return make_story(args, info, story, out, dict(width=width, height=height, fps=args.fps, steps=args.steps,
                                                       guidance=args.guidance, references=references),
                          "storyboard", speeches, guard)
    except RequestError as e:
        raise UsageError(str(e)) from e


def load_video(path: str):
    """A video file as (T, H, W, 3) uint8 frames and its frame rate (kino.media's limits), or a UsageError."""
    from kino import media

    if not Path(path).is_file():
        raise UsageError(f"input video {path}: no such file")
    try:
        return media.read_video(path, f"input video {path}")
    except media.MediaError as e:
        raise UsageError(str(e)) from None


NO_LAYOUT_HELP = ("the model alone: no toyworld director (kino.director), which plans where the objects the "
                  "prompt names go, steers attention there and moves them from a still first frame; by default "
                  "it runs for models that learnt toyworld's words")
NO_FADE_HELP = ("keep every input frame exactly; by default the input's frames next to the join fade into "
                "the model's look of them (0.75 s at 8 fps), so the join shows no jump")


def cmd_extend(args) -> int:
    import math

    from kino import core

    info = locate_model(args)
    out = check_output(Path(args.output))
    frames, fps = load_video(args.input)
    fps = round(fps) or 8

    def make(backend, job, guard, progress):
        writing = set_aside_writing(progress, len(frames) + math.ceil(args.seconds * fps))
        return core.continue_video(backend, job, frames, fps, guard, progress, backward=args.backward), fps, writing

    return edit_on_backend(args, info, out, "extend", [args.input], make)


def cmd_connect(args) -> int:
    import math

    from kino import core

    info = locate_model(args)
    out = check_output(Path(args.output))
    a, fps = load_video(args.first)
    b, _ = load_video(args.second)
    fps = round(fps) or 8

    def make(backend, job, guard, progress):
        writing = set_aside_writing(progress, len(a) + len(b) + math.ceil(args.seconds * fps))
        return core.continue_video(backend, job, a, fps, guard, progress, then=b), fps, writing

    return edit_on_backend(args, info, out, "connect", [args.first, args.second], make)


def cmd_edit(args) -> int:
    from kino import core
    from kino.backends.base import MASKED_EDIT, VIDEO_TO_VIDEO, require

    info = locate_model(args)
    try:
        require(info, VIDEO_TO_VIDEO if args.mask is None else MASKED_EDIT)
    except ValueError as e:
        raise UsageError(str(e)) from e
    out = check_output(Path(args.output))
    frames, fps = load_video(args.input)
    fps = round(fps) or 8
    mask = None if args.mask is None else load_image(args.mask, "--mask")

    def make(backend, job, guard, progress):
        writing = set_aside_writing(progress, len(frames))
        region = None if mask is None else mask.mean(axis=2) > 127
        return core.restyle(backend, job, frames, fps, args.strength, guard, progress, mask=region), fps, writing

    return edit_on_backend(args, info, out, "edit", [args.input], make)


def cmd_train(args) -> int:
    import dataclasses

    from kino.training.trainer import train, train_preset

    try:
        tc = train_preset(args.preset)
    except ValueError as e:
        raise UsageError(str(e)) from e
    for flag, folder in (("--vae-from", args.vae_from), ("--init-from", args.init_from)):
        if folder:
            from kino.models.folder import ModelFolderError, load_config

            try:
                load_config(folder)
            except ModelFolderError as e:
                raise UsageError(f"{flag}: {e}") from e
    keys = ("seed", "vae_steps", "dit_steps", "batch", "accum", "lr", "warmup", "cache_clips", "cache_workers", "init_from",
            "max_minutes", "compile", "decoder_steps", "grounding", "rim_weight", "colour_weight", "decoder_clip_seconds",
            "dtype", "vae_from", "kinds", "time_shift", "known_frames", "text_layers", "text_refiner", "attention_loss")
    overrides = {k: getattr(args, k) for k in keys}
    tc = dataclasses.replace(tc, **{k: v for k, v in overrides.items() if v is not None})
    if args.dtype is None:  # $KINO_DTYPE, else auto, decided on each rank's own device
        compute_dtype(args)
        tc = dataclasses.replace(tc, dtype=os.environ.get("KINO_DTYPE", "").strip() or "auto")
    short = [s for s in tc.decoder_clip_seconds if s < tc.vae_seconds]
    if short:
        raise UsageError(f"--decoder-clip-seconds: {short[0]:g} s is shorter than the decoder's crops of "
                         f"{tc.vae_seconds:g} s; use lengths of {tc.vae_seconds:g} s or more")
    model_dir = train(tc, args.out)
    if model_dir is None:
        print(f"out of time before a model folder was saved; run the same command to resume {args.out}",
              file=sys.stderr)
    else:
        print(f"model folder: {model_dir}", file=sys.stderr)
    return EXIT_OK


BENCH_SECTIONS = ("render", "vae", "generate", "transformer", "decoders", "scaling")


def run_bench_sections(args, sections: list[str], dtype) -> dict:
    """Each asked-for section of ``kino bench``, in one process, one after another."""
    from tqdm import tqdm

    from kino.evaluation import perf, scaling
    from kino.evaluation.bench import bench_generate, bench_render, bench_vae_psnr

    q = args.quick
    bar = tqdm(sections, desc="bench", file=sys.stderr, dynamic_ncols=True)
    out = {}
    for name in bar:
        bar.set_postfix(section=name)
        if name == "render":
            out[name] = bench_render(clips=2 if q else 8)
        elif name == "vae":
            out[name] = bench_vae_psnr(args.model, clips=2 if q else 16, dtype=dtype)
        elif name == "generate":
            out[name] = bench_generate(args.model, "a red ball rolls to the right", repeats=1 if q else 3, dtype=dtype)
        elif name == "transformer":
            shape = perf.QUICK if q else perf.Shape()
            out[name] = perf.bench_transformers(shape, dtype, repeats=1 if q else 5, compile=not q)
            out[name]["kino_time_split"] = perf.time_split(perf.kino_transformer(shape, dtype))
        elif name == "decoders":
            size = dict(frames=5, height=32, width=32) if q else {}
            out[name] = perf.bench_vae_decoders(**size, dtype=dtype, repeats=1 if q else 3)
        elif name == "scaling":
            quick = dict(durations=(1.0, 2.0), sizes=((128, 128), (192, 128)), steps=1) if q else {}
            out[name] = scaling.run(args.model, out_dir=args.plots, **quick)
    return out


def cmd_bench(args) -> int:
    import json

    from kino import precision
    from kino.evaluation.bench import machine
    from kino.io import atomic_path
    from kino.models.folder import ModelFolderError, load_config

    if args.out:
        check_output(Path(args.out), suffix=".json")
    try:
        load_config(args.model)
    except ModelFolderError as e:
        raise UsageError(str(e)) from e
    sections = [x.strip() for x in (args.sections or ",".join(BENCH_SECTIONS)).split(",") if x.strip()]
    unknown = [x for x in sections if x not in BENCH_SECTIONS]
    if unknown:
        raise UsageError(f"unknown bench section {unknown[0]!r}; choose from {', '.join(BENCH_SECTIONS)}")
    if args.plots:
        check_output(Path(args.plots) / "time_vs_duration.png", suffix=".png")
    # Every section, and the processes the scaling section starts, compute in the same dtype.
    dtype = compute_dtype(args)
    os.environ["KINO_DTYPE"] = precision.NAMES[dtype]
    results = {"machine": machine()}
    if args.creative:  # issue 6's figures: seams, loops, kept frames, masked edits, a minute of video, storyboards
        from kino.evaluation import creative

        quick = dict(n=1, n_storyboards=2, durations=(4, 8), steps=2) if args.quick else {}
        results["creative"] = creative.run(str(args.model), **{"steps": 10, "n": 6, "n_storyboards": 50, **quick})
    else:
        results.update(run_bench_sections(args, sections, dtype))
    text = json.dumps(results, indent=2)
    if args.out:
        with atomic_path(args.out) as tmp:
            tmp.write_text(text + "\n")
    print(text)
    return EXIT_OK


def cmd_eval(args) -> int:
    import json

    from tqdm import tqdm

    from kino.evaluation import adherence, report, temporal
    from kino.evaluation.bench import machine
    from kino.io import atomic_path
    from kino.pipelines import storyboard
    from kino.pipelines.text_to_video import Request, RequestError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a folder")
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    if args.seeds < 1:
        raise UsageError("--seeds must be at least 1")
    dims = args.dims.split(",") if args.dims else None
    try:
        cases = adherence.default_suite(dims) if args.limit is None else adherence.suite(args.limit, dims)
    except ValueError as e:
        raise UsageError(str(e)) from e
    if args.paraphrase:
        cases = adherence.paraphrased(cases)
    pipe = load_pipeline(args)
    modes = list(report.MODES) if args.mode == "both" else [args.mode]
    if args.no_layout:
        modes = ["model_alone"]
    if pipe.cfg.vocabulary != "toyworld":  # the director serves toyworld's words only
        if modes == ["director"]:
            raise UsageError(f"the toyworld director does not run for {args.model}: it learnt "
                             f"{pipe.cfg.vocabulary!r} words, not toyworld's; use --mode model_alone")
        modes = ["model_alone"]
    # A prompt this model cannot read (e.g. longer than its text window) is reported, not run.
    skipped = []
    base = dict(steps=args.steps, guidance=args.guidance)
    for case in list(cases):
        try:
            story = storyboard.from_prompt(case.prompt)
            if story is None:
                pipe.resolve(Request(case.prompt, **base))
            else:
                storyboard.shot_requests(pipe, story, **base)
        except RequestError as e:
            cases.remove(case)
            skipped.append({"dimension": case.dimension, "prompt": case.prompt, "reason": str(e)})
    if skipped:
        print(f"skipping {len(skipped)} prompt(s) this model cannot read; see results.json", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    seeds = list(range(args.seeds))
    from kino import precision

    made_with = {**machine(), **precision.describe(pipe.dtype)}  # what the pipeline runs in
    steps = {m: args.steps or pipe.default_steps(layout=m == "director") for m in modes}
    results = {"model": str(args.model), "machine": made_with, "steps": steps,
               "phrasing": "paraphrased" if args.paraphrase else "caption templates", "modes": {}, "skipped": skipped}
    with tqdm(total=len(cases) * len(seeds) * len(modes), desc="eval", file=sys.stderr, dynamic_ncols=True) as bar:
        for mode in modes:
            options = dict(base, layout=mode == "director")
            done = 0

            def generate(prompt: str, seed: int):
                story = storyboard.from_prompt(prompt, seed=seed)  # "Shot 1: ... Shot 2: ...", as generate makes it
                if story is not None:
                    made = storyboard.render_story(pipe, story, **options)
                    return made.frames, made.fps
                result = pipe(Request(prompt, seed=seed, **options))
                return result.frames, result.fps

            def inspect(outcome: adherence.Outcome, frames, fps: float) -> None:
                # The only look at the frames: measure them and draw the sheet, then they are dropped.
                nonlocal done
                outcome.temporal = temporal.figures(frames, fps)
                name = f"{mode}-{done:04d}-{outcome.case.dimension}-seed{outcome.seed}.png"
                outcome.sheet = report.write_sheet(out, name, frames, fps, outcome.passed, report.sheet_caption(outcome))
                done += 1

            bar.set_postfix_str(report.MODES[mode])
            outcomes = adherence.run(cases, generate, seeds, progress=bar.update, inspect=inspect)
            results["modes"][mode] = {"summary": adherence.summarize(outcomes),
                                      "temporal": temporal.aggregate(o.temporal for o in outcomes),
                                      "results": [adherence.outcome_record(o) for o in outcomes]}
    results["summary"] = report.side_by_side(results["modes"])
    with atomic_path(out / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=2) + "\n")
    page = report.write_report(out, results)
    print(f"{'dimension':18s} " + " ".join(f"{report.MODES[m]:>18s}" for m in modes) + "      n")
    for name, row in results["summary"].items():
        print(f"{name:18s} " + " ".join(f"{row[m]:18.1%}" for m in modes) + f"  {row['n']:5d}")
    print(f"report: {page}")
    return EXIT_OK


def cmd_likeness(args) -> int:
    from kino.safety.guard import likeness_dir
    from kino.safety.likeness import LikenessError, Registry

    registry = Registry(likeness_dir())
    try:
        if args.action == "add":
            images = [load_image(path, "image") for path in args.images]
            added = registry.add(args.name, images, labels=list(args.images))
            total = registry.names()[args.name.strip()]
            print(f"protected {args.name.strip()!r}: {added} face(s) added, {total} in all ({registry.path})",
                  file=sys.stderr)
        elif args.action == "list":
            names = registry.names()
            for name, count in names.items():
                print(f"{name}\t{count} face(s)")
            if not names:
                print(f"no protected faces ({registry.path})", file=sys.stderr)
        else:
            registry.remove(args.name)
            print(f"removed {args.name!r} from {registry.path}", file=sys.stderr)
    except LikenessError as e:
        raise UsageError(str(e)) from e
    return EXIT_OK


def cmd_keys(args) -> int:
    from kino.provenance import keys

    folder = Path(args.dir) if args.dir else keys_dir()
    try:
        made = keys.init(folder, force=args.force) if args.action == "init" else keys.load(folder)
    except keys.KeysError as e:
        raise UsageError(str(e)) from e
    except OSError as e:
        raise UsageError(f"cannot write keys to {folder}: {e.strerror.lower()}") from e
    verb = "created" if args.action == "init" else "keys in"
    print(f"{verb} {folder}: signer {made.subject}, key id {made.key_id:08x}; trust anchor {folder / 'root.pem'}",
          file=sys.stderr)
    return EXIT_OK


def trust_anchors(path: str | None) -> bytes | None:
    """PEM roots a C2PA signer must chain to: --trust, else $KINO_TRUST_ANCHORS, else this machine's root."""
    path = path or os.environ.get("KINO_TRUST_ANCHORS")
    if path:
        try:
            return Path(path).read_bytes()
        except OSError as e:
            raise UsageError(f"trust anchors {path}: {e.strerror.lower()}") from e
    local = keys_dir() / "root.pem"
    return local.read_bytes() if local.is_file() else None


def cmd_verify(args) -> int:
    import json

    from kino.provenance import keys
    from kino.provenance.verify import VerifyError, verify

    try:
        local = keys.load(keys_dir()).key_id
    except keys.KeysError:
        local = None
    try:
        verdict = verify(args.file, trust_anchors(args.trust), local)
    except VerifyError as e:
        raise UsageError(str(e)) from e
    print(json.dumps(verdict.to_dict(), indent=2) if args.json else "\n".join(verdict.lines()))
    return EXIT_OK


def cmd_models(args) -> int:
    from kino.backends.registry import catalogue, hub_cache

    folders = [DEFAULT_MODEL, *args.folders]
    folders += [f for f in os.environ.get("KINO_MODELS", "").split(os.pathsep) if f]
    found, notes = catalogue(folders)
    for m in found:
        print(f"{m.name}\n  {m.backend} ({m.pipeline}): {', '.join(m.capabilities)}")
    for note in notes:
        print(f"not usable: {note}", file=sys.stderr)
    print(f"({len(found)} models; searched {', '.join(str(f) for f in folders)} and the Hugging Face cache "
          f"{hub_cache()})", file=sys.stderr)
    return EXIT_OK


def sampling_options(p: argparse.ArgumentParser, seed: int | None = 0, seed_help: str | None = None) -> None:
    """--seed, --steps, --guidance, --model, --dtype and -v, as every command that samples the model takes them."""
    p.add_argument("--seed", type=int, default=seed, help=seed_help)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--guidance", type=float, default=None)
    p.add_argument("--model", default=str(DEFAULT_MODEL), help=MODEL_HELP)
    dtype_options(p)
    memory_options(p)


def dtype_options(p: argparse.ArgumentParser) -> None:
    """--dtype and -v, on every command that runs a model."""
    from kino.precision import CHOICES

    p.add_argument("--dtype", default=None, choices=CHOICES,
                   help="compute dtype (default $KINO_DTYPE, else auto: bf16 where the hardware runs it natively "
                        "(AMX, AVX512-BF16, CUDA), float32 elsewhere)")
    p.add_argument("-v", "--verbose", action="store_true", help="say which dtype and hardware run the model")


REFERENCE_HELP = ("a picture of who or what the video shows, to look as it does there (repeat for several; "
                  "models that take reference images: Wan2.1-VACE)")
MODEL_HELP = ("a kino model folder, a diffusers folder (model_index.json: Wan2.1, LTX-Video, CogVideoX) or a "
              "Hugging Face Hub id in the local cache")


def memory_options(p: argparse.ArgumentParser) -> None:
    """What a large open model needs to fit a 12-24 GB GPU (kino.backends.diffusers_video.Memory)."""
    from kino.backends.diffusers_video import OFFLOADS

    p.add_argument("--offload", default="none", choices=OFFLOADS,
                   help="open models: keep weights on the CPU and move each part (model) or layer (sequential) "
                        "to the GPU as it runs")
    p.add_argument("--vae-tiling", action="store_true", help="open models: decode in tiles (less GPU memory)")
    p.add_argument("--compile", action="store_true", help="open models: torch.compile the transformer")


def build_parser() -> Parser:
    from kino.audio.commands import voice_options

    p = Parser(prog="kino", description="Open text-to-video.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser)

    g = sub.add_parser("generate", help="make a video from a prompt")
    g.add_argument("prompt")
    g.add_argument("-o", "--output", required=True, help="output .mp4 path")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--seconds", type=float, default=None, help="duration (default 4)")
    g.add_argument("--fps", type=int, default=None, help="frames per second (default 8)")
    g.add_argument("--size", default=None, help="WIDTHxHEIGHT, multiples of 32 from 128 to 1024 (default 256x256)")
    g.add_argument("--steps", type=int, default=None, help="sampling steps (default: the model's)")
    g.add_argument("--guidance", type=float, default=None, help="classifier-free guidance scale (default 4)")
    g.add_argument("--sampler", default=None, help="euler or heun")
    g.add_argument("--image", default=None, help="first frame to animate (PNG, JPEG, ...); scaled and centre-cropped")
    g.add_argument("--last-image", default=None, help="last frame to reach")
    g.add_argument("--loop", action="store_true", help="make the last frame lead seamlessly into the first")
    g.add_argument("--camera", default=None, choices=CAMERA_CHOICES, help="camera move, added to the prompt")
    g.add_argument("--enhance", action="store_true", help="rewrite the prompt in the detailed caption style "
                   "the model was trained on (shown before generating)")
    g.add_argument("--model", default=str(DEFAULT_MODEL), help=MODEL_HELP + " (default: the shipped toyworld model)")
    g.add_argument("--visible-mark", action="store_true", help="also stamp a small visible 'AI' mark in a corner")
    g.add_argument("--no-director", "--no-layout", dest="no_layout", action="store_true", help=NO_LAYOUT_HELP)
    g.add_argument("--negative-prompt", default=None, help="what to keep out of the video (open models; "
                   "default: the model's own)")
    g.add_argument("--reference", action="append", metavar="IMAGE", help=REFERENCE_HELP)
    g.add_argument("--narration", default=None, help="words spoken over the video, with captions (the mp4's "
                   "caption track, .vtt and .srt beside it); the video lasts as long as they need unless --seconds "
                   "is given")
    voice_options(g)
    dtype_options(g)
    memory_options(g)
    g.set_defaults(func=cmd_generate)

    x = sub.add_parser("extend", help="add seconds of video after (or before) a clip")
    x.add_argument("input", help="video to extend (.mp4, .webm, ...)")
    x.add_argument("prompt", nargs="?", default="", help="what happens next (optional)")
    x.add_argument("-o", "--output", required=True, help="output .mp4 path")
    x.add_argument("--seconds", type=float, default=2.0, help="seconds of new video (default 2)")
    x.add_argument("--backward", action="store_true", help="add the new video before the clip")
    x.add_argument("--no-fade", action="store_true", help=NO_FADE_HELP)
    x.add_argument("--no-director", "--no-layout", dest="no_layout", action="store_true",
                   help="do not carry on the motion of the objects the prompt names, found in the clip's frames "
                        "next to the new ones (kino.director.motion.follow); the model alone continues them")
    sampling_options(x)
    x.set_defaults(func=cmd_extend)

    c = sub.add_parser("connect", help="join two clips with a generated transition")
    c.add_argument("first", help="the clip that comes first")
    c.add_argument("second", help="the clip that comes after; scaled and cropped to the first's size")
    c.add_argument("prompt", nargs="?", default="", help="what happens in the transition (optional)")
    c.add_argument("-o", "--output", required=True, help="output .mp4 path")
    c.add_argument("--seconds", type=float, default=2.0, help="length of the transition (default 2)")
    c.add_argument("--no-fade", action="store_true", help=NO_FADE_HELP)
    sampling_options(c)
    c.set_defaults(func=cmd_connect)

    d = sub.add_parser("edit", help="redraw a clip from a prompt, all of it or inside a mask")
    d.add_argument("input", help="video to edit (.mp4, .webm, ...)")
    d.add_argument("prompt", help="what the edited clip shows")
    d.add_argument("-o", "--output", required=True, help="output .mp4 path")
    d.add_argument("--strength", type=float, default=0.6,
                   help="how much may change, more than 0 to 1 (default 0.6; 1 redraws the region from noise)")
    d.add_argument("--mask", default=None, help="picture, white where content may change; the rest is kept")
    sampling_options(d)
    d.set_defaults(func=cmd_edit)

    s = sub.add_parser("storyboard", help="a multi-shot video from a YAML storyboard")
    s.add_argument("story", help="storyboard .yaml: shots (prompt, seconds, camera, narration), characters, "
                   "style, seed")
    s.add_argument("-o", "--output", required=True, help="output .mp4 path")
    s.add_argument("--size", default=None, help="WIDTHxHEIGHT")
    s.add_argument("--fps", type=int, default=None)
    s.add_argument("--reference", action="append", metavar="IMAGE", help=REFERENCE_HELP + "; every shot is given it")
    sampling_options(s, seed=None, seed_help="overrides the storyboard's seed")
    voice_options(s)
    s.set_defaults(func=cmd_storyboard)

    t = sub.add_parser("train", help="train a model on toyworld")
    t.add_argument("--preset", required=True, help="training preset: tiny or default")
    t.add_argument("--out", required=True, help="run folder (re-run the same command to resume)")
    t.add_argument("--seed", type=int)
    t.add_argument("--vae-steps", type=int)
    t.add_argument("--dit-steps", type=int)
    t.add_argument("--batch", type=int)
    t.add_argument("--accum", type=int)
    t.add_argument("--lr", type=positive_float, help="peak learning rate of the transformer")
    t.add_argument("--warmup", type=int, help="steps of linear learning-rate warm-up")
    t.add_argument("--cache-clips", type=int)
    t.add_argument("--cache-workers", type=int, help="processes rendering clips for the latent cache")
    t.add_argument("--compile", action="store_true", default=None,
                   help="torch.compile the transformer's training step (worth it on a GPU)")
    t.add_argument("--max-minutes", type=positive_float,
                   help="stop (checkpointed, resumable) after this much wall time")
    t.add_argument("--init-from", help="model folder to continue training from (keeps its VAE encoder)")
    t.add_argument("--vae-from", help="model folder whose VAE a new transformer of the preset's size is trained over")
    t.add_argument("--time-shift", type=positive_float, help="move training times towards noise, where a clip's "
                   "layout is decided: t' = s t / (1 + (s - 1) t) (default 1: none)")
    t.add_argument("--text-layers", type=text_layers, help="text encoder hidden states the transformer reads, e.g. "
                   "0,-1 (default: the preset's; a continued model grows the ones it lacks)")
    t.add_argument("--text-refiner", type=block_count, help="blocks of self-attention over the text tokens alone before "
                   "the video reads them (default: the preset's; a continued model grows the ones it lacks)")
    t.add_argument("--attention-loss", type=non_negative_float, help="weight of a loss that puts each object word's "
                   "cross-attention on where its object is (default 0: none)")
    t.add_argument("--known-frames", type=fraction, help="share of samples given clean known frames to continue "
                   "(image to video, extend, connect; default 0.45)")
    t.add_argument("--kinds", type=toyworld_kinds, help="toyworld scene kinds to train on, e.g. color,place "
                   "(default: all, in toyworld's mixture)")
    t.add_argument("--decoder-steps", type=int,
                   help="with --init-from: first fine-tune the VAE decoder this many steps (latent space kept)")
    t.add_argument("--rim-weight", type=non_negative_float,
                   help="decoder fine-tune: L1 weight 1 + this within 3 px of an object's colour (default 0)")
    t.add_argument("--colour-weight", type=non_negative_float,
                   help="decoder fine-tune: weight of a loss on where colour is, over objects' rims (default 0)")
    t.add_argument("--decoder-clip-seconds", type=seconds_list,
                   help="decoder fine-tune: cut its crops from clips of these lengths, e.g. 2,4, so objects move "
                        "at the speeds of the clips kino makes (default: 1 s clips)")
    t.add_argument("--grounding", type=fraction,
                   help="share of samples trained with the layout bias made from the clip's true layout "
                        "(default 0.5; 0 trains without)")
    dtype_options(t)
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="measure prompt adherence from pixels")
    e.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder")
    e.add_argument("--out", required=True, help="report folder (results.json, report.html, sheets/)")
    e.add_argument("--limit", type=int, default=None,
                   help="prompts per dimension (default: the full suite, 17 per dimension)")
    e.add_argument("--dims", default=None, help="comma-separated dimensions (default: all)")
    e.add_argument("--seeds", type=int, default=1, help="seeds per prompt")
    e.add_argument("--steps", type=int, default=None)
    e.add_argument("--guidance", type=float, default=None)
    e.add_argument("--paraphrase", action="store_true",
                   help="the same scenes, each prompt said in words toyworld's captions never use (held out)")
    e.add_argument("--mode", choices=("both", "model_alone", "director"), default="both",
                   help="measure the model alone, with the toyworld director, or both side by side (default)")
    e.add_argument("--no-director", "--no-layout", dest="no_layout", action="store_true",
                   help="the same as --mode model_alone")
    dtype_options(e)
    e.set_defaults(func=cmd_eval)

    b = sub.add_parser("bench", help="measure speed; prints JSON")
    b.add_argument("--model", default=str(DEFAULT_MODEL), help="model folder")
    b.add_argument("--quick", action="store_true", help="fewer repeats, for smoke tests")
    b.add_argument("--out", default=None, help="also write the JSON here")
    b.add_argument("--sections", default=None,
                   help=f"comma-separated sections (default: all of {', '.join(BENCH_SECTIONS)})")
    b.add_argument("--plots", default=None, help="folder for the scaling plots (PNG)")
    b.add_argument("--creative", action="store_true",
                   help="issue 6's figures instead: seams, loop closure, kept frames, masked edits, long video, "
                        "storyboards (10 sampling steps; minutes on a CPU)")
    dtype_options(b)
    b.set_defaults(func=cmd_bench)

    md = sub.add_parser("models", help="the models kino finds and what each can do")
    md.add_argument("folders", nargs="*", help="more folders to search (model folders, or folders of them); "
                    "$KINO_MODELS adds more, separated by ':'")
    md.set_defaults(func=cmd_models)

    ks = sub.add_parser("keys", help="the local certificate chain that signs kino's outputs (C2PA)")
    ks_sub = ks.add_subparsers(dest="action", required=True, parser_class=Parser)
    ki = ks_sub.add_parser("init", help="create a root CA and a signing certificate")
    ki.add_argument("--dir", default=None, help="keys folder (default $KINO_KEYS_DIR or ~/.config/kino/keys)")
    ki.add_argument("--force", action="store_true", help="replace existing keys")
    kw = ks_sub.add_parser("show", help="which key signs, and where the trust anchor is")
    kw.add_argument("--dir", default=None, help="keys folder")
    ks.set_defaults(func=cmd_keys)

    v = sub.add_parser("verify", help="C2PA status and watermark of a video or image")
    v.add_argument("file", help="video (.mp4, ...) or image (.png, .jpg, ...)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--trust", default=None,
                   help="PEM file of trusted roots (default $KINO_TRUST_ANCHORS, else this machine's root.pem)")
    v.set_defaults(func=cmd_verify)

    lk = sub.add_parser("likeness", help="protected faces: refused in input images and output frames")
    lk_sub = lk.add_subparsers(dest="action", required=True, parser_class=Parser)
    la = lk_sub.add_parser("add", help="protect a person's face (one or more photographs)")
    la.add_argument("name", help="the person's name, reported when a match is refused")
    la.add_argument("images", nargs="+", help="photographs showing the face (PNG, JPEG, ...)")
    lk_sub.add_parser("list", help="the protected names and how many faces each has")
    lr = lk_sub.add_parser("remove", help="stop protecting a name")
    lr.add_argument("name")
    lk.set_defaults(func=cmd_likeness)

    from kino.audio.commands import register as audio_commands  # narrate, voices

    audio_commands(sub)
    from kino.service.cli import register  # serve, worker, users (issue 7)

    register(sub, DEFAULT_MODEL, UsageError)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import transformers

        transformers.utils.logging.disable_progress_bar()
        transformers.utils.logging.set_verbosity_error()
        args = build_parser().parse_args(argv)
        for name, value in vars(args).items():  # bytes that were not UTF-8 reach Python as lone surrogates
            if isinstance(value, str) and any("\udc80" <= c <= "\udcff" for c in value):
                raise UsageError(f"{name.replace('_', ' ')} is not valid UTF-8 text")
        return args.func(args)
    except UsageError as e:
        print(f"kino: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SafetyRefusal as e:
        print(f"kino: {e}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("kino: error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
