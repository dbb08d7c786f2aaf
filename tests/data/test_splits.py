"""Predefined splits: preprocess honours Record.split, and draws a split the source lacks from its train records."""

from __future__ import annotations

import hashlib
from collections import Counter
from types import SimpleNamespace

from PIL import Image

from crossmodal_tf.preprocessing import preprocess, record_split, source_splits, split_of
from crossmodal_tf.data.records import Record
from crossmodal_tf.data.text import Vocabulary

FRACTIONS = SimpleNamespace(val=0.2, test=0.3)


def record(key: str, split: str | None) -> Record:
    return Record(key=key, captions=("x",), load_image=print, split=split)


def test_a_record_without_split_is_hashed_as_before():
    keys = [f"k{i}" for i in range(500)]
    assert [record_split(record(k, None), 3, FRACTIONS) for k in keys] == [split_of(k, 3, 0.2, 0.3) for k in keys]


def test_predefined_val_and_test_are_kept_whatever_the_fractions():
    for split in ("val", "test"):
        assert {record_split(record(f"k{i}", split), 3, FRACTIONS, frozenset({"train", split}))
                for i in range(200)} == {split}
    everything = frozenset({"train", "val", "test"})
    assert {record_split(record(f"k{i}", "train"), 3, FRACTIONS, everything) for i in range(500)} == {"train"}


def test_val_is_drawn_from_train_when_the_source_has_only_train_and_test():
    """train records go to val when their key hashes below data.split.val; never to test (test is given)."""
    given = frozenset({"train", "test"})
    keys = [f"image-{i}" for i in range(4000)]
    splits = [record_split(record(k, "train"), 3, FRACTIONS, given) for k in keys]
    assert splits == [record_split(record(k, "train"), 3, FRACTIONS, given) for k in keys]  # deterministic
    share = Counter(splits)
    assert set(share) == {"train", "val"} and abs(share["val"] / len(keys) - FRACTIONS.val) < 0.03
    for key, split in zip(keys, splits):
        assert (split == "val") == (split_of(key, 3, FRACTIONS.val, 0.0) == "val")


def test_a_source_with_only_train_gets_val_and_test_by_hash():
    keys = [f"image-{i}" for i in range(300)]
    assert ([record_split(record(k, "train"), 3, FRACTIONS, frozenset({"train"})) for k in keys]
            == [split_of(k, 3, FRACTIONS.val, FRACTIONS.test) for k in keys])


def test_source_splits_asks_the_source():
    assert source_splits(SimpleNamespace(), None) == frozenset()  # shapes: no predefined splits
    assert source_splits(SimpleNamespace(predefined_splits=lambda d: {"train", "test"}), None) == {"train", "test"}


def test_preprocess_honours_manifest_splits_and_draws_val_from_train(tiny_config, tmp_path):
    """20 train and 10 test images by their rows: test holds exactly the 10 whatever data.split.test says,
    val is the train images whose key hashes below data.split.val, and only train words make the vocabulary."""
    folder = tmp_path / "m"
    folder.mkdir()
    rows, expected = [], Counter()
    for i in range(30):
        Image.new("RGB", (8, 8), (i * 8, 0, 0)).save(folder / f"{i}.png")
        split = "test" if i % 3 == 0 else "train"
        rows.append(f"{i}.png,word{i} shared,{split}\n")
        key = hashlib.sha1(f"{i}.png".encode()).hexdigest()[:16]
        expected[split if split == "test" else split_of(key, 7, 0.3, 0.0)] += 1
    (folder / "captions.csv").write_text("image,caption,split\n" + "".join(rows), encoding="utf-8")
    config = tiny_config("data.source=manifest", f"data.path={folder}", "data.image.size=8",
                         "data.split.val=0.3", "data.split.test=0.05")
    stats = preprocess(config)
    assert stats["images"] == {"train": expected["train"], "val": expected["val"], "test": 10}
    assert expected["val"] > 0
    vocab = set(Vocabulary.load(config.processed_dir / "vocab.txt").tokens)
    assert {f"word{i}" for i in range(0, 30, 3)}.isdisjoint(vocab)  # test captions
    assert sum(f"word{i}" in vocab for i in range(30)) == expected["train"]
