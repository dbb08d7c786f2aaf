"""The serving function of each task: raw inputs (strings, encoded images) → outputs, all inside the graph.

Each builder returns an Endpoint: the function, its input signature and the lookup
tables it uses (which the export must track). Generative tasks decode greedily
with the same loop as `cmx sample --strategy greedy` (decoding.Decoder.greedy_loop)
and the run's sample.max_length.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from crossmodal_tf.data.text import START, UNK
from crossmodal_tf.export.image_ops import decode_images
from crossmodal_tf.export.text_ops import join_tokens, make_lookup, readable_tokens, token_ids, tokenize_text

TEXT = tf.TensorSpec([None], tf.string, name="text")
IMAGE = tf.TensorSpec([None], tf.string, name="image")  # encoded PNG/JPEG bytes
PROMPT = tf.TensorSpec([None], tf.string, name="prompt")


@dataclass
class Endpoint:
    """A serving function with its input signature and the resources (lookup tables) it reads."""

    fn: Callable
    input_signature: list
    resources: list = field(default_factory=list)


def _dense(ids: tf.RaggedTensor, width=None):
    """Ragged ids → (batch, width) padded with 0; at least one column, so an empty text still has a step."""
    dense = ids.to_tensor(0) if width is None else ids.to_tensor(0, shape=[None, width])
    return tf.pad(dense, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(dense)[1])]])


def _greedy_outputs(gen, vocab, level: str, max_length: int, state, first, prompt_tokens=None) -> dict:
    from crossmodal_tf.tasks.sequence import make_decoder

    decoder = make_decoder(gen, vocab, jit_compile=False)
    tokens, log_prob = decoder.greedy_loop(max_length)(state, first)
    words = readable_tokens(tokens, vocab.tokens)
    if prompt_tokens is not None:
        words = tf.concat([prompt_tokens, words], axis=1)  # as cmx sample prints a continued prompt
    return {"text": join_tokens(words, level), "tokens": tokens, "log_prob": log_prob}


def match_endpoint(model, config, vocab, target_vocab=None) -> Endpoint:
    """(text strings, encoded images) → {"score": match probability}."""
    text_cfg, table = config.data.text, make_lookup(vocab.tokens)

    def serve(text, image):
        tokens = tokenize_text(text, text_cfg.level, text_cfg.lowercase, text_cfg.max_length)
        inputs = {"text": _dense(token_ids(table, tokens)), "image": decode_images(image, config.data.image.size)}
        return {"score": model(inputs, training=False)[:, 0]}

    return Endpoint(serve, [TEXT, IMAGE], [table])


def caption_endpoint(model, config, vocab, target_vocab=None) -> Endpoint:
    """Encoded images → {"text", "tokens", "log_prob"}: greedy captions."""
    from crossmodal_tf.tasks.caption import generator

    gen = generator(model, config)

    def serve(image):
        images = decode_images(image, config.data.image.size)
        first = tf.fill([tf.shape(images)[0]], vocab.index[START])
        return _greedy_outputs(gen, vocab, config.data.text.level, config.sample.max_length,
                               gen.start({"image": images}), first)

    return Endpoint(serve, [IMAGE])


def _prefill(step, state, ids, lengths):
    """The state after each row's prompt: ids (batch, width) start with <start>; row r has lengths[r] ids.

    Rows have different lengths, so each step's new state is kept only for rows
    whose prompt has not ended yet.
    """
    def body(position, state):
        _, stepped = step(ids[:, position], state)
        running = position < lengths - 1

        def keep(new, old):
            return tf.where(tf.reshape(running, [-1] + [1] * (len(old.shape) - 1)), new, old)

        return position + 1, tf.nest.map_structure(keep, stepped, state)

    _, state = tf.while_loop(lambda position, _: position < tf.shape(ids)[1] - 1, body, (tf.constant(0), state))
    return state


def lm_endpoint(model, config, vocab, target_vocab=None) -> Endpoint:
    """Prompt strings ("" for none) → {"text", "tokens", "log_prob"}: greedy continuations, prompt included."""
    from crossmodal_tf.tasks.lm import generator

    text_cfg, table, gen = config.data.text, make_lookup(vocab.tokens), generator(model, config)

    def serve(prompt):
        prompt_ids = token_ids(table, tokenize_text(prompt, text_cfg.level, text_cfg.lowercase))
        batch = tf.shape(prompt)[0]
        framed = tf.concat([tf.fill([batch, 1], vocab.index[START]), prompt_ids], axis=1)
        lengths = tf.cast(framed.row_lengths(), tf.int32)
        ids = framed.to_tensor(0)
        state = _prefill(gen.step, gen.start(None, batch), ids, lengths)
        first = tf.gather(ids, lengths - 1, batch_dims=1)
        return _greedy_outputs(gen, vocab, text_cfg.level, config.sample.max_length, state, first,
                               tf.gather(tf.constant(vocab.tokens), prompt_ids))

    return Endpoint(serve, [PROMPT], [table])


def seq2seq_endpoint(model, config, vocab, target_vocab=None) -> Endpoint:
    """Source sentences → {"text", "tokens", "log_prob"}: greedy translations."""
    from crossmodal_tf.tasks.seq2seq import generator

    text_cfg, table, gen = config.data.text, make_lookup(vocab.tokens), generator(model, config)

    def serve(text):
        ids = token_ids(table, tokenize_text(text, text_cfg.level, text_cfg.lowercase, text_cfg.max_length))
        # padded to max_length as seq2seq.pad_sources does; an empty source reads <unk>, as translate pads rows
        sources = ids.to_tensor(0, shape=[None, text_cfg.max_length])
        empty = tf.equal(ids.row_lengths(), 0)
        sources = tf.where(empty[:, None] & tf.equal(tf.range(text_cfg.max_length), 0)[None, :],
                           vocab.index[UNK], sources)
        first = tf.fill([tf.shape(text)[0]], target_vocab.index[START])
        return _greedy_outputs(gen, target_vocab, config.data.target_text.level, config.sample.max_length,
                               gen.start({"source": sources}), first)

    return Endpoint(serve, [TEXT], [table])


def retrieval_endpoint(model, config, vocab, target_vocab=None) -> Endpoint:
    """(text strings, encoded images) → their unit embeddings and the (texts, images) cosine similarity matrix."""
    import keras

    from crossmodal_tf.tasks.retrieval import EMBEDDINGS

    text_cfg, table = config.data.text, make_lookup(vocab.tokens)
    encoders = {name: keras.Model(model.get_layer(name).output, model.get_layer(layer).output)
                for name, layer in EMBEDDINGS.items()}

    def serve(text, image):
        ids = _dense(token_ids(table, tokenize_text(text, text_cfg.level, text_cfg.lowercase, text_cfg.max_length)))
        texts = encoders["text"](ids, training=False)
        images = encoders["image"](decode_images(image, config.data.image.size), training=False)
        return {"text_embedding": texts, "image_embedding": images,
                "similarity": tf.matmul(texts, images, transpose_b=True)}

    return Endpoint(serve, [TEXT, IMAGE], [table])


ENDPOINTS = {
    "match": match_endpoint,
    "caption": caption_endpoint,
    "lm": lm_endpoint,
    "seq2seq": seq2seq_endpoint,
    "retrieval": retrieval_endpoint,
}
