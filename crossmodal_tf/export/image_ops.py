"""Encoded images (PNG, JPEG, GIF, BMP bytes) → the uint8 batch the models take, inside the graph."""

from __future__ import annotations

import tensorflow as tf


def decode_images(encoded, size: int):
    """A batch of encoded images → uint8 (batch, size, size, 3).

    Images already size x size pass through untouched (as data.images does); others
    are resized bilinearly with antialiasing, which is close to, not bit-equal with,
    Pillow's resize. An alpha channel is dropped (Pillow's path puts transparent
    pixels on white).
    """

    def decode(one):
        image = tf.io.decode_image(one, channels=3, expand_animations=False)
        shape = tf.shape(image)

        def resized():
            return tf.saturate_cast(tf.round(tf.image.resize(image, [size, size], antialias=True)), tf.uint8)

        same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
        return tf.ensure_shape(tf.cond(same, lambda: image, resized), [size, size, 3])

    return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
