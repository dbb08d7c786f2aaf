"""Subword vocabularies: SentencePiece's ids are the vocabulary's, training repeats, bad sizes and files are named."""

from __future__ import annotations

import pickle

import pytest

from crossmodal_tf.config.sections import TextConfig
from crossmodal_tf.data.subword import SubwordVocabulary, train_subword
from crossmodal_tf.data.text import RESERVED, UNK, normalize
from crossmodal_tf.errors import CmxError

COLOURS = {"red": "红", "blue": "蓝", "green": "绿"}
ENGLISH = [f"Number {i} is {c}!" for i, c in zip(range(80), list(COLOURS) * 27)]
CHINESE = [f"第{i}号是{COLOURS[c]}色的。" for i, c in zip(range(80), list(COLOURS) * 27)]


def _train(texts, vocab_size=286, model_type="unigram", seed=1) -> SubwordVocabulary:
    cfg = TextConfig(level="subword", vocab_size=vocab_size, model_type=model_type)
    return train_subword([normalize(t) for t in texts], cfg, seed, "data.text")


@pytest.fixture(scope="module")
def chinese():
    return _train(CHINESE, vocab_size=280)


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_sentencepiece_ids_are_the_vocabulary_ids(model_type):
    import sentencepiece

    vocab = _train(ENGLISH, model_type=model_type)
    processor = sentencepiece.SentencePieceProcessor(model_proto=vocab.model)
    assert tuple(vocab.tokens[:4]) == RESERVED and len(vocab) == 286
    for text in ENGLISH[:10] + ["an unseen zebra"]:
        pieces = vocab.tokenize(text)
        assert vocab.encode(pieces) == processor.encode(normalize(text))
        assert vocab.detokenize(vocab.decode(vocab.encode(pieces, add_start=True, add_end=True))) == normalize(text)


def test_unseen_characters_become_bytes_not_unk(chinese):
    text = "第9号是紫色的"  # 紫 is in no training text
    ids = chinese.encode(chinese.tokenize(text))
    assert chinese.index[UNK] not in ids
    assert chinese.detokenize(chinese.decode(ids)) == text


def test_training_repeats_and_the_vocabulary_pickles(chinese):
    assert _train(CHINESE, vocab_size=280).model == chinese.model
    copy = pickle.loads(pickle.dumps(chinese))  # as preprocess's worker processes get it
    assert copy.tokens == chinese.tokens and copy.tokenize(CHINESE[3]) == chinese.tokenize(CHINESE[3])


@pytest.mark.parametrize("size, expected", [(5000, "set at most"), (100, "set at least")])
def test_a_vocab_size_the_text_cannot_fill_names_the_key(size, expected):
    with pytest.raises(CmxError, match=rf"^data\.text\.vocab_size: {size} .*{expected} \d+$"):
        _train(ENGLISH, vocab_size=size)


def test_a_missing_corrupt_or_foreign_model_file_is_named(tmp_path, chinese):
    vocab_txt = tmp_path / "vocab.txt"
    chinese.save(vocab_txt)
    model = tmp_path / "spm.model"
    with pytest.raises(CmxError, match="spm.model: the SentencePiece model .* is missing"):
        SubwordVocabulary.read(model, vocab_txt)
    model.write_bytes(chinese.model[:100])
    with pytest.raises(CmxError, match="spm.model: not a SentencePiece model"):
        SubwordVocabulary.read(model, vocab_txt)
    model.write_bytes(_train(ENGLISH).model)
    with pytest.raises(CmxError, match="spm.model: its pieces differ from vocab.txt"):
        SubwordVocabulary.read(model, vocab_txt)
    model.write_bytes(chinese.model)
    assert SubwordVocabulary.read(model, vocab_txt).tokens == chinese.tokens


def test_subword_keys_belong_to_level_subword():
    assert TextConfig(level="subword").vocab_size == 8000 and TextConfig(level="subword").model_type == "unigram"
    with pytest.raises(ValueError, match="vocab_size\n.*read with level subword only"):
        TextConfig(level="word", vocab_size=100)
    with pytest.raises(ValueError, match="min_freq\n.*not read with level subword"):
        TextConfig(level="subword", min_freq=2)
