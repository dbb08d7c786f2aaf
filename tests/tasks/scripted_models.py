"""Fixed models for value tests of the generative tasks (lm, caption, seq2seq, summarize): outputs known in advance.

BigramModel gives teacher-forced logits that depend on the previous token only, so perplexity and token
accuracy can be counted by hand. ScriptedGenerator is a decoding generator (start + step, as
crossmodal_tf.decoding wants) that writes a fixed text for each row, chosen by the row's start input (an
image's first pixel, a source's first token): if evaluate paired an output with another row's references,
the scores would change.
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np

from crossmodal_tf.data.text import END, RESERVED, Vocabulary

WORDS = ("a", "red", "blue", "circle", "square", "big", "small", "the", "is")
VOCAB = Vocabulary([*RESERVED, *WORDS])  # <pad> 0, <unk> 1, <start> 2, <end> 3, a 4, red 5, …


def bigram_table(rows: dict[int, dict[int, float]], size: int = len(VOCAB)) -> np.ndarray:
    """(size, size) log-probabilities: row t is p(next | t), the given probabilities and the rest spread evenly."""
    table = np.full((size, size), 1.0 / size)
    for token, probs in rows.items():
        rest = (1.0 - sum(probs.values())) / (size - len(probs))
        table[token] = rest
        for nxt, p in probs.items():
            table[token, nxt] = p
    return np.log(table).astype(np.float32)


class BigramModel:
    """A teacher-forced model whose next-token log-probabilities are table[previous token], whatever else it reads."""

    def __init__(self, table: np.ndarray):
        import tensorflow as tf

        self.table = tf.constant(table)

    def __call__(self, inputs, training=False):
        import tensorflow as tf

        return tf.gather(self.table, inputs["text"])


class ScriptedGenerator:
    """Writes scripts[code] (token ids, <end> added) for a row whose start input has code `code`.

    code_of(inputs) → int32 [batch] codes; a code without a script writes <end> at once.
    """

    def __init__(self, scripts: dict[int, list[int]], code_of, vocab: Vocabulary = VOCAB, steps: int = 12):
        import tensorflow as tf

        end = vocab.index[END]
        table = np.full((max(scripts) + 1, steps), end, np.int32)
        for code, ids in scripts.items():
            table[code, : len(ids)] = ids
        self.scripts, self.code_of, self.vocab_size = tf.constant(table), code_of, len(vocab)

    def start(self, inputs, batch):
        import tensorflow as tf

        codes = tf.clip_by_value(tf.cast(self.code_of(inputs), tf.int32), 0, self.scripts.shape[0] - 1)
        return {"code": codes, "position": tf.zeros_like(codes)}

    def step(self, tokens, state):
        import tensorflow as tf

        rows = tf.gather(self.scripts, state["code"])
        position = tf.minimum(state["position"], self.scripts.shape[1] - 1)
        token = tf.gather(rows, position, batch_dims=1)
        logits = 10.0 * tf.one_hot(token, self.vocab_size)
        return logits, {"code": state["code"], "position": state["position"] + 1}


def ids(text: str, vocab: Vocabulary = VOCAB) -> list[int]:
    """A text's token ids, unframed."""
    return vocab.encode(text.split())


def framed(text: str, vocab: Vocabulary = VOCAB) -> list[int]:
    """A text as stored when a model predicts it: <start> ids <end>."""
    return vocab.encode(text.split(), add_start=True, add_end=True)


def padded(rows: list[list[int]]) -> np.ndarray:
    """Rows of ids padded with 0 to the longest (at least one column)."""
    width = max(1, *(len(r) for r in rows))
    return np.array([r + [0] * (width - len(r)) for r in rows], np.int32)


def fake_run(config, train_counts: Counter | None = None, **parts) -> SimpleNamespace:
    """What the evaluate hooks read of a Run: its config, vocabularies, train counts (and more, as given)."""
    return SimpleNamespace(config=config, vocab=parts.pop("vocab", VOCAB),
                           train_counts=lambda field="text": train_counts or Counter(), **parts)


def pair_batches(rows: list[tuple[str, str]], size: int, vocab: Vocabulary = VOCAB) -> list[dict]:
    """Parsed batches of (source, target) text pairs as a translation folder stores them: source ids (a word
    outside the vocabulary as <unk>), framed target ids, and both raw texts."""
    import tensorflow as tf

    out = []
    for begin in range(0, len(rows), size):
        part = rows[begin:begin + size]
        out.append({"text": tf.constant(padded([ids(s, vocab) for s, _ in part])),
                    "target": tf.constant(padded([framed(t, vocab) for _, t in part])),
                    "source_text": tf.constant([s.encode() for s, _ in part]),
                    "target_text": tf.constant([t.encode() for _, t in part]),
                    "key": tf.constant([s.encode() for s, _ in part])})
    return out


def first_source_token(inputs):
    """A ScriptedGenerator's code for a translator: the source's first token id."""
    return inputs["source"][:, 0]


def pair_config(max_length: int, batch_size: int) -> SimpleNamespace:
    """What seq2seq's and summarize's evaluate hooks read of a config: word-level source and target texts."""
    text = SimpleNamespace(level="word", max_length=max_length)
    return SimpleNamespace(data=SimpleNamespace(text=text, target_text=text), eval=SimpleNamespace(batch_size=batch_size),
                           model=SimpleNamespace(copy=False))


def scripted_translator(scripts: dict[int, str]):
    """A stand-in for seq2seq.generator: the generator writes scripts[the source's first token id]."""
    return lambda model, config: ScriptedGenerator({code: ids(text) for code, text in scripts.items()},
                                                   first_source_token)
