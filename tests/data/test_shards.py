"""Shards: the TensorFlow-free Example encoder and the automatic shard count."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf.data.shards import serialize_example


def tf_example(image, text, label, kind, key, target=None):
    """The same example built with tf.train.Example, as the encoder must match."""
    import tensorflow as tf

    def ints(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))

    feature = {"text": ints(text), "label": ints([label]), "kind": ints([kind]),
               "key": tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode()]))}
    if image is not None:
        feature["image"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()]))
    if target is not None:
        feature["target"] = ints(target)
    return tf.train.Example(features=tf.train.Features(feature=feature))


@pytest.mark.parametrize("args", [
    (np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3), [5, 6, 7], 1, 0, "shapes-0000001", None),
    (None, [], 0, 2, "pair-é", [2, 3, 300_000, 2**40]),  # empty text, non-ASCII key, multi-byte varints
    (np.zeros((2, 2, 3), np.uint8), [1], 0, 3, "k", []),
    (None, [-1, 0], 1, 0, "negative ids", None),  # int64 two's complement, as protobuf writes it
])
def test_serialize_example_is_a_tf_example(args):
    """The hand-written encoding parses to exactly the Example TensorFlow would build."""
    import tensorflow as tf

    ours = tf.train.Example.FromString(serialize_example(*args))
    assert ours == tf_example(*args)
    assert serialize_example(*args) == serialize_example(*args)  # sorted features: one byte string per example
