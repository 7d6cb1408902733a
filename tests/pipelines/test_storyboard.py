import dataclasses

import numpy as np
import pytest

from kino.pipelines import storyboard
from kino.director.backdrop import regrade
from kino.pipelines.text_to_video import RequestError

STORY = {
    "style": "cartoon",
    "seed": 3,
    "characters": {"bob": "a big red ball"},
    "shots": [{"prompt": "Bob moves to the right", "seconds": 1}, {"prompt": "the bob stays still", "camera": "zoom-in"}],
}


def test_characters_style_and_camera_are_written_into_every_shot():
    story = storyboard.from_dict(STORY)
    assert story.prompts() == [
        "A cartoon: a big red ball moves to the right",
        "A cartoon: a big red ball stays still. The camera zooms in.",
    ]


def test_each_shot_knows_the_earlier_shots_that_introduced_its_characters():
    story = storyboard.from_dict({"characters": {"bob": "a big red ball", "Ann": "a small blue square"}, "shots": [
        {"prompt": "Bob moves"}, {"prompt": "the sky"}, {"prompt": "ann waits"}, {"prompt": "the bob meets Ann"},
        {"prompt": "bobby and annie"}]})
    assert story.introductions() == [(), (), (), (0, 2), ()]  # whole names only, any case, with an article
    assert storyboard.from_dict({"shots": [{"prompt": "a"}, {"prompt": "a"}]}).introductions() == [(), ()]


def test_render_story_joins_shots_with_cuts(tiny_pipeline):
    result = storyboard.render_story(tiny_pipeline, storyboard.from_dict(STORY), steps=1)
    assert len(result.frames) == 5 + 9 and result.cuts == [5]  # 1 s and the 2 s default at 4 fps
    again = storyboard.render_story(tiny_pipeline, storyboard.from_dict(STORY), steps=1)
    assert np.array_equal(result.frames, again.frames)


def test_a_shot_prompt_becomes_a_storyboard():
    story = storyboard.from_prompt("A cartoon: Shot 1: a red ball moves left. Shot 2: the red ball bounces.", 8.0)
    assert [s.seconds for s in story.shots] == [4.0, 4.0] and story.style == "cartoon"
    assert story.prompts()[1] == "A cartoon: the red ball bounces."
    assert storyboard.from_prompt("a red ball") is None
    with pytest.raises(RequestError, match="not a style"):
        storyboard.from_prompt("Hello there Shot 1: a. Shot 2: b")



def test_with_seconds_sets_each_shots_length_and_keeps_the_rest():
    story = storyboard.from_dict(STORY)
    timed = story.with_seconds([2.5, None])
    assert [s.seconds for s in timed.shots] == [2.5, None] and timed.prompts() == story.prompts()
    assert story.with_seconds(None) is story
    with pytest.raises(ValueError):
        story.with_seconds([1.0])


@pytest.mark.parametrize(
    "data, message",
    [
        ([1, 2], "must be a mapping"),
        ({"shots": []}, "non-empty list"),
        ({"shots": ["a ball"], "colour": 1}, "key 'colour'"),
        ({"shots": ["a ball"], "style": "anime"}, "style: 'anime'"),
        ({"shots": [{"prompt": "a ball", "seconds": 0}]}, "shot 1: seconds 0"),
        ({"shots": [{"prompt": "a ball", "camera": "dolly"}]}, "shot 1: camera 'dolly'"),
        ({"shots": ["a ball", {"seconds": 2}]}, "shot 2: needs a prompt"),
        ({"shots": ["a ball"], "characters": {"two words": "x"}}, "one word"),
        ({"shots": ["a ball"], "characters": {"bob": ""}}, "needs a description"),
        ({"shots": ["a ball"], "seed": -1}, "seed: -1"),
        ({"shots": [{"prompt": "a ball", "backdrop": 3}]}, "shot 1: backdrop 3 is not allowed; use 0 to 2"),
        ({"shots": ["a ball", {"prompt": "a ball", "backdrop": "dark"}]}, "shot 2: backdrop 'dark'"),
        ({"shots": [{"prompt": "a ball", "set": 1}]}, "key 'set' is not known; use prompt, seconds, camera, backdrop"),
    ],
)
def test_bad_storyboards_name_the_field(data, message):
    with pytest.raises(RequestError, match=message):
        storyboard.from_dict(data)


def test_shots_longer_than_a_minute_in_all_are_refused(tiny_pipeline):
    story = storyboard.from_dict({"shots": [{"prompt": "a ball", "seconds": 40}, {"prompt": "a box", "seconds": 30}]})
    with pytest.raises(RequestError, match="add up to 70 s"):
        storyboard.shot_requests(tiny_pipeline, story)


def test_a_bad_shot_is_named(tiny_pipeline):
    story = storyboard.from_dict({"shots": ["a ball", "x" * 3000]})
    with pytest.raises(RequestError, match="shot 2: the prompt has 3000 characters"):
        storyboard.shot_requests(tiny_pipeline, story)


def test_load_reports_bad_files(tmp_path):
    with pytest.raises(RequestError, match="no such file"):
        storyboard.load(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("shots: [a, b\n")
    with pytest.raises(RequestError, match="not valid YAML"):
        storyboard.load(tmp_path / "bad.yaml")
    (tmp_path / "ok.yaml").write_text("shots:\n  - prompt: a red ball\n    seconds: 2\n")
    assert storyboard.load(tmp_path / "ok.yaml").shots[0].seconds == 2.0


def test_names_are_expanded_once_even_inside_other_descriptions():
    text = storyboard.expand_characters("Bob chases ball", {"bob": "a big red ball", "ball": "a small blue box"})
    assert text == "A big red ball chases a small blue box"


def test_a_camera_conflict_names_the_shot():
    story = storyboard.from_dict({"shots": ["a ball", {"prompt": "the camera zooms in", "camera": "pan-left"}]})
    with pytest.raises(RequestError, match="shot 2: --camera pan-left conflicts"):
        story.prompts()


def test_reference_frame_starts_later_shots_from_the_first_shots_first_frame(tiny_pipeline):
    from kino.pipelines.long_video import generate
    from kino.pipelines.text_to_video import Request

    data = {**STORY, "reference": True}
    story = storyboard.from_dict(data)
    result = storyboard.render_story(tiny_pipeline, story, steps=1)
    first = result.frames[: result.cuts[0]]
    opening = regrade(first[:1], 2)[0]  # against the second shot's backdrop
    shot2 = generate(tiny_pipeline, Request(result.prompts[1], seed=3, steps=1, image=opening)).frames
    assert np.array_equal(result.frames[result.cuts[0]:], shot2)
    plain = storyboard.render_story(tiny_pipeline, story, steps=1, reference=False)
    assert np.array_equal(plain.frames[: plain.cuts[0]], first)
    assert not np.array_equal(plain.frames[plain.cuts[0]:], shot2)
    with pytest.raises(RequestError, match="reference"):
        storyboard.from_dict({**STORY, "reference": "yes"})


def test_a_story_streams_shot_by_shot(tiny_pipeline, monkeypatch):
    from kino.pipelines.text_to_video import TextToVideoPipeline

    story = storyboard.from_dict(STORY)
    whole = storyboard.render_story(tiny_pipeline, story, steps=1)
    made = []
    real = TextToVideoPipeline.__call__
    monkeypatch.setattr(TextToVideoPipeline, "__call__", lambda pipe, *a, **k: made.append(1) or real(pipe, *a, **k))
    stream = storyboard.stream_story(tiny_pipeline, story, steps=1)
    assert (stream.frames, stream.cuts, stream.prompts) == (14, [5], story.prompts()) and not made
    pieces, seen = [], []
    for piece in stream:
        pieces.append(piece)
        seen.append(len(made))
    assert seen[0] == 1 and seen[-1] == 2  # the first shot is out before the second is made
    assert np.array_equal(np.concatenate(pieces), whole.frames)
    assert stream.timings["total"] > 0


def test_a_story_with_a_bad_shot_is_refused_before_any_is_made(tiny_pipeline):
    story = storyboard.from_dict({"shots": ["a ball", "x" * 3000]})
    with pytest.raises(RequestError, match="shot 2"):
        storyboard.stream_story(tiny_pipeline, story)


def test_every_cut_changes_the_backdrop_unless_the_story_names_them():
    shots = lambda *b: {"shots": [{"prompt": "a ball", **({} if x is None else {"backdrop": x})} for x in b]}
    assert storyboard.from_dict(shots(None, None, None, None)).backdrops() == [None, 2, None, 2]
    assert storyboard.from_dict(shots(1, None, 0, None, 2)).backdrops() == [1, None, 0, 2, 2]  # as named


def test_the_shipped_model_makes_cuts_that_read_back():
    """Shots made one at a time stand against the backdrop the model always draws unless the story
    changes it: with the change, toyworld's readback finds each cut where it was placed."""
    from kino.cli import DEFAULT_MODEL
    from kino.data.toyworld import readback
    from kino.pipelines.text_to_video import TextToVideoPipeline

    pipe = TextToVideoPipeline.from_pretrained(DEFAULT_MODEL)
    story = storyboard.from_prompt("A cartoon: Shot 1: A big purple ball starts on the right and moves left. "
                                   "Shot 2: The big purple ball starts on the left and moves right.", 4.0)
    result = storyboard.render_story(pipe, story, steps=6, fps=8)
    assert readback.cuts(result.frames) == result.cuts == [17]
    same = dataclasses.replace(story, shots=tuple(dataclasses.replace(s, backdrop=0) for s in story.shots))
    assert readback.cuts(storyboard.render_story(pipe, same, steps=6, fps=8).frames) == []
