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


def readable_tokens(ids, tokens: list[str], copied_words=None) -> tf.RaggedTensor:
    """Rows of generated ids (0 after <end>) → ragged tokens without <pad>, <start> and <end>.

    copied_words (batch, n), a copy model's words outside the vocabulary per row (see
    source_copy_ids), gives extended id len(tokens) + j the row's word j.
    """
    hidden = [tokens.index(t) for t in (PAD, START, END)]
    keep = tf.reduce_all(tf.not_equal(ids[..., None], hidden), axis=-1)
    if copied_words is None:
        return tf.gather(tf.constant(tokens), tf.ragged.boolean_mask(ids, keep))
    size = len(tokens)
    words = tf.where(ids >= size, tf.gather(copied_words, tf.maximum(ids - size, 0), batch_dims=1),
                     tf.gather(tf.constant(tokens), tf.minimum(ids, size - 1)))
    return tf.ragged.boolean_mask(words, keep)


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
