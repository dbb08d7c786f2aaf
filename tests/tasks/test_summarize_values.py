"""summarize's evaluate hook with fixed summaries: ROUGE of each summary against its own document's references,
and of the lead baseline (its length from the train split, <unk> left out), counted by hand.

The decoder is a ScriptedGenerator: the summary of a document is SCRIPTS[its first token].
"""

from __future__ import annotations

from collections import Counter

import pytest
from scripted_models import (VOCAB, BigramModel, bigram_table, fake_run, pair_batches, pair_config,
                             scripted_translator)

from crossmodal_tf.tasks import load_task, seq2seq, summarize

pytest.importorskip("rouge_score")

SCRIPTS = {VOCAB.index["red"]: "red circle is big", VOCAB.index["blue"]: "a blue square"}
# (document, reference summary); "zorb" is no word of the vocabulary: the document reads it as <unk>
ROWS = [("red circle is big the square is small", "red circle is big"),
        ("blue zorb square is a circle is red", "blue square is small")]
TRAIN = [("red circle", "red circle is big"), ("blue square", "blue square is small"), ("a circle", "a circle")]


def config(batch_size: int):
    return pair_config(10, batch_size)


scripted = scripted_translator(SCRIPTS)  # seq2seq.generator's stand-in (summarize decodes with seq2seq's)


@pytest.mark.parametrize("rows, size, batch_size", [(ROWS, 2, 2), (ROWS[::-1], 1, 1)])
def test_rouge_of_summaries_and_of_the_lead_baseline_by_value(monkeypatch, rows, size, batch_size):
    monkeypatch.setattr(seq2seq, "generator", scripted)
    train = pair_batches(TRAIN, 2)
    run = fake_run(config(batch_size), Counter({VOCAB.index["a"]: 2}), target_vocab=VOCAB,
                   task=load_task("summarize"), dataset={"train": train}.__getitem__)
    results = summarize.evaluate(run, BigramModel(bigram_table({})), pair_batches(rows, size))
    # "red circle is big" is its reference: 1, 1, 1. "a blue square" against "blue square is small": unigrams
    # 2 in common, P 2/3, R 2/4 → F 4/7; bigrams 1 ("blue square"), P 1/2, R 1/3 → F 2/5; LCS 2 → F 4/7
    assert results["rouge1"] == pytest.approx((1 + 4 / 7) / 2)
    assert results["rouge2"] == pytest.approx((1 + 2 / 5) / 2)
    assert results["rougeL"] == pytest.approx((1 + 4 / 7) / 2)
    # the lead: the train summaries' mean length (4 + 4 + 2) / 3 rounds to 3 words: "red circle is" (P 1, R 3/4
    # → 6/7; bigrams 2 of 2 and of 3 → 4/5) and "blue <unk> square" read as "blue square" (P 1, R 2/4 → 2/3;
    # bigram 1 of 1 and of 3 → 1/2); with "unk" counted as a word the latter's unigram F would be 4/7
    assert results["lead_length"] == 3
    assert results["lead_rouge1"] == pytest.approx((6 / 7 + 2 / 3) / 2)
    assert results["lead_rouge2"] == pytest.approx((4 / 5 + 1 / 2) / 2)
    assert results["lead_rougeL"] == pytest.approx((6 / 7 + 2 / 3) / 2)
    assert results["documents"] == 2
    assert results["tokens"] == 10  # two stored summaries of four words and <end>
