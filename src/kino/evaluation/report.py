"""The ``kino eval`` report: one self-contained ``report.html`` (inline style, no scripts, no
external files but its images) and a ``sheets/`` folder of PNG contact sheets beside it, one
strip of frames per generated clip, so a person can see why a prompt failed.

    rel = write_sheet(out, name, frames, fps, passed, caption)  # while the frames exist -> "sheets/<name>"
    write_report(out, results)                                   # results: the dict saved as results.json

Each figure is labelled with the mode that made it: the model alone, or with the toyworld director
(kino.director), which plans and draws what toyworld's words ask for before the model repaints it.

The report is a function of ``results`` (and the sheets it names) alone, so it can be
rebuilt from a ``results.json`` later.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from kino.evaluation import temporal
from kino.evaluation.adherence import Outcome
from kino.io import atomic_path

SHEET_FRAMES = 6
SHEET_HEIGHT = 128  # pixels per frame in a sheet (small clips are scaled up, pixels kept sharp)
SHEETS = "sheets"
PASS_RGB, FAIL_RGB = (46, 139, 87), (200, 40, 40)
# The modes an eval measures, as results.json names them and as every table labels them.
MODES = {"model_alone": "model alone", "director": "with the director"}


# ---------------------------------------------------------------------------------------
# Contact sheets.


def contact_sheet(
    frames: np.ndarray, fps: float, passed: bool, caption: str = "", n: int = SHEET_FRAMES
) -> Image.Image:
    """About ``n`` evenly spaced frames of a clip (T, H, W, 3) uint8 side by side, each labelled
    with its index and time, under a band that says PASS or FAIL and then ``caption``."""
    frames = np.asarray(frames)
    t, h, w = frames.shape[:3]
    picks = sorted({int(i) for i in np.linspace(0, t - 1, min(n, t)).round()})
    fw = max(1, round(w * SHEET_HEIGHT / h))
    band, label, gap = 18, 14, 4
    sheet = Image.new("RGB", (len(picks) * (fw + gap) + gap, band + SHEET_HEIGHT + label + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    draw.rectangle((0, 0, sheet.width, band - 1), fill=PASS_RGB if passed else FAIL_RGB)
    draw.text((gap, 3), f"{'PASS' if passed else 'FAIL'}  {caption}".strip(), fill=(255, 255, 255), font=font)
    resample = Image.Resampling.NEAREST if SHEET_HEIGHT >= h else Image.Resampling.BOX
    for k, i in enumerate(picks):
        x = gap + k * (fw + gap)
        sheet.paste(Image.fromarray(frames[i]).resize((fw, SHEET_HEIGHT), resample), (x, band))
        draw.text((x, band + SHEET_HEIGHT + 1), f"#{i}  {i / fps:.1f}s", fill=(60, 60, 60), font=font)
    return sheet


def sheet_caption(outcome: Outcome) -> str:
    """A sheet's one-line caption: dimension, seed, and the first failed check (why it failed)."""
    failed = next((d for d in outcome.details if ": FAIL" in d), "")
    return f"{outcome.case.dimension} | seed {outcome.seed}" + (f" | {failed}" if failed else "")


def write_sheet(
    out: str | Path, name: str, frames: np.ndarray, fps: float, passed: bool, caption: str = ""
) -> str:
    """Write the clip's contact sheet to ``out/sheets/<name>`` (atomically); return that path
    relative to ``out``, as the report links it."""
    folder = Path(out) / SHEETS
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / name) as tmp:
        contact_sheet(frames, fps, passed, caption).save(tmp, format="PNG")
    return f"{SHEETS}/{name}"


# ---------------------------------------------------------------------------------------
# The page.

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.def { text-align: left; color: #555; max-width: 700px; }
.bar { display: inline-block; height: 10px; background: #2e8b57; vertical-align: middle; }
.case { border-left: 6px solid #2e8b57; margin: 0.8em 0; padding: 0.3em 0.8em; background: #f7f7f7; }
.case.fail { border-left-color: #c82828; }
.case img { display: block; max-width: 100%; margin: 0.3em 0; }
.prompt { font-weight: 600; }
.checks { margin: 0.2em 0; padding-left: 1.2em; font-family: ui-monospace, monospace; font-size: 12px; }
.checks .fail { color: #c82828; }
.figs { color: #555; font-size: 12px; }
"""


def _fmt(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def side_by_side(modes: dict) -> dict:
    """Per dimension, the pass rate of each mode run (``{mode: {"summary": ...}}``) and the prompts' n."""
    table: dict[str, dict] = {}
    for mode, run in modes.items():
        for name, row in run["summary"].items():
            table.setdefault(name, {"n": row["n"]})[mode] = row["pass_rate"]
    return table


def _comparison_table(results: dict) -> str:
    modes = list(results["modes"])
    head = "<tr><th>dimension</th>" + "".join(f"<th>{MODES[m]}</th>" for m in modes) + "<th>n</th></tr>"
    body = [f"<tr><td>{html.escape(name)}</td>" + "".join(f"<td>{row[m]:.1%}</td>" for m in modes)
            + f"<td>{row['n']}</td></tr>" for name, row in results["summary"].items()]
    alls = []
    for m in modes:
        rows = results["modes"][m]["results"]
        alls.append(f"<th>{sum(r['passed'] for r in rows) / max(len(rows), 1):.1%}</th>")
    n = len(results["modes"][modes[0]]["results"]) if modes else 0
    body.append(f"<tr><th>all</th>{''.join(alls)}<th>{n}</th></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _dimension_table(run: dict, mode: str) -> str:
    rows = run["results"]
    summary = run["summary"]
    head = "<tr><th>dimension</th><th>pass rate</th><th>n</th><th></th>" + "".join(
        f"<th>{name}</th>" for name in temporal.FIGURES
    ) + "</tr>"
    body = []
    for name, row in summary.items():
        figs = temporal.aggregate(r["temporal"] for r in rows if r["dimension"] == name and "temporal" in r)
        body.append(
            f'<tr><td><a href="#{mode}-{html.escape(name)}">{html.escape(name)}</a></td>'
            f"<td>{row['pass_rate']:.1%}</td><td>{row['n']}</td>"
            f'<td><span class="bar" style="width:{100 * row["pass_rate"]:.0f}px"></span></td>'
            + "".join(f"<td>{_fmt(figs[f])}</td>" for f in temporal.FIGURES)
            + "</tr>"
        )
    n = len(rows)
    passed = sum(r["passed"] for r in rows)
    body.append(f"<tr><th>all</th><th>{passed / max(n, 1):.1%}</th><th>{n}</th><th></th>"
                + "<th></th>" * len(temporal.FIGURES) + "</tr>")  # fmt: skip
    return f"<table>{head}{''.join(body)}</table>"


def _temporal_table(figures: dict) -> str:
    rows = [
        f"<tr><td>{name}</td><td>{_fmt(figures.get(name), 3)}</td><td class='def'>{html.escape(text)}</td></tr>"
        for name, text in temporal.FIGURES.items()
    ]
    rows.append(
        f"<tr><td>dynamic_clips</td><td>{_fmt(figures.get('dynamic_clips'), 3)}</td>"
        "<td class='def'>share of clips with any real motion (VBench's dynamic degree)</td></tr>"
    )
    return f"<table><tr><th>figure</th><th>mean</th><th>meaning</th></tr>{''.join(rows)}</table>"


def _case(record: dict) -> str:
    ok = record["passed"]
    checks = "".join(
        f"<li class='{'fail' if ': FAIL' in c else 'ok'}'>{html.escape(c)}</li>" for c in record.get("checks", [])
    )
    figs = record.get("temporal") or {}
    fig_text = ", ".join(f"{k} {_fmt(v)}" for k, v in figs.items())
    img = f'<img src="{html.escape(record["sheet"])}" alt="frames">' if record.get("sheet") else ""
    return (
        f"<div class='case {'pass' if ok else 'fail'}'>"
        f"<div><b>{'PASS' if ok else 'FAIL'}</b> · seed {record['seed']}</div>"
        f"<div class='prompt'>{html.escape(record['prompt'])}</div>{img}"
        f"<ul class='checks'>{checks}</ul><div class='figs'>{html.escape(fig_text)}</div></div>"
    )


def render_html(results: dict) -> str:
    """The whole report page for a results dict (``modes``: each mode's ``summary``, ``temporal`` and
    ``results``; ``summary``: the modes side by side; ``model``, ``machine``, ``steps``)."""
    m = results.get("machine") or {}
    made_on = ", ".join(f"{k} {m[k]}" for k in ("capability", "dtype", "cuda") if m.get(k))
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>kino eval</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>kino eval</h1>",
        f"<p>model <code>{html.escape(str(results.get('model', '')))}</code> · steps "
        f"{html.escape(', '.join(f'{MODES[m]} {n}' for m, n in (results.get('steps') or {}).items()) or '?')} · "
        f"{html.escape(made_on) or 'machine not recorded'} · prompts in "
        f"{html.escape(results.get('phrasing', 'caption templates'))} · {len(results['summary'])} dimensions. A prompt passes "
        "when every claim it states reads back off the pixels (contract: toyworld.md). <b>Model alone</b>: the "
        "learned model from the prompt. <b>With the director</b>: toyworld's planner lays out and draws what the "
        "prompt names, then the model repaints it; its figures measure the planner as much as the model.</p>",
        "<h2>Prompt adherence</h2>",
        _comparison_table(results),
    ]
    for mode, run in results["modes"].items():
        rows = run["results"]
        parts += [f"<h2>{MODES[mode]}</h2>", _dimension_table(run, mode), f"<h3>{MODES[mode]}: temporal quality</h3>",
                  _temporal_table(run.get("temporal") or temporal.aggregate(r["temporal"] for r in rows
                                                                             if "temporal" in r))]
        for name in run["summary"]:
            mine = [r for r in rows if r["dimension"] == name]
            parts.append(f"<h3 id='{mode}-{html.escape(name)}'>{MODES[mode]}: {html.escape(name)} "
                         f"({sum(r['passed'] for r in mine)}/{len(mine)})</h3>")  # fmt: skip
            parts += [_case(r) for r in mine]
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_report(out: str | Path, results: dict) -> Path:
    """Write ``out/report.html`` (atomically) and return its path."""
    path = Path(out) / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(render_html(results), encoding="utf-8")
    return path
