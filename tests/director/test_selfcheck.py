import numpy as np
import torch

from kino.data.toyworld.scene import COLORS
from kino.director import selfcheck
from kino.director.layout import plan
from kino.director.motion import _centre, _clip, _rect
from kino.pipelines.text_to_video import Request


def _draw(frame, box, color, split=False):
    """A square of ``color`` filling ``box`` (fractions) of an (H, W, 3) frame; ``split``: cut in two
    by a grey line down its middle."""
    h, w = frame.shape[:2]
    x0, y0, x1, y1 = (np.array(box) * [w, h, w, h]).round().astype(int)
    frame[y0:y1, x0:x1] = COLORS[color]
    if split:
        mid = (x0 + x1) // 2
        frame[y0:y1, mid - 2 : mid + 2] = 200


def test_faults_count_split_missing_and_stray_objects():
    placements = plan("a big red ball on the left", 9)
    box = placements[0].boxes[0, 0]
    frame = np.full((128, 128, 3), 200, np.uint8)
    assert selfcheck.faults(frame, placements) == 1  # nothing drawn in the box
    _draw(frame, box, "red")
    assert selfcheck.faults(frame, placements) == 0  # one piece where the plan puts it
    frame[120:124, 120:124] = COLORS["red"]
    assert selfcheck.faults(frame, placements) == 0  # a speck is not an object
    frame[100:124, 100:124] = COLORS["red"]
    assert selfcheck.faults(frame, placements) == 1  # a piece away from the box is one more object
    frame[100:124, 100:124] = 200
    _draw(frame, box, "red", split=True)
    assert selfcheck.faults(frame, placements) == 1  # two pieces in one box
    _draw(frame, box, "blue")
    assert selfcheck.faults(frame, placements) == 1  # another colour is not the object


def test_several_of_a_kind_are_copies_of_the_cleanest():
    placements = plan("three red balls stay still", 9)
    assert selfcheck.several(placements) and not selfcheck.several(plan("a red ball", 9))
    boxes = placements[0].boxes[0]
    frame = np.full((128, 128, 3), 200, np.uint8)
    _draw(frame, boxes[0], "red", split=True)
    _draw(frame, boxes[1], "red")
    assert selfcheck.cleanest(frame, placements[0]) == 1  # one piece beats two
    assert selfcheck.faults(frame, placements) == 2  # a split and a missing one
    latents = torch.randn(1, 4, 3, 16, 16)
    out = selfcheck.copies(latents, placements, frame)
    ya, yb, xa, xb = _clip(_rect(boxes[1], 16, 16, 1.0, 1.0), 16, 16)  # the second box's cells, as recast cuts them
    for box in boxes:  # every box now holds them, centred on it, in every latent frame
        cy, cx = _centre(box, 16, 16, 1.0)
        y, x = round(cy - (yb - ya) / 2), round(cx - (xb - xa) / 2)
        assert 0 <= y and 0 <= x and x + xb - xa <= 16
        # Inside the cell of margin recast takes around a box (a neighbour's copy may overlap that).
        assert torch.equal(out[..., y + 1 : y + yb - ya - 1, x + 1 : x + xb - xa - 1],
                           latents[..., ya + 1 : yb - 1, xa + 1 : xb - 1])
    assert not torch.equal(out, latents)
    assert torch.equal(out[..., :4, :], latents[..., :4, :])  # away from the boxes, nothing changed


def test_a_draft_with_faults_is_drawn_again_and_the_best_kept(tiny_pipeline, monkeypatch):
    req = Request("a red ball on the left", seed=3, seconds=1, steps=2)
    first = tiny_pipeline(req).frames
    # The tiny model draws no red ball, so every draft has a fault: three drafts, the first kept
    # when none is better.
    drafts = []
    real = selfcheck.faults
    monkeypatch.setattr(selfcheck, "faults", lambda *a: drafts.append(1) or real(*a))
    assert np.array_equal(tiny_pipeline(req).frames, first) and len(drafts) == selfcheck.DRAFTS
    # A later draft with fewer faults is the one kept; a clean draft ends the search.
    scores = iter([2, 0])
    monkeypatch.setattr(selfcheck, "faults", lambda *a: next(scores))
    second = tiny_pipeline(req).frames
    assert not np.array_equal(second, first)  # the second draft, from new noise
    monkeypatch.setattr(selfcheck, "faults", lambda *a: drafts.append(2) or 0)
    assert np.array_equal(tiny_pipeline(req).frames, first) and drafts.count(2) == 1  # clean: one draft
    monkeypatch.setattr(selfcheck, "faults", lambda *a: drafts.append(3) or 5)
    tiny_pipeline(Request("a red ball on the left", seed=3, seconds=1, steps=2, layout=False))
    assert 3 not in drafts  # layout off: the model alone, unchecked
