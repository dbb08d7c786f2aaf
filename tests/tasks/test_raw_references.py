"""Translations are scored against the references as written, not against the target ids read back."""

from __future__ import annotations

import pytest

from crossmodal_tf.data.pipeline import make_dataset
from crossmodal_tf.preprocessing import preprocess
from crossmodal_tf.data.text import Vocabulary
from crossmodal_tf.tasks.seq2seq import sources_with_references

# long Chinese sentences with punctuation, a Latin word and characters seen once: read back from ids cut at
# max_length 6 with min_freq 2, they would be short, unpunctuated and full of <unk>
PAIRS = [(f"Sentence {i}: the GDP grew by {i} percent!", f"第{i}句：GDP增长了百分之{i}，{'甲乙丙丁戊己庚辛'[i % 8]}。")
         for i in range(40)]


@pytest.fixture
def processed_pairs(tiny_config, tmp_path):
    """(config, preprocess stats, target vocabulary) of PAIRS as a parallel folder, targets cut at 6 characters."""
    folder = tmp_path / "pairs"
    folder.mkdir()
    for name, rows in (("train.tsv", PAIRS[:30]), ("test.tsv", PAIRS[30:])):
        (folder / name).write_text("".join(f"{en}\t{zh}\n" for en, zh in rows), encoding="utf-8")
    config = tiny_config("task=seq2seq", "data.source=parallel", f"data.path={folder}",
                         "data.target_text={level: char, max_length: 6, min_freq: 2}", "model.attention=luong",
                         "data.split.val=0.1")
    stats = preprocess(config, quiet=True)
    target_vocab = Vocabulary.load(config.processed_dir / "target_vocab.txt")
    return config, stats, target_vocab


def test_references_are_the_raw_target_texts(processed_pairs):
    """sources_with_references gives each test sentence its raw reference: not cut at max_length, no <unk>,
    punctuation and case kept, and the raw source sentence beside it."""
    config, stats, target_vocab = processed_pairs
    dataset = make_dataset(config.processed_dir, "test", stats["counts"]["test"], 4, None, raw_text=True)
    sources, references = sources_with_references(dataset, target_vocab, "char")

    assert sorted(sources.raw) == sorted(en for en, _ in PAIRS[30:])
    by_source = dict(zip(sources.raw, references))
    assert all(by_source[en] == [zh] for en, zh in PAIRS[30:])
    assert not any("<unk>" in ref for refs in references for ref in refs)


def test_folders_without_raw_texts_fall_back_to_the_ids(processed_pairs):
    """A dataset without the raw texts (read without raw_text, as from a folder written before they were stored)
    gives the references read back from the ids, and Sources.raw None, which evaluate reports as "ids"."""
    config, stats, target_vocab = processed_pairs
    dataset = make_dataset(config.processed_dir, "test", stats["counts"]["test"], 4, None)
    sources, references = sources_with_references(dataset, target_vocab, "char")
    assert sources.raw is None
    assert all(len(ref) <= 6 for refs in references for ref in refs)
