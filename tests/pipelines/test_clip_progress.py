"""Progress through every stage of making and writing a clip (kino.progress), on the tiny model."""

import pytest

from kino import progress as stages
from kino.progress import Progress


@pytest.fixture
def watched(tiny_pipeline, monkeypatch):
    """Events in order: each call that takes time (a transformer forward, a VAE call, the frame
    checks, a chunk watermarked, the signing) by name, and each progress report as
    (done, total, stage); and the Progress that reports into them."""
    from kino import provenance
    from kino.provenance import watermark

    events = []

    def watch(obj, attr, name):
        real = getattr(obj, attr)
        monkeypatch.setattr(obj, attr, lambda *a, **k: events.append(name) or real(*a, **k))

    watch(tiny_pipeline.dit, "forward", "transformer")
    watch(tiny_pipeline.vae, "decode", "vae")
    watch(tiny_pipeline.vae, "encode", "vae")
    watch(tiny_pipeline.guard, "video", "check")
    watch(provenance.Stamp, "sign", "sign")
    real_embed = watermark.embed_chunks

    def embed_chunks(frames, key_id):
        for chunk in real_embed(frames, key_id):
            events.append("mark")
            yield chunk

    monkeypatch.setattr(watermark, "embed_chunks", embed_chunks)
    progress = Progress(lambda done, total: events.append((done, total, progress.stage)))
    return events, progress


def stamp():
    from kino import provenance
    from kino.cli import keys_dir
    from kino.provenance.keys import ensure

    return provenance.Stamp(ensure(keys_dir()), "tiny@test", "generate")


def reports(events):
    return [e for e in events if isinstance(e, tuple)]


def check_reports(events):
    """Done never goes back, the total never shrinks, and the last event is the report of all done."""
    seen = reports(events)
    assert [d for d, _, _ in seen] == sorted(d for d, _, _ in seen)
    assert [t for _, t, _ in seen] == sorted(t for _, t, _ in seen)
    assert events[-1] == seen[-1] and seen[-1][0] == seen[-1][1] > 0


def test_every_stage_of_a_default_size_clip_reports_progress(tiny_pipeline, watched, tmp_path):
    """256x256, 4 s at 8 fps, in one chunk as the shipped model makes it: a moving object is drafted
    still, moved and sampled again, decoded, checked, watermarked, encoded and signed; the bar moves
    after every call that takes time and ends at 100% only once the file is written."""
    from kino.cli import save_video
    from kino.pipelines.long_video import stream
    from kino.pipelines.text_to_video import Request

    events, progress = watched
    request = Request("a big red ball on the left moves to the right", seconds=4, fps=8, width=256, height=256)
    clip = stream(tiny_pipeline, request, chunk_seconds=4, progress=progress)
    save_video(tmp_path / "clip.mp4", clip, clip.fps, stamp(), progress=progress)
    assert (tmp_path / "clip.mp4").is_file()
    check_reports(events)
    assert {stages.DRAFTING, stages.MOVING, stages.SAMPLING, stages.DECODING, stages.CHECKING, stages.ENCODING,
            stages.SIGNING} <= {s for _, _, s in reports(events)}  # fmt: skip
    # No two calls that take time without a report between them: no silent gap longer than one call.
    assert all(isinstance(a, tuple) or isinstance(b, tuple) for a, b in zip(events, events[1:]))
    assert events.count("mark") == 5 and events.index("sign") > events.index("check")  # 33 frames, 8 a chunk


def test_long_clips_and_storyboards_count_every_chunk_and_shot_up_to_the_written_file(tiny_pipeline, watched,
                                                                                   tmp_path):
    from kino.cli import save_video
    from kino.pipelines import storyboard
    from kino.pipelines.long_video import stream
    from kino.pipelines.text_to_video import Request

    events, progress = watched
    clip = stream(tiny_pipeline, Request("a red ball moves to the right", seconds=4, steps=2), progress=progress)
    save_video(tmp_path / "long.mp4", clip, clip.fps, stamp(), progress=progress)  # 17 frames: 3 chunks of 2 s
    check_reports(events)
    assert events.count("check") == 3

    events.clear()
    progress = Progress(lambda done, total: events.append((done, total, progress.stage)))
    story = storyboard.from_prompt("Shot 1: a red ball. Shot 2: a blue square moves left.", 4)
    made = storyboard.stream_story(tiny_pipeline, story, progress=progress, steps=2)
    save_video(tmp_path / "story.mp4", made, made.fps, stamp(), progress=progress)
    check_reports(events)
