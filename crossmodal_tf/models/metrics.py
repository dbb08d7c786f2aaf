"""Training metrics that Keras does not have as they are needed here."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class TokenAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Next-token accuracy over real targets only.

    The decoder's input mask alone is not enough: a text's <end> is a real input
    whose target is padding, and would count as a wrong prediction.
    """

    def update_state(self, y_true, y_pred, sample_weight=None):
        real = keras.ops.cast(keras.ops.not_equal(y_true, 0), "float32")
        weight = real if sample_weight is None else keras.ops.cast(sample_weight, "float32") * real
        return super().update_state(y_true, y_pred, weight)
