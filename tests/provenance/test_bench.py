from kino.provenance import bench


def test_bench_runs_small_and_reports_every_attack():
    results = bench.run(marked=2, unmarked=2, sizes=((128, 128),), progress=False)
    for name in bench.ATTACKS:
        row = results["attacks"][name]
        assert row["n"] == 2 and 0.0 <= row["bit_accuracy_mean"] <= 1.0
    assert results["unmarked_clips"] == 2 and results["false_positives"] == 0
    assert results["psnr_db"]["128x128"]["mean"] > 30


def test_c2pa_figures_count_every_output():
    results = bench.c2pa_figures(n=2)
    assert results["valid"] == 2
    assert results["media_flip"] == {"tampered": 2}
    assert sum(results["any_flip"].values()) == 2
