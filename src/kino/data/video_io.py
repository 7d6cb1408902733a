"""Reading and writing real video files with PyAV (FFmpeg)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sized
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from kino.io import atomic_path
from kino.progress import ENCODING, SIGNING, Progress

FRAMES_PER_UNIT = 8  # frames watermarked and encoded to a unit of progress (kino.progress): the watermark's chunk


def write_video(
    path: str | Path, frames: np.ndarray | Iterable[np.ndarray], fps: int, crf: int = 18, *, provenance=None,
    progress=None, soundtrack=None,
) -> int:
    """Write (T, H, W, 3) uint8 frames as H.264 yuv420p .mp4, playable in browsers; atomically.
    Returns the number of frames written.

    ``frames`` may also be (n, H, W, 3) pieces of a clip, encoded as they come (a long clip as it
    is made): the whole clip is then never held at once. Should a piece be wrong, or the pieces
    stop with an error (a safety refusal halfway through a minute), nothing is left at ``path``.
    yuv420p needs even sizes; odd sizes are rejected rather than silently cropped. With
    ``provenance`` (a ``kino.provenance.Stamp``) the frames are watermarked before encoding and the
    file is C2PA-signed before it takes its name: every video kino hands to a user goes this way.

    ``progress`` (a Progress, kino.progress, or a ``(done, total)`` callback) counts a unit for each
    FRAMES_PER_UNIT frames marked and encoded, and one for the signing; they are planned before the
    first piece is asked for when ``frames`` says how many frames it holds (``len``: an array, or
    pieces that know, as ``long_video.Stream`` does).

    ``soundtrack`` (a ``kino.audio.narration.Soundtrack``) adds an AAC audio track of exactly the
    video's length (cut, or padded with silence) and a caption track (mov_text), draws the captions
    into the frames before they are marked if it says so, and is recorded in the manifest.
    """
    progress = Progress.of(progress)
    if isinstance(frames, Sized):
        progress.expect(write_units(len(frames), provenance is not None))
    pieces = iter([frames] if isinstance(frames, np.ndarray) else frames)
    first = _checked(next(pieces, None))
    _, h, w, _ = first.shape
    count = 0

    def counted() -> Iterator[np.ndarray]:
        nonlocal count
        for piece in itertools.chain([first], pieces):
            piece = _checked(piece, (h, w))
            count += len(piece)
            progress.start(ENCODING)  # after the making of a piece, which names its own stages
            yield piece

    shown = counted()
    if soundtrack is not None and soundtrack.burn:
        from kino.audio.captions import burnt

        shown = burnt(shown, soundtrack.cues, fps)
    with atomic_path(path) as tmp:
        if provenance is None:
            _encode(tmp, shown, w, h, fps, crf, progress, soundtrack)
            return count
        plain = tmp.with_name(f"{tmp.stem}.unsigned{tmp.suffix}")
        try:
            # Marked a few frames at a time as they are encoded: no marked copy of the whole clip.
            _encode(plain, provenance.mark_chunks(shown), w, h, fps, crf, progress, soundtrack)
            with progress.doing(SIGNING):
                extra = [soundtrack.manifest_assertion()] if soundtrack is not None else []
                provenance.sign(plain, tmp, title=Path(path).name, assertions=extra)
        finally:
            plain.unlink(missing_ok=True)
    return count


def write_units(frames: int, signed: bool = True) -> int:
    """Units of progress (kino.progress) of writing ``frames`` frames (and signing them)."""
    return -(-frames // FRAMES_PER_UNIT) + signed


def _checked(frames, size: tuple[int, int] | None = None) -> np.ndarray:
    """``frames`` as a contiguous (n, H, W, 3) uint8 array of even sides (and of ``size`` (H, W), when
    given: every piece of one clip has the first one's), or ValueError saying what is wrong."""
    if frames is None:
        raise ValueError("no frames to write")
    frames = np.ascontiguousarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be (T, H, W, 3) uint8, got {frames.shape} {frames.dtype}")
    h, w = frames.shape[1:3]
    if h % 2 or w % 2:
        raise ValueError(f"H.264 yuv420p needs even width and height, got {w}x{h}")
    if size is not None and (h, w) != size:
        raise ValueError(f"every piece of a clip must be {size[1]}x{size[0]}, got one of {w}x{h}")
    return frames


def _encode(path: Path, chunks: Iterable[np.ndarray], w: int, h: int, fps: int, crf: int, progress: Progress,
            soundtrack=None) -> None:
    """Encode (n, H, W, 3) uint8 chunks of frames, in order, as one H.264 stream (with ``soundtrack``'s
    audio interleaved as the frames come, and its captions); a unit of ``progress`` each
    FRAMES_PER_UNIT frames (the last few when the encoder has let go of them)."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        # x264's macroblock-tree rate control made 19 of 20 encodes of the same frames differ
        # here (threaded or not); without it the same frames always give the same stream.
        stream.options = {"crf": str(crf), "preset": "medium", "movflags": "+faststart", "x264-params": "mbtree=0"}
        sound = _Sound(container, soundtrack) if soundtrack is not None else None
        count = 0
        for chunk in chunks:
            for frame in chunk:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                count += 1
                if count % FRAMES_PER_UNIT == 0:
                    progress.advance()
            if sound is not None:
                sound.up_to(count / fps)
        container.mux(stream.encode())
        if sound is not None:
            sound.finish(count / fps)
        if count % FRAMES_PER_UNIT:
            progress.advance()


AAC_BITRATE = 128_000
ASS_HEADER = (  # what FFmpeg's mov_text encoder reads its default style from
    "[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
    "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
    "MarginR, MarginV, Encoding\n"
    "Style: Default,Sans,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
    "[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
)


class _Sound:
    """A soundtrack's AAC audio and mov_text captions, written into an open mp4 beside its video."""

    def __init__(self, container, soundtrack):
        from kino.audio.narration import SAMPLE_RATE

        self.container, self.track, self.rate = container, soundtrack, SAMPLE_RATE
        self.audio = container.add_stream("aac", rate=SAMPLE_RATE)
        self.audio.layout, self.audio.bit_rate = "mono", AAC_BITRATE
        self.audio.metadata["language"] = soundtrack.language
        self.text = container.add_stream("mov_text")
        self.text.codec_context.subtitle_header = ASS_HEADER.encode()
        self.text.metadata["language"] = soundtrack.language
        self.done = 0  # samples written

    def up_to(self, seconds: float) -> None:
        """Audio written up to ``seconds`` from the start: the soundtrack's samples, then silence."""
        end = round(seconds * self.rate)
        while self.done < end:
            n = min(1024, end - self.done)
            samples = np.zeros(n, np.float32)
            have = self.track.samples[self.done: self.done + n]
            samples[: len(have)] = have
            frame = av.AudioFrame.from_ndarray(samples[None], format="fltp", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = self.rate, self.done, Fraction(1, self.rate)
            self.container.mux(self.audio.encode(frame))
            self.done += n

    def finish(self, seconds: float) -> None:
        """The audio to exactly ``seconds`` (the video's length), then the captions that start before it."""
        self.up_to(seconds)
        self.container.mux(self.audio.encode())
        tb = Fraction(1, 1_000_000)
        for cue in self.track.cues:
            if cue.start >= seconds:
                continue
            start, duration = round(cue.start / tb), round((min(cue.end, seconds) - cue.start) / tb)
            text = " ".join(cue.text.split()).replace("{", "(").replace("}", ")")  # braces start ASS overrides
            subtitle = av.subtitles.subtitle.SubtitleSet.create(f"0,0,Default,,0,0,0,,{text}".encode(), 0, duration,
                                                                start)
            packet = self.text.codec_context.encode_subtitle(subtitle)
            packet.stream, packet.pts, packet.dts, packet.duration, packet.time_base = (self.text, start, start,
                                                                                        duration, tb)
            self.container.mux(packet)


def read_video(path: str | Path) -> tuple[np.ndarray, float]:
    """Decode a video file to (T, H, W, 3) uint8 frames and its frame rate."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or stream.guessed_rate or 0)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    if not frames:
        raise ValueError(f"{path} holds no video frames")
    return np.stack(frames), fps
