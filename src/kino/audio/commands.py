"""Narration on the command line: the voice options every command shares, ``kino narrate`` and
``kino voices``. ``kino generate`` and ``kino storyboard`` call ``spoken`` and ``soundtrack`` here.

A line is moderated (``Guard.narration``) and spoken before any model loads, since its length sets
the video's: a shot without ``seconds`` lasts as long as its words and ``narration.TAIL``; a
shot with ``seconds`` must hold its words, or the command exits 2 saying by how much they overrun.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from kino.audio import narration
from kino.audio.narration import Line, NarrationError, Soundtrack, Speech, Spoken
from kino.audio.voices import VoiceError


def voice_options(p, music: bool = True) -> None:
    p.add_argument("--voice", default=None, help="narration voice: a Piper voice's name or an espeak-ng "
                   "language such as en-gb (`kino voices` lists them; default: the first for --language)")
    p.add_argument("--language", default=None, help="narration language, e.g. en-us, fr, de (default en-us)")
    p.add_argument("--rate", type=float, default=1.0, help="speaking speed: 0.5 (half) to 2 (twice) the voice's own")
    p.add_argument("--voices", default=None, help="folder of Piper voices (NAME.onnx + NAME.onnx.json); "
                   "default: $KINO_VOICES")
    p.add_argument("--burn-captions", action="store_true", help="also draw the captions into the frames")
    if music:
        p.add_argument("--music", default=None, help="a music file mixed under the narration, lowered while it speaks")


def _usage(message: str):
    from kino.cli import UsageError

    return UsageError(message)


def voice(args):
    from kino.audio.voices import find

    try:
        return find(args.voice, args.language, args.voices)
    except VoiceError as e:
        raise _usage(str(e)) from None


def guard():
    from kino.safety.guard import Guard

    return Guard.from_env()


def shot_line(text: str | None, seconds: float | None, where: str) -> Line:
    """A shot's line (None: silent) as the command line names it: ``where``, its words "``where`` narration"."""
    return Line(text, seconds, where, f"{where} narration")


def spoken(args, checker, lines: list[Line], advice: str) -> Spoken:
    """``lines`` moderated by ``checker`` (a Guard; SafetyRefusal, exit 3) and spoken in the voice
    the options name, each shot with the seconds of video it needs (``narration.speak_lines``;
    UsageError when the words cannot be spoken or do not fit)."""
    try:
        return narration.speak_lines(checker, lines, lambda: voice(args), args.rate, advice)
    except NarrationError as e:
        raise _usage(str(e)) from None


def story_lines(args, story, checker):
    """The storyboard with each narrated shot's seconds set from its words, and each shot's speech
    (None for a silent one): every line moderated by ``checker`` (a Guard; None will do for a
    storyboard without narration) and spoken before any shot is made."""
    lines = [shot_line(shot.narration, shot.seconds, f"shot {i + 1}") for i, shot in enumerate(story.shots)]
    said = spoken(args, checker, lines, "shorten the line, raise --rate, or give the shot more seconds")
    return story.with_seconds(said.seconds), said.speeches


def soundtrack(args, lines: list[tuple[float, Speech]], seconds: float) -> Soundtrack:
    """The lines (each from its start, in seconds) as the audio and captions of a video of
    ``seconds``, with ``--music`` under them."""
    track = Soundtrack.place(lines, seconds, burn=args.burn_captions)
    music = getattr(args, "music", None)
    if music:
        from kino import media

        if not Path(music).is_file():
            raise _usage(f"--music {music}: no such file")
        try:
            samples = media.read_audio(music, f"--music {music}", narration.SAMPLE_RATE)
        except media.MediaError as e:
            raise _usage(str(e)) from None
        track = track.with_music(samples, Path(music).name, hashlib.sha256(Path(music).read_bytes()).hexdigest())
    return track


def told(out: Path, track: Soundtrack | None) -> str:
    """What the closing line adds for a narrated video: its caption files."""
    if track is None:
        return ""
    from kino.audio.captions import sidecar_paths

    return f"; narrated ({len(track.cues)} captions in the mp4 and in {', '.join(p.name for p in sidecar_paths(out))})"


def cmd_narrate(args) -> int:
    """``kino narrate VIDEO TEXT -o OUT``: a video with the words spoken over it, captioned and signed."""
    import dataclasses

    from kino.cli import EXIT_OK, check_output, load_video, output_stamp, progress_bar, save_video

    out = check_output(Path(args.output))
    frames, fps = load_video(args.input)
    fps = round(fps) or 8
    h, w = frames.shape[1:3]
    frames = frames[:, : h - h % 2, : w - w % 2]  # H.264's yuv420p takes even sides: an odd last row or column goes
    seconds = len(frames) / fps
    if not 0 <= args.start < seconds:
        raise _usage(f"--start {args.start:g} is not allowed; use 0 to less than the video's {seconds:.2f} s")
    checker = guard()
    speech = spoken(args, checker, [shot_line(args.text, seconds - args.start, args.input)],
                    "shorten the text, raise --rate, start it earlier, or make the video longer first with "
                    "`kino extend`").speeches[0]
    checker.video(frames, fps, "output")
    track = soundtrack(args, [(args.start, speech)], seconds)
    chosen = speech.voice
    stamp = dataclasses.replace(output_stamp(args, "narrate", args.input, model_id=f"{chosen['engine']}:{chosen['voice']}"),
                                model_detail={"backend": "voice"})  # no video model made it: the voice did
    bar, progress = progress_bar("narrating")
    with bar:
        save_video(out, frames, fps, stamp, progress=progress, soundtrack=track)
    print(f"wrote {out} ({len(frames)} frames at {fps} fps, {speech.duration:.2f} s of speech by "
          f"{chosen['engine']} {chosen['voice']}{told(out, track)})", file=sys.stderr)
    return EXIT_OK


def cmd_voices(args) -> int:
    import json

    from kino.audio.voices import available, tag
    from kino.cli import EXIT_OK

    try:
        found = available(args.voices)
    except VoiceError as e:
        raise _usage(str(e)) from None
    if args.language:
        found = [v for v in found if tag(v.language).startswith(tag(args.language))]
    if args.json:
        print(json.dumps([{"name": v.name, "engine": v.engine, "language": v.language, "description": v.description,
                           "sample_rate": v.sample_rate} for v in found], indent=2))
    else:
        for v in found:
            print(f"{v.name:<28} {v.engine:<10} {v.language:<14} {v.description}")
    return EXIT_OK


def register(sub) -> None:
    n = sub.add_parser("narrate", help="speak words over an existing video, with captions")
    n.add_argument("input", help="the video (.mp4, .webm, ...); its own sound, if any, is replaced")
    n.add_argument("text", help="the words to speak")
    n.add_argument("-o", "--output", required=True, help="output .mp4 path (captions beside it: .vtt and .srt)")
    n.add_argument("--start", type=float, default=0.0, help="seconds into the video where the speech starts")
    n.add_argument("--visible-mark", action="store_true", help="also stamp a small visible 'AI' mark in a corner")
    voice_options(n)
    n.set_defaults(func=cmd_narrate)

    v = sub.add_parser("voices", help="the voices narration can use")
    v.add_argument("--voices", default=None, help="folder of Piper voices (default: $KINO_VOICES)")
    v.add_argument("--language", default=None, help="only voices of this language (en, en-gb, ...)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_voices)
