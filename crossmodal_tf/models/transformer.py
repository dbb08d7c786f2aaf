"""Transformer text encoders and decoders (`model.text.type: transformer`), and the decoders' cached single step.

The blocks are keras-hub's TransformerEncoder and TransformerDecoder with
normalize_first (pre-LayerNorm, as GPT-2: each sub-layer reads a normalised copy of
the residual stream, which keeps its gradients tame in deeper stacks), and one
LayerNormalization after the last block. Padding masks are passed explicitly,
from the token ids, so they never depend on Keras mask propagation.

Training runs a decoder over whole sequences with a causal mask. Generation
(`TransformerGenerator`) runs the same blocks one token at a time: each block keeps
the keys and values of the tokens so far in a fixed-length cache, so a new token
costs one row of attention, never a re-run of the prefix.
"""

from __future__ import annotations

import keras
from keras import layers


def padding_mask(tokens):
    """True where a token id is not padding (0)."""
    return keras.ops.not_equal(tokens, 0)


def _position_layer(cfg, name: str):
    import keras_hub

    if cfg.positions == "learned":
        return keras_hub.layers.PositionEmbedding(cfg.max_positions, name=f"{name}_positions")
    return keras_hub.layers.SinePositionEncoding(name=f"{name}_positions")


def embed_tokens(cfg, tokens, vocab_size: int, name: str):
    """Token ids (batch, steps) → token embeddings plus position embeddings, (batch, steps, dim)."""
    x = layers.Embedding(vocab_size, cfg.dim, name=f"{name}_embedding")(tokens)
    x = layers.Add(name=f"{name}_embedding_positions")([x, _position_layer(cfg, name)(x)])
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_embedding_dropout")(x)
    return x


def build_transformer_encoder(cfg, tokens, vocab_size: int, name: str = "encoder"):
    """Token ids (batch, steps) → (every step's features (batch, steps, dim), the padding mask (batch, steps)).

    cfg is the model.text section: `layers` blocks of self-attention over the
    unpadded tokens.
    """
    import keras_hub

    mask = padding_mask(tokens)
    x = embed_tokens(cfg, tokens, vocab_size, name)
    for i in range(cfg.layers):
        x = keras_hub.layers.TransformerEncoder(cfg.ffn_dim, cfg.heads, dropout=cfg.dropout, normalize_first=True,
                                                name=f"{name}_block_{i}")(x, padding_mask=mask)
    return layers.LayerNormalization(name=f"{name}_norm")(x), mask


def build_transformer_text_branch(cfg, tokens, vocab_size: int, name: str = "text"):
    """Token ids → one vector per text (batch, dim): the encoder's steps averaged over the unpadded tokens."""
    steps, mask = build_transformer_encoder(cfg, tokens, vocab_size, name)
    x = layers.GlobalAveragePooling1D(name=f"{name}_pool")(steps, mask=mask)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return x


def grid_memory(cfg, grid, name: str = "caption_memory"):
    """An image's feature map (batch, h, w, c) → one memory slot per position, (batch, h·w, dim).

    Each slot is projected to the decoder's width and gets a learned embedding of
    its position, so cross-attention knows where a slot is as well as what it holds.
    """
    import keras_hub

    height, width, channels = grid.shape[1:]
    slots = layers.Reshape((height * width, channels), name=f"{name}_slots")(grid)
    slots = layers.Dense(cfg.dim, name=f"{name}_projection")(slots)
    positions = keras_hub.layers.PositionEmbedding(height * width, name=f"{name}_positions")(slots)
    return layers.Add(name=name)([slots, positions])


def build_transformer_decoder(cfg, tokens, vocab_size: int, memory=None, memory_mask=None, name: str = "decoder"):
    """Token ids (batch, steps) [+ memory (batch, slots, dim)] → next-token logits (batch, steps, vocab).

    Each block attends causally to the tokens so far and, given a memory (the
    encoder's steps, the image's grid), cross-attends to its slots (memory_mask:
    which are real). Logits are float32 so the loss stays stable under mixed precision.
    """
    import keras_hub

    mask = padding_mask(tokens)
    x = embed_tokens(cfg, tokens, vocab_size, name)
    for i in range(cfg.layers):
        block = keras_hub.layers.TransformerDecoder(cfg.ffn_dim, cfg.heads, dropout=cfg.dropout,
                                                    normalize_first=True, name=f"{name}_block_{i}")
        if memory is None:
            x = block(x, decoder_padding_mask=mask)
        else:
            x = block(x, memory, decoder_padding_mask=mask, encoder_padding_mask=memory_mask)
    x = layers.LayerNormalization(name=f"{name}_norm")(x)
    return layers.Dense(vocab_size, dtype="float32", name=f"{name}_logits")(x)


class TransformerGenerator:
    """A trained build_transformer_decoder, ready to generate one token at a time.

    `step(tokens, state)` is the decoder's single step for crossmodal_tf.decoding;
    `start(inputs, batch)` gives the state before the first token. The state holds
    each row's position (`index`) and each block's key/value cache, (rows, 2, length,
    heads, head size); the beam search reorders them with the beams. A memory
    (`memory_output`: the tensor of the model computed from start_inputs) is
    projected to every block's cross-attention keys and values once, in start(), and
    kept under the state's "shared" entry: one copy per input row, which the
    decoding loops neither repeat nor reorder, whatever the beams or samples per row.

    The step reads the blocks' sub-layers (keras-hub 0.32's TransformerDecoder
    attributes); tests/models/test_transformer.py checks it against the whole
    forward pass, so a keras-hub upgrade that changes them fails there.
    """

    def __init__(self, model: keras.Model, cfg, start_inputs: tuple[str, ...] = (), memory_output=None,
                 memory_tokens: str | None = None, name: str = "decoder", length: int | None = None):
        self.length = length or cfg.max_positions  # cache slots: prompt and generated tokens
        self.embedding = model.get_layer(f"{name}_embedding")
        self.positions = model.get_layer(f"{name}_positions")
        self.blocks = [model.get_layer(f"{name}_block_{i}") for i in range(cfg.layers)]
        self.norm = model.get_layer(f"{name}_norm")
        self.logits = model.get_layer(f"{name}_logits")
        self.heads, self.head_size = cfg.heads, cfg.dim // cfg.heads
        self.start_inputs, self.memory_tokens = start_inputs, memory_tokens
        self.state_model = None
        if memory_output is not None:
            inputs = {key: model.get_layer(key).output for key in start_inputs}
            self.state_model = keras.Model(inputs, memory_output, name=f"{name}_start")

    def start(self, inputs: dict | None = None, batch: int | None = None) -> dict:
        """The state before the first token, for a batch of start inputs (or `batch` rows without any)."""
        import tensorflow as tf

        if inputs:
            batch = tf.shape(inputs[self.start_inputs[0]])[0]  # a tensor, so start() also runs in a graph
        dtype = self.embedding.compute_dtype
        empty = tf.zeros([batch, 2, self.length, self.heads, self.head_size], dtype)
        state = {"index": tf.zeros([batch], tf.int32), "cache": [empty for _ in self.blocks]}
        if self.state_model is not None:
            memory = self.state_model(inputs, training=False)
            if self.memory_tokens:
                mask = tf.not_equal(tf.convert_to_tensor(inputs[self.memory_tokens]), 0)
            else:
                mask = tf.ones(tf.shape(memory)[:2], tf.bool)
            keys_values = []
            for block in self.blocks:
                attention = block._cross_attention_layer
                keys_values.append(tf.stack([attention._key_dense(memory), attention._value_dense(memory)], axis=1))
            state["shared"] = {"memory": keys_values, "memory_mask": mask}
        return state

    def step(self, tokens, state: dict):
        """One decoding step: token ids (rows,) and the state → logits (rows, vocab) and the next state."""
        import tensorflow as tf

        index = state["index"]
        x = self.embedding(tokens[:, None])
        x = x + self.positions(x, positions=index[:, None])
        # row r writes slot index[r] and attends to slots 0..index[r]; rows may stand at different positions
        # (prompts of different lengths), so the write is a select, not one dynamic slice for all rows
        slot = tf.one_hot(index, self.length, on_value=True, off_value=False, dtype=tf.bool)
        seen = (tf.range(self.length)[None, :] <= index[:, None])[:, None, :]
        shared = state.get("shared")
        caches = []
        for i, block in enumerate(self.blocks):
            attention = block._self_attention_layer
            h = block._self_attention_layer_norm(x)
            new = tf.stack([attention._key_dense(h), attention._value_dense(h)], axis=1)  # (rows, 2, 1, heads, size)
            cache = tf.where(slot[:, None, :, None, None], new, state["cache"][i])
            attended, _ = attention(h, h, attention_mask=seen, cache=cache, training=False)
            x = x + attended
            caches.append(cache)
            if shared is not None:
                x = x + self._cross_attend(block, x, shared["memory"][i], shared["memory_mask"])
            h = block._feedforward_layer_norm(x)
            x = x + block._feedforward_output_dense(block._feedforward_intermediate_dense(h))
        logits = self.logits(self.norm(x))[:, 0, :]
        return logits, {**state, "index": index + 1, "cache": caches}

    def _cross_attend(self, block, x, keys_values, mask):
        """Cross-attention of rows (rows, 1, dim) to a memory of one copy per input row.

        The rows of one input (its beams or samples) are consecutive, so they fold into
        one query sequence per input: attention treats each query on its own, and the
        memory's keys and values are never copied per beam.
        """
        import tensorflow as tf

        inputs, width = tf.shape(keys_values)[0], x.shape[-1]
        h = block._cross_attention_layer_norm(x)
        folded = tf.reshape(h, [inputs, -1, width])
        attended, _ = block._cross_attention_layer(folded, folded, attention_mask=mask[:, None, :],
                                                   cache=keys_values, training=False)
        return tf.reshape(attended, [-1, 1, width])
