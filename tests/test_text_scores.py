"""ROUGE and the lead baseline on texts whose figures are worked out by hand."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest.importorskip("rouge_score")

from crossmodal_tf.text_scores import lead_baseline, mean_length, summary_scores  # noqa: E402

REFERENCE = "a red circle above a blue square"


def test_identical_texts_score_one_and_disjoint_texts_zero():
    assert summary_scores([REFERENCE], [[REFERENCE]]) == {"rouge1": 1.0, "rouge2": 1.0, "rougeL": 1.0}
    assert summary_scores(["green triangle"], [[REFERENCE]]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_a_partial_overlap_scores_what_counting_by_hand_gives():
    # hypothesis "a red circle below a green square" against the reference, 7 words each:
    # unigrams in common a a red circle square = 5 → F 5/7; bigrams "a red", "red circle" = 2 of 6 → F 1/3;
    # longest common subsequence a red circle a square = 5 → F 5/7
    scores = summary_scores(["a red circle below a green square"], [[REFERENCE]])
    assert scores == pytest.approx({"rouge1": 5 / 7, "rouge2": 1 / 3, "rougeL": 5 / 7})
    # a 3-word prefix: precision 1, recall 3/7 → F 0.6; bigrams 2/2 and 2/6 → F 0.5; LCS as unigrams
    assert summary_scores(["a red circle"], [[REFERENCE]]) == pytest.approx(
        {"rouge1": 0.6, "rouge2": 0.5, "rougeL": 0.6})


def test_stemming_is_on_and_case_and_punctuation_are_ignored():
    assert summary_scores(["Circles, above squares."], [["circle above square"]])["rouge1"] == 1.0


def test_each_hypothesis_takes_its_best_reference_and_the_corpus_takes_the_mean():
    scores = summary_scores(["a red circle", "green triangle"], [["blue square", REFERENCE], ["green triangle"]])
    assert scores == pytest.approx({"rouge1": (0.6 + 1) / 2, "rouge2": (0.5 + 1) / 2, "rougeL": (0.6 + 1) / 2})
    assert summary_scores([], []) == {}


def test_rouge_works_offline_and_downloads_nothing(tmp_path):
    """In a fresh process where any network connection fails and NLTK has no data, ROUGE still scores."""
    code = f"""
import socket
def refuse(*args, **kwargs):
    raise OSError("network use in a test")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from crossmodal_tf.text_scores import summary_scores
print(summary_scores(["circles above squares"], [["{REFERENCE}"]])["rouge1"])
"""
    env = {"NLTK_DATA": str(tmp_path), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": ":".join(p for p in sys.path if p)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == pytest.approx(2 * (3 / 3) * (3 / 7) / (1 + 3 / 7))
    assert list(tmp_path.iterdir()) == []  # nothing written where NLTK keeps its data


def test_mean_length_rounds_half_up():
    assert mean_length(["a b", "a b c"]) == 3  # 2.5
    assert mean_length(["a b", "a b", "a b c d"]) == 3  # 2.67
    assert mean_length(["one"]) == 1
    with pytest.raises(ValueError):
        mean_length([])


def test_lead_baseline_takes_the_first_words():
    documents = ["the circle is red .  it is above the square .", "a square"]
    assert lead_baseline(documents, 4) == ["the circle is red", "a square"]
    assert lead_baseline(documents, mean_length(["x y", "x y z w"])) == ["the circle is", "a square"]
