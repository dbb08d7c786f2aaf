"""The LSTM decoder of the generative tasks, in its teacher-forced form and its single-step form.

Training runs the decoder over whole sequences (one cuDNN-friendly LSTM call per
layer); generation runs the very same weights one token at a time through the
LSTM cells, carrying their state, inside the compiled loops of crossmodal_tf.decoding.
"""

from __future__ import annotations

import keras
from keras import layers

from crossmodal_tf.data.text import RESERVED, UNK
from crossmodal_tf.models.layers import ConcatToSteps

def _sets_state(mode: str) -> bool:
    return mode in ("init_state", "both")


def _feeds_steps(mode: str) -> bool:
    return mode in ("every_step", "both")


ATTENTIONS = {"luong": layers.Attention, "bahdanau": layers.AdditiveAttention}


def build_lstm_decoder(cfg, tokens, vocab_size: int, condition=None, mode: str = "init_state", name: str = "decoder",
                       initial_states=None, memory=None, attention: str = "none", copy_ids=None, copy_extra: int = 0):
    """Token ids (batch, steps) [+ a condition vector (batch, d)] → next-token logits (batch, steps, vocab).

    cfg is the model.text section (embedding_dim, units, layers, dropout). The
    condition sets every layer's initial LSTM state (init_state), is concatenated to
    every input step (every_step), or both. An encoder-decoder passes instead
    initial_states (an [h, c] pair per layer) and memory, the encoder's steps
    (batch, source steps, units), which the last layer's outputs attend to: Luong
    (dot product) or Bahdanau (additive) attention, whose context joins the output
    through a tanh layer (Luong's attentional hidden state). Logits are float32 so
    the loss stays stable under mixed precision. copy_ids, the extended ids of the
    memory's steps (data/copy_ids.py), turn on copy attention (models/copy.py): the
    output is then log-probabilities over vocab_size + copy_extra extended ids.
    """
    x = layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name=f"{name}_embedding")(tokens)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_embedding_dropout")(x)
    embedded = x
    if condition is not None and _feeds_steps(mode):
        x = ConcatToSteps(name=f"{name}_condition_steps")([x, condition])
    for i in range(cfg.layers):
        initial_state = initial_states[i] if initial_states else None
        if condition is not None and _sets_state(mode):
            initial_state = [layers.Dense(cfg.units, activation="tanh", name=f"{name}_init_h_{i}")(condition),
                             layers.Dense(cfg.units, name=f"{name}_init_c_{i}")(condition)]
        x = layers.LSTM(cfg.units, return_sequences=True, name=f"{name}_lstm_{i}")(x, initial_state=initial_state)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"{name}_dropout_{i}")(x)
    if memory is not None and attention != "none":
        # the padding masks of both sides travel with the tensors, so padded source steps get no weight
        attend = ATTENTIONS[attention](name=f"{name}_attention")
        if copy_ids is not None:
            context, weights = attend([x, memory], return_attention_scores=True)
        else:
            context = attend([x, memory])
        output = x
        x = layers.Concatenate(name=f"{name}_attention_concat")([x, context])
        x = layers.Dense(cfg.units, activation="tanh", name=f"{name}_attention_out")(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"{name}_attention_dropout")(x)
    logits = layers.Dense(vocab_size, dtype="float32", name=f"{name}_logits")(x)
    if copy_ids is not None:
        from crossmodal_tf.models.copy import copy_output

        return copy_output(logits, weights, context, output, embedded, copy_ids, copy_extra, name)
    return logits


def conditioned_start(model: keras.Model, cfg, condition_layer: str, mode: str, name: str = "decoder") -> dict:
    """The start outputs of a decoder conditioned on a vector (see LstmGenerator): initial states and/or the condition."""
    outputs = {}
    if _feeds_steps(mode):
        outputs["condition"] = model.get_layer(condition_layer).output
    if _sets_state(mode):
        for i in range(cfg.layers):
            outputs[f"h{i}"] = model.get_layer(f"{name}_init_h_{i}").output
            outputs[f"c{i}"] = model.get_layer(f"{name}_init_c_{i}").output
    return outputs


class LstmGenerator:
    """A trained build_lstm_decoder, ready to generate one token at a time.

    `step(tokens, state)` is the decoder's single step, for crossmodal_tf.decoding;
    `start(inputs, batch)` gives the state before the first token. start_outputs
    names what the model computes from its start_inputs (the captioner's image, the
    translator's source) before decoding: `h{i}`/`c{i}` set layer i's state,
    `condition` is fed with every step, `memory` is attended to (its padding is where
    the start input named memory_tokens is 0). Without start_outputs the state
    starts at zero. copy_ids names the start input of a copy decoder's extended
    source ids (models/copy.py): its steps give extended log-probabilities, and an
    extended id fed back reads as <unk>. It reads part of the weights once, when it is made, so make it
    after training, not before.
    """

    def __init__(self, model: keras.Model, cfg, start_outputs: dict | None = None, start_inputs: tuple[str, ...] = (),
                 name: str = "decoder", memory_tokens: str | None = None, copy_ids: str | None = None):
        self.units, self.num_layers = cfg.units, cfg.layers
        self.embedding = model.get_layer(f"{name}_embedding")
        self.cells = [model.get_layer(f"{name}_lstm_{i}").cell for i in range(cfg.layers)]
        self.logits = model.get_layer(f"{name}_logits")
        start_outputs = start_outputs or {}
        self.every_step = "condition" in start_outputs
        self.memory_tokens = memory_tokens
        self.attention = self.attention_out = None
        if "memory" in start_outputs:
            self.attention = model.get_layer(f"{name}_attention")
            self.attention_out = model.get_layer(f"{name}_attention_out")
        self.copy_ids, self.vocab_size = copy_ids, self.logits.units
        if copy_ids is not None:
            from crossmodal_tf.models.copy import COPY_GATE, COPY_MIX

            self.copy_gate = model.get_layer(f"{name}_{COPY_GATE}")
            self.copy_mix = model.get_layer(f"{name}_{COPY_MIX}")
        self.start_inputs = start_inputs
        self.state_model = None
        if start_outputs:
            inputs = {key: model.get_layer(key).output for key in start_inputs}
            self.state_model = keras.Model(inputs, start_outputs, name=f"{name}_start")
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
        """The decoder state before the first token, for a batch of start inputs (or `batch` zero states)."""
        import tensorflow as tf

        computed = {}
        if self.state_model is not None:
            computed = self.state_model({key: inputs[key] for key in self.start_inputs}, training=False)
        if inputs:
            batch = tf.shape(inputs[self.start_inputs[0]])[0]  # a tensor, so start() also runs in a graph
        zeros = tf.zeros([batch, self.units])
        state = {"h": [computed.get(f"h{i}", zeros) for i in range(self.num_layers)],
                 "c": [computed.get(f"c{i}", zeros) for i in range(self.num_layers)]}
        if self.every_step:
            state["condition"] = tf.matmul(computed["condition"], self.condition_kernel)
        if self.attention is not None:
            state["memory"] = computed["memory"]
            state["memory_mask"] = tf.not_equal(tf.convert_to_tensor(inputs[self.memory_tokens]), 0)
        if self.copy_ids is not None:
            state["copy_ids"] = tf.cast(tf.convert_to_tensor(inputs[self.copy_ids]), tf.int32)
        return state

    def step(self, tokens, state: dict):
        """One decoding step: token ids (batch,) and the state → logits (batch, vocab) and the next state."""
        import tensorflow as tf

        if self.copy_ids is not None:  # a copied word is fed back as the decoder knows it: <unk>
            tokens = tf.where(tokens >= self.vocab_size, RESERVED.index(UNK), tokens)
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
        output = x
        if self.attention is not None:
            context, weights = self.attention([x[:, None, :], state["memory"]], mask=[None, state["memory_mask"]],
                                              return_attention_scores=True, training=False)
            context = context[:, 0, :]
            x = self.attention_out(tf.concat([x, context], axis=-1), training=False)
        # what does not change from step to step (condition, memory) passes through as it is
        next_state = {**state, "h": hs, "c": cs}
        logits = self.logits(x, training=False)
        if self.copy_ids is not None:
            from crossmodal_tf.models.copy import gate_inputs

            gate = self.copy_gate(tf.concat(gate_inputs(context, output, self.embedding(tokens)), axis=-1))
            logits = self.copy_mix([logits[:, None], weights, gate[:, None], state["copy_ids"]])[:, 0]
        return logits, next_state


def _lstm_gates(cell, z, c):
    """A Keras LSTM cell's update from its summed pre-activations z (gates i, f, candidate, o) → (h, c)."""
    import tensorflow as tf

    i, f, candidate, o = tf.split(z, 4, axis=-1)
    gate = cell.recurrent_activation
    c = gate(f) * c + gate(i) * cell.activation(candidate)
    return gate(o) * cell.activation(c), c
