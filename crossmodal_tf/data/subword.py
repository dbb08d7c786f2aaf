"""Subword vocabularies: a SentencePiece model trained on the train split, whose piece ids are the vocabulary's ids.

Id mapping: the model is trained with its special pieces at the ids and under the names of
data.text's reserved tokens (pad_id 0 "<pad>", unk_id 1 "<unk>", bos_id 2 "<start>", eos_id 3
"<end>"). SentencePiece's id of every piece is then its line in vocab.txt, so the shards, the
models, Vocabulary.encode/decode and the exported graph's SentencePiece op share one id space and
nothing translates between them (shifting SentencePiece's ids past ours would need the shift again
in every graph that serves). SentencePiece itself emits none of them but <unk> (the other three are
control pieces): framing texts with <start>/<end> stays Vocabulary.encode's, as for words.

Texts are normalised as for words and characters first (data.text.normalize: NFKC, lowercase,
punctuation dropped), so the levels differ only in how the same text is cut (outputs are scored
against the raw reference texts the shards also store, whatever the level). Byte fallback is on: a
character the model does not cover becomes its UTF-8 bytes (256 byte pieces, counted in vocab_size),
not <unk>, and decoding joins the bytes back into the character.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Iterable

from crossmodal_tf.data.text import END, PAD, START, UNK, Vocabulary, normalize
from crossmodal_tf.errors import CmxError

MODEL_FILES = {"text": "spm.model", "target_text": "target_spm.model"}  # beside vocab.txt / target_vocab.txt
# SentencePiece's advice for languages with large character sets such as Chinese; the rarest 0.05% of
# character occurrences are left to byte fallback rather than each taking a piece of their own
CHARACTER_COVERAGE = 0.9995
_TOO_MANY = re.compile(r"Vocabulary size too high \((\d+)\)\. Please set it to a value <= (\d+)")
_TOO_FEW = re.compile(r"Vocabulary size is smaller than required_chars\. (\d+) vs (\d+)")


class SubwordVocabulary(Vocabulary):
    """The pieces of a SentencePiece model as a Vocabulary: tokenize cuts texts into pieces, detokenize joins them."""

    def __init__(self, model: bytes):
        import sentencepiece

        self.model = bytes(model)
        # RuntimeError when the bytes are no SentencePiece model
        self._processor = sentencepiece.SentencePieceProcessor(model_proto=self.model)
        super().__init__(self._processor.id_to_piece(i) for i in range(self._processor.get_piece_size()))

    def tokenize(self, text: str, level: str = "subword", lowercase: bool = True) -> list[str]:
        """The normalised text's pieces (level is always subword here)."""
        return self._processor.encode(normalize(text, lowercase), out_type=str)

    def detokenize(self, tokens: Iterable[str], level: str = "subword") -> str:
        """Pieces joined into text: word boundaries restored, byte pieces joined into their characters."""
        return self._processor.decode_pieces(list(tokens))

    # the processor does not pickle; preprocess's worker processes get the model's bytes and load their own
    def __getstate__(self) -> dict:
        return {"model": self.model}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["model"])

    @classmethod
    def read(cls, model_path: Path, vocab_path: Path) -> "SubwordVocabulary":
        """The model in model_path; a CmxError naming the file when it is missing, corrupt or not vocab_path's."""
        model_path = Path(model_path)
        if not model_path.is_file():
            raise CmxError(f"{model_path}: the SentencePiece model of the run's subword vocabulary is missing")
        try:
            vocab = cls(model_path.read_bytes())
        except RuntimeError:
            raise CmxError(f"{model_path}: not a SentencePiece model (the file is corrupt)") from None
        if Path(vocab_path).is_file() and vocab.tokens != Vocabulary.load(vocab_path).tokens:
            raise CmxError(f"{model_path}: its pieces differ from {Path(vocab_path).name}; "
                           "the model is another run's, or one of the files was changed")
        return vocab


def train_subword(texts: list[str], cfg, seed: int, key: str) -> SubwordVocabulary:
    """A SentencePiece model of normalised texts with cfg's vocab_size and model_type, the same for the same seed.

    A vocab_size the texts cannot fill, or too small for their characters, is a CmxError
    naming `key`.vocab_size ("data.text.vocab_size").
    """
    import sentencepiece

    if not any(texts):
        raise CmxError(f"{key}: level subword: the train split has no text to learn pieces from")
    sentencepiece.set_random_generator_seed(seed)  # only sampling of sentences draws random numbers
    out = io.BytesIO()
    try:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_writer=out, vocab_size=cfg.vocab_size, model_type=cfg.model_type,
            character_coverage=CHARACTER_COVERAGE, byte_fallback=True, pad_id=0, unk_id=1, bos_id=2, eos_id=3,
            pad_piece=PAD, unk_piece=UNK, bos_piece=START, eos_piece=END, minloglevel=2)
    except RuntimeError as exc:
        too_many, too_few = _TOO_MANY.search(str(exc)), _TOO_FEW.search(str(exc))
        if too_many:
            raise CmxError(f"{key}.vocab_size: {cfg.vocab_size} is more pieces than the train split's text makes "
                           f"for a {cfg.model_type} model; set at most {too_many.group(2)}") from None
        if too_few:
            raise CmxError(f"{key}.vocab_size: {cfg.vocab_size} is fewer pieces than the train split's characters "
                           f"and 256 byte pieces take; set at least {too_few.group(2)}") from None
        raise
    return SubwordVocabulary(out.getvalue())
