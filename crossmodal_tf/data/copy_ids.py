"""Extended ids of copy attention (model.copy): the target vocabulary, then each example's own source words.

A pointer-generator predicts over the target vocabulary (V ids) plus the words of
its source that the target vocabulary lacks: the source's first such word is id V,
the next new one V + 1, and so on, numbered afresh for every example. A source has
at most data.text.max_length words, so the extended ids stay below V + max_length,
a width the compiled decoder can know in advance. Plain Python (no TensorFlow): the
preprocess workers and `cmx sample` call it.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from crossmodal_tf.data.text import END, PAD, START, UNK, Vocabulary, detokenize


def source_copy_ids(tokens: Sequence[str], target_vocab: Vocabulary) -> tuple[list[int], list[str]]:
    """A source's words as extended ids, and its words outside the target vocabulary in the order they come."""
    oov: list[str] = []
    ids = []
    for token in tokens:
        if token in target_vocab.index:
            ids.append(target_vocab.index[token])
            continue
        if token not in oov:
            oov.append(token)
        ids.append(len(target_vocab) + oov.index(token))
    return ids, oov


def target_copy_ids(tokens: Sequence[str], target_vocab: Vocabulary, oov: Sequence[str]) -> list[int]:
    """A target's words framed as <start> … <end> in extended ids: a word of neither the vocabulary nor the
    source stays <unk>."""
    index, unk = target_vocab.index, target_vocab.index[UNK]
    ids = [index[t] if t in index else len(target_vocab) + oov.index(t) if t in oov else unk for t in tokens]
    return [index[START], *ids, index[END]]


def extended_words(ids: Iterable[int], target_vocab: Vocabulary, oov: Sequence[str]) -> list[str]:
    """The words of generated extended ids, up to <end>: copied ids read as their source words."""
    words = []
    size = len(target_vocab)
    for i in (int(i) for i in ids):
        word = target_vocab.tokens[i] if 0 <= i < size else oov[i - size] if i - size < len(oov) else UNK
        if word == END:
            break
        if word not in (PAD, START):
            words.append(word)
    return words


def extended_texts(rows, target_vocab: Vocabulary, oovs: Sequence[Sequence[str]], level: str,
                   unknown: str = UNK) -> list[str]:
    """Rows of extended ids as text, each row with its own source's words; each <unk> written as `unknown`."""
    return [detokenize([unknown if w == UNK else w for w in extended_words(row, target_vocab, oov)], level)
            for row, oov in zip(rows, oovs, strict=True)]
