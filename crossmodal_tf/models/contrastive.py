"""Symmetric InfoNCE with in-batch negatives, for a [texts, images] logit matrix and a 0/1 matrix of positives.

Positives are a matrix, not the diagonal, because a batch may hold the same image
twice (two of its captions) or the same caption for two images (common when a
caption names one object): pushing those pairs apart would teach the model that a
correct caption does not describe an image.
"""

from __future__ import annotations

import keras
from keras import ops


def in_batch_positives(keys, texts, labels):
    """(batch, batch) float32: 1 where text i describes image j, as far as the batch tells.

    Text i describes image j when some positive row k of the batch (label 1) pairs
    image j with a caption identical to text i: the same image, the same caption, or
    the same caption seen with another copy of image j. A hard negative (label 0: an
    image's caption with one attribute changed) describes nothing, unless it happens
    to be another image's caption in the batch. keys: image keys (batch,) as strings;
    texts: token ids (batch, steps), padded alike within the batch; labels (batch, 1).
    """
    import tensorflow as tf

    same_image = tf.cast(tf.equal(keys[:, None], keys[None, :]), tf.float32)
    same_caption = tf.cast(tf.reduce_all(tf.equal(texts[:, None, :], texts[None, :, :]), axis=-1), tf.float32)
    return tf.cast(tf.matmul(same_caption, same_image * tf.cast(labels, tf.float32)) > 0, tf.float32)


def _masked_mean_as_rows(values, mask):
    """values * mask, scaled so that the mean over all rows is the mean over the masked-in rows."""
    count = ops.maximum(ops.sum(mask), 1.0)
    return values * mask * ops.cast(ops.shape(mask)[0], "float32") / count


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class SymmetricInfoNCE(keras.losses.Loss):
    """Mean of the text→image (row-wise) and image→text (column-wise) cross-entropies of the logits.

    Each row's target is its positives normalised to sum to 1 (each column's
    likewise), so a text with several matching images in the batch is asked to
    spread its probability over them rather than to prefer one. A row or column
    without positives (a hard-negative text, or its image) adds no term of its own,
    but its text still competes in every image's column: that is what a hard negative
    is for. Returns one value per row, whose mean is the symmetric loss.
    """

    def __init__(self, name: str = "symmetric_infonce", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        positives = ops.cast(y_true, "float32")
        logits = ops.cast(y_pred, "float32")
        per_row, per_column = ops.sum(positives, axis=1), ops.sum(positives, axis=0)
        rows = keras.losses.categorical_crossentropy(
            positives / ops.maximum(per_row, 1.0)[:, None], logits, from_logits=True)
        columns = keras.losses.categorical_crossentropy(
            ops.transpose(positives / ops.maximum(per_column, 1.0)[None, :]), ops.transpose(logits), from_logits=True)
        has = lambda counts: ops.cast(counts > 0, "float32")  # noqa: E731
        return (_masked_mean_as_rows(rows, has(per_row)) + _masked_mean_as_rows(columns, has(per_column))) / 2


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class InBatchAccuracy(keras.metrics.Mean):
    """Share of texts (with a positive in the batch) whose highest-scoring image is one of their positives."""

    def __init__(self, name: str = "accuracy", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        positives = ops.cast(y_true, "float32")
        best = ops.expand_dims(ops.argmax(y_pred, axis=1), 1)
        hits = ops.take_along_axis(positives, best, axis=1)[:, 0]
        return super().update_state(hits, ops.cast(ops.sum(positives, axis=1) > 0, "float32"))
