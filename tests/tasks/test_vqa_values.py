"""vqa's scores by value: the official VQA accuracy on hand-worked cases, the evaluate hook on a fixed model,
and "the unknown answer (id 0) is never the answer given" in evaluation and in the export."""

from __future__ import annotations

import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from crossmodal_tf.data.answers import ANNOTATOR_UNKNOWN, Answers
from crossmodal_tf.preprocessing import ExampleIds
from crossmodal_tf.tasks import vqa
from crossmodal_tf.tasks.vqa import answer_scores, question_accuracies, vqa_accuracy

TINY_VQA = Path(__file__).resolve().parents[1] / "configs" / "tiny_vqa.yaml"
R = ANNOTATOR_UNKNOWN  # an annotator's answer outside the answer vocabulary


def leave_one_out(predicted: int, answers: list[int]) -> float:
    """The official formula written out: over each annotator left out, min(1, matches among the rest / 3)."""
    if len(answers) == 1:
        return float(predicted == answers[0])
    subsets = itertools.combinations(range(len(answers)), len(answers) - 1)
    return float(np.mean([min(1.0, sum(answers[i] == predicted for i in subset) / 3) for subset in subsets]))


def ten(agreeing: int, other: int = 7) -> list[int]:
    """Ten annotators' answer ids, `agreeing` of them answer 2 and the rest `other`."""
    return [2] * agreeing + [other] * (10 - agreeing)


@pytest.mark.parametrize("agreeing, expected", [(0, 0.0), (1, 0.3), (2, 0.6), (3, 0.9), (4, 1.0), (10, 1.0)])
def test_ten_annotators_average_the_ten_nine_annotator_subsets(agreeing, expected):
    # m annotators agree: the m subsets without one of them hold m - 1, the 10 - m others hold m;
    # m = 1: (1·0 + 9·1/3) / 10 = 0.3; m = 2: (2·1/3 + 8·2/3) / 10 = 0.6; m = 3: (3·2/3 + 7·1) / 10 = 0.9
    assert vqa_accuracy(np.array([2]), np.array([ten(agreeing)])) == pytest.approx(expected)
    assert leave_one_out(2, ten(agreeing)) == pytest.approx(expected)


def test_one_answer_is_an_exact_match_and_padding_is_no_annotator():
    answers = np.array([[2, 0, 0], [3, 0, 0], [R, 0, 0]])
    assert question_accuracies(np.array([2, 2, 2]), answers).tolist() == [1.0, 0.0, 0.0]


def test_other_counts_of_annotators_leave_one_out_as_the_official_code_does():
    # three annotators, all agreeing: each left out leaves two → 2/3; two of three: (2·1/3 + 1·2/3) / 3 = 4/9;
    # two annotators agreeing: each left out leaves one → 1/3; one of two: (0 + 1/3) / 2 = 1/6;
    # five, four agreeing: every subset of four holds at least three → 1
    cases = [(2, [2, 2, 2], 2 / 3), (2, [2, 2, 5], 4 / 9), (2, [2, 2], 1 / 3), (2, [2, 5], 1 / 6),
             (2, [2, 2, 2, 2, 5], 1.0)]
    width = max(len(a) for _, a, _ in cases)
    predicted = np.array([p for p, _, _ in cases])
    answers = np.array([a + [0] * (width - len(a)) for _, a, _ in cases])
    expected = [e for _, _, e in cases]
    assert question_accuracies(predicted, answers) == pytest.approx(expected)
    assert [leave_one_out(p, a) for p, a, _ in cases] == pytest.approx(expected)


def test_the_formula_agrees_with_the_subsets_on_random_rows():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 11))
        answers = [int(a) for a in rng.choice([2, 3, 4, R], size=n, p=[0.4, 0.3, 0.2, 0.1])]
        predicted = int(rng.integers(2, 5))
        row = np.array([answers + [0] * (10 - n)])
        assert question_accuracies(np.array([predicted]), row)[0] == pytest.approx(leave_one_out(predicted, answers))


def test_annotators_whose_answers_are_rare_still_count():
    """Three of ten annotators agree, the other seven gave answers outside the vocabulary: 0.9, as for any seven
    other answers. Stored as 0 (padding), the seven went missing, and three of three scored 2/3."""
    row = np.array([ten(3, other=R)])
    assert vqa_accuracy(np.array([2]), row) == pytest.approx(0.9)
    assert vqa_accuracy(np.array([2]), np.array([ten(3, other=5)])) == pytest.approx(0.9)


def test_preprocess_stores_rare_annotator_answers_apart_from_padding():
    ids = ExampleIds(("colour",), Answers(["<unk>", "red", "blue"]))
    text, label, kind, annotators = ids.row("what colour?", "Red", "colour", ("red", "mauve", "blue", "Red."))
    assert (label, kind, annotators) == (1, 0, (1, R, 2, 1))
    assert ids.row("what colour?", "mauve", "colour", ())[1:] == (0, 0, None)  # the label stays 0: unknown


def test_a_rare_annotator_answer_reads_back_from_a_shard_as_itself():
    import tensorflow as tf

    from crossmodal_tf.data.shards import serialize_example

    serialized = serialize_example(None, [4], 1, 0, "img", target=[1, R, 2])
    parsed = tf.io.parse_single_example(serialized, {"target": tf.io.VarLenFeature(tf.int64)})
    assert tf.sparse.to_dense(parsed["target"]).numpy().tolist() == [1, R, 2]


def test_answer_scores_by_value_with_annotators():
    predicted = np.array([2, 2, 3, 1])
    labels = np.array([2, 5, 3, 0])
    kinds = np.array([0, 0, 1, 1])
    annotators = np.array([ten(3),             # 0.9
                           ten(1),             # 0.3; the label 5 is not the answer given: accuracy 0
                           [R] * 10,           # every annotator's answer is rare: 0 (it once left the mean)
                           [0] * 10])          # no annotators: the label (unknown: 0) by exact match → 0
    scores = answer_scores(predicted, labels, kinds, ["colour", "count"], annotators)
    assert scores["accuracy"] == pytest.approx(2 / 4)
    assert scores["accuracy_colour"] == 0.5 and scores["accuracy_count"] == 0.5
    assert scores["majority_accuracy"] == 0.0
    assert scores["vqa_accuracy"] == pytest.approx((0.9 + 0.3 + 0 + 0) / 4)
    # a question without annotators is scored against its one answer: right here
    mixed = answer_scores(np.array([2, 3]), np.array([2, 3]), np.array([0, 0]), ["colour"],
                          np.array([ten(1), [0] * 10]))
    assert mixed["vqa_accuracy"] == pytest.approx((0.3 + 1.0) / 2)


# --- the evaluate hook on a fixed model --------------------------------------------------------------------
# question token → the fixed model's probabilities over answers <unk>, yes, no, red, two
PROBS = {4: [0.50, 0.05, 0.05, 0.30, 0.10],   # <unk> most likely: the answer given is red
         5: [0.10, 0.60, 0.20, 0.05, 0.05],   # yes
         6: [0.05, 0.10, 0.15, 0.10, 0.60],   # two
         7: [0.40, 0.10, 0.35, 0.10, 0.05]}   # <unk>, then no
ANSWERS = Answers(["<unk>", "yes", "no", "red", "two"])


class FixedAnswerer:
    """A vqa model whose probabilities for a question are PROBS[its first token], whatever the image."""

    def __init__(self):
        import tensorflow as tf

        table = np.zeros((max(PROBS) + 1, len(ANSWERS)), np.float32)
        for token, probs in PROBS.items():
            table[token] = probs
        self.table = tf.constant(table)

    def __call__(self, inputs, training=False):
        import tensorflow as tf

        return tf.gather(self.table, inputs["text"][:, 0])


def batches(rows, size: int) -> list[dict]:
    """Parsed batches: (question token, answer id, question type, annotators' answer ids) per row."""
    import tensorflow as tf

    out = []
    for begin in range(0, len(rows), size):
        part = rows[begin:begin + size]
        width = max(len(r[3]) for r in part)
        out.append({"text": tf.constant([[token, 0] for token, *_ in part], tf.int32),
                    "image": tf.zeros((len(part), 4, 4, 3), tf.uint8),
                    "label": tf.constant([[float(label)] for _, label, _, _ in part]),
                    "kind": tf.constant([kind for _, _, kind, _ in part], tf.int64),
                    "target": tf.constant([list(a) + [0] * (width - len(a)) for *_, a in part], tf.int32,
                                          shape=(len(part), width)),
                    "key": tf.constant([b"img"] * len(part))})
    return out


# (question token, answer id, question type, annotators' answer ids); the answers given: red, yes, two, no
ROWS = [(4, 3, 0, [3, 3, 1, 1, 1, 1, 1, 1, 1, 1]),  # red, right; 2 of ten agree: 0.6
        (5, 1, 1, [1, 1, 1, 2]),                    # yes, right; 3 of 4 agree: (3·2/3 + 1·1) / 4 = 0.75
        (6, 3, 0, [4]),                             # two, but the label is red: wrong; its one annotator: 1
        (7, 0, 1, [2, R, R])]                       # no, the label unknown: wrong; 1 of 3: (0 + 2·1/3) / 3 = 2/9


@pytest.mark.parametrize("size", [4, 3, 1])
def test_evaluate_gives_each_question_its_own_answers(size):
    run = SimpleNamespace(stats={"question_types": ["colour", "yesno"]})
    results = vqa.evaluate(run, FixedAnswerer(), batches(ROWS, size))
    assert results["accuracy"] == pytest.approx(2 / 4)  # red (the row where <unk> was likeliest) and yes
    assert results["accuracy_colour"] == 0.5 and results["accuracy_yesno"] == 0.5
    assert results["majority_accuracy"] == pytest.approx(1 / 4)
    assert results["vqa_accuracy"] == pytest.approx((0.6 + 0.75 + 1.0 + 2 / 9) / 4)
    assert results["loss"] == pytest.approx(-np.mean(np.log([0.30, 0.60, 0.10, 0.40])), rel=1e-5)
    assert results["examples"] == 4


def test_evaluate_never_gives_the_unknown_answer():
    """Row 4's likeliest class is <unk> (0.5), its label red (0.3): the answer given is red, and right."""
    run = SimpleNamespace(stats={"question_types": ["colour"]})
    results = vqa.evaluate(run, FixedAnswerer(), batches([(4, 3, 0, [])], 1))
    assert results["accuracy"] == 1.0 and "vqa_accuracy" not in results
    # a question whose true answer is unknown is never right, even when <unk> is the likeliest class
    assert vqa.evaluate(run, FixedAnswerer(), batches([(4, 0, 0, [])], 1))["accuracy"] == 0.0


def test_the_export_never_answers_the_unknown_answer():
    import tensorflow as tf

    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.text import RESERVED, Vocabulary

    config = load_config(TINY_VQA)
    size = config.data.image.size
    # the questions' first words are tokens 4…7 of the vocabulary, as in PROBS
    vocab = Vocabulary([*RESERVED, "what", "is", "how", "which"])
    run = SimpleNamespace(config=config, vocab=vocab, answers=ANSWERS)
    endpoint = vqa.export_endpoint(run, FixedAnswerer())
    png = tf.io.encode_png(tf.zeros((size, size, 3), tf.uint8))
    out = endpoint.fn(tf.constant(["what colour", "is it", "how many", "which one"]), tf.stack([png] * 4))
    assert [a.decode() for a in out["answer"].numpy()] == ["red", "yes", "two", "no"]
    assert out["probability"].numpy() == pytest.approx([0.30, 0.60, 0.60, 0.35])
