"""seq2seq's evaluate hook with fixed translations: BLEU and chrF of each output against its own source's
references (as written), by value and in any batching; token metrics of a fixed uniform model.

The decoder is a ScriptedGenerator: the translation of a source is SCRIPTS[its first token].
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scripted_models import (VOCAB, BigramModel, bigram_table, fake_run, ids, pair_batches, pair_config,
                             scripted_translator)

from crossmodal_tf.tasks import load_task, seq2seq
from crossmodal_tf.text_scores import translation_scores

SCRIPTS = {VOCAB.index["red"]: "a red circle is big", VOCAB.index["blue"]: "a blue square is big",
           VOCAB.index["big"]: "the big circle"}
# (source, reference) rows; "big circle" has two references
ROWS = [("red circle", "a red circle is big"), ("blue square", "a blue square is small"),
        ("big circle", "a big circle"), ("big circle", "the big circle")]
OUTPUTS = ["a red circle is big", "a blue square is big", "the big circle"]  # in the order of distinct sources
REFERENCES = [["a red circle is big"], ["a blue square is small"], ["a big circle", "the big circle"]]


def config(batch_size: int):
    return pair_config(6, batch_size)


scripted = scripted_translator(SCRIPTS)  # seq2seq.generator's stand-in (summarize decodes with seq2seq's)


def run_with(batch_size: int):
    return fake_run(config(batch_size), Counter({VOCAB.index["a"]: 2}), target_vocab=VOCAB, task=load_task("seq2seq"))


@pytest.mark.parametrize("order, size, batch_size", [([0, 1, 2, 3], 4, 2), ([3, 1, 0, 2], 1, 1),
                                                     ([2, 0, 3, 1], 3, 3)])
def test_each_translation_is_scored_against_its_own_references(monkeypatch, order, size, batch_size):
    monkeypatch.setattr(seq2seq, "generator", scripted)
    results = seq2seq.evaluate(run_with(batch_size), BigramModel(bigram_table({})),
                               pair_batches([ROWS[i] for i in order], size))
    # by hand: n-grams matched 5 + 4 + 3 of 13, 4 + 3 + 2 of 10, 3 + 2 + 1 of 7, 2 + 1 + 0 of 4; 13 words as the
    # closest references' 5 + 5 + 3: no brevity penalty
    assert results["bleu"] == pytest.approx(100 * (12 / 13 * 9 / 10 * 6 / 7 * 3 / 4) ** 0.25)
    assert results["chrf"] == pytest.approx(translation_scores(OUTPUTS, REFERENCES, "13a")["chrf"])
    assert (results["sentences"], results["references"]) == (3, "raw")
    # teacher forcing over the 4 stored targets: 6 + 6 + 4 + 4 tokens, each at 1/13 under a uniform model
    assert results["tokens"] == 20 and results["perplexity"] == pytest.approx(len(VOCAB), rel=1e-5)


def test_the_scores_of_outputs_paired_with_the_wrong_references_differ():
    right = translation_scores(OUTPUTS, REFERENCES, "13a")
    assert translation_scores(OUTPUTS[:1], REFERENCES[:1], "13a") == pytest.approx({"bleu": 100.0, "chrf": 100.0})
    shifted = translation_scores(OUTPUTS[1:] + OUTPUTS[:1], REFERENCES, "13a")
    assert shifted["bleu"] < right["bleu"] / 2 and shifted["chrf"] < right["chrf"]


def test_sources_with_references_keeps_each_sources_translations_together():
    sources, references = seq2seq.sources_with_references(pair_batches(ROWS, 3), VOCAB, "word")
    assert sources.raw == ["red circle", "blue square", "big circle"]
    assert [list(s) for s in sources.ids] == [ids(s) for s in sources.raw]
    assert references == REFERENCES
    assert np.asarray(seq2seq.pad_sources(sources.ids, 3)).tolist() == [ids("red circle") + [0],
                                                                         ids("blue square") + [0],
                                                                         ids("big circle") + [0]]
