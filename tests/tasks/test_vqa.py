"""The vqa task's parts: its examples, the answer vocabulary, and its scores on hand-made numbers."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from crossmodal_tf.data.answers import UNKNOWN, Answers
from crossmodal_tf.data.records import Question
from crossmodal_tf.data.sources.shapes import make_record
from crossmodal_tf.errors import CmxError
from crossmodal_tf.stages.sample import check_inputs
from crossmodal_tf.tasks import load_task, task_reads_key
from crossmodal_tf.tasks.base import Task
from crossmodal_tf.tasks.vqa import answer_scores, make_examples

TINY_VQA = Path(__file__).resolve().parents[1] / "configs" / "tiny_vqa.yaml"


def test_one_example_per_question_with_its_answer_and_type():
    record = make_record(3, seed=7, image_size=32)
    examples = make_examples(record, None, None, None, None)
    assert len(examples) == len(record.questions) > 0
    assert [(q, a, t) for q, a, t, _ in examples] == [(q.question, q.answer, q.type) for q in record.questions]
    many = dataclasses.replace(record, questions=(Question("what colour?", "red", ("red", "blue"), "colour"),))
    assert make_examples(many, None, None, None, None) == [("what colour?", "red", "colour", ("red", "blue"))]


def test_the_answer_vocabulary_keeps_answers_seen_min_count_times_most_common_first():
    counts = Counter({"yes": 5, "no": 5, "red": 2, "circle": 1})
    answers = Answers.build(counts, min_count=2)
    assert answers.answers == [UNKNOWN, "no", "yes", "red"]  # ties alphabetically: builds repeat exactly
    assert answers.id("yes") == 2 and answers.id("Yes.") == 2  # compared normalised
    assert answers.id("circle") == 0 and answers.id("never seen") == 0
    assert Answers.build(counts).id("circle") == 4


def test_the_answer_vocabulary_round_trips_through_its_file(tmp_path):
    answers = Answers.build(Counter({"2": 3, "yes": 1}))
    answers.save(tmp_path / "answer_vocab.txt")
    assert Answers.load(tmp_path / "answer_vocab.txt").answers == answers.answers
    with pytest.raises(ValueError, match=UNKNOWN):
        Answers(["yes", "no"])


def test_answer_scores_per_type_majority_and_unknown_answers():
    predicted = np.array([1, 1, 2, 0, 3, 1])
    labels = np.array([1, 2, 2, 0, 3, 1])  # the fourth answer is unknown: wrong even when predicted as 0
    kinds = np.array([0, 0, 1, 1, 1, 2])
    scores = answer_scores(predicted, labels, kinds, ["colour", "count", "shape"], np.zeros((6, 0), np.int64))
    assert scores["accuracy"] == pytest.approx(4 / 6)
    assert scores["accuracy_colour"] == 0.5 and scores["accuracy_count"] == pytest.approx(2 / 3)
    assert scores["accuracy_shape"] == 1.0
    assert scores["majority_accuracy"] == pytest.approx(2 / 6)  # id 1 is the train split's most common answer
    assert "vqa_accuracy" not in scores  # no annotators' answers: single-answer data


def test_preprocess_stores_answer_ids_and_question_types(tmp_path):
    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.pipeline import parsed_examples
    from crossmodal_tf.preprocessing import preprocess

    config = load_config(TINY_VQA, [f"data.processed={tmp_path / 'processed'}", "data.shapes.num_images=30",
                                    "data.answers.min_count=3"])
    stats = preprocess(config)
    answers = Answers.load(config.processed_dir / "answer_vocab.txt")
    assert stats["answer_vocab_size"] == len(answers) and stats["question_types"] == sorted(stats["question_types"])
    assert set(stats["examples_by_kind"]["train"]) <= set(stats["question_types"])
    assert stats["counts"]["train"] == sum(stats["examples_by_kind"]["train"].values())
    labels = [int(e["label"][0]) for e in parsed_examples(config.processed_dir, "train", None, 32)]
    assert 0 in labels and max(labels) < len(answers)  # min_count 3 leaves rare answers unknown
    known = Counter(label for label in labels if label)
    assert known[1] == max(known.values())  # id 1: the train split's most common answer
    assert json.loads((config.processed_dir / "stats.json").read_text())["task"] == "vqa"
    vocab = (config.processed_dir / "vocab.txt").read_text().split()
    assert {"what", "how", "many"} <= set(vocab)  # the questions' words, not only the captions'
    questions = [e["text"].numpy().tolist() for e in parsed_examples(config.processed_dir, "train", None, 32)]
    assert not any(1 in ids for ids in questions)  # no train question word is <unk>


def test_a_task_with_sample_inputs_needs_a_sample_hook_and_need_not_generate_text():
    vqa = load_task("vqa")
    assert vqa.sample is not None and not vqa.generates_text and "question" in vqa.sample_inputs
    fields = {f.name: getattr(vqa, f.name) for f in dataclasses.fields(Task)}
    with pytest.raises(TypeError, match="sample hook"):
        Task(**{**fields, "sample": None})


def test_cmx_sample_refuses_inputs_vqa_does_not_take():
    vqa = load_task("vqa")
    check_inputs(vqa, {"image": True, "question": True, "prompt": False, "text": False})
    with pytest.raises(CmxError, match="--text/--input: task vqa does not translate; use --image; use --question"):
        check_inputs(vqa, {"text": True})
    with pytest.raises(CmxError, match="--question: task caption answers no question"):
        check_inputs(load_task("caption"), {"question": True})


def test_only_vqa_reads_the_vqa_keys():
    for name in ("match", "caption", "lm", "seq2seq", "retrieval"):
        task = load_task(name)
        assert not task_reads_key(task.name, "data.answers.min_count") and not task_reads_key(task.name, "model.use_image")
    assert task_reads_key("vqa", "data.answers.min_count") and task_reads_key("vqa", "model.use_image")


def test_the_unknown_answer_is_never_the_answer_given():
    from crossmodal_tf.tasks.vqa import known_answers

    probs = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    assert known_answers(probs).argmax(axis=1).tolist() == [1, 2]
    assert probs[0, 0] == 0.6  # the model's probabilities themselves are left as they are
