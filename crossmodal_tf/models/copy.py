"""Copy attention (model.copy): the pointer-generator idea of See et al. (2017) on the seq2seq decoder.

Each step mixes two distributions by a learned gate p_gen = sigmoid(w · [context,
decoder output, input embedding] + b): generating from the target vocabulary (the
decoder's softmax), and copying a source word, with the attention weights the
decoder already computes as the copy probabilities of the source positions. The
result is a distribution over the extended ids of data/copy_ids.py (the target
vocabulary, then each example's own source words outside it), so a name the target
vocabulary never saw can still be written. The model outputs its logarithm: a
softmax of log-probabilities gives them back, so the existing masked
cross-entropy, token accuracy, eval metrics and decoding loops take it as logits.
"""

from __future__ import annotations

import keras
from keras import layers

_FLOOR = 1e-12  # the probability an impossible extended id gets, so its logarithm stays finite


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class CopyMix(keras.layers.Layer):
    """[vocabulary logits (b, t, V), attention weights (b, t, s), gate (b, t, 1), extended source ids (b, s)] →
    log-probabilities over the V + extra extended ids (b, t, V + extra).

    p(w) = gate · softmax(logits)(w) + (1 − gate) · Σ attention weight of the source positions whose id is w.
    extra is the source's maximum length: no source has more words outside the vocabulary than words.
    """

    def __init__(self, extra: int, **kwargs):
        super().__init__(**kwargs)
        self.extra = extra
        self.supports_masking = True

    def call(self, inputs):
        import tensorflow as tf

        logits, weights, gate, ids = inputs
        logits, weights, gate = (tf.cast(x, tf.float32) for x in (logits, weights, gate))
        width = tf.shape(logits)[-1] + self.extra
        generated = tf.pad(gate * tf.nn.softmax(logits), [[0, 0], [0, 0], [0, self.extra]])
        # Σ over source positions per extended id: a segment sum of the (b·s, t) weights by id (offset per
        # row), not a one-hot matmul, whose (b, s, V + extra) one-hot would be hundreds of MB per batch
        batch, steps, sources = tf.shape(weights)[0], tf.shape(weights)[1], tf.shape(weights)[2]
        segments = tf.cast(ids, tf.int32) + tf.range(batch)[:, None] * width
        per_source = tf.reshape(tf.transpose((1.0 - gate) * weights, [0, 2, 1]), [batch * sources, steps])
        copied = tf.math.unsorted_segment_sum(per_source, tf.reshape(segments, [-1]), batch * width)
        copied = tf.transpose(tf.reshape(copied, [batch, width, steps]), [0, 2, 1])
        return tf.math.log(tf.maximum(generated + copied, _FLOOR))

    def compute_mask(self, inputs, mask=None):
        return mask[0] if isinstance(mask, (list, tuple)) else mask

    def compute_output_shape(self, input_shape):
        logits = input_shape[0]
        return (*logits[:-1], None if logits[-1] is None else logits[-1] + self.extra)

    def get_config(self):
        return {**super().get_config(), "extra": self.extra}


def copy_gate() -> layers.Dense:
    """The p_gen layer: a sigmoid of the concatenated context, decoder output and input embedding."""
    return layers.Dense(1, activation="sigmoid", dtype="float32", name="copy_gate")


def gate_inputs(context, output, embedded):
    """What the gate reads, in one order for training and generation."""
    return [context, output, embedded]
