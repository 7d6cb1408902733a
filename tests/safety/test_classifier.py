"""The MiniLM prompt classifier: shipped weights, reading of prompts, combination with the lexicon, training."""

import functools

import torch

from kino.safety.classifier import (
    LABELS,
    WEIGHTS,
    CombinedModerator,
    PromptClassifier,
    category_probabilities,
    embed_rows,
    pieces,
    refused,
    train_on,
    training_rows,
)
from kino.safety.evaluate import load_rows
from kino.safety.moderation import Verdict, moderate_prompt


@functools.cache
def shipped() -> PromptClassifier:
    return PromptClassifier.load()


def test_shipped_weights_are_small_and_match_the_labels():
    c = shipped()
    assert WEIGHTS.stat().st_size < 64_000
    assert c.weight.shape == (len(LABELS), 384) and c.bias.shape == (len(LABELS),)
    assert set(c.thresholds) == set(LABELS[1:]) and all(0.1 < t < 1.0 for t in c.thresholds.values())


def test_pieces_are_the_whole_and_each_sentence_normalised():
    assert pieces("A cat sleeps. A m4n k1lls a w0man!") == ["a cat sleeps a man kills a woman", "a cat sleeps",
                                                          "a man kills a woman"]
    assert pieces("ѕеху dancing") == ["sexy dancing"]


def test_embeddings_are_unit_sentence_vectors_that_order_meaning():
    e = shipped().embedder(["a dog runs in a park", "a puppy running on grass", "a tax form on a desk"])
    assert torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.2


def test_classifier_scores_harm_higher_than_harmless_and_names_a_category():
    c = shipped()
    harm = c.probabilities("a man ends his brother's life with a shovel")
    calm = c.probabilities("a grandmother knitting by the fire")
    assert harm["violence_extreme"] > max(calm.values()) + 0.1
    forced = PromptClassifier(c.embedder, c.weight, c.bias, dict.fromkeys(LABELS[1:], 0.0))  # refuse all: the category
    v = forced("a man ends his brother's life with a shovel")
    assert (v.allowed, v.category) == (False, "violence_extreme") and v.matched.startswith("classifier ")


def test_combination_keeps_every_lexicon_refusal_and_adds_none_on_the_heldout_near_misses():
    combined = CombinedModerator(moderate_prompt, shipped())
    assert combined("a man beheads a prisoner") == moderate_prompt("a man beheads a prisoner")
    benign = [r for r in load_rows() if r["split"] == "heldout" and r["label"] == "safe"]
    assert len(benign) >= 80
    allowed = [r for r in benign if moderate_prompt(r["prompt"]).allowed]
    x, groups = embed_rows(allowed, shipped().embedder)  # what the combination computes, in one batch
    probs = category_probabilities(x, groups, shipped().weight, shipped().bias)
    assert not refused(probs, shipped().thresholds).any()
    assert combined(allowed[0]["prompt"]).allowed


def test_training_never_reads_the_heldout_split():
    held = {r["prompt"] for r in load_rows() if r["split"] == "heldout"}
    rows = training_rows()
    assert not held & {r["prompt"] for r in rows}
    assert {r.get("split") for r in rows} <= {"tune", None}


def test_training_picks_a_threshold_above_every_out_of_fold_benign_score():
    rows = [{"prompt": p, "label": "safe", "base": f"s{i}"} for i, p in enumerate(
        ["a cat on a sofa", "a red car on a road", "a child flying a kite", "a bowl of fruit", "waves on a beach",
         "a man reading a newspaper", "a bird on a branch", "a cake with candles", "a train in the snow",
         "a garden with roses"])]
    rows += [{"prompt": p, "label": "violence_extreme", "base": f"h{i}"} for i, p in enumerate(
        ["a man stabs a stranger", "a soldier shoots a prisoner", "a gang beats a man to death",
         "a woman is strangled", "a mob lynches a man", "a killer slits a throat", "a man kills his neighbor",
         "a body is dismembered", "a hostage is tortured", "a man is burned alive"])]
    x, groups = embed_rows(rows, shipped().embedder)
    result = train_on(x, groups, rows)
    benign = torch.tensor([r["label"] == "safe" for r in rows])
    highest = result["oof"][benign].max(0).values
    assert all(result["thresholds"][c] > float(h) for c, h in zip(LABELS[1:], highest))
    assert result["cv_false_positives"] == 0
    assert result["cv_recall"] > 0.5  # ten violent prompts are easy to tell from ten calm ones
    clf = PromptClassifier(shipped().embedder, result["weight"], result["bias"], result["thresholds"])
    v = CombinedModerator(lambda p: Verdict(True, None, None, {}), clf)("a man stabs a stranger in the street")
    assert (v.allowed, v.category) == (False, "violence_extreme")

