"""Batching for training: length-sorted runs keep the epoch's examples, its batch count and its order per seed."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from crossmodal_tf.data.pipeline import length_sorted_batches


def examples(n: int, translation: bool = False):
    """n examples like parsed_examples gives: texts of 1..12 tokens, an empty or filled target, a key."""
    rng = np.random.default_rng(n)
    lengths = rng.integers(1, 13, size=n)

    def make(i):
        length = tf.gather(tf.constant(lengths), i)
        return {"text": tf.fill([length], tf.cast(i + 1, tf.int32)),
                "target": tf.fill([length if translation else 0], 7),
                "label": tf.reshape(tf.cast(i % 2, tf.float32), [1]), "key": tf.strings.as_string(i),
                "image": tf.zeros([2, 2, 3], tf.uint8)}

    return tf.data.Dataset.range(n).map(make), lengths


@pytest.mark.parametrize("n, batch, window", [(100, 8, 4), (97, 8, 4), (5, 8, 4), (64, 8, 8), (50, 7, 1)])
def test_every_example_once_in_ceil_n_over_batch_batches(n, batch, window):
    data, lengths = examples(n)
    batches = list(length_sorted_batches(data, batch, window, seed=3))
    assert len(batches) == math.ceil(n / batch)  # steps per epoch and resume positions stay as they were
    keys = sorted(int(k) for b in batches for k in b["key"].numpy())
    assert keys == list(range(n))
    for b in batches:
        ids = b["text"].numpy()
        assert (ids[:, -1] != 0).any()  # padded to the batch's own longest text, not the run's
        for row, key in zip(ids, b["key"].numpy()):  # each text stays whole and with its own example
            assert list(row[row != 0]) == [int(key) + 1] * lengths[int(key)]
        assert b["target"].shape[1] == 0 and b["image"].shape[1:] == (2, 2, 3)


def test_sorted_runs_pad_far_less_and_repeat_per_seed():
    data, lengths = examples(512)

    def padded_steps(window, seed=5):
        return sum(int(np.prod(b["text"].shape)) for b in length_sorted_batches(data, 32, window, seed=seed))

    assert padded_steps(16) < 0.7 * padded_steps(1)
    order = [b["key"].numpy().tolist() for b in length_sorted_batches(data, 32, 16, seed=5)]
    assert order == [b["key"].numpy().tolist() for b in length_sorted_batches(data, 32, 16, seed=5)]
    assert order != [b["key"].numpy().tolist() for b in length_sorted_batches(data, 32, 16, seed=6)]
    assert sorted(len(o) for o in order) == [32] * 16


def test_translation_targets_are_trimmed_per_batch():
    data, lengths = examples(40, translation=True)
    for b in length_sorted_batches(data, 8, 5, seed=1):
        target, text = b["target"].numpy(), b["text"].numpy()
        assert target.shape == text.shape and ((target != 0) == (text != 0)).all()
