"""train.precision and train.jit_compile: mixed precision keeps float32 weights and outputs; XLA really compiles."""

from __future__ import annotations

import math

import keras
import pytest

from crossmodal_tf.stages.train import train


@pytest.fixture
def fitted(monkeypatch):
    """Records the model that each model.fit call trains."""
    seen = []
    original = keras.Model.fit

    def fit(model, *args, **kwargs):
        seen.append(model)
        return original(model, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "fit", fit)
    return seen


@pytest.mark.slow
def test_mixed_precision_run(tiny_config, fitted):
    config = tiny_config("train.precision=mixed_bfloat16")
    summary = train(config, progress="none")
    assert summary["epochs"] == 1  # finished
    assert summary["best"] is not None and math.isfinite(summary["best"])  # with a finite val_loss
    # bfloat16 has float32's range: no loss scaling
    assert not isinstance(fitted[0].optimizer, keras.optimizers.LossScaleOptimizer)

    # the policy was this run's: later models in the process are float32 again
    assert keras.mixed_precision.global_policy().name == "float32"
    model = keras.saving.load_model(config.run_dir / "model.keras", compile=False)
    assert model.get_layer("image_conv_0").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("match").dtype_policy.name == "float32"  # the sigmoid is computed in float32
    assert model.outputs[0].dtype == "float32"
    assert all(w.dtype == "float32" for w in model.weights)  # 16-bit compute, float32 variables


class Stop(Exception):
    pass


def test_xla_is_really_used_when_asked(tiny_config, monkeypatch):
    """Keras quietly drops jit_compile while deterministic ops are on; train must turn them off for XLA.

    Keras settles jit_compile when the model is compiled, so the test stops at fit:
    compiling the LSTM with XLA on CPU takes most of a minute. mixed_float16 rides
    along: its optimizer must scale the loss, as float16 gradients underflow.
    """
    from tensorflow.python.framework import config as tf_config

    seen = []

    def fit(model, *args, **kwargs):
        seen.append((model.jit_compile, tf_config.is_op_determinism_enabled(),
                     isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)))
        raise Stop

    monkeypatch.setattr(keras.Model, "fit", fit)
    for jit in ("true", "false"):
        with pytest.raises(Stop):
            train(tiny_config(f"train.jit_compile={jit}", f"name=jit-{jit}", "train.precision=mixed_float16"),
                  progress="none")
    assert seen == [(True, False, True), (False, True, True)]  # plain runs are deterministic again
    assert keras.mixed_precision.global_policy().name == "float32"
