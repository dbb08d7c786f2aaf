"""The summarize task: its document/summary pairs, its vocabulary texts, and the lead baseline's length."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.records import Record
from crossmodal_tf.data.sources.shapes import make_record
from crossmodal_tf.data.text import Vocabulary
from crossmodal_tf.errors import CmxError
from crossmodal_tf.tasks import summarize


def no_image():
    raise AssertionError("summarize never loads pixels")


def test_a_shapes_document_is_paired_with_each_caption_of_its_scene():
    record = make_record(3, seed=42)
    examples = summarize.make_examples(record, None, None, None, None)
    assert examples == [(record.document, 1, "positive", caption) for caption in record.captions]


def test_a_sentence_pair_is_read_as_document_and_summary():
    """The parallel source's records (a source sentence as caption, its target as translation) need no change."""
    record = Record(key="pair-1", captions=("a long e-mail body about the meeting",), load_image=no_image,
                    translation="meeting")
    assert summarize.make_examples(record, None, None, None, None) == [
        ("a long e-mail body about the meeting", 1, "positive", "meeting")]
    assert summarize.vocab_texts(record) == (["a long e-mail body about the meeting"], ["meeting"])


def test_a_record_without_document_or_pair_makes_no_examples():
    record = Record(key="img", captions=("a red circle",), load_image=no_image)
    assert summarize.make_examples(record, None, None, None, None) == []


def test_the_vocabularies_count_each_document_once_and_every_summary():
    record = make_record(5, seed=42)
    documents, summaries = summarize.vocab_texts(record)
    assert documents == [record.document] and summaries == list(record.captions)


def test_summarize_needs_a_source_with_documents():
    assert validate_config({"task": "summarize", "data": {"source": "shapes"}}).data.source == "shapes"
    with pytest.raises(CmxError, match="data.source: task summarize needs documents .*; manifest has none"):
        validate_config({"task": "summarize", "data": {"source": "manifest"}})


def test_summaries_are_words_unless_the_config_says_otherwise():
    assert validate_config({"task": "summarize"}).data.target_text.level == "word"
    assert validate_config({"task": "seq2seq"}).data.target_text.level == "char"
    given = {"task": "summarize", "data": {"target_text": {"level": "char"}}}
    assert validate_config(given).data.target_text.level == "char"


# --- the lead baseline's length ------------------------------------------------------------------------
VOCAB = Vocabulary.build(Counter("one two three four five six seven".split()))


def batches(*summaries: str) -> list[dict]:
    """A dataset of one batch whose "target" rows are the summaries, framed and padded as preprocess stores them."""
    import tensorflow as tf

    rows = [VOCAB.encode(s.split(), add_start=True, add_end=True) for s in summaries]
    width = max(len(r) for r in rows)
    return [{"target": tf.constant(np.array([r + [0] * (width - len(r)) for r in rows], np.int32))}]


def test_summary_length_is_the_mean_word_count_rounded_half_up():
    assert summarize.summary_length(batches("one two", "one two three"), VOCAB, "word") == 3  # 2.5 → 3
    assert summarize.summary_length(batches("one", "one two", "one two"), VOCAB, "word") == 2  # 1.67 → 2


def test_the_lead_length_comes_from_the_train_split_whatever_split_is_evaluated():
    datasets = {"train": batches("one two three four", "one two"), "test": batches("one", "one")}
    run = SimpleNamespace(dataset=datasets.__getitem__, target_vocab=VOCAB,
                          config=SimpleNamespace(data=SimpleNamespace(target_text=SimpleNamespace(level="word"))))
    assert summarize.lead_length(run) == 3
