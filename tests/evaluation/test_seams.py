import math

import numpy as np
import pytest

from kino.data import toyworld
from kino.data.toyworld import Actor, Obj, Scene, Shot
from kino.evaluation import seams


def ramp(n=9, jump_at=None):
    """Frames that brighten by 2 levels a frame, with an extra jump of 20 into frame ``jump_at``."""
    levels = np.arange(n) * 2.0 + (np.arange(n) >= jump_at) * 20 if jump_at else np.arange(n) * 2.0
    return np.broadcast_to(levels[:, None, None, None] + 50, (n, 8, 8, 3)).astype(np.uint8)


def test_seam_ratio_finds_a_jump():
    frames = ramp(jump_at=5)
    assert seams.frame_diffs(frames).tolist() == [2, 2, 2, 2, 22, 2, 2, 2]
    assert seams.seam_ratio(frames, 5) == 11.0 and seams.seam_ratio(frames, 3) == 1.0


def test_loop_closure_of_a_cycle_and_of_a_ramp():
    cycle = np.concatenate([ramp(5), ramp(5)[::-1][1:-1]])  # up and down again: the wrap is one step
    assert seams.loop_closure(cycle) == pytest.approx(1.0)
    assert seams.loop_closure(ramp(9)) == pytest.approx(8.0)


def test_psnr_with_and_without_a_region():
    a = np.zeros((2, 4, 4, 3), np.uint8)
    b = a.copy()
    b[:, :, :2] = 255
    where = np.zeros((4, 4), bool)
    where[:, 2:] = True
    assert seams.psnr(a, b, where[None]) == math.inf
    assert seams.psnr(a, b) == pytest.approx(10 * math.log10(2))


def test_cuts_and_characters_read_from_a_two_shot_render():
    ball = Obj(0, "red", "circle", "big")
    shots = (Shot((Actor(0, 0.3, 0.5),), backdrop=0), Shot((Actor(0, 0.7, 0.5),), backdrop=1))
    frames = toyworld.render(Scene("cartoon", (ball,), shots), width=128, height=128, fps=8)
    assert seams.cut_count(frames) == 1
    assert seams.cut_count(frames[:10]) == 0
    half = len(frames) // 2 + 1
    assert seams.character_reads(frames[:half], "red") == (True, "circle", "big")
    assert seams.character_reads(frames[:half], "blue") == (False, None, None)
    reads = seams.character_consistency([frames[:half], frames[half:]], ["red"])
    assert reads["red"]["consistent"]
    box = toyworld.render(Scene("cartoon", (Obj(0, "red", "square", "small"),), (Shot((Actor(0, 0.5, 0.5),)),)),
                          width=128, height=128, fps=8)  # fmt: skip
    assert not seams.character_consistency([frames[:half], box], ["red"])["red"]["consistent"]


def test_color_share_inside_a_region():
    frames = np.full((1, 8, 8, 3), 200, np.uint8)
    frames[0, :, :2] = (220, 40, 40)
    where = np.zeros((8, 8), bool)
    where[:, :4] = True
    assert seams.color_share(frames, "red", where)[0] == pytest.approx(0.5)
    assert seams.color_share(frames, "red")[0] == pytest.approx(0.25)
