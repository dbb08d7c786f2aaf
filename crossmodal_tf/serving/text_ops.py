"""crossmodal_tf.data.text in TensorFlow string ops, so an exported model tokenizes inside its graph.

normalize_text mirrors data.text.normalize (drop control characters, lowercase,
punctuation to spaces, collapse whitespace) with RE2 Unicode classes: Python's \\w
is a letter, a number or "_", which RE2 spells [\\pL\\pN_]. Core TensorFlow has no
NFKC normalisation, so compatibility forms (full-width letters, ligatures) are the
one difference: they stay as they are here (tensorflow-text would add a dependency
the serving side must also have).
"""

from __future__ import annotations

import tensorflow as tf

from crossmodal_tf.data.text import END, PAD, START, UNK


def normalize_text(strings, lowercase: bool = True):
    """A batch of UTF-8 strings → normalised strings (see data.text.normalize)."""
    text = tf.strings.regex_replace(strings, r"[^\PC\t\n ]", "")  # control and other C* characters
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, r"[^\pL\pN_\s\pZ]", " ")
    text = tf.strings.regex_replace(text, r"[\s\pZ]+", " ")
    return tf.strings.strip(text)


def tokenize_text(strings, level: str = "word", lowercase: bool = True, max_length: int | None = None):
    """A batch of strings → a RaggedTensor of tokens: words, or characters without spaces (level "char")."""
    text = normalize_text(strings, lowercase)
    if level == "char":
        characters = tf.strings.unicode_split(text, "UTF-8")
        tokens = tf.ragged.boolean_mask(characters, tf.not_equal(characters, " "))
    else:
        tokens = tf.strings.split(text)
    return tokens if max_length is None else tokens[:, :max_length]


def make_lookup(tokens: list[str]) -> tf.lookup.StaticHashTable:
    """Token → id table of a vocabulary (its list of tokens); unknown tokens map to <unk>."""
    initializer = tf.lookup.KeyValueTensorInitializer(tf.constant(tokens), tf.range(len(tokens), dtype=tf.int64))
    return tf.lookup.StaticHashTable(initializer, default_value=tokens.index(UNK))


def token_ids(table: tf.lookup.StaticHashTable, tokens) -> tf.RaggedTensor:
    """Ragged tokens → ragged int32 ids."""
    return tf.cast(table.lookup(tokens), tf.int32)


def readable_ids(ids, tokens: list[str]) -> tf.RaggedTensor:
    """Rows of generated ids (0 after <end>) → ragged ids without <pad>, <start> and <end>."""
    hidden = [tokens.index(t) for t in (PAD, START, END)]
    keep = tf.reduce_all(tf.not_equal(ids[..., None], hidden), axis=-1)
    return tf.ragged.boolean_mask(ids, keep)


def readable_tokens(ids, tokens: list[str]) -> tf.RaggedTensor:
    """Rows of generated ids (0 after <end>) → ragged tokens without <pad>, <start> and <end>."""
    return tf.gather(tf.constant(tokens), readable_ids(ids, tokens))


def source_copy_ids(tokens: tf.RaggedTensor, target_table: tf.lookup.StaticHashTable, vocab_size: int, width: int):
    """Ragged source tokens → (extended ids (batch, width), each row's words outside the target vocabulary
    (batch, width), padded with ""): data/copy_ids.source_copy_ids in graph ops.

    A word's extended id is vocab_size plus the number of distinct unknown words that
    come before its first occurrence; a (width × width) comparison per row finds the
    first occurrences without a loop.
    """
    dense = tokens.to_tensor("", shape=[None, width])
    real = tf.sequence_mask(tokens.row_lengths(), width)
    ids = tf.cast(target_table.lookup(dense), tf.int32)
    unknown = real & tf.equal(ids, tf.cast(target_table.default_value, tf.int32))
    first = tf.argmax(tf.cast(tf.equal(dense[:, :, None], dense[:, None, :]), tf.int32), axis=-1,
                      output_type=tf.int32)
    new = unknown & tf.equal(first, tf.range(width)[None, :])
    rank = tf.cumsum(tf.cast(new, tf.int32), axis=1) - 1
    extended = tf.where(unknown, vocab_size + tf.gather(rank, first, batch_dims=1), ids)
    words = tf.ragged.boolean_mask(dense, new).to_tensor("", shape=[None, width])
    return tf.where(real, extended, 0), words


def join_tokens(tokens, level: str = "word"):
    """Ragged tokens → one string per row, as data.text.detokenize joins them."""
    return tf.strings.reduce_join(tokens, axis=-1, separator="" if level == "char" else " ")


class GraphVocabulary:
    """A run's vocabulary in the graph: strings → token ids, and ids → text, as the Python side does.

    Words and characters go through tokenize_text and a lookup table; a subword
    vocabulary (data/subword.py) through tensorflow-text's SentencePiece op, with the
    model's bytes held in the graph (the SavedModel needs no file beside it, and the
    server needs `import tensorflow_text` for the op). Its ids are SentencePiece's own,
    which are the vocabulary's, so nothing maps between them. `resources` are what an
    export must track.
    """

    def __init__(self, vocab, text_cfg):
        self.vocab, self.tokens = vocab, vocab.tokens
        self.level, self.lowercase = text_cfg.level, text_cfg.lowercase
        if self.level == "subword":
            import hashlib

            import tensorflow_text

            # Named by the model: two tokenizers of one SavedModel under the same (default) name get the first's
            # model for both once loaded (tensorflow-text 2.21: a seq2seq export detokenized Chinese as English)
            name = f"sentencepiece_{hashlib.sha256(vocab.model).hexdigest()[:16]}"
            self._pieces = tensorflow_text.SentencepieceTokenizer(model=vocab.model, out_type=tf.int32, name=name)
            self.resources = [self._pieces]
        else:
            self._table = make_lookup(vocab.tokens)
            self.resources = [self._table]

    def ids(self, strings, max_length: int | None = None) -> tf.RaggedTensor:
        """A batch of strings → ragged int32 ids (unknown tokens as <unk>), cut at max_length."""
        if self.level != "subword":
            return token_ids(self._table, tokenize_text(strings, self.level, self.lowercase, max_length))
        ids = self._pieces.tokenize(normalize_text(strings, self.lowercase))
        return ids if max_length is None else ids[:, :max_length]

    def texts(self, ids, copied_words=None) -> tf.Tensor:
        """Ragged ids (no <pad>, <start> or <end>: see readable_ids) → one string per row, as vocab.detokenize.

        copied_words (batch, n), a copy model's words outside the vocabulary per row (see
        source_copy_ids; words and characters only), gives extended id len(tokens) + j the row's word j.
        """
        if self.level == "subword":
            return self._pieces.detokenize(ids)
        size = len(self.tokens)
        words = tf.gather(tf.constant(self.tokens), tf.minimum(ids, size - 1))
        if copied_words is not None:
            flat = ids.flat_values
            where = tf.stack([tf.cast(ids.value_rowids(), tf.int32), tf.maximum(flat - size, 0)], axis=-1)
            words = ids.with_flat_values(tf.where(flat >= size, tf.gather_nd(copied_words, where), words.flat_values))
        return join_tokens(words, self.level)
