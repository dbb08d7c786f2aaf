"""FusedBatchNormalization: Keras' BatchNormalization, trained through TensorFlow's fused kernel."""

from __future__ import annotations

import numpy as np
import pytest


def pair(center: bool):
    """A Keras BatchNormalization and a FusedBatchNormalization holding the same (non-trivial) weights."""
    import keras

    from crossmodal_tf.models.layers import FusedBatchNormalization

    shape = (6, 5, 5, 3)
    keras_bn = keras.layers.BatchNormalization(center=center, scale=center, momentum=0.9)
    fused = FusedBatchNormalization(center=center, scale=center, momentum=0.9)
    keras_bn.build(shape)
    fused.build(shape)
    rng = np.random.default_rng(0)
    weights = [w + rng.uniform(0.1, 0.5, w.shape).astype("float32") for w in keras_bn.get_weights()]
    keras_bn.set_weights(weights)
    fused.set_weights(weights)
    return keras_bn, fused, rng.normal(1.0, 2.0, shape).astype("float32")


@pytest.mark.parametrize("center", [True, False])
def test_training_step_matches_keras_batch_normalization(center):
    """Outputs, gradients and the moving statistics after a training call agree with Keras' to round-off."""
    import tensorflow as tf

    keras_bn, fused, x = pair(center)
    x = tf.constant(x)
    results = []
    for layer in (keras_bn, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(x))  # a loss whose gradient differs per element
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        results.append((y, grads, [w.numpy() for w in layer.non_trainable_weights]))
    (y_keras, g_keras, moving_keras), (y_fused, g_fused, moving_fused) = results
    np.testing.assert_allclose(y_fused, y_keras, atol=1e-5)
    assert len(g_fused) == len(g_keras) == (3 if center else 1)
    for fused_grad, keras_grad in zip(g_fused, g_keras):
        np.testing.assert_allclose(fused_grad, keras_grad, rtol=1e-4, atol=1e-4)
    for fused_stat, keras_stat in zip(moving_fused, moving_keras):  # moving mean, moving (biased) variance
        np.testing.assert_allclose(fused_stat, keras_stat, rtol=1e-5)
    assert not np.allclose(moving_fused[1], pair(center)[0].get_weights()[-1])  # the statistics did move


def test_inference_is_keras_own():
    keras_bn, fused, x = pair(True)
    np.testing.assert_array_equal(fused(x, training=False), keras_bn(x, training=False))


def test_the_image_branch_uses_it_and_a_saved_model_loads_it(tmp_path):
    import keras

    from crossmodal_tf.config import validate_config
    from crossmodal_tf.models.layers import FusedBatchNormalization
    from crossmodal_tf.tasks.match import build_model

    config = validate_config({"task": "match", "data": {"image": {"size": 8}},
                              "model": {"text": {"embedding_dim": 4, "units": 4}, "image": {"filters": [4]},
                                        "fusion": {"hidden": [4]}}})
    model = build_model(config, 20)
    assert isinstance(model.get_layer("image_bn_0"), FusedBatchNormalization)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.get_layer("image_bn_0"), FusedBatchNormalization)
