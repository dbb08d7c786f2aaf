"""In-graph image decoding of exports: exact at the model's size, resized otherwise, any common format."""

from __future__ import annotations

import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from crossmodal_tf.serving.image_ops import decode_images


def _encoded(pixels: np.ndarray, image_format: str, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=image_format)
    return buffer.getvalue()


def test_images_at_the_model_size_pass_unchanged():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    decoded = decode_images(tf.constant([_encoded(p, "PNG") for p in pixels]), 16)
    np.testing.assert_array_equal(decoded.numpy(), pixels)


def test_other_sizes_formats_and_modes_become_uint8_rgb_of_the_model_size():
    flat = np.full((40, 30, 3), 200, np.uint8)
    encoded = [_encoded(flat, "JPEG"), _encoded(flat, "PNG", "L"), _encoded(flat, "PNG", "RGBA"),
               _encoded(flat, "GIF"), _encoded(flat, "BMP")]
    decoded = decode_images(tf.constant(encoded), 16).numpy()
    assert decoded.shape == (5, 16, 16, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - 200).max() <= 3  # a flat image stays flat through any resize


def test_decode_images_inside_tf_data():
    pixels = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    dataset = tf.data.Dataset.from_tensor_slices([_encoded(p, "PNG") for p in pixels]).batch(2)
    decoded = np.concatenate([batch.numpy() for batch in dataset.map(lambda b: decode_images(b, 8))])
    np.testing.assert_array_equal(decoded, pixels)
