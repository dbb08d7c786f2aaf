"""The decoder a model trains, offering its cached single step; and the generator that decoding loops over.

Every text type builds its decoder as one `CachedDecoder` layer (as keras-hub's
CausalLM offers `call_with_cache` and OpenNMT-tf's Decoder a `step`): called on
[tokens, *context] it gives the teacher-forced logits; `cached_step()` gives the same
weights one token at a time. `Generator` finds that layer in a trained model (the one
CachedDecoder among its layers, never a layer name) and the context the model computed
for it (the image's condition or memory, the source's states), so decoding needs
nothing but the model and the names of its inputs the context comes from.
"""

from __future__ import annotations

import keras

from crossmodal_tf.errors import CmxError


class CachedDecoder(keras.layers.Layer):
    """A text decoder: call([tokens, *context]) → next-token logits; cached_step() → its single-step form.

    context_names names the context tensors the decoder is called with, in order
    (a subclass's choice, from its settings); cached_step()'s start() takes them by name.
    """

    context_names: tuple[str, ...] = ()

    def build(self, input_shape):
        # the sublayers build themselves when first called: a functional model (built or loaded) calls this layer
        # on symbolic tensors before any weight is read
        self.built = True

    def cached_step(self, length: int | None = None):
        """An object with start(context, batch) → state, step(tokens, state) → (logits, state) and length (the
        positions its cache holds, or None without a limit); length asks for a cache of that many positions."""
        raise NotImplementedError

    def compute_mask(self, inputs, mask=None):
        # the logits of padded tokens are masked, as the loss and metrics expect of a sequence output
        return keras.ops.not_equal(inputs[0], 0)


def decoder_of(model: keras.Model) -> CachedDecoder:
    """The one CachedDecoder layer of a model."""
    found = [layer for layer in model.layers if isinstance(layer, CachedDecoder)]
    if not found:
        # a model saved before decoders were CachedDecoder layers has its decoder's layers loose
        raise CmxError(f"model {model.name} has no text decoder layer to generate with: a run saved by an older "
                       "cmx; train it again")
    if len(found) > 1:
        raise ValueError(f"model {model.name} has {len(found)} text decoders; a generating model has one")
    return found[0]


class Generator:
    """A trained model ready to generate one token at a time, for crossmodal_tf.decoding.

    `start(inputs, batch)` is the state before the first token: the model computes its
    decoder's context from start_inputs (the model inputs it depends on: "image",
    "source"), or, without any, `batch` rows start from nothing. `step(tokens, state)` is
    the decoder's cached step. `length` is how many positions the state can hold (None:
    no limit; given, a cache of that many positions where the decoder has one). Weights are read once, when it is made, so make it after training.
    """

    def __init__(self, model: keras.Model, start_inputs: tuple[str, ...] = (), length: int | None = None):
        decoder = decoder_of(model)
        self.cached = decoder.cached_step(length)
        self.length = self.cached.length
        self.start_inputs = start_inputs
        self.context_model = None
        if decoder.context_names:
            called = decoder.input  # the tensors of its call in this model: [tokens, *context]
            context = dict(zip(decoder.context_names, called[1:]))
            inputs = {key: model.input[key] for key in start_inputs}
            self.context_model = keras.Model(inputs, context, name=f"{decoder.name}_context")

    def start(self, inputs: dict | None = None, batch: int | None = None) -> dict:
        """The decoder state before the first token, for a batch of start inputs (or `batch` rows without)."""
        import tensorflow as tf

        context = {}
        if inputs:
            batch = tf.shape(inputs[self.start_inputs[0]])[0]  # a tensor, so start() also runs in a graph
        if self.context_model is not None:
            context = self.context_model({key: inputs[key] for key in self.start_inputs}, training=False)
        return self.cached.start(context, batch)

    def step(self, tokens, state: dict):
        """One decoding step: token ids (rows,) and the state → logits (rows, vocab) and the next state."""
        return self.cached.step(tokens, state)
