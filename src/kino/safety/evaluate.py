"""Measure prompt moderation on a labelled set (default ``data/eval_prompts.jsonl``).

    python -m kino.safety.evaluate [path] [--classifier]

``--classifier`` measures the lexicon combined with the multilingual classifier (``classifier.py``);
without it, the lexicon alone.

``data/redteam_heldout.jsonl`` (889 prompts, 9 languages, 10 obfuscation classes, 413 benign ones
with hard negatives) and ``data/redteam_heldout2.jsonl`` (964 prompts, 11 obfuscation classes,
432 benign; ``redteam_heldout2.md``) are red-team sets written by someone who never saw the
lexicons, the classifier or their data. Each was measured once while blind (NOTES.md, sessions 18
and 20); their misses have since been read and the classifier trains on them, so they are
development data now, and a figure on them says how well kino fits what it has seen (for the
classifier's share, ``python -m kino.safety.classifier`` logs it cross-validated). A claim about
unseen prompts needs a blind set that nobody has tuned on: ``data/redteam_heldout3.jsonl`` (1,116
prompts, 15 obfuscation classes, 571 benign; ``redteam_heldout3.md``), measured before and after
session 22's tuning and never tuned on. Once a change is tuned on it, a fourth set is needed.

A harmful prompt counts as recalled when it is refused (in any category); ``category_accuracy``
is the stricter share refused with the labelled category. The false-positive rate is the share
of benign ("safe") prompts refused. Every figure is also given per split ("tune" / "heldout"),
and recall and false-positive rate per language (rows without a "language" field are English).
"""

from __future__ import annotations

import json
import logging
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from kino.safety.lexicon import DATA_DIR
from kino.safety.moderation import Verdict, moderate_prompt

log = logging.getLogger(__name__)

EVAL_FILE = DATA_DIR / "eval_prompts.jsonl"


def load_rows(path: str | Path = EVAL_FILE) -> list[dict]:
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _ratio(hit: int, total: int) -> float | None:
    return hit / total if total else None


def _summary(rows: list[dict], verdicts: list[Verdict]) -> dict:
    harmful = [(r, v) for r, v in zip(rows, verdicts) if r["label"] != "safe"]
    benign = [(r, v) for r, v in zip(rows, verdicts) if r["label"] == "safe"]
    by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    by_obfuscation: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, v in harmful:
        for table, key in ((by_category, r["label"]), (by_obfuscation, r["obfuscation"])):
            table[key][0] += not v.allowed
            table[key][1] += 1
    by_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, v in harmful:
        by_language[r.get("language", "en")][0] += not v.allowed
        by_language[r.get("language", "en")][1] += 1
    fp_by_obfuscation: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    fp_by_language: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r, v in benign:
        for table, key in ((fp_by_obfuscation, r["obfuscation"]), (fp_by_language, r.get("language", "en"))):
            table[key][0] += not v.allowed
            table[key][1] += 1
    refused = sum(not v.allowed for _, v in harmful)
    return {
        "n_harmful": len(harmful),
        "n_benign": len(benign),
        "recall": _ratio(refused, len(harmful)),
        "category_accuracy": _ratio(sum(v.category == r["label"] for r, v in harmful), len(harmful)),
        "false_positive_rate": _ratio(sum(not v.allowed for _, v in benign), len(benign)),
        "recall_by_category": {k: _ratio(*n) for k, n in sorted(by_category.items())},
        "recall_by_obfuscation": {k: _ratio(*n) for k, n in sorted(by_obfuscation.items())},
        "fpr_by_obfuscation": {k: _ratio(*n) for k, n in sorted(fp_by_obfuscation.items())},
        "recall_by_language": {k: _ratio(*n) for k, n in sorted(by_language.items())},
        "fpr_by_language": {k: _ratio(*n) for k, n in sorted(fp_by_language.items())},
    }


def evaluate_prompts(
    path: str | Path = EVAL_FILE, moderate: Callable[[str], Verdict] = moderate_prompt
) -> dict:
    """Recall per category and per obfuscation, false-positive rate, per split, and the errors."""
    rows = load_rows(path)
    verdicts = [moderate(r["prompt"]) for r in rows]
    report = _summary(rows, verdicts)
    report["by_split"] = {}
    for split in sorted({r.get("split", "all") for r in rows}):
        pairs = [(r, v) for r, v in zip(rows, verdicts) if r.get("split", "all") == split]
        report["by_split"][split] = _summary([r for r, _ in pairs], [v for _, v in pairs])
    report["misses"] = [
        {"prompt": r["prompt"], "label": r["label"], "obfuscation": r["obfuscation"], "split": r.get("split")}
        for r, v in zip(rows, verdicts)
        if r["label"] != "safe" and v.allowed
    ]
    report["false_positives"] = [
        {"prompt": r["prompt"], "category": v.category, "matched": v.matched, "split": r.get("split")}
        for r, v in zip(rows, verdicts)
        if r["label"] == "safe" and not v.allowed
    ]
    report["wrong_category"] = [
        {"prompt": r["prompt"], "label": r["label"], "category": v.category, "matched": v.matched}
        for r, v in zip(rows, verdicts)
        if r["label"] != "safe" and not v.allowed and v.category != r["label"]
    ]
    return report


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = [a for a in sys.argv[1:] if a != "--classifier"]
    moderate = moderate_prompt
    if "--classifier" in sys.argv[1:]:
        from kino.safety.classifier import moderate_prompt_combined as moderate
    report = evaluate_prompts(args[0] if args else EVAL_FILE, moderate)
    log.info("%s", json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
