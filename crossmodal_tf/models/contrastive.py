"""Symmetric InfoNCE with in-batch negatives, for a [texts, images] logit matrix and a 0/1 matrix of positives.

Positives are a matrix, not the diagonal, because a batch may hold the same image
twice (two of its captions) or the same caption for two images (common when a
caption names one object): pushing those pairs apart would teach the model that a
correct caption does not describe an image.
"""

from __future__ import annotations

import keras
from keras import ops


def in_batch_positives(keys, texts):
    """(batch, batch) float32: 1 where text i describes image j, as far as the batch tells.

    Text i describes image j when some row k of the batch pairs image j with a caption
    identical to text i: the same image, the same caption, or the same caption seen
    with another copy of image j in the batch. keys: image keys (batch,) as strings;
    texts: token ids (batch, steps), padded alike within the batch.
    """
    import tensorflow as tf

    same_image = tf.cast(tf.equal(keys[:, None], keys[None, :]), tf.float32)
    same_caption = tf.cast(tf.reduce_all(tf.equal(texts[:, None, :], texts[None, :, :]), axis=-1), tf.float32)
    return tf.cast(tf.matmul(same_caption, same_image) > 0, tf.float32)


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class SymmetricInfoNCE(keras.losses.Loss):
    """Mean of the text→image (row-wise) and image→text (column-wise) cross-entropies of the logits.

    Each row's target is its positives normalised to sum to 1 (each column's
    likewise), so a text with several matching images in the batch is asked to
    spread its probability over them rather than to prefer one. Returns one value
    per row: (row loss of i + column loss of i) / 2, whose mean is the symmetric loss.
    """

    def __init__(self, name: str = "symmetric_infonce", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        positives = ops.cast(y_true, "float32")
        logits = ops.cast(y_pred, "float32")
        rows = keras.losses.categorical_crossentropy(
            positives / ops.sum(positives, axis=1, keepdims=True), logits, from_logits=True)
        columns = keras.losses.categorical_crossentropy(
            ops.transpose(positives / ops.sum(positives, axis=0, keepdims=True)), ops.transpose(logits),
            from_logits=True)
        return (rows + columns) / 2


@keras.saving.register_keras_serializable(package="crossmodal_tf")
def in_batch_accuracy(y_true, y_pred):
    """Per text: 1 when its highest-scoring image in the batch is one of its positives."""
    best = ops.argmax(y_pred, axis=1)
    return ops.take_along_axis(ops.cast(y_true, "float32"), ops.expand_dims(best, 1), axis=1)[:, 0]
