"""Floating-point operations of a Keras model's forward pass, counted per layer from its shapes.

Why a count of our own: TensorFlow 2.21 exposes no XLA cost analysis to Python, and the
graph profiler (tf.compat.v1.profiler) counts an LSTM's while-loop body once instead of
once per step. So this walks the functional graph and counts what dominates the cost,
the way model-FLOP-utilisation figures are usually counted: matrix multiplies and
convolutions, 2 FLOPs per multiply-add. Element-wise work (activations, batch norm,
pooling, gates' sigmoids) is left out; layers this module does not know are listed, so a
figure never hides what it skipped. Training costs about 3x the forward pass (the
backward pass computes gradients for both inputs and weights).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class FlopCount:
    """Forward FLOPs per example, by layer type, and the layers with weights that were not counted."""

    by_type: dict[str, float] = field(default_factory=dict)
    uncounted: list[str] = field(default_factory=list)

    @property
    def forward(self) -> float:
        return sum(self.by_type.values())

    @property
    def training(self) -> float:
        return 3 * self.forward

    def add(self, kind: str, flops: float) -> None:
        self.by_type[kind] = self.by_type.get(kind, 0.0) + flops


def _dims(shape, steps: int) -> list[int]:
    """A symbolic shape without its batch axis, every unknown length set to steps."""
    return [steps if d is None else int(d) for d in tuple(shape)[1:]]


def _positions(shape, steps: int) -> int:
    """How many vectors a layer maps: the product of every axis but the batch and the last."""
    return math.prod(_dims(shape, steps)[:-1])


def _recurrent(layer, in_shape, steps: int) -> float:
    units, width = layer.units, _dims(in_shape, steps)[-1]
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[type(layer).__name__]
    length = _dims(in_shape, steps)[0]
    return length * 2 * gates * units * (width + units)


def _layer_flops(layer, inputs, outputs, steps: int, count: FlopCount) -> None:
    import keras

    kind = type(layer).__name__
    first_in = inputs[0].shape if inputs else None
    if isinstance(layer, keras.Model):
        walk(layer, steps, count)
    elif kind == "Dense":
        count.add(kind, 2 * _positions(first_in, steps) * _dims(first_in, steps)[-1] * layer.units)
    elif kind == "EinsumDense":
        count.add(kind, 2 * layer.kernel.shape.num_elements() * _positions(first_in, steps))
    elif kind in ("Conv1D", "Conv2D"):
        out = _dims(outputs[0].shape, steps)
        kernel = math.prod(layer.kernel.shape)  # k × k × c_in / groups × c_out
        count.add(kind, 2 * math.prod(out[:-1]) * kernel)
    elif kind in ("DepthwiseConv2D", "SeparableConv2D"):
        out = _dims(outputs[0].shape, steps)
        weights = sum(math.prod(w.shape) for w in layer.weights if len(w.shape) == 4)
        count.add(kind, 2 * math.prod(out[:-1]) * weights)
    elif kind in ("LSTM", "GRU", "SimpleRNN"):
        count.add(kind, _recurrent(layer, first_in, steps))
    elif kind == "Bidirectional":
        count.add(type(layer.forward_layer).__name__, 2 * _recurrent(layer.forward_layer, first_in, steps))
    elif kind in ("Attention", "AdditiveAttention"):
        query, value = _dims(inputs[0].shape, steps), _dims(inputs[1].shape, steps)
        # scores (Tq × Tv × d) and the weighted sum (Tq × Tv × d)
        count.add(kind, 2 * 2 * query[0] * value[0] * query[-1])
    elif kind == "MultiHeadAttention":
        query, value = _dims(inputs[0].shape, steps), _dims(inputs[-1].shape, steps)
        heads, key_dim = layer.num_heads, layer.key_dim
        projections = sum(2 * math.prod(w.shape) for w in layer.weights if len(w.shape) == 3)
        length_q, length_v = math.prod(query[:-1]), math.prod(value[:-1])
        # q/k/v/out projections scale with their own sequence; take the longer as a bound on both
        count.add(kind, projections * max(length_q, length_v) + 2 * 2 * length_q * length_v * heads * key_dim)
    elif layer.weights and kind not in ("Embedding", "BatchNormalization", "FusedBatchNormalization",
                                        "LayerNormalization"):
        count.uncounted.append(f"{layer.name} ({kind})")


def walk(model, steps: int, count: FlopCount | None = None) -> FlopCount:
    """The forward FLOPs of one example through a functional model; unknown lengths count as steps."""
    import keras

    count = count if count is not None else FlopCount()
    for layer in model.layers:
        for node in layer._inbound_nodes:  # a layer shared by two inputs runs once per call
            inputs = keras.tree.flatten(node.input_tensors)
            outputs = keras.tree.flatten(node.output_tensors)
            _layer_flops(layer, inputs, outputs, steps, count)
    return count


def with_lengths(model, lengths: dict[str, int]):
    """The model rebuilt on batch-1 inputs whose unknown lengths are given per input name (text, source …).

    Cloning the graph on concrete inputs makes every layer's shape concrete, so a document's
    length and its summary's length each count where they flow, rather than one guess for both.
    """
    import keras

    def concrete(tensor):
        name = tensor.name.split(":")[0]
        shape = [lengths[name] if d is None else d for d in tuple(tensor.shape)[1:]]
        return keras.Input(batch_shape=(1, *shape), dtype=tensor.dtype, name=name)

    return keras.models.clone_model(model, input_tensors=keras.tree.map_structure(concrete, model.input))


def matmul_peak(dtype: str = "float32", size: int = 2048, repeats: int = 10) -> float:
    """This machine's matrix-multiply FLOP/s: the best of repeats of one size × size product."""
    import time

    import tensorflow as tf

    a = tf.random.uniform((size, size), dtype="float32")
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)

    @tf.function
    def product(x, y):
        return tf.reduce_sum(tf.cast(tf.linalg.matmul(x, y), "float32"))

    product(a, b).numpy()  # trace and warm up
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best
