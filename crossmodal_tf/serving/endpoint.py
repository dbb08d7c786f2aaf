"""What every task's serving function shares: raw inputs (strings, encoded images) → outputs in the graph.

Each task's export_endpoint hook returns an Endpoint: the function, its input
signature and the lookup tables it uses (which the export must track). Generative
tasks decode greedily with the same loop as `cmx sample --strategy greedy`
(decoding.Decoder.greedy_loop), the run's sample.max_length and its bans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import tensorflow as tf

from crossmodal_tf.serving.text_ops import GraphVocabulary, readable_ids

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


def text_input(vocab, text_cfg):
    """(strings → padded token ids (batch, width), the resource it reads) for a text input of the model."""
    graph_vocab = GraphVocabulary(vocab, text_cfg)

    def encode(text):
        return _dense(graph_vocab.ids(text, text_cfg.max_length))

    return encode, graph_vocab.resources[0]


def greedy_outputs(gen, graph_vocab: GraphVocabulary, settings, state, first, prompt_ids=None,
                   copied_words=None, unknown: bool = True) -> dict:
    """Greedy decoding from a start state, as {"text", "tokens", "log_prob"}; a prompt's ids lead the text.

    settings: greedy DecodeSettings with the run's sample.max_length and its bans (min_length,
    no_repeat_ngram_size), as `cmx sample --strategy greedy` decodes.
    copied_words: a copy model's words outside the vocabulary per row, which its extended ids read as.
    unknown False never writes <unk> (Task.writes_unknown).
    """
    from crossmodal_tf.decoding import make_decoder

    decoder = make_decoder(gen, graph_vocab.vocab, jit_compile=False, unknown=unknown)
    tokens, log_prob = decoder.greedy_loop(settings)(state, first)
    ids = readable_ids(tokens, graph_vocab.tokens)
    if prompt_ids is not None:
        ids = tf.concat([prompt_ids, ids], axis=1)  # as cmx sample prints a continued prompt
    return {"text": graph_vocab.texts(ids, copied_words), "tokens": tokens, "log_prob": log_prob}


def prefill(step, state, ids, lengths):
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
