"""The in-graph tokenizer of exports agrees with crossmodal_tf.data.text, eagerly and inside tf.data."""

from __future__ import annotations

import pytest
import tensorflow as tf

from crossmodal_tf.data.text import Vocabulary, detokenize, tokenize
from crossmodal_tf.serving.text_ops import join_tokens, make_lookup, readable_tokens, token_ids, tokenize_text

TEXTS = ["A small RED circle, left of a square!", "  tabs\tand\nnew lines  ", "", "...",
         "snake_case and 42", "Ünïcödé ÇAFÉ déjà-vu", "一个红色的小圆形。在上面！", "mixed 中文 and English", "ctrl\x07char",
         "non\u00a0breaking\u2003spaces", "x" * 3 + " y" * 30]


def _graph_tokens(texts, level, lowercase=True, max_length=None):
    return [[t.decode() for t in row] for row in tokenize_text(tf.constant(texts), level, lowercase,
                                                                max_length).to_list()]


@pytest.mark.parametrize("level", ["word", "char"])
@pytest.mark.parametrize("lowercase", [True, False])
def test_tokenize_text_matches_python(level, lowercase):
    assert _graph_tokens(TEXTS, level, lowercase) == [tokenize(t, level, lowercase) for t in TEXTS]


def test_tokenize_text_inside_tf_data_and_truncates():
    dataset = tf.data.Dataset.from_tensor_slices(TEXTS).batch(4).map(lambda x: tokenize_text(x, "word", True, 5))
    rows = [[t.decode() for t in row] for batch in dataset for row in batch.to_list()]
    assert rows == [tokenize(t)[:5] for t in TEXTS]


def test_lookup_and_readable_tokens_round_trip():
    vocab = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", "a", "red", "circle"])
    table = make_lookup(vocab.tokens)
    ids = token_ids(table, tokenize_text(tf.constant(["a red zebra", "circle"])))
    assert ids.to_list() == [vocab.encode(tokenize("a red zebra")), vocab.encode(["circle"])]
    generated = tf.constant([[4, 5, 6, 3, 0], [6, 3, 0, 0, 0]])
    texts = join_tokens(readable_tokens(generated, vocab.tokens)).numpy().tolist()
    assert [t.decode() for t in texts] == [detokenize(vocab.decode(row)) for row in generated.numpy()]


def test_a_subword_vocabulary_in_the_graph_matches_python():
    """tensorflow-text's SentencePiece op cuts and joins as the Python side does, unseen characters included."""
    from crossmodal_tf.config.sections import TextConfig
    from crossmodal_tf.data.subword import train_subword
    from crossmodal_tf.data.text import normalize
    from crossmodal_tf.serving.text_ops import GraphVocabulary, readable_ids

    cfg = TextConfig(level="subword", vocab_size=315, max_length=12)
    vocab = train_subword([normalize(t) for t in TEXTS * 3], cfg, 1, "data.text")
    graph = GraphVocabulary(vocab, cfg)
    texts = TEXTS + ["一个紫色的圆", "Zebras Quickly"]  # 紫 and Z, Q are in no training text: byte pieces
    ids = graph.ids(tf.constant(texts), cfg.max_length).to_list()
    assert ids == [vocab.encode(vocab.tokenize(t))[: cfg.max_length] for t in texts]
    framed = [vocab.encode(vocab.tokenize(t), add_start=True, add_end=True) + [0] for t in texts]
    width = max(map(len, framed))
    generated = tf.constant([row + [0] * (width - len(row)) for row in framed])
    joined = [t.decode() for t in graph.texts(readable_ids(generated, vocab.tokens)).numpy().tolist()]
    assert joined == [vocab.detokenize(vocab.decode(row)) for row in framed] == [normalize(t) for t in texts]
