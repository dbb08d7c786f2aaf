"""Pillow's bilinear resize, crop and pad (data.images.image_to_array) rewritten in TensorFlow ops, bit for bit.

A SavedModel cannot call Pillow, and tf.image.resize rounds differently (floating point,
one pass), which moves pixels by a few levels and can change a model's answer. So this
module repeats Pillow's own arithmetic (libImaging/Resample.c): the filter weights in
double precision, turned into 22-bit fixed point, a horizontal pass rounded to uint8 and
then a vertical pass; and ImageOps.fit / ImageOps.pad's choice of box, size and offset.
tests/export/test_image_ops.py checks the result equals Pillow's over many sizes.
"""

from __future__ import annotations

import tensorflow as tf

_PRECISION_BITS = 32 - 8 - 2  # Resample.c: 8 bits of result, two of headroom, in a 32-bit int


def _coefficients(in_size, in0, in1, out_size):
    """(first input index per output pixel, fixed-point weights (out, taps)) as Pillow's precompute_coeffs and
    normalize_coeffs_8bpc compute them for the bilinear filter (support 1)."""
    f64 = tf.float64
    scale = (in1 - in0) / tf.cast(out_size, f64)
    filterscale = tf.maximum(scale, 1.0)
    support = filterscale
    taps = tf.cast(tf.math.ceil(support), tf.int32) * 2 + 1
    center = in0 + (tf.range(out_size, dtype=f64) + 0.5) * scale
    # (int) casts in C truncate toward zero, as tf.cast does
    xmin = tf.maximum(tf.cast(center - support + 0.5, tf.int32), 0)
    xmax = tf.minimum(tf.cast(center + support + 0.5, tf.int32), in_size) - xmin
    x = tf.range(taps)
    distance = tf.abs((tf.cast(x[None, :] + xmin[:, None], f64) - center[:, None] + 0.5) * (1.0 / filterscale))
    weights = tf.where(tf.logical_and(x[None, :] < xmax[:, None], distance < 1.0), 1.0 - distance, 0.0)
    # summed left to right as the C loop does, so the normalised weights round to the same fixed point
    total = tf.foldl(lambda acc, column: acc + column, tf.transpose(weights),
                     initializer=tf.zeros([out_size], f64))
    weights = tf.where(tf.not_equal(total, 0.0)[:, None], weights / total[:, None], weights)
    fixed = tf.cast(tf.floor(0.5 + weights * (1 << _PRECISION_BITS)), tf.int32)  # weights are never negative
    return xmin, fixed


def _resample_columns(pixels, in0, in1, out_size):
    """pixels (rows, width, channels) uint8 resampled along the width to out_size, as ImagingResampleHorizontal_8bpc."""
    in_size = tf.shape(pixels)[1]
    xmin, fixed = _coefficients(in_size, in0, in1, out_size)
    values = tf.cast(pixels, tf.int32)

    def body(tap, total):
        taps = tf.gather(values, tf.minimum(xmin + tap, in_size - 1), axis=1)
        return tap + 1, total + taps * fixed[:, tap][None, :, None]

    start = tf.fill([tf.shape(pixels)[0], out_size, tf.shape(pixels)[2]], tf.constant(1 << (_PRECISION_BITS - 1)))
    _, total = tf.while_loop(lambda tap, _: tap < tf.shape(fixed)[1], body, (tf.constant(0), start))
    return tf.cast(tf.clip_by_value(tf.bitwise.right_shift(total, _PRECISION_BITS), 0, 255), tf.uint8)


def resize(pixels, width, height, box=None):
    """pixels (h, w, c) uint8 resized to (height, width) from the region box = (left, top, right, bottom) as
    Pillow's Image.resize(..., BILINEAR, box) does: the horizontal pass first, each pass only when needed."""
    shape = tf.shape(pixels)
    if box is None:
        box = (0.0, 0.0, tf.cast(shape[1], tf.float64), tf.cast(shape[0], tf.float64))
    # Pillow hands the box to C as floats
    left, top, right, bottom = (tf.cast(tf.cast(v, tf.float32), tf.float64) for v in box)
    width_f, height_f = tf.cast(width, tf.float64), tf.cast(height, tf.float64)
    horizontal = tf.logical_or(tf.not_equal(width, shape[1]), tf.logical_or(left != 0.0, right != width_f))
    vertical = tf.logical_or(tf.not_equal(height, shape[0]), tf.logical_or(top != 0.0, bottom != height_f))
    pixels = tf.cond(horizontal, lambda: _resample_columns(pixels, left, right, width), lambda: pixels)

    def rows():
        return tf.transpose(_resample_columns(tf.transpose(pixels, [1, 0, 2]), top, bottom, height), [1, 0, 2])

    return tf.cond(vertical, rows, lambda: pixels)


def _crop(pixels, size: int):
    """ImageOps.fit to a square: resize from the centre square's box (fractional when the sides differ by an odd
    number)."""
    shape = tf.cast(tf.shape(pixels), tf.float64)
    height, width = shape[0], shape[1]
    side = tf.minimum(width, height)
    left, top = (width - side) * 0.5, (height - side) * 0.5
    return resize(pixels, size, size, (left, top, left + side, top + side))


def _pad(pixels, size: int):
    """ImageOps.pad to a square on black: ImageOps.contain's rounded size (Python's round, half to even, as
    tf.round), then pasted at the rounded middle offset."""
    shape = tf.shape(pixels)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    wide = width > height
    new_height = tf.where(wide, tf.cast(tf.round(height / width * size), tf.int32), size)
    new_width = tf.where(wide, size, tf.cast(tf.round(width / height * size), tf.int32))
    inner = tf.cond(tf.minimum(new_width, new_height) > 0, lambda: resize(pixels, new_width, new_height),
                    lambda: tf.zeros([new_height, new_width, shape[2]], tf.uint8))  # too thin: all background
    x = tf.cast(tf.round(tf.cast(size - new_width, tf.float64) * 0.5), tf.int32)
    y = tf.cast(tf.round(tf.cast(size - new_height, tf.float64) * 0.5), tf.int32)
    return tf.pad(inner, [[y, size - new_height - y], [x, size - new_width - x], [0, 0]])


def fit_square(pixels, size: int, policy: str):
    """pixels (h, w, c) uint8 as a (size, size, c) square the way data.image.resize says (squash, crop, pad);
    a picture already that size passes untouched."""
    shape = tf.shape(pixels)
    if policy == "crop":
        change = lambda: _crop(pixels, size)  # noqa: E731
    elif policy == "pad":
        change = lambda: _pad(pixels, size)  # noqa: E731
    else:
        change = lambda: resize(pixels, size, size)  # noqa: E731
    same = tf.logical_and(tf.equal(shape[0], size), tf.equal(shape[1], size))
    return tf.cond(same, lambda: pixels, change)
