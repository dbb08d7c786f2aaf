"""Transformer text encoders and decoders (`model.text.type: transformer`), and the decoders' cached single step.

The blocks are keras-hub's TransformerEncoder and TransformerDecoder with
normalize_first (pre-LayerNorm, as GPT-2: each sub-layer reads a normalised copy of
the residual stream, which keeps its gradients tame in deeper stacks), and one
LayerNormalization after the last block. Padding masks are passed explicitly,
from the token ids, so they never depend on Keras mask propagation.

Training runs a decoder over whole sequences with a causal mask. Generation
(`TransformerDecoder.cached_step()`) runs the same blocks one token at a time: each block keeps
the keys and values of the tokens so far in a fixed-length cache, so a new token
costs one row of attention, never a re-run of the prefix.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from crossmodal_tf.models.cached_step import CachedDecoder


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


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class TransformerDecoder(CachedDecoder):
    """[token ids (batch, steps), *context] → next-token logits (batch, steps, vocab), float32.

    Each block attends causally to the tokens so far and, with memory (the encoder's
    steps, the image's grid), cross-attends to its slots: the context is then the
    memory (batch, slots, dim), and with memory_mask also which slots are real.
    """

    def __init__(self, vocab_size: int, dim: int, heads: int, ffn_dim: int, num_layers: int = 1,
                 dropout: float = 0.0, positions: str = "learned", max_positions: int = 64, memory: bool = False,
                 memory_mask: bool = False, **kwargs):
        import keras_hub

        super().__init__(**kwargs)
        self.settings = {"vocab_size": vocab_size, "dim": dim, "heads": heads, "ffn_dim": ffn_dim,
                         "num_layers": num_layers, "dropout": dropout, "positions": positions,
                         "max_positions": max_positions, "memory": memory, "memory_mask": memory_mask}
        self.vocab_size, self.heads, self.head_size, self.max_positions = vocab_size, heads, dim // heads, max_positions
        self.context_names = ("memory",) * memory + ("memory_mask",) * memory_mask
        self.embedding = layers.Embedding(vocab_size, dim, name="embedding")
        self.positions = (keras_hub.layers.PositionEmbedding(max_positions, name="positions") if positions == "learned"
                          else keras_hub.layers.SinePositionEncoding(name="positions"))
        self.embedding_dropout = layers.Dropout(dropout, name="embedding_dropout") if dropout else None
        self.blocks = [keras_hub.layers.TransformerDecoder(ffn_dim, heads, dropout=dropout, normalize_first=True,
                                                           name=f"block_{i}") for i in range(num_layers)]
        self.norm = layers.LayerNormalization(name="norm")
        self.logits = layers.Dense(vocab_size, dtype="float32", name="logits")

    def call(self, inputs, training=None):
        tokens, *given = inputs
        context = dict(zip(self.context_names, given))
        mask = padding_mask(tokens)
        x = self.embedding(tokens)
        x = x + self.positions(x)
        if self.embedding_dropout is not None:
            x = self.embedding_dropout(x, training=training)
        for block in self.blocks:
            if "memory" in context:
                x = block(x, context["memory"], decoder_padding_mask=mask,
                          encoder_padding_mask=context.get("memory_mask"), training=training)
            else:
                x = block(x, decoder_padding_mask=mask, training=training)
        return self.logits(self.norm(x))

    def get_config(self):
        return {**super().get_config(), **self.settings}

    def cached_step(self, length: int | None = None) -> TransformerStep:
        """The decoder one token at a time (TransformerStep), caching `length` positions (default max_positions)."""
        return TransformerStep(self, length)


class TransformerStep:
    """A trained TransformerDecoder's single step, for crossmodal_tf.decoding.

    `start(context, batch)` gives the state before the first token; `step(tokens,
    state)` one step. The state holds each row's position (`index`) and each block's
    key and value caches, each (rows, heads, length, head size); the beam search
    reorders them with the beams. A memory (the context's) is projected to every
    block's cross-attention keys and values once, in start(), and kept under the
    state's "shared" entry: one copy per input row, which the decoding loops neither
    repeat nor reorder, whatever the beams or samples per row.

    The step does the blocks' arithmetic itself with their weights (keras-hub 0.32's
    TransformerDecoder attributes) rather than calling their attention layers: at one
    token per row those layers' shapes cost far more than their arithmetic under XLA
    on CPU (see step()). tests/models/test_transformer.py checks the step against the
    whole forward pass, so a keras-hub upgrade that changes the blocks fails there.
    """

    def __init__(self, decoder: TransformerDecoder, length: int | None = None):
        self.length = length or decoder.max_positions  # cache slots: prompt and generated tokens
        self.embedding, self.positions = decoder.embedding, decoder.positions
        self.blocks, self.norm, self.logits = decoder.blocks, decoder.norm, decoder.logits
        self.heads, self.head_size = decoder.heads, decoder.head_size

    def start(self, context: dict, batch) -> dict:
        """The state before the first token, from the decoder's context (empty: `batch` rows without memory)."""
        import tensorflow as tf

        memory = context.get("memory")
        if memory is not None:
            batch = tf.shape(memory)[0]
        dtype = self.embedding.compute_dtype
        empty = tf.zeros([batch, self.heads, self.length, self.head_size], dtype)
        state = {"index": tf.zeros([batch], tf.int32), "cache": [{"keys": empty, "values": empty} for _ in self.blocks]}
        if memory is not None:
            mask = context.get("memory_mask")
            if mask is None:
                mask = tf.ones(tf.shape(memory)[:2], tf.bool)
            keys_values = []
            for block in self.blocks:
                attention = block._cross_attention_layer
                # (inputs, slots, heads, size) → (inputs, heads, slots, size), the layout the step's products read
                keys_values.append({"keys": tf.transpose(attention._key_dense(memory), [0, 2, 1, 3]),
                                    "values": tf.transpose(attention._value_dense(memory), [0, 2, 1, 3])})
            state["shared"] = {"memory": keys_values, "memory_mask": tf.cast(mask, tf.bool)}
        return state

    def step(self, tokens, state: dict):
        """One decoding step: token ids (rows,) and the state → logits (rows, vocab) and the next state.

        Measured under XLA on CPU (benchmarks/RESULTS.md, "Decoding: cached against
        recomputing the prefix"), calling the blocks' attention layers made a step cost
        several times the whole arithmetic, for two reasons this step avoids: at one row,
        XLA fused each query, key and value projection (a vector times a reshaped
        (dim, heads, size) kernel) into an element-by-element loop that reads the kernel
        column by column; and the cache's (rows, slots, heads, size) layout was
        transposed and copied whole every step. Here the three projections are one
        product with a (dim, 3 dim) kernel (built inside the loop but loop-invariant,
        so XLA computes it once per call), the caches are (rows, heads, slots, size), and
        each row's new key and value are scattered into its slot.
        """
        import tensorflow as tf

        index = state["index"]
        rows = tf.shape(tokens)[0]
        x = self.embedding(tokens[:, None])
        x = (x + self.positions(x, positions=index[:, None]))[:, 0]  # (rows, dim)
        dtype = x.dtype
        # row r writes slot index[r] and attends to slots 0..index[r]; rows may stand at different positions
        # (prompts of different lengths), so each row's slot is its own scatter index
        seen = (tf.range(self.length)[None, :] <= index[:, None])[:, None, None, :]
        slots = tf.stack([tf.repeat(tf.range(rows), self.heads), tf.tile(tf.range(self.heads), [rows]),
                          tf.repeat(index, self.heads)], axis=1)  # (rows·heads, 3): row, head, slot
        shared = state.get("shared")
        caches = []
        for i, block in enumerate(self.blocks):
            kernel, bias = self._self_attention_projection(block, dtype)
            query, key, value = tf.split(tf.matmul(block._self_attention_layer_norm(x), kernel) + bias, 3, axis=-1)
            heads = lambda t: tf.reshape(t, [rows * self.heads, self.head_size])  # noqa: E731
            cache = {"keys": tf.tensor_scatter_nd_update(state["cache"][i]["keys"], slots, heads(key)),
                     "values": tf.tensor_scatter_nd_update(state["cache"][i]["values"], slots, heads(value))}
            query = tf.reshape(query, [rows, self.heads, 1, self.head_size])
            attended = self._attend(query, cache, seen)  # (rows, heads, 1, size)
            x = x + self._output(block._self_attention_layer, tf.reshape(attended, [rows, -1]), dtype)
            caches.append(cache)
            if shared is not None:
                x = x + self._cross_attend(block, x, shared["memory"][i], shared["memory_mask"])
            h = block._feedforward_layer_norm(x)
            x = x + block._feedforward_output_dense(block._feedforward_intermediate_dense(h))
        logits = self.logits(self.norm(x))
        return logits, {**state, "index": index + 1, "cache": caches}

    def _self_attention_projection(self, block, dtype):
        """The block's query, key and value projections as one (dim, 3 dim) kernel and its bias.

        The query's part is pre-scaled by 1 / sqrt(head size), as keras MultiHeadAttention
        scales the query before the dot product.
        """
        import tensorflow as tf

        attention = block._self_attention_layer
        scale = self.head_size ** -0.5
        parts = [_dense_weights(attention._query_dense, dtype, scale), _dense_weights(attention._key_dense, dtype),
                 _dense_weights(attention._value_dense, dtype)]
        return tf.concat([k for k, _ in parts], axis=1), tf.concat([b for _, b in parts], axis=0)

    @staticmethod
    def _attend(query, keys_values: dict, mask):
        """Scaled-query attention: query (n, heads, q, size) over keys and values (n, heads, slots, size)."""
        import tensorflow as tf

        scores = tf.matmul(query, keys_values["keys"], transpose_b=True)  # (n, heads, q, slots)
        # the lowest finite score, not -inf: a row whose slots are all masked gets a uniform softmax, not NaNs
        scores = tf.where(mask, scores, scores.dtype.min)
        return tf.matmul(tf.nn.softmax(scores), keys_values["values"])

    @staticmethod
    def _output(attention, attended, dtype):
        """The attention layer's output projection of (rows, heads · size) → (rows, dim)."""
        import tensorflow as tf

        kernel, bias = _dense_weights(attention._output_dense, dtype, input_axes=2)
        return tf.matmul(attended, kernel) + bias

    def _cross_attend(self, block, x, keys_values: dict, mask):
        """Cross-attention of rows (rows, dim) to a memory of one copy per input row.

        The rows of one input (its beams or samples) are consecutive, so they fold into
        one query sequence per input: attention treats each query on its own, and the
        memory's keys and values are never copied per beam.
        """
        import tensorflow as tf

        attention, dtype = block._cross_attention_layer, x.dtype
        inputs = tf.shape(keys_values["keys"])[0]
        # scaling the kernel (not the product) keeps it loop-invariant and hoisted, as in step()
        kernel, bias = _dense_weights(attention._query_dense, dtype, self.head_size ** -0.5)
        query = tf.matmul(block._cross_attention_layer_norm(x), kernel) + bias
        query = tf.transpose(tf.reshape(query, [inputs, -1, self.heads, self.head_size]), [0, 2, 1, 3])
        attended = self._attend(query, keys_values, mask[:, None, None, :])  # (inputs, heads, rows per input, size)
        attended = tf.reshape(tf.transpose(attended, [0, 2, 1, 3]), [-1, self.heads * self.head_size])
        return self._output(attention, attended, dtype)


def _dense_weights(layer, dtype, scale: float = 1.0, input_axes: int = 1):
    """An attention layer's EinsumDense as a (inputs, outputs) matrix and a (outputs,) bias, both times scale.

    The kernel's first input_axes axes are its inputs: one for the query, key and value
    projections (dim, heads, size), two for the output projection (heads, size, dim).
    """
    import tensorflow as tf

    kernel = tf.cast(tf.convert_to_tensor(layer.kernel), dtype)
    inputs = int(np.prod(kernel.shape[:input_axes]))
    kernel = tf.reshape(kernel, [inputs, -1]) * scale
    if layer.bias is None:
        return kernel, tf.zeros([kernel.shape[1]], dtype)
    return kernel, tf.reshape(tf.cast(tf.convert_to_tensor(layer.bias), dtype), [-1]) * scale
