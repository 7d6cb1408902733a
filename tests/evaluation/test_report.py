import json
import re

import numpy as np
import pytest
from PIL import Image

from kino.cli import build_parser, main
from kino.data import toyworld
from kino.evaluation import adherence, report, temporal


def finite_json(text):
    def refuse(name):
        raise ValueError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_contact_sheet_is_a_labelled_strip():
    scene = toyworld.sample_scene(np.random.default_rng(0), kinds=["motion"])
    frames = toyworld.render(scene, width=64, height=64, fps=4)  # 17 frames
    ok, bad = report.contact_sheet(frames, 4, True), report.contact_sheet(frames, 4, False)
    assert ok.size == bad.size and ok.width > 6 * report.SHEET_HEIGHT > ok.height > report.SHEET_HEIGHT
    assert ok.getpixel((1, 1)) == report.PASS_RGB and bad.getpixel((1, 1)) == report.FAIL_RGB


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One eval of every dimension on small true renders, written the way `kino eval` writes it."""
    out = tmp_path_factory.mktemp("report")
    cases = adherence.suite(1)
    scenes = {c.prompt: c.scene for c in cases}

    def generate(prompt, seed):
        return toyworld.render(scenes[prompt], width=96, height=96, fps=4), 4.0

    def inspect(outcome, frames, fps):
        outcome.temporal = temporal.figures(frames, fps)
        outcome.sheet = report.write_sheet(out, f"{outcome.case.dimension}.png", frames, fps, outcome.passed,
                                           report.sheet_caption(outcome))

    outcomes = adherence.run(cases, generate, inspect=inspect)
    run = {"summary": adherence.summarize(outcomes), "temporal": temporal.aggregate(o.temporal for o in outcomes),
           "results": [adherence.outcome_record(o) for o in outcomes]}
    results = {"model": "truth", "modes": {"model_alone": run}, "summary": report.side_by_side({"model_alone": run})}
    report.write_report(out, results)
    return out, results


def test_report_names_every_dimension_and_shows_every_clip(results):
    out, data = results
    page = (out / "report.html").read_text()
    for name in adherence.DIMENSIONS:
        assert f"id='model_alone-{name}'" in page and f'href="#model_alone-{name}"' in page
    for figure in temporal.FIGURES:
        assert figure in page
    sheets = re.findall(r'<img src="([^"]+)"', page)
    records = data["modes"]["model_alone"]["results"]
    assert sorted(sheets) == sorted(r["sheet"] for r in records) and len(sheets) == len(adherence.DIMENSIONS)
    assert "model alone" in page and "with the director" not in page.split("<h2>")[-1]
    for rel in sheets:
        with Image.open(out / rel) as im:
            assert im.format == "PNG" and im.height > report.SHEET_HEIGHT
    assert "<script" not in page and "http" not in page  # self-contained: nothing fetched
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no temporary files left


def test_report_is_a_function_of_results(results):
    out, data = results
    assert report.render_html(json.loads(json.dumps(data))) == (out / "report.html").read_text()


def test_kino_eval_writes_results_report_and_sheets(capsys, tmp_path, tiny_model_dir):
    out = tmp_path / "r"
    code = main(["eval", "--model", str(tiny_model_dir), "--out", str(out), "--limit", "1",
                 "--dims", "color,spin", "--steps", "1"])  # fmt: skip
    assert code == 0
    data = finite_json((out / "results.json").read_text())
    assert set(data["modes"]) == {"model_alone", "director"}  # both, by default, side by side
    assert data["machine"]["dtype"] and data["machine"]["capability"] and data["steps"] == {"model_alone": 1, "director": 1}
    for mode, run in data["modes"].items():
        assert set(run["summary"]) == {"color", "spin"} and run["temporal"]["clips"] == 2
        assert set(run["temporal"]) == {"clips", "dynamic_clips", *temporal.FIGURES}
        for r in run["results"]:
            assert r["seed"] == 0 and r["dimension"] in ("color", "spin") and r["checks"]
            assert set(r["temporal"]) == set(temporal.FIGURES) and r["sheet"].startswith(f"sheets/{mode}-")
            with Image.open(out / r["sheet"]) as im:
                im.verify()
    for name, row in data["summary"].items():
        assert row == {"n": 1, **{m: data["modes"][m]["summary"][name]["pass_rate"] for m in data["modes"]}}
    page = (out / "report.html").read_text()
    assert "color" in page and "spin" in page and page.rstrip().endswith("</html>")
    assert "<th>model alone</th><th>with the director</th>" in page
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.json", "sheets"]
    assert len(list((out / "sheets").iterdir())) == 4
    printed = capsys.readouterr().out
    assert "report.html" in printed and "model alone" in printed and "with the director" in printed


def test_kino_eval_of_a_model_that_did_not_learn_toyworld_runs_the_model_alone(capsys, tmp_path, tiny_model_dir):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(dict(cfg, vocabulary="cities")))
    args = ["eval", "--model", str(other), "--out", str(tmp_path / "r"), "--limit", "1", "--dims", "color",
            "--steps", "1"]
    assert main(args + ["--mode", "director"]) == 2
    assert "does not run" in capsys.readouterr().err
    assert main(args) == 0
    assert list(finite_json((tmp_path / "r" / "results.json").read_text())["modes"]) == ["model_alone"]


def test_kino_eval_runs_the_default_suite_without_limit():
    args = build_parser().parse_args(["eval", "--out", "x"])
    assert args.limit is None  # default_suite(): see test_adherence


def test_kino_eval_rejects_a_zero_limit(capsys, tmp_path, tiny_model_dir):
    code = main(["eval", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r"), "--limit", "0"])
    assert code == 2 and "--limit" in capsys.readouterr().err


def test_kino_eval_paraphrased_runs_the_same_scenes_said_otherwise(tmp_path, tiny_model_dir):
    out = tmp_path / "r"
    assert main(["eval", "--model", str(tiny_model_dir), "--out", str(out), "--limit", "1", "--dims", "place",
                 "--steps", "1", "--mode", "model_alone", "--paraphrase"]) == 0
    data = finite_json((out / "results.json").read_text())
    [record] = data["modes"]["model_alone"]["results"]
    assert data["phrasing"] == "paraphrased" and record["prompt"] == adherence.paraphrase(adherence.suite(1, ["place"])[0].prompt)
    assert "paraphrased" in (out / "report.html").read_text()
