"""The per-layer FLOP count behind the model-FLOP-utilisation figures in benchmarks/RESULTS.md."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import model_flops  # noqa: E402  (benchmarks/ is not a package)


def test_counts_dense_conv_and_lstm_by_hand_and_fills_unknown_lengths_per_input():
    import keras

    tokens = keras.Input((None,), dtype="int32", name="text")
    image = keras.Input((8, 8, 2), name="image")
    x = keras.layers.Embedding(10, 4)(tokens)
    x = keras.layers.LSTM(3)(x)                                      # 6 steps × 2 × 4 gates × 3 × (4 + 3)
    y = keras.layers.Conv2D(4, 3, padding="same")(image)             # 2 × 64 positions × 3·3·2 × 4
    y = keras.layers.GlobalAveragePooling2D()(y)
    out = keras.layers.Dense(5)(keras.layers.Concatenate()([x, y]))  # 2 × 7 × 5
    model = keras.Model({"text": tokens, "image": image}, out)

    count = model_flops.walk(model_flops.with_lengths(model, {"text": 6}), steps=0)

    assert count.by_type == {"LSTM": 6 * 2 * 4 * 3 * 7, "Conv2D": 2 * 64 * 18 * 4, "Dense": 2 * 7 * 5}
    assert count.training == 3 * count.forward
    assert count.uncounted == []
