"""lm's evaluate hook on a fixed bigram model: loss, perplexity, token accuracy and the unigram baseline by value."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scripted_models import VOCAB, bigram_table, fake_run, framed, padded

from crossmodal_tf.tasks import lm

START, END = 2, 3
A, RED, BLUE, CIRCLE, SQUARE = (VOCAB.index[w] for w in ("a", "red", "blue", "circle", "square"))
TABLE = bigram_table({START: {A: 0.5, BLUE: 0.25}, A: {RED: 0.4, CIRCLE: 0.3}, RED: {CIRCLE: 0.6},
                      CIRCLE: {END: 0.8}, BLUE: {CIRCLE: 0.5, SQUARE: 0.25}, SQUARE: {END: 0.5}})
TEXTS = ["a red circle", "blue square", "a circle"]
# p(each real target) under TABLE, text by text; ✓ where it is the row's likeliest token
#   a red circle: a .5 ✓, red .4 ✓, circle .6 ✓, <end> .8 ✓
#   blue square:  blue .25 (a is likelier), square .25 (circle is), <end> .5 ✓
#   a circle:     a .5 ✓, circle .3 (red is), <end> .8 ✓
TARGET_PROBS = [0.5, 0.4, 0.6, 0.8, 0.25, 0.25, 0.5, 0.5, 0.3, 0.8]
TRAIN_COUNTS = Counter({A: 3, CIRCLE: 3, END: 4, RED: 1})


def fixed_lm():
    """A Keras model whose logits at each step are TABLE[the input token]: an Embedding fixed to the table."""
    import keras

    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    table = keras.layers.Embedding(len(VOCAB), len(VOCAB), name="bigram")
    model = keras.Model({"text": tokens}, table(tokens))
    table.set_weights([TABLE])
    return model


def batches(texts: list[str], size: int) -> list[dict]:
    import tensorflow as tf

    return [{"text": tf.constant(padded([framed(t) for t in texts[i:i + size]]))} for i in range(0, len(texts), size)]


@pytest.mark.parametrize("texts, size", [(TEXTS, 2), (TEXTS[::-1], 3), (TEXTS, 1)])
def test_perplexity_and_token_accuracy_by_value(texts, size):
    results = lm.evaluate(fake_run(None, TRAIN_COUNTS), fixed_lm(), batches(texts, size))
    nll = -np.mean(np.log(TARGET_PROBS))
    assert results["tokens"] == 10  # padding is no target, <start> none either
    assert results["loss"] == pytest.approx(nll, rel=1e-5)
    assert results["perplexity"] == pytest.approx(math.exp(nll), rel=1e-5)
    assert results["token_accuracy"] == pytest.approx(7 / 10)
    # the unigram baseline: train counts + 1 over 11 train targets + 13 words; the test's 10 targets are
    # a ×2, red, circle ×2, <end> ×3, blue, square
    p = {A: 4 / 24, RED: 2 / 24, CIRCLE: 4 / 24, END: 5 / 24, BLUE: 1 / 24, SQUARE: 1 / 24}
    counts = {A: 2, RED: 1, CIRCLE: 2, END: 3, BLUE: 1, SQUARE: 1}
    unigram = math.exp(-sum(n * math.log(p[t]) for t, n in counts.items()) / 10)
    assert results["unigram_perplexity"] == pytest.approx(unigram)


def test_a_model_that_is_always_sure_and_right_has_perplexity_one():
    sure = np.full((len(VOCAB), len(VOCAB)), -1e4, np.float32)  # every token but the next at e^-10000
    for token, nxt in ((START, A), (A, RED), (RED, CIRCLE), (CIRCLE, END)):
        sure[token, nxt] = 0.0
    model = fixed_lm()
    model.get_layer("bigram").set_weights([sure])
    results = lm.evaluate(fake_run(None, TRAIN_COUNTS), model, batches(["a red circle"], 1))
    assert results["perplexity"] == pytest.approx(1.0) and results["token_accuracy"] == 1.0
