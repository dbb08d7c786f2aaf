"""The LSTM decoder of the generative tasks, in its teacher-forced form and its single-step form.

Training runs the decoder over whole sequences (one cuDNN-friendly LSTM call per
layer); generation runs the very same weights one token at a time through the
LSTM cells, carrying their state, inside the compiled loops of crossmodal_tf.decoding.
"""

from __future__ import annotations

import keras
from keras import layers

from crossmodal_tf.models.layers import ConcatToSteps

def _sets_state(mode: str) -> bool:
    return mode in ("init_state", "both")


def _feeds_steps(mode: str) -> bool:
    return mode in ("every_step", "both")


def build_lstm_decoder(cfg, tokens, vocab_size: int, condition=None, mode: str = "init_state", name: str = "decoder"):
    """Token ids (batch, steps) [+ a condition vector (batch, d)] → next-token logits (batch, steps, vocab).

    cfg is the model.text section (embedding_dim, units, layers, dropout). The
    condition sets every layer's initial LSTM state (init_state), is concatenated to
    every input step (every_step), or both. Logits are float32 so the loss stays
    stable under mixed precision.
    """
    x = layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name=f"{name}_embedding")(tokens)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_embedding_dropout")(x)
    if condition is not None and _feeds_steps(mode):
        x = ConcatToSteps(name=f"{name}_condition_steps")([x, condition])
    for i in range(cfg.layers):
        initial_state = None
        if condition is not None and _sets_state(mode):
            initial_state = [layers.Dense(cfg.units, activation="tanh", name=f"{name}_init_h_{i}")(condition),
                             layers.Dense(cfg.units, name=f"{name}_init_c_{i}")(condition)]
        x = layers.LSTM(cfg.units, return_sequences=True, name=f"{name}_lstm_{i}")(x, initial_state=initial_state)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"{name}_dropout_{i}")(x)
    return layers.Dense(vocab_size, dtype="float32", name=f"{name}_logits")(x)


class LstmGenerator:
    """A trained build_lstm_decoder, ready to generate one token at a time.

    `step(tokens, state)` is the decoder's single step, for crossmodal_tf.decoding;
    `start(inputs, batch)` gives the state before the first token: zeros, or, for a
    conditioned decoder, what the model computes from its condition inputs (the
    image of a captioner). It reads part of the weights once, when it is made, so
    make it after training, not before.
    """

    def __init__(self, model: keras.Model, cfg, condition_layer: str | None = None,
                 condition_inputs: tuple[str, ...] = (), mode: str = "init_state", name: str = "decoder"):
        self.units, self.num_layers = cfg.units, cfg.layers
        self.embedding = model.get_layer(f"{name}_embedding")
        self.cells = [model.get_layer(f"{name}_lstm_{i}").cell for i in range(cfg.layers)]
        self.logits = model.get_layer(f"{name}_logits")
        conditioned = condition_layer is not None
        self.every_step = conditioned and _feeds_steps(mode)
        self.sets_state = conditioned and _sets_state(mode)
        self.state_model = None
        if conditioned:
            outputs = {"condition": model.get_layer(condition_layer).output}
            if self.sets_state:
                for i in range(cfg.layers):
                    outputs[f"h{i}"] = model.get_layer(f"{name}_init_h_{i}").output
                    outputs[f"c{i}"] = model.get_layer(f"{name}_init_c_{i}").output
            inputs = {key: model.get_layer(key).output for key in condition_inputs}
            self.state_model = keras.Model(inputs, outputs, name=f"{name}_start")
        self._fold_first_layer_inputs()

    def _fold_first_layer_inputs(self) -> None:
        # The first LSTM layer's input projection of a token, embedding @ kernel, depends on the token
        # alone, so it is computed once for the whole vocabulary here and each step gathers a row of it
        # (vocab × 4·units floats) instead of multiplying. Likewise the every-step condition's share of
        # that projection is computed once per start(), not once per token.
        import tensorflow as tf

        first = self.cells[0]
        kernel = tf.convert_to_tensor(first.kernel)
        embedding = tf.convert_to_tensor(self.embedding.embeddings)
        width = embedding.shape[-1]
        self.token_projection = tf.matmul(embedding, kernel[:width])
        if first.use_bias:
            self.token_projection += tf.convert_to_tensor(first.bias)
        self.condition_kernel = kernel[width:]

    def start(self, inputs: dict | None = None, batch: int | None = None) -> dict:
        """The decoder state before the first token, for a batch of condition inputs (or `batch` zero states)."""
        import tensorflow as tf

        if self.state_model is None:
            zeros = tf.zeros([batch, self.units])
            return {"h": [zeros] * self.num_layers, "c": [zeros] * self.num_layers}
        computed = self.state_model(inputs, training=False)
        size = computed["condition"].shape[0]
        zeros = tf.zeros([size, self.units])
        state = {
            "h": [computed[f"h{i}"] if self.sets_state else zeros for i in range(self.num_layers)],
            "c": [computed[f"c{i}"] if self.sets_state else zeros for i in range(self.num_layers)],
        }
        if self.every_step:
            state["condition"] = tf.matmul(computed["condition"], self.condition_kernel)
        return state

    def step(self, tokens, state: dict):
        """One decoding step: token ids (batch,) and the state → logits (batch, vocab) and the next state."""
        import tensorflow as tf

        # the first layer's input projection is a row of the folded table (plus the condition's share)
        z = tf.gather(self.token_projection, tokens)
        if self.every_step:
            z += state["condition"]
        first = self.cells[0]
        z += tf.matmul(state["h"][0], first.recurrent_kernel)
        x, c = _lstm_gates(first, z, state["c"][0])
        hs, cs = [x], [c]
        for i, cell in enumerate(self.cells[1:], start=1):
            x, (h, c) = cell(x, [state["h"][i], state["c"][i]], training=False)
            hs.append(h)
            cs.append(c)
        next_state = {"h": hs, "c": cs}
        if "condition" in state:
            next_state["condition"] = state["condition"]
        return self.logits(x, training=False), next_state


def _lstm_gates(cell, z, c):
    """A Keras LSTM cell's update from its summed pre-activations z (gates i, f, candidate, o) → (h, c)."""
    import tensorflow as tf

    i, f, candidate, o = tf.split(z, 4, axis=-1)
    gate = cell.recurrent_activation
    c = gate(f) * c + gate(i) * cell.activation(candidate)
    return gate(o) * cell.activation(c), c
