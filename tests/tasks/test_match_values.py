"""match's evaluate hook on a fixed model whose scores are known: every figure checked by value.

The model scores a pair by its caption's first token id (SCORES), so each row's score, label and kind are
known, and a figure computed from rows taken out of order would change.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from crossmodal_tf.data.pairs import EXAMPLE_KINDS
from crossmodal_tf.tasks import match

POSITIVE, RANDOM, HARD = (EXAMPLE_KINDS.index(k) for k in ("positive", "random_negative", "hard_negative"))
# token id → the fixed model's score; 0.5 is exactly the threshold: not a match (above, strictly, is)
SCORES = {4: 0.9, 5: 0.7, 6: 0.5, 7: 0.3, 8: 0.6, 9: 0.2, 10: 0.8, 11: 0.1}
# (first token, label, kind) per row, in two batches of four
ROWS = [(4, 1, POSITIVE), (5, 1, POSITIVE), (6, 1, POSITIVE), (7, 1, POSITIVE),
        (8, 0, HARD), (9, 0, RANDOM), (10, 0, HARD), (11, 0, RANDOM)]


class FixedScorer:
    """A match model whose score of a pair is SCORES[the caption's first token]."""

    def __init__(self):
        import tensorflow as tf

        table = np.zeros(max(SCORES) + 1, np.float32)
        table[list(SCORES)] = list(SCORES.values())
        self.table = tf.constant(table)

    def __call__(self, inputs, training=False):
        import tensorflow as tf

        return tf.gather(self.table, inputs["text"][:, 0])[:, None]


def batches(rows, size: int = 4) -> list[dict]:
    """Parsed batches of rows as the pipeline gives them: text ids (the token, then padding), label, kind, image."""
    import tensorflow as tf

    out = []
    for begin in range(0, len(rows), size):
        part = rows[begin:begin + size]
        out.append({"text": tf.constant([[token, 3, 0] for token, _, _ in part], tf.int32),
                    "image": tf.zeros((len(part), 4, 4, 3), tf.uint8),
                    "label": tf.constant([[float(label)] for _, label, _ in part]),
                    "kind": tf.constant([kind for _, _, kind in part], tf.int64),
                    "key": tf.constant([f"img{token}".encode() for token, _, _ in part])})
    return out


def run_with(threshold: float = 0.5):
    return SimpleNamespace(config=SimpleNamespace(eval=SimpleNamespace(threshold=threshold)))


def test_every_figure_of_a_fixed_model_by_value():
    results = match.evaluate(run_with(), FixedScorer(), batches(ROWS))
    # called a match (score above 0.5): 0.9, 0.7 (positives), 0.6, 0.8 (hard negatives)
    # TP 2, FN 2 (0.5 at the threshold, 0.3), FP 2, TN 2 (0.2, 0.1)
    assert results["accuracy"] == pytest.approx(4 / 8)
    assert results["precision"] == pytest.approx(2 / 4)
    assert results["recall"] == pytest.approx(2 / 4)
    assert results["f1"] == pytest.approx(0.5, abs=1e-6)
    # per kind: positives 2 of 4 right, random negatives 2 of 2, hard negatives 0 of 2
    assert results["accuracy_positive"] == pytest.approx(0.5)
    assert results["accuracy_random_negative"] == 1.0
    assert results["accuracy_hard_negative"] == 0.0
    assert "accuracy_labelled" not in results  # no example of that kind
    # ROC AUC: of the 16 (positive, negative) pairs the positive scores higher in 0.9 > all 4, 0.7 > 3,
    # 0.5 > 2, 0.3 > 2: 11 / 16
    assert results["auc"] == pytest.approx(11 / 16, abs=1e-3)
    scores = np.array([SCORES[t] for t, _, _ in ROWS])
    labels = np.array([label for _, label, _ in ROWS])
    assert results["loss"] == pytest.approx(-np.mean(labels * np.log(scores) + (1 - labels) * np.log(1 - scores)),
                                            rel=1e-5)
    assert results["examples"] == 8


def test_per_kind_accuracy_follows_each_row_across_batches():
    """The same rows batched in another order and size give the same figures: rows keep their own kind."""
    reordered = ROWS[::-1]
    first = match.evaluate(run_with(), FixedScorer(), batches(ROWS))
    assert match.evaluate(run_with(), FixedScorer(), batches(reordered, size=3)) == pytest.approx(first, abs=1e-6)
    # and moving one hard negative's kind to random changes both kinds' accuracy as counted by hand
    moved = [(t, label, RANDOM if t == 8 else kind) for t, label, kind in ROWS]
    results = match.evaluate(run_with(), FixedScorer(), batches(moved))
    assert results["accuracy_hard_negative"] == 0.0 and results["accuracy_random_negative"] == pytest.approx(2 / 3)


def test_a_score_at_the_threshold_is_no_match_in_every_figure():
    """Keras's accuracy, precision and recall call a pair a match when its score is above the threshold; the
    per-kind accuracies (and the report) once used ≥, so a positive scored exactly 0.5 was wrong overall and
    right in accuracy_positive."""
    rows = [(6, 1, POSITIVE), (9, 0, RANDOM)]  # scores 0.5 and 0.2
    results = match.evaluate(run_with(), FixedScorer(), batches(rows))
    assert results["accuracy"] == 0.5 and results["recall"] == 0.0
    assert results["accuracy_positive"] == 0.0 and results["accuracy_random_negative"] == 1.0
    assert match.called_matches(np.array([0.5, 0.50001, 0.2]), 0.5).tolist() == [False, True, False]


def test_the_threshold_moves_every_thresholded_figure():
    results = match.evaluate(run_with(0.75), FixedScorer(), batches(ROWS))
    # above 0.75: 0.9 (positive) and 0.8 (hard negative): TP 1, FP 1, FN 3, TN 3
    assert results["accuracy"] == pytest.approx(4 / 8)
    assert results["precision"] == pytest.approx(1 / 2) and results["recall"] == pytest.approx(1 / 4)
    assert results["f1"] == pytest.approx(2 * 0.5 * 0.25 / 0.75, abs=1e-6)
    assert results["accuracy_positive"] == pytest.approx(1 / 4) and results["accuracy_hard_negative"] == 0.5
    assert results["auc"] == pytest.approx(11 / 16, abs=1e-3)  # the ROC curve knows no threshold


def test_auc_is_exact_for_scores_crowded_near_one_and_counts_ties_half_in_any_order():
    """Keras's AUC (1,000 thresholds) gave 0.5 here, every score in its top bucket; the pairs are all in order."""
    import tensorflow as tf

    class Saturated:
        def __call__(self, inputs, training=False):
            return tf.gather(tf.constant([0, 0, 0, 0, 0.9999, 0.9998, 0.9995, 0.999]), inputs["text"][:, 0])[:, None]

    rows = [(4, 1, POSITIVE), (5, 1, POSITIVE), (6, 0, HARD), (7, 0, HARD)]
    assert match.evaluate(run_with(), Saturated(), batches(rows))["auc"] == 1.0
    tied = [(6, 1, POSITIVE), (6, 0, HARD), (4, 1, POSITIVE), (6, 0, RANDOM)]  # 0.5 tied thrice; 0.9 above all
    # pairs: (0.9, either negative) right: 2; (0.5 positive, either 0.5 negative) ties: 2 × 1/2 → 3 / 4
    for order in (tied, tied[::-1], tied[1:] + tied[:1]):
        assert match.evaluate(run_with(), FixedScorer(), batches(order))["auc"] == pytest.approx(3 / 4)
