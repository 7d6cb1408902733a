import dataclasses

import numpy as np
import pytest

from kino.pipelines.long_video import chunk_plan, context_latents, generate, seam_frames
from kino.pipelines.text_to_video import Request, RequestError, TextToVideoPipeline, num_frames_for
from kino.safety.guard import Guard


def test_chunk_plan_adds_up_and_keeps_latent_boundaries():
    assert chunk_plan(25, 9, 4) == [9, 4, 4, 4, 4]  # 5 given + 4 new frames: every chunk fills the window
    assert chunk_plan(9, 33, 4) == [9]
    assert chunk_plan(481, 33, 4) == [33] + [20] * 22 + [8]  # 9 given + 4 remade + 20 new fill the 33-frame window
    assert chunk_plan(25, 9, 4, context=9) == [9, 4, 4, 4, 4]  # never fewer than 4 new frames
    assert seam_frames([9, 8, 8]) == [9, 17]


def test_context_always_leaves_the_window_something_to_make():
    assert context_latents(33, 4) == (2, 1)  # 9 of 33 frames given, the 4 before the join made again
    assert context_latents(13, 4) == (1, 1)  # 5 given, 4 remade, 4 new
    assert context_latents(9, 4) == (1, 0)  # a 2-latent window: 1 given, 1 made; no room to remake
    assert context_latents(5, 4) == (1, 0)  # never below one latent of context


def test_long_clip_is_made_in_chunks_that_continue_each_other(tiny_pipeline):
    calls = []
    result = generate(tiny_pipeline, Request("a red ball", seconds=6, steps=1),
                      progress=lambda i, n: calls.append((i, n)))
    assert result.frames.shape == (25, 128, 128, 3)  # 6 s at 4 fps, 5 chunks of the 2 s window
    assert calls[-1][0] == calls[-1][1] and len({n for _, n in calls}) == 1  # one progress bar over all chunks
    short = generate(tiny_pipeline, Request("a red ball", seconds=2, steps=1))
    assert np.array_equal(short.frames[:5], result.frames[:5])  # the first chunk is the plain clip, up to the fade


def test_each_join_fades_over_the_context_frames(tiny_pipeline, monkeypatch):
    from kino.pipelines import long_video

    request = Request("a red ball", seconds=3, steps=1, seed=3)  # two chunks: 9 frames, then 5 given + 4 new
    monkeypatch.setattr(long_video, "BLEND_FRAMES", 0)
    cut = generate(tiny_pipeline, request).frames
    monkeypatch.setattr(long_video, "BLEND_FRAMES", 6)  # capped at 4: the context is 5 frames, 1 + 4
    faded = generate(tiny_pipeline, request).frames
    assert cut.shape == faded.shape == (13, 128, 128, 3)
    assert np.array_equal(cut[:5], faded[:5])  # before the fade: the first chunk as it was made
    assert not np.array_equal(cut[5:9], faded[5:9])  # the fade: toward the next chunk's decoding
    assert np.array_equal(cut[9:], faded[9:])  # the next chunk's own frames: made from the unfaded end


def test_a_chunk_remakes_the_last_frames_of_the_one_before(tiny_pipeline, monkeypatch):
    from kino.pipelines import long_video

    calls = []
    real = TextToVideoPipeline.__call__
    monkeypatch.setattr(TextToVideoPipeline, "__call__", lambda pipe, req, *a: calls.append(req) or real(pipe, req, *a))
    monkeypatch.setattr(long_video, "BLEND_FRAMES", 0)
    request = Request("a red ball", seconds=5, steps=1, seed=3)  # 21 frames at 4 fps: chunks of 17, then 4 new
    video = generate(tiny_pipeline, request, chunk_seconds=4).frames
    assert len(video) == 21 and len(calls) == 2
    assert np.array_equal(calls[1].prefix, video[4:13])  # 9 given frames, not the 4 before the join (13-16)
    assert num_frames_for(calls[1].seconds, 4, 4) == 17  # 9 given + 4 remade + 4 new: the window
    assert [c.layout_span for c in calls] == [(0, 21), (4, 21)]  # laid out as frames of one 21-frame video
    monkeypatch.setattr(long_video, "BLEND_FRAMES", 6)
    faded = generate(tiny_pipeline, request, chunk_seconds=4).frames
    assert np.array_equal(video[:11], faded[:11]) and np.array_equal(video[17:], faded[17:])
    assert not np.array_equal(video[11:17], faded[11:17])  # the 4 remade frames and 2 given ones fade


def test_fade_goes_from_one_making_to_the_other_in_equal_steps():
    from kino.pipelines.long_video import fade

    start, end = np.zeros((6, 2, 2, 3), np.uint8), np.full((6, 2, 2, 3), 70, np.uint8)
    assert fade(start, end)[:, 0, 0, 0].tolist() == [10, 20, 30, 40, 50, 60]


def test_long_clip_is_deterministic_and_depends_on_the_seed(tiny_pipeline):
    a = generate(tiny_pipeline, Request("a red ball", seconds=4, steps=1, seed=1)).frames
    b = generate(tiny_pipeline, Request("a red ball", seconds=4, steps=1, seed=1)).frames
    c = generate(tiny_pipeline, Request("a red ball", seconds=4, steps=1, seed=2)).frames
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_loop_starts_and_ends_on_the_given_image(tiny_pipeline):
    image = np.full((64, 64, 3), 90, np.uint8)
    image[20:40, 20:40] = (200, 30, 30)
    result = generate(tiny_pipeline, Request("a red box", image=image, seconds=2, steps=1), loop=True)
    assert len(result.frames) == 8  # 9 frames, the duplicate of the first one dropped
    direct = generate(tiny_pipeline, Request("a red box", image=image, last_image=image, seconds=2, steps=1))
    assert np.array_equal(result.frames, direct.frames[:-1])


def test_loop_without_image_and_long_loop(tiny_pipeline):
    assert len(generate(tiny_pipeline, Request("a ball", seconds=2, steps=1), loop=True).frames) == 8
    assert len(generate(tiny_pipeline, Request("a ball", seconds=4, steps=1), loop=True).frames) == 16


def test_loop_refuses_a_last_image(tiny_pipeline):
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(RequestError, match="loop"):
        generate(tiny_pipeline, Request("a ball", last_image=image, steps=1), loop=True)


def test_over_a_minute_is_refused(tiny_pipeline):
    with pytest.raises(RequestError, match="at most 60"):
        generate(tiny_pipeline, Request("a ball", seconds=61, steps=1))


class CountingGuard(Guard):
    """The real guard, recording what it is asked to check."""

    def prompt(self, prompt, user=None):
        self.log.append(("prompt", prompt))
        super().prompt(prompt, user)

    def video(self, frames, fps, what, prompt=None, user=None):
        self.log.append(("frames", what))
        super().video(frames, fps, what, prompt, user)


def counting_pipeline(pipe):
    guard = CountingGuard(**{f.name: getattr(pipe.guard, f.name) for f in dataclasses.fields(pipe.guard)})
    guard.log = []
    return TextToVideoPipeline(pipe.cfg, pipe.vae, pipe.dit, pipe.text_encoder, guard), guard.log


def test_a_long_clip_checks_its_prompt_and_image_once(tiny_pipeline):
    pipe, log = counting_pipeline(tiny_pipeline)
    image = np.full((64, 64, 3), 90, np.uint8)
    req = pipe.resolve(Request("a red ball", image=image, seconds=6, steps=1))  # as the CLI does
    assert log == [("prompt", "a red ball"), ("frames", "input image")]
    log.clear()
    generate(pipe, req)  # 5 chunks, each led by frames of the one before
    # Neither the chunks nor __call__ check the prompt or the given frames again: only outputs.
    assert log and set(log) == {("frames", "output")}
    log.clear()
    generate(pipe, Request("a red ball", seconds=2, steps=1))  # a new request is checked anew
    assert log[0] == ("prompt", "a red ball")


def test_derive_takes_only_resolved_requests_and_safe_fields(tiny_pipeline):
    with pytest.raises(ValueError, match="resolved"):
        tiny_pipeline.derive(Request("a red ball"), seconds=1)
    r = tiny_pipeline.resolve(Request("a red ball", seconds=2))
    with pytest.raises(ValueError, match="cannot change prompt"):
        tiny_pipeline.derive(r, prompt="something else")
    with pytest.raises(RequestError, match="duration"):
        tiny_pipeline.derive(r, seconds=-1)  # fields are still checked


def test_a_long_clip_encodes_its_prompt_once(tiny_pipeline):
    pipe, _ = counting_pipeline(tiny_pipeline)
    calls = []
    encode = pipe.text_encoder.forward
    pipe.text_encoder.forward = lambda prompts: calls.append(list(prompts)) or encode(prompts)
    try:
        # Words the planner cannot read: a planned clip also encodes its still first frame's caption once.
        generate(pipe, Request("a quiet afternoon", seconds=6, steps=1))  # 5 chunks
        generate(pipe, Request("an empty street", seconds=2, steps=1))
    finally:
        del pipe.text_encoder.forward
    assert calls == [["a quiet afternoon", ""], ["an empty street", ""]]


def test_a_stream_hands_out_each_chunk_as_it_is_made(tiny_pipeline, monkeypatch):
    from kino.pipelines.long_video import stream

    made = []  # the chunks made so far when each piece arrives
    real = TextToVideoPipeline.__call__
    monkeypatch.setattr(TextToVideoPipeline, "__call__", lambda pipe, *a, **k: made.append(1) or real(pipe, *a, **k))
    request = Request("a red ball", seconds=6, steps=1, seed=4)  # 25 frames: 5 chunks
    clip = stream(tiny_pipeline, request)
    assert (clip.frames, clip.height, clip.width, clip.fps) == (25, 128, 128, 4) and not made  # known before any
    pieces, seen = [], []
    for piece in clip:
        pieces.append(piece.copy())
        seen.append(len(made))
    assert seen == [1, 2, 3, 4, 5]  # a piece after every chunk, not all at the end
    assert max(len(p) for p in pieces) <= 9  # only the frames the next chunk takes are held back
    assert clip.timings["total"] > 0 and "transformer" in clip.timings
    assert np.array_equal(np.concatenate(pieces), generate(tiny_pipeline, request).frames)  # the same clip


def test_a_stream_checks_its_request_before_making_anything(tiny_pipeline):
    from kino.pipelines.long_video import stream

    with pytest.raises(RequestError, match="at most 60"):
        stream(tiny_pipeline, Request("a ball", seconds=61, steps=1))
    with pytest.raises(RequestError, match="loop"):
        stream(tiny_pipeline, Request("a ball", last_image=np.zeros((64, 64, 3), np.uint8), steps=1), loop=True)
    loop = stream(tiny_pipeline, Request("a ball", seconds=4, steps=1), loop=True)
    assert loop.frames == 16 == sum(len(p) for p in loop)  # the duplicate first frame is not handed out


def test_later_chunks_draw_their_travelling_shapes_frame_by_frame(tiny_pipeline, monkeypatch):
    """As the first chunk does (kino.director.shaping): no latent cells of the ball are moved in
    any chunk. An extension of a given video does not draw: its objects are not toyworld's."""
    from kino.director import motion
    from kino.pipelines.extend import extend
    from kino.pipelines.text_to_video import TextToVideoPipeline

    moved, drawn = [], []
    real_move, real_drawn = motion.move, TextToVideoPipeline.drawn_on
    monkeypatch.setattr(motion, "move", lambda *a, **k: moved.append([p.color for p in a[1]]) or real_move(*a, **k))
    monkeypatch.setattr(TextToVideoPipeline, "drawn_on",
                        lambda self, r, *a: drawn.append(len(r.prefix)) or real_drawn(self, r, *a))  # fmt: skip
    prompt = "a red ball starts on the left and moves right"
    generate(tiny_pipeline, Request(prompt, seconds=6, steps=2, width=128, height=128), chunk_seconds=2)
    assert len(moved) >= 3 and moved == [[]] * len(moved) and len(drawn) == len(moved) - 1
    given = generate(tiny_pipeline, Request(prompt, seconds=2, steps=2, width=128, height=128)).frames
    before = len(drawn)
    extend(tiny_pipeline, given, fps=4, seconds=1.0, prompt=prompt, steps=2)
    assert len(drawn) == before


def test_a_later_chunk_keeps_its_given_frames_and_draws_the_shape_along_its_path(tiny_pipeline):
    """``drawn_on``: the prefix as given, then its last frame held with the triangle taken out and
    drawn at its box of every frame, so it reads as one triangle moving along the plan's path."""
    from kino.data.toyworld import Actor, Claim, Obj, Scene, Shot, readback, render
    from kino.director.layout import plan
    from kino.director.shaping import travellers

    prompt = "A cartoon: a big blue triangle starts on the left and moves right."
    placements = plan(prompt, 25, 8, 41)  # frames 8-32 of a 41-frame clip: 9 given, 16 new
    (ball,) = placements
    x0, y0, x1, y1 = ball.boxes[8, 0]
    scene = Scene("cartoon", (Obj(0, "blue", "circle", "big"),), (Shot((Actor(0, (x0 + x1) / 2, (y0 + y1) / 2),)),),
                  seconds=1.0)  # fmt: skip
    prefix = render(scene, width=256, height=256, fps=8)[:9]  # the model drew a circle where the plan has it
    r = tiny_pipeline.resolve(Request(prompt, prefix=prefix, layout_span=(8, 41), width=256, height=256, fps=8))
    out = tiny_pipeline.drawn_on(r, placements, travellers(placements), 25)
    assert out.shape == (25, 256, 256, 3) and np.array_equal(out[:8], prefix[:8])
    report = readback.check(out[8:], [Claim("shape", color="blue", shape="triangle"), Claim("count", color="blue")])
    assert report.ok, report.failures
    xs = [np.nonzero(readback.color_masks(f[None])[0] == readback.PALETTE.index("blue"))[1].mean() for f in out[8:]]
    path = (ball.boxes[8:, 0, 0] + ball.boxes[8:, 0, 2]) / 2 * 256
    assert np.allclose(xs, path, atol=1.5)
