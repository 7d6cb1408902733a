import json

import pytest
import torch
from PIL import Image

from kino import precision
from kino.evaluation import perf, scaling


def test_transformer_bench_reports_every_peer_and_the_roofline():
    r = perf.bench_transformers(perf.QUICK, repeats=1)
    json.dumps(r)  # plain JSON
    assert r["matmul_roofline_flop_per_s"] > 0
    assert r["flop_per_step"] == perf.transformer_flops(perf.QUICK)
    assert set(r["models"]) == {"kino", "wan2.1", "ltx-video"}
    for name, row in r["models"].items():
        if "skipped" not in row:
            assert row["step_s"] > 0 and 0 < row["roofline_fraction"]
    assert r["models"]["kino"]["kino_speedup"] == 1.0


def test_peer_transformers_run_at_the_matched_shape():
    pytest.importorskip("diffusers")
    for name, build in perf.PEERS.items():
        with torch.inference_mode():
            out = build(perf.QUICK, precision.choose())()
        assert out.numel() == perf.QUICK.tokens * 4 * perf.QUICK.latent_channels, name  # 2x2 patches of C channels


def test_vae_decoders_make_the_same_video_shape():
    r = perf.bench_vae_decoders(frames=5, height=32, width=32, repeats=1)
    shapes = {tuple(row["output"]) for row in r["models"].values() if "output" in row}
    assert shapes == {(1, 3, 5, 32, 32)}


def test_time_split_sums_to_one():
    split = perf.time_split(perf.kino_transformer(perf.QUICK, precision.choose()))
    assert abs(sum(split.values()) - 1) < 1e-6 and "matmul" in split and "attention" in split


@pytest.mark.slow
def test_scaling_runs_each_configuration_and_plots(tiny_model_dir, tmp_path):
    r = scaling.run(str(tiny_model_dir), durations=(1.0, 3.0), sizes=((128, 128), (192, 128)), steps=1,
                    out_dir=tmp_path)
    assert [row["seconds"] for row in r["duration"]] == [1.0, 3.0]
    assert [(row["width"], row["height"]) for row in r["resolution"]] == [(128, 128), (192, 128)]
    assert all(row["peak_rss_mib"] >= row["rss_after_load_mib"] > 0 for row in r["duration"])
    assert r["duration"][1]["frames"] > r["duration"][0]["frames"]
    assert len(r["plots"]) == 4
    for path in r["plots"]:
        with Image.open(path) as im:
            assert im.size == (500, 350)
