"""Encoded images (JPEG, PNG, GIF, BMP, WebP bytes) → the uint8 batch the models take, inside the graph.

The same pixels as data/images.py (`cmx sample`, `cmx eval`, preprocess) gives for the same
file: the pixel limit checked on the header before decoding, EXIF orientation applied,
transparent pixels put on white, every colour mode as RGB, and Pillow's bilinear
squash/crop/pad. A SavedModel cannot call Pillow, so each step is written in TensorFlow ops
that repeat Pillow's arithmetic (image_header.py, pillow_resize.py); JPEGs are decoded with
libjpeg's accurate integer IDCT, the one Pillow uses (TensorFlow's default is the fast one,
a few levels off).

Known differences, refused or documented rather than silently different: a GIF's
transparent pixels come out black (TensorFlow's GIF decoder drops the transparency Pillow
reads), palette BMPs are refused (TensorFlow reads their indices as grey), and formats
TensorFlow cannot decode (TIFF, …) are refused.
"""

from __future__ import annotations

import tensorflow as tf

from crossmodal_tf.serving.image_header import BMP, GIF, JPEG, PNG, UNKNOWN, WEBP, exif_orientation, image_format, \
    pixel_count, read_uint
from crossmodal_tf.serving.pillow_resize import fit_square


def _opaque(rgb):
    return tf.concat([rgb, tf.fill(tf.concat([tf.shape(rgb)[:2], [1]], 0), tf.constant(255, tf.uint8))], axis=-1)


def _decode_rgba(data, fmt):
    """The first frame as (h, w, 4) uint8, alpha 255 where the format has none."""
    def png():
        rgba = tf.io.decode_png(data, channels=4)
        # TensorFlow fills the alpha of 1-, 2- and 4-bit greyscale PNGs with 1 instead of 255
        low_grey = tf.logical_and(tf.equal(read_uint(data, 25, 1, False), 0), read_uint(data, 24, 1, False) < 8)
        return tf.cond(low_grey, lambda: _opaque(rgba[..., :3]), lambda: rgba)

    def bmp():
        bits = read_uint(data, 28, 2, True)
        check = tf.debugging.assert_greater_equal(
            bits, tf.constant(24, tf.int64),
            message="palette (8-bit or less) BMP images are not supported by the exported model; convert to PNG")
        with tf.control_dependencies([check]):
            return _opaque(tf.io.decode_bmp(data, channels=3))  # Pillow ignores a 32-bit BMP's fourth byte too

    def webp():
        pixels = tf.io.decode_image(data, channels=0, expand_animations=False)
        return tf.cond(tf.equal(tf.shape(pixels)[2], 4), lambda: pixels, lambda: _opaque(pixels[..., :3]))

    branches = {JPEG: lambda: _opaque(tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")),
                PNG: png, GIF: lambda: _opaque(tf.io.decode_gif(data)[0]), BMP: bmp, WEBP: webp,
                UNKNOWN: lambda: tf.zeros([1, 1, 4], tf.uint8)}  # refused in decode_image
    return tf.ensure_shape(tf.switch_case(fmt, [branches[code] for code in range(6)]), [None, None, 4])


# EXIF orientation 0-8 → (reverse rows, reverse columns, then swap the axes): Pillow's exif_transpose as data
_REVERSE_ROWS = [0, 0, 0, 1, 1, 0, 1, 1, 0]
_REVERSE_COLUMNS = [0, 0, 1, 1, 0, 0, 0, 1, 1]
_SWAP_AXES = [0, 0, 0, 0, 0, 1, 1, 1, 1]


def _orient(pixels, orientation):
    """pixels turned as EXIF orientation 1-8 says, as Pillow's ImageOps.exif_transpose turns them (6: stored turned
    left, turned back clockwise)."""
    def flag(table):
        return tf.gather(tf.constant(table), orientation) > 0

    axes = tf.boolean_mask(tf.constant([0, 1]), tf.stack([flag(_REVERSE_ROWS), flag(_REVERSE_COLUMNS)]))
    perm = tf.where(flag(_SWAP_AXES), tf.constant([1, 0, 2]), tf.constant([0, 1, 2]))
    return tf.transpose(tf.reverse(pixels, axes), perm)


def _on_white(rgba):
    """RGB of rgba composited onto opaque white with Pillow's alpha_composite integer arithmetic
    (AlphaComposite.c, 7 extra bits); opaque pixels come out unchanged."""
    values = tf.cast(rgba, tf.int32)
    alpha = values[..., 3:]
    blended = (values[..., :3] * alpha + 255 * (255 - alpha)) * 128 + (0x80 << 7)
    return tf.cast(tf.bitwise.right_shift(tf.bitwise.right_shift(tf.bitwise.right_shift(blended, 8) + blended, 8), 7),
                   tf.uint8)


@tf.autograph.experimental.do_not_convert  # plain TF ops throughout; converting them only slows tracing
def decode_image(data, image_cfg):
    """One encoded image → uint8 (size, size, 3) as data.images.load_image_batch gives it; an image whose header
    declares more than image_cfg.max_pixels pixels fails before it is decoded."""
    fmt = image_format(data)
    pixels = pixel_count(data, fmt)
    known = tf.debugging.assert_none_equal(
        fmt, UNKNOWN, message="not a JPEG, PNG, GIF, BMP or WebP image (the formats the exported model reads)")
    small = tf.debugging.assert_less_equal(
        pixels, tf.constant(image_cfg.max_pixels, tf.int64),
        message=f"image has more pixels than data.image.max_pixels={image_cfg.max_pixels}; refused before decoding")
    with tf.control_dependencies([known, small]):
        rgba = _decode_rgba(data, fmt)
    upright = _orient(rgba, exif_orientation(data, fmt))
    return tf.ensure_shape(fit_square(_on_white(upright), image_cfg.size, image_cfg.resize),
                           [image_cfg.size, image_cfg.size, 3])


@tf.autograph.experimental.do_not_convert
def decode_images(encoded, image_cfg):
    """A batch of encoded images → uint8 (batch, size, size, 3), each as decode_image gives it."""
    size = image_cfg.size
    return tf.map_fn(lambda one: decode_image(one, image_cfg), encoded,
                     fn_output_signature=tf.TensorSpec([size, size, 3], tf.uint8))
