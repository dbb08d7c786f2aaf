"""The LSTM decoder of the generative tasks: one layer, in its teacher-forced form and its cached single step.

Training runs the decoder over whole sequences (one cuDNN-friendly LSTM call per
layer); generation runs the very same weights one token at a time through the
LSTM cells, carrying their state, inside the compiled loops of crossmodal_tf.decoding.
"""

from __future__ import annotations

import keras
from keras import layers

from crossmodal_tf.data.text import RESERVED, UNK
from crossmodal_tf.models.cached_step import CachedDecoder
from crossmodal_tf.models.layers import ConcatToSteps

ATTENTIONS = {"luong": layers.Attention, "bahdanau": layers.AdditiveAttention}
CONDITIONS = ("init_state", "every_step", "both")


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class LstmDecoder(CachedDecoder):
    """[token ids (batch, steps), *context] → next-token logits (batch, steps, vocab), float32.

    condition (a model.condition mode) makes the context start with a vector (batch, d)
    that sets every layer's initial state through Dense layers (init_state), is
    concatenated to every input step (every_step), or both. initial_states makes it take
    an [h, c] pair per layer instead (an encoder's final states). attention (luong: dot
    product, bahdanau: additive) makes it take a memory (batch, source steps, d) and its
    mask, which the last layer's outputs attend to; the context joins the output through
    a tanh layer (Luong's attentional hidden state). copy_extra (not None) turns on copy
    attention (models/copy.py) over the extended source ids it also takes: the output is
    then log-probabilities over vocab_size + copy_extra extended ids.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, units: int, num_layers: int = 1, dropout: float = 0.0,
                 condition: str | None = None, initial_states: bool = False, attention: str = "none",
                 copy_extra: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.embedding_dim, self.units, self.num_layers = vocab_size, embedding_dim, units, num_layers
        self.dropout, self.condition, self.initial_states = dropout, condition, initial_states
        self.attention_kind, self.copy_extra = attention, copy_extra
        self.sets_state = condition in ("init_state", "both")
        self.feeds_steps = condition in ("every_step", "both")
        self.context_names = (("condition",) * (condition is not None)
                              + tuple(f"{part}{i}" for i in range(num_layers) for part in "hc") * initial_states
                              + ("memory", "memory_mask") * (attention != "none")
                              + ("copy_ids",) * (copy_extra is not None))
        self.embedding = layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.concat_condition = ConcatToSteps(name="condition_steps") if self.feeds_steps else None
        self.init_h = [layers.Dense(units, activation="tanh", name=f"init_h_{i}") for i in range(num_layers)] \
            if self.sets_state else []
        self.init_c = [layers.Dense(units, name=f"init_c_{i}") for i in range(num_layers)] if self.sets_state else []
        self.lstms = [layers.LSTM(units, return_sequences=True, name=f"lstm_{i}") for i in range(num_layers)]
        # one Dropout per place, as in a functional model: after the embedding, each layer and the attention
        self.dropouts = [layers.Dropout(dropout, name=f"dropout_{i}") for i in range(num_layers + 2)] \
            if dropout else []
        self.attention = self.attention_out = None
        if attention != "none":
            self.attention = ATTENTIONS[attention](name="attention")
            self.attention_out = layers.Dense(units, activation="tanh", name="attention_out")
        self.logits = layers.Dense(vocab_size, dtype="float32", name="logits")
        self.copy_gate = self.copy_mix = None
        if copy_extra is not None:
            from crossmodal_tf.models.copy import CopyMix, copy_gate

            self.copy_gate, self.copy_mix = copy_gate(), CopyMix(copy_extra, name="copy_mix")

    def _drop(self, x, place: int, training):
        return self.dropouts[place](x, training=training) if self.dropouts else x

    def call(self, inputs, training=None):
        tokens, *given = inputs
        context = dict(zip(self.context_names, given))
        mask = keras.ops.not_equal(tokens, 0)
        x = self._drop(self.embedding(tokens), 0, training)
        embedded = x
        condition = context.get("condition")
        if self.feeds_steps:
            x = self.concat_condition([x, condition])
        for i, lstm in enumerate(self.lstms):
            state = None
            if self.initial_states:
                state = [context[f"h{i}"], context[f"c{i}"]]
            elif self.sets_state:
                state = [self.init_h[i](condition), self.init_c[i](condition)]
            x = self._drop(lstm(x, mask=mask, initial_state=state, training=training), i + 1, training)
        weights = attended = output = None
        if self.attention is not None:
            output = x
            attended = self.attention([x, context["memory"]], mask=[mask, context["memory_mask"]],
                                      return_attention_scores=self.copy_extra is not None, training=training)
            if self.copy_extra is not None:
                attended, weights = attended
            x = self._drop(self.attention_out(keras.ops.concatenate([x, attended], axis=-1)), -1, training)
        logits = self.logits(x)
        if self.copy_extra is None:
            return logits
        from crossmodal_tf.models.copy import gate_inputs

        gate = self.copy_gate(keras.ops.concatenate(gate_inputs(attended, output, embedded), axis=-1))
        return self.copy_mix([logits, weights, gate, context["copy_ids"]])

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "embedding_dim": self.embedding_dim,
                "units": self.units, "num_layers": self.num_layers, "dropout": self.dropout,
                "condition": self.condition, "initial_states": self.initial_states,
                "attention": self.attention_kind, "copy_extra": self.copy_extra}

    def cached_step(self, length: int | None = None) -> LstmStep:
        """The decoder one token at a time (LstmStep), with this layer's weights as they are now (an LSTM's state
        has no length)."""
        return LstmStep(self)


class LstmStep:
    """A trained LstmDecoder's single step: `start(context, batch)` and `step(tokens, state)`.

    The state holds each layer's h and c; what does not change from step to step (the
    every-step condition's share of the first layer's input, the memory and its mask, a
    copy decoder's extended source ids) passes through it as it is.
    """

    length = None  # an LSTM's state holds any number of positions

    def __init__(self, decoder: LstmDecoder):
        import tensorflow as tf

        self.decoder = decoder
        self.cells = [lstm.cell for lstm in decoder.lstms]
        # The first LSTM layer's input projection of a token, embedding @ kernel, depends on the token
        # alone, so it is computed once for the whole vocabulary here and each step gathers a row of it
        # (vocab × 4·units floats) instead of multiplying. Likewise the every-step condition's share of
        # that projection is computed once per start(), not once per token.
        first = self.cells[0]
        kernel = tf.convert_to_tensor(first.kernel)
        embedding = tf.convert_to_tensor(decoder.embedding.embeddings)
        width = embedding.shape[-1]
        self.token_projection = tf.matmul(embedding, kernel[:width])
        if first.use_bias:
            self.token_projection += tf.convert_to_tensor(first.bias)
        self.condition_kernel = kernel[width:]

    def start(self, context: dict, batch) -> dict:
        """The state before the first token, from the decoder's context (empty: `batch` zero states)."""
        import tensorflow as tf

        decoder = self.decoder
        if context:
            batch = tf.shape(next(iter(context.values())))[0]
        zeros = tf.zeros([batch, decoder.units])
        condition = context.get("condition")
        if decoder.initial_states:
            hs = [context[f"h{i}"] for i in range(decoder.num_layers)]
            cs = [context[f"c{i}"] for i in range(decoder.num_layers)]
        elif decoder.sets_state:
            hs = [dense(condition, training=False) for dense in decoder.init_h]
            cs = [dense(condition, training=False) for dense in decoder.init_c]
        else:
            hs, cs = [zeros] * decoder.num_layers, [zeros] * decoder.num_layers
        state = {"h": hs, "c": cs}
        if decoder.feeds_steps:
            state["condition"] = tf.matmul(condition, self.condition_kernel)
        if decoder.attention is not None:
            state["memory"], state["memory_mask"] = context["memory"], context["memory_mask"]
        if decoder.copy_extra is not None:
            state["copy_ids"] = tf.cast(context["copy_ids"], tf.int32)
        return state

    def step(self, tokens, state: dict):
        """One decoding step: token ids (batch,) and the state → logits (batch, vocab) and the next state."""
        import tensorflow as tf

        decoder = self.decoder
        if decoder.copy_extra is not None:  # a copied word is fed back as the decoder knows it: <unk>
            tokens = tf.where(tokens >= decoder.vocab_size, RESERVED.index(UNK), tokens)
        # the first layer's input projection is a row of the folded table (plus the condition's share)
        z = tf.gather(self.token_projection, tokens)
        if decoder.feeds_steps:
            z += state["condition"]
        first = self.cells[0]
        z += tf.matmul(state["h"][0], first.recurrent_kernel)
        x, c = _lstm_gates(first, z, state["c"][0])
        hs, cs = [x], [c]
        for i, cell in enumerate(self.cells[1:], start=1):
            x, (h, c) = cell(x, [state["h"][i], state["c"][i]], training=False)
            hs.append(h)
            cs.append(c)
        output = x
        if decoder.attention is not None:
            context, weights = decoder.attention([x[:, None, :], state["memory"]], mask=[None, state["memory_mask"]],
                                                 return_attention_scores=True, training=False)
            context = context[:, 0, :]
            x = decoder.attention_out(tf.concat([x, context], axis=-1), training=False)
        next_state = {**state, "h": hs, "c": cs}
        logits = decoder.logits(x, training=False)
        if decoder.copy_extra is not None:
            from crossmodal_tf.models.copy import gate_inputs

            gate = decoder.copy_gate(tf.concat(gate_inputs(context, output, decoder.embedding(tokens)), axis=-1))
            logits = decoder.copy_mix([logits[:, None], weights, gate[:, None], state["copy_ids"]])[:, 0]
        return logits, next_state


def _lstm_gates(cell, z, c):
    """A Keras LSTM cell's update from its summed pre-activations z (gates i, f, candidate, o) → (h, c)."""
    import tensorflow as tf

    i, f, candidate, o = tf.split(z, 4, axis=-1)
    gate = cell.recurrent_activation
    c = gate(f) * c + gate(i) * cell.activation(candidate)
    return gate(o) * cell.activation(c), c
