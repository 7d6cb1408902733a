import re

import numpy as np
import pytest
import torch

from kino.data.toyworld.readback import PALETTE
from kino.director.layout import STRENGTH, attention_bias, grounding_bias, plan, word_colors
from kino.pipelines.text_to_video import Request


def centres(placement, frame=0):
    b = placement.boxes[frame]
    return (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2


def by_color(prompt, frames=33):
    return {p.color: p for p in plan(prompt, frames)}


@pytest.mark.parametrize(
    "prompt, x_ok, y_ok",
    [
        ("A cartoon: a small red square at the top left stays still.", lambda x: x < 0.4, lambda y: y < 0.4),
        ("a big green ball at the bottom center", lambda x: 0.35 <= x <= 0.65, lambda y: y > 0.6),
        ("a blue box on the right", lambda x: x > 0.6, lambda y: True),
    ],
)
def test_places_land_where_toyworld_reads_them(prompt, x_ok, y_ok):
    (p,) = plan(prompt, 33)
    (x,), (y,) = centres(p)
    assert x_ok(x) and y_ok(y), (x, y)


def test_an_unmet_relation_decides_the_places_and_a_met_one_is_kept():
    met = by_color("a red ball on the left. a blue ball on the right. The red ball is to the left of the blue ball.")
    assert centres(met["red"])[0][0] < 0.4 and centres(met["blue"])[0][0] > 0.6
    unmet = by_color("a red ball in the middle. a blue ball in the middle. The red ball is right of the blue ball.")
    (xr,), (xb,) = centres(unmet["red"])[0], centres(unmet["blue"])[0]
    assert xr > xb + 0.1 and 0.35 <= xb < xr <= 0.65  # right of it, and both still in the middle
    above = by_color("the green box is above the cyan box")
    assert centres(above["green"])[1][0] < centres(above["cyan"])[1][0] - 0.1


def test_motion_moves_the_box_and_counts_get_one_box_each():
    (mover,) = plan("a green ball starts at the top left and moves right.", 33)
    assert centres(mover, -1)[0][0] - centres(mover, 0)[0][0] >= 0.25  # the contract's travel
    (three,) = plan("three small cyan squares stay still", 33)
    x, _ = centres(three)
    assert len(x) == 3 and np.min(np.diff(np.sort(x))) > 0.3  # spread over the row, so no two boxes touch
    (two,) = plan("two red balls on the left", 33)
    x, _ = centres(two)
    assert np.all(x < 0.4) and abs(x[0] - x[1]) >= 0.15  # either side of the place asked, still on the left


def test_objects_whose_ways_would_meet_are_planned_side_by_side_and_keep_their_places():
    """A triangle at the bottom right moving up and a ball at the top right moving down share a column
    as the places say them; planned so, one passes over the other. They stand apart across their ways."""
    p = by_color("A small green triangle starts at the bottom right and moves up. "
                 "A small yellow ball starts at the top right and moves down.")  # fmt: skip
    green, yellow = p["green"].boxes[:, 0], p["yellow"].boxes[:, 0]
    assert np.all((green[:, 0] >= yellow[:, 2] + 0.03) | (yellow[:, 0] >= green[:, 2] + 0.03))
    for q in (green, yellow):
        assert np.all((q[:, 0] + q[:, 2]) / 2 > 0.6)  # both still on the right, as toyworld reads it
    assert centres(p["green"], -1)[1][0] < 0.4 and centres(p["yellow"], -1)[1][0] > 0.6  # and moving as asked


def test_objects_meant_to_meet_are_left_to_meet():
    """An object passing behind another is planned over it, as the prompt asks."""
    p = by_color("A red ball passes behind a big blue square.")
    red, blue = p["red"].boxes[:, 0], p["blue"].boxes[:, 0]
    overlap = (np.minimum(red[:, 2], blue[:, 2]) > np.maximum(red[:, 0], blue[:, 0])) & (
        np.minimum(red[:, 3], blue[:, 3]) > np.maximum(red[:, 1], blue[:, 1]))
    assert overlap.any()


def test_several_of_a_kind_get_tighter_boxes_than_one():
    from kino.director.layout import Placement

    box = np.array([0.35, 0.35, 0.65, 0.65], np.float32)
    one = Placement("red", ((0, 3),), np.tile(box, (9, 1, 1)))
    two = Placement("red", ((0, 3),), np.tile(box, (9, 2, 1)))  # the same box twice: only the margin differs
    inside = lambda p: int((attention_bias([p], [(0, 3)], (3, 8, 8), 9)[:64, 0] > 0).sum())
    assert (inside(one), inside(two)) == (16, 4)  # half a token of margin, then a quarter: neighbours do not merge


@pytest.mark.parametrize("prompt", ["a dog runs", "Shot 1: a red ball. Shot 2: the red ball bounces", ""])
def test_words_outside_the_vocabulary_get_no_plan(prompt):
    assert plan(prompt, 33) == []


def test_bias_steers_only_the_words_that_name_an_object():
    prompt = "a red ball on the left"
    offsets = [(0, 0), (0, 1), (2, 5), (6, 10), (11, 13), (14, 17), (18, 22), (0, 0)]  # [CLS] a red ball on the left
    bias = attention_bias(plan(prompt, 9), offsets, grid=(3, 4, 4), frames=9, strength=2.0)
    assert bias.shape == (3 * 4 * 4, len(offsets))
    steered = (bias != 0).any(0).tolist()
    assert steered == [False, True, True, True, False, False, False, False]  # "a red ball": the mention
    grid = bias[:, 2].reshape(3, 4, 4)
    assert set(grid.unique().tolist()) == {2.0, -2.0}
    inside = (grid > 0).nonzero()
    assert inside[:, 2].max() <= 1  # the left half of the frame
    assert attention_bias(plan(prompt, 9), [(0, 0)] * 3, (3, 4, 4), 9) is None  # no word to steer


def test_dit_text_bias_changes_cross_attention_and_zero_changes_nothing():
    from kino.config import preset
    from kino.models.dit import DiT

    torch.manual_seed(0)
    cfg = preset("tiny")
    dit = DiT(cfg.dit, cfg.vae.latent_channels).eval()
    for p in dit.parameters():  # adaLN-Zero starts every block at zero: give it weights to see through
        torch.nn.init.normal_(p, std=0.05)
    x = torch.randn(1, cfg.vae.latent_channels, 2, 8, 8)
    text, mask = torch.randn(1, 5, cfg.dit.text_dim), torch.ones(1, 5, dtype=torch.bool)
    n = 2 * (8 // cfg.dit.patch[1]) * (8 // cfg.dit.patch[2])
    t = torch.tensor([0.5])
    plain = dit(x, t, text, mask)
    assert torch.equal(plain, dit(x, t, text, mask, text_bias=torch.zeros(1, n, 5)))
    bias = torch.zeros(1, n, 5)
    bias[:, : n // 2, 1] = 4.0
    assert (dit(x, t, text, mask, text_bias=bias) - plain).abs().max() > 1e-3


def test_attention_bias_is_the_same_on_the_fused_and_chunked_paths():
    from kino.models.dit import attend

    torch.manual_seed(0)
    q, k, v = torch.randn(2, 2, 6, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    mask = torch.tensor([True, True, True, True, False])[None, None, None, :].expand(2, 1, 1, 5)
    bias = torch.randn(2, 1, 6, 5)
    fused = attend(q, k, v, mask, bias)  # fp32: PyTorch's SDPA
    chunked = attend(q.bfloat16(), k.bfloat16(), v.bfloat16(), mask, bias).float()  # bf16 on the CPU: two matmuls
    assert (fused - chunked).abs().max() < 0.05
    scores = (q @ k.transpose(-1, -2)) / 8**0.5 + bias
    expected = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1) @ v
    assert torch.allclose(fused, expected, atol=1e-5)


def test_pipeline_steers_readable_prompts_unless_asked_not_to(tiny_pipeline):
    readable = Request("a red ball on the left", seed=1, seconds=1, steps=2)
    steered = tiny_pipeline(readable).frames
    alone = tiny_pipeline(Request("a red ball on the left", seed=1, seconds=1, steps=2, layout=False)).frames
    assert not np.array_equal(steered, alone)
    unreadable = Request("a dog runs across a field", seed=1, seconds=1, steps=2)
    assert tiny_pipeline.layout_bias(tiny_pipeline.resolve(unreadable), (1, 4, 2, 16, 16)) is None


def test_a_chunk_of_a_long_clip_is_planned_as_part_of_the_whole_video():
    prompt = "a green ball starts on the left and moves right"
    (whole,) = plan(prompt, 97)
    (chunk,) = plan(prompt, 33, start=64, total=97)
    assert np.allclose(chunk.boxes, whole.boxes[64:])  # the motion spans the video, not each chunk


def test_given_frames_turn_the_layout_off_unless_they_are_the_videos_own(tiny_pipeline):
    image = np.full((128, 128, 3), 120, np.uint8)
    pipe, shape = tiny_pipeline, (1, 4, 2, 16, 16)
    req = pipe.resolve(Request("a red ball on the left", seconds=1, image=image))
    assert pipe.layout_bias(req, shape) is None  # the picture already says where the ball is
    chunk = pipe.derive(req, layout_span=(0, 5))
    assert pipe.layout_bias(chunk, shape) is not None


def test_a_layout_span_must_hold_the_clip(tiny_pipeline):
    from kino.pipelines.text_to_video import RequestError

    with pytest.raises(RequestError, match="layout span"):
        tiny_pipeline.resolve(Request("a red ball", seconds=1, layout_span=(3, 5)))  # 5 frames from frame 3 of 5


def test_word_colors_mark_the_words_of_each_mention():
    text = "A big red ball on the left and two blue squares."
    offsets = [(0, 0)] + [m.span() for m in re.finditer(r"\w+|\.", text)]  # as a tokenizer's, [CLS] first
    got = word_colors(offsets, text, length=len(offsets) + 2)
    red, blue = PALETTE.index("red"), PALETTE.index("blue")
    assert got == [-1, red, red, red, red, -1, -1, -1, -1, blue, blue, blue, -1, -1, -1]  # "A" counts one


def test_grounding_bias_points_each_colour_word_at_the_tokens_holding_that_colour():
    red, blue = PALETTE.index("red"), PALETTE.index("blue")
    colors = torch.zeros(2, 2, 8, 8, dtype=torch.uint8)  # (B, T', h, w) cells; patch (1, 4, 4): 2x2 tokens
    colors[0, :, 1, 1] = 1 << red  # red in the top-left token
    colors[0, 1, 6, 5] |= 1 << blue  # blue in the bottom-right token of frame 1 only
    words = torch.tensor([[-1, red, blue, -1], [-1, red, -1, -1]])
    bias = grounding_bias(colors, words, (1, 4, 4))
    assert bias.shape == (2, 8, 4)
    s = STRENGTH
    assert bias[0, :, 1].tolist() == [s, -s, -s, -s, s, -s, -s, -s]  # tokens (t, y, x) in raster order
    assert bias[0, :, 2].tolist() == [-s, -s, -s, -s, -s, -s, -s, s]
    assert not bias[:, :, [0, 3]].any()  # words naming nothing are not steered
    assert (bias[1, :, 1] == -s).all()  # a colour the clip lacks is pushed out everywhere
