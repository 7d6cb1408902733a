"""A small classifier over MiniLM sentence embeddings, added to the lexicon's verdict.

    python -m kino.safety.classifier        # trains on the "tune" split, writes data/classifier.safetensors

1. Text: the prompt is split into sentences (so a request buried in a long prompt is read on its
   own) and each piece is normalised (``normalize``: homoglyphs, spacing, accents and leet undone),
   then embedded as all-MiniLM-L6-v2 sentence embeddings (mean of the token states, L2-normalised;
   the encoder in ``kino.models.text_encoder``, read from the installed package, never a hub).
2. Model: multinomial logistic regression, 384 -> 9 labels ("safe" and the eight categories),
   "safe" weighted as much as all categories together; L2 penalty; fitted with L-BFGS in torch.
   A prompt's probability for a category is the highest over its pieces and the whole.
3. Thresholds, one per category: chosen on training rows alone (the tune split and
   ``classifier_train.txt``), from out-of-fold predictions (5 folds grouped by base prompt, so no
   variant of a prompt is scored by a model that saw another variant): the highest out-of-fold
   probability of that category on any benign row, plus ``MARGIN``. The held-out split is never
   read here. (One threshold on ``1 - p(safe)`` instead caught half as much at the same zero
   false positives: out-of-fold recall 0.10 against 0.29.)
4. Combination (``CombinedModerator``): the lexicon decides first; a prompt it allows is refused
   when a category's probability reaches its threshold (the category furthest above its threshold
   is reported). The classifier can only add refusals.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from kino.safety.lexicon import CATEGORIES, DATA_DIR
from kino.safety.moderation import Verdict, moderate_prompt
from kino.safety.normalize import normalize

log = logging.getLogger(__name__)

LABELS = ("safe", *CATEGORIES)
WEIGHTS = DATA_DIR / "classifier.safetensors"
EXTRA_TRAIN = DATA_DIR / "classifier_train.txt"
MAX_TOKENS = 128
L2 = 1e-3  # penalty on the weights, per example
FOLDS = 5
MARGIN = 0.05
_SENTENCE = re.compile(r"(?<=[.!?;])\s+|\n+")


def pieces(prompt: str) -> list[str]:
    """The whole prompt and each of its sentences, normalised; duplicates dropped."""
    parts = [prompt] + [s for s in _SENTENCE.split(prompt) if s.strip()]
    out = []
    for part in parts:
        views = normalize(part)
        text = " ".join(views.token_views[min(1, len(views.token_views) - 1)])  # leet undone when there was any
        if text and text not in out:
            out.append(text)
    return out or [""]


class Embedder:
    """Sentence embeddings (N, 384) from MiniLM token states: masked mean, then L2 norm."""

    def __init__(self, path: str | Path | None = None):
        from kino.models.text_encoder import TextEncoder

        self.encoder = TextEncoder.from_pretrained(path, max_tokens=MAX_TOKENS)

    @torch.no_grad()
    def __call__(self, texts: list[str], batch: int = 64) -> torch.Tensor:
        out = []
        tokenizer, model = self.encoder.tokenizer, self.encoder.model
        for i in range(0, len(texts), batch):
            # Padded to the longest text of the batch, not to MAX_TOKENS: the masked mean is the same.
            t = tokenizer(texts[i:i + batch], padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            states = model(input_ids=t["input_ids"], attention_mask=t["attention_mask"]).last_hidden_state
            m = t["attention_mask"].unsqueeze(-1).float()
            mean = (states * m).sum(1) / m.sum(1).clamp(min=1)
            out.append(torch.nn.functional.normalize(mean, dim=-1))
        return torch.cat(out).float()


@dataclass
class PromptClassifier:
    embedder: Embedder
    weight: torch.Tensor  # (9, 384)
    bias: torch.Tensor  # (9,)
    thresholds: dict[str, float]  # per category

    @classmethod
    def load(cls, path: str | Path = WEIGHTS, embedder: Embedder | None = None) -> "PromptClassifier":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
            weight, bias = f.get_tensor("weight"), f.get_tensor("bias")
        if tuple(json.loads(meta["labels"])) != LABELS:
            raise ValueError(f"{path} was trained for labels {meta['labels']}, not {LABELS}")
        return cls(embedder or Embedder(), weight, bias, json.loads(meta["thresholds"]))

    def probabilities(self, prompt: str) -> dict[str, float]:
        """Each category's highest probability over the prompt's pieces."""
        x = self.embedder(pieces(prompt))
        row = category_probabilities(x, [list(range(len(x)))], self.weight, self.bias)[0]
        return dict(zip(CATEGORIES, map(float, row)))

    def __call__(self, prompt: str) -> Verdict:
        scores = self.probabilities(prompt)
        over = {c: scores[c] - self.thresholds[c] for c in CATEGORIES if scores[c] >= self.thresholds[c]}
        if over:
            category = max(over, key=over.get)
            return Verdict(False, category, f"classifier {scores[category]:.2f}", scores)
        return Verdict(True, None, None, scores)


class CombinedModerator:
    """The lexicon's verdict; when it allows, the classifier's (which can only add refusals)."""

    def __init__(self, lexicon=moderate_prompt, classifier: PromptClassifier | None = None):
        self.lexicon = lexicon
        self.classifier = classifier

    def __call__(self, prompt: str) -> Verdict:
        verdict = self.lexicon(prompt)
        if not verdict.allowed or self.classifier is None:
            return verdict
        return self.classifier(prompt)


@functools.cache
def default_combined_moderator() -> CombinedModerator:
    """The lexicon plus the shipped classifier, loaded once per process (MiniLM, about 90 MB)."""
    return CombinedModerator(moderate_prompt, PromptClassifier.load())


def moderate_prompt_combined(prompt: str) -> Verdict:
    return default_combined_moderator()(prompt)


# -- training ---------------------------------------------------------------------------------------


def fit(x: torch.Tensor, y: torch.Tensor, l2: float = L2, steps: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced multinomial logistic regression, (N, D) features and (N,) labels -> weight, bias."""
    torch.manual_seed(0)
    n_labels = len(LABELS)
    # "safe" weighs as much as all harmful labels together, each category as much as any other:
    # balancing nine labels equally would make harm eight times as likely as safety a priori.
    counts = torch.bincount(y, minlength=n_labels).float().clamp(min=1)
    class_weight = torch.cat([len(y) / (2 * counts[:1]), len(y) / (2 * (n_labels - 1) * counts[1:])])
    w = torch.zeros(n_labels, x.shape[1], requires_grad=True)
    b = torch.zeros(n_labels, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w.T + b, y, weight=class_weight) + l2 * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def category_probabilities(x: torch.Tensor, groups: list[list[int]], w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(prompts, 8): each category's highest probability over a prompt's pieces; ``groups[i]`` are its rows of x."""
    p = torch.softmax(x @ w.T + b, dim=-1)[:, 1:]
    return torch.stack([p[g].max(0).values for g in groups])


def refused(probs: torch.Tensor, thresholds: dict[str, float]) -> torch.Tensor:
    """(prompts,) bool: some category at or above its threshold."""
    return (probs >= torch.tensor([thresholds[c] for c in CATEGORIES])).any(1)


def embed_rows(rows: list[dict], embedder: Embedder) -> tuple[torch.Tensor, list[list[int]]]:
    texts, groups = [], []
    for r in rows:
        ps = pieces(r["prompt"])
        groups.append(list(range(len(texts), len(texts) + len(ps))))
        texts += ps
    return embedder(texts), groups


def train(rows: list[dict], embedder: Embedder, l2: float = L2) -> dict:
    """Weights and threshold from labelled rows (never the held-out split); returns them with the CV figures."""
    x, groups = embed_rows(rows, embedder)
    return train_on(x, groups, rows, l2)


def train_on(x: torch.Tensor, groups: list[list[int]], rows: list[dict], l2: float = L2) -> dict:
    # The model learns from whole prompts only (a buried request's benign sentences have no label
    # of their own); it then scores every piece, as it will at run time.
    whole = torch.tensor([g[0] for g in groups])
    y = torch.tensor([LABELS.index(r["label"]) for r in rows])
    bases = sorted({r["base"] for r in rows})
    fold_of = {base: i % FOLDS for i, base in enumerate(bases)}
    oof = torch.zeros(len(rows), len(CATEGORIES))
    for k in range(FOLDS):
        train_idx = torch.tensor([i for i, r in enumerate(rows) if fold_of[r["base"]] != k])
        w, b = fit(x[whole[train_idx]], y[train_idx], l2)
        held = [i for i, r in enumerate(rows) if fold_of[r["base"]] == k]
        oof[held] = category_probabilities(x, [groups[i] for i in held], w, b)
    benign = torch.tensor([r["label"] == "safe" for r in rows])
    highest = oof[benign].max(0).values
    thresholds = {c: min(0.99, float(v) + MARGIN) for c, v in zip(CATEGORIES, highest)}
    w, b = fit(x[whole], y, l2)
    return {
        "weight": w,
        "bias": b,
        "thresholds": thresholds,
        "cv_recall": float(refused(oof[~benign], thresholds).float().mean()),
        "cv_false_positives": int(refused(oof[benign], thresholds).sum()),
        "oof": oof,
    }


def training_rows() -> list[dict]:
    """The "tune" split of the evaluation set and the extra training prompts; never the held-out split."""
    from kino.safety.evaluate import load_rows
    from kino.safety.make_eval_set import read_bases

    rows = [r for r in load_rows() if r.get("split") == "tune"]
    extra = read_bases(EXTRA_TRAIN)
    return rows + [{"prompt": b.plain, "label": b.label, "base": f"x{i:03d}"} for i, b in enumerate(extra)]


def main() -> None:
    from safetensors.torch import save_file

    from kino.io import atomic_path

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    rows = training_rows()
    result = train(rows, Embedder())
    meta = {"labels": json.dumps(LABELS), "thresholds": json.dumps({c: round(t, 4) for c, t in result["thresholds"].items()}),
            "trained_on": "eval_prompts.jsonl split=tune + classifier_train.txt", "rows": str(len(rows))}
    with atomic_path(WEIGHTS) as tmp:
        save_file({"weight": result["weight"].contiguous(), "bias": result["bias"].contiguous()}, str(tmp), meta)
    log.info("wrote %s: %d training rows, thresholds %s; out-of-fold recall of the classifier alone %.4f, "
             "out-of-fold false positives %d", WEIGHTS, len(rows), meta["thresholds"], result["cv_recall"],
             result["cv_false_positives"])


if __name__ == "__main__":
    main()
