import json
import math

import pytest

from kino.cli import main
from kino.evaluation import creative


@pytest.mark.slow
def test_creative_figures_on_the_tiny_model(tiny_model_dir):
    results = creative.run(str(tiny_model_dir), steps=1, n=1, n_storyboards=1, durations=(1, 3),
                           sections=["image_to_video", "loop", "edit_mask", "storyboards", "long_video"])
    assert math.isfinite(results["image_to_video"]["values"][0])
    assert 0 < results["loop"]["values"][0] < 100
    # Outside the mask the input's pixels are kept: only the mp4 re-encode differs.
    assert results["edit_mask"]["outside_psnr_db"]["worst"] >= 35
    story = results["storyboards"]
    assert story["storyboards"] == 1 and story["cuts_placed_as_asked_rate"] == 1.0
    runs = results["long_video"]["runs"]
    # The probe's 17-frame window: 17 frames, then 13 given + 4 new twice (long_video.CONTEXT_LATENTS).
    assert [(r["seconds"], r["frames"], r["chunks"]) for r in runs] == [(1, 9, 1), (3, 25, 3)]
    assert len(runs[1]["chunk_seams"]) == 2 and runs[1]["peak_rss_mb"] > 0


def test_bench_creative_refuses_a_bad_model_folder(capsys, tmp_path):
    assert main(["bench", "--creative", "--model", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_creative_main_writes_json(tmp_path, tiny_model_dir, capsys):
    out = tmp_path / "c.json"
    assert creative.main(["--model", str(tiny_model_dir), "--steps", "1", "--clips", "1", "--only", "loop",
                          "--out", str(out)]) == 0
    assert json.loads(out.read_text())["loop"]["pass_rate"] in (0.0, 1.0)
