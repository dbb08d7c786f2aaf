"""Encoded images (PNG, JPEG, GIF, BMP bytes) → the uint8 batch the models take, inside the graph."""

from __future__ import annotations

import tensorflow as tf


def decode_images(encoded, size: int, resize: str = "squash"):
    """A batch of encoded images → uint8 (batch, size, size, 3).

    Images already size x size pass through untouched (as data.images does); others
    are resized bilinearly with antialiasing, which is close to, not bit-equal with,
    Pillow's resize, the way data.image.resize says: squash the whole picture, crop its
    centre square, or pad it whole into a black square. An alpha channel is dropped
    (Pillow's path puts transparent pixels on white), and EXIF orientation is not
    applied (TensorFlow's decoders do not read it).
    """

    def decode(one):
        image = tf.io.decode_image(one, channels=3, expand_animations=False)
        shape = tf.shape(image)

        def resized():
            picture = image
            if resize == "crop":
                side = tf.minimum(shape[0], shape[1])
                picture = tf.image.crop_to_bounding_box(picture, (shape[0] - side) // 2, (shape[1] - side) // 2,
                                                        side, side)
            if resize == "pad":
                scaled = tf.image.resize_with_pad(picture, size, size, antialias=True)
            else:
                scaled = tf.image.resize(picture, [size, size], antialias=True)
            return tf.saturate_cast(tf.round(scaled), tf.uint8)

        same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
        return tf.ensure_shape(tf.cond(same, lambda: image, resized), [size, size, 3])

    return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
