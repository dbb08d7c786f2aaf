"""Text: normalisation, word/character tokenizers and the vocabulary (data/subword.py: subword vocabularies)."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable

PAD, UNK, START, END = "<pad>", "<unk>", "<start>", "<end>"
RESERVED = (PAD, UNK, START, END)  # ids 0..3; 0 is padding so Keras masking can use mask_zero
_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)
_SPACES = re.compile(r"\s+")
# ASCII control characters (Unicode category C) other than tab and newline
_ASCII_CONTROLS = {code: None for code in [*range(0x20), 0x7F] if chr(code) not in "\t\n"}


def normalize(text: str, lowercase: bool = True) -> str:
    """NFKC-normalise, drop punctuation and control characters, collapse whitespace."""
    if text.isascii():  # the common case, and NFKC leaves ASCII as it is: skip the per-character loop
        text = text.translate(_ASCII_CONTROLS)
    else:
        text = unicodedata.normalize("NFKC", text)
        text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n ")
    if lowercase:
        text = text.lower()
    text = _PUNCTUATION.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def tokenize(text: str, level: str = "word", lowercase: bool = True) -> list[str]:
    """Split normalised text into words, or into characters (spaces dropped)."""
    clean = normalize(text, lowercase)
    if level == "char":
        return [ch for ch in clean if not ch.isspace()]
    return clean.split()


def detokenize(tokens: Iterable[str], level: str = "word") -> str:
    """Join tokens back into text: with spaces for words, without for characters."""
    return ("" if level == "char" else " ").join(tokens)


class Vocabulary:
    """Token ↔ id mapping with reserved <pad>=0, <unk>=1, <start>=2, <end>=3."""

    def __init__(self, tokens: Iterable[str]):
        self.tokens = list(tokens)
        if tuple(self.tokens[: len(RESERVED)]) != RESERVED:
            raise ValueError(f"a vocabulary must start with {RESERVED}")
        self.index = {token: i for i, token in enumerate(self.tokens)}

    @classmethod
    def build(cls, counts: Counter, min_freq: int = 1, max_size: int = 10000) -> "Vocabulary":
        """The most frequent tokens (ties broken alphabetically, so builds repeat exactly)."""
        kept = sorted((t for t, c in counts.items() if c >= min_freq and t not in RESERVED),
                      key=lambda t: (-counts[t], t))
        return cls(list(RESERVED) + kept[: max(0, max_size - len(RESERVED))])

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: Iterable[str], add_start: bool = False, add_end: bool = False) -> list[int]:
        """Token ids, unknown tokens as <unk>; optionally framed by <start>/<end>."""
        unk = self.index[UNK]
        ids = [self.index.get(t, unk) for t in tokens]
        return ([self.index[START]] if add_start else []) + ids + ([self.index[END]] if add_end else [])

    def decode(self, ids: Iterable[int], stop_at_end: bool = True) -> list[str]:
        """Tokens for ids, without padding and <start>; stops at <end> by default."""
        out = []
        for i in ids:
            token = self.tokens[int(i)] if 0 <= int(i) < len(self.tokens) else UNK
            if token == END and stop_at_end:
                break
            if token not in (PAD, START):
                out.append(token)
        return out

    def tokenize(self, text: str, level: str = "word", lowercase: bool = True) -> list[str]:
        """A text as the tokens this vocabulary holds (see tokenize); a subword vocabulary splits it itself."""
        return tokenize(text, level, lowercase)

    def detokenize(self, tokens: Iterable[str], level: str = "word") -> str:
        """Tokens of this vocabulary joined back into text (see detokenize)."""
        return detokenize(tokens, level)

    def save(self, path: Path) -> None:
        Path(path).write_text("\n".join(self.tokens) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Vocabulary":
        return cls(Path(path).read_text(encoding="utf-8").rstrip("\n").split("\n"))


def encode_prompt(prompt: str, vocab: Vocabulary, text_cfg) -> tuple[list[int], list[str], list[str]]:
    """A user's text as ids, its tokens as the model sees them (unknown ones as <unk>), and the unknown words."""
    tokens = vocab.tokenize(prompt, text_cfg.level, text_cfg.lowercase)
    unknown = [t for t in tokens if t not in vocab.index]
    return vocab.encode(tokens), [t if t in vocab.index else UNK for t in tokens], unknown
