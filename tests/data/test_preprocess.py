"""The preprocess stage and the tf.data pipeline on a tiny shapes dataset."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossmodal_tf.data import encode as encode_module
from crossmodal_tf.data.pairs import EXAMPLE_KINDS
from crossmodal_tf.data.encode import AUTO_POOL_MIN_IMAGES, MAX_AUTO_WORKERS, resolve_workers
from crossmodal_tf.preprocessing import NOVEL_KEYS, SPLITS, TextScan, preprocess, shard_count, split_of
from crossmodal_tf.data.shards import auto_shard_count, shard_paths
from crossmodal_tf.data.sources.shapes import make_record, read_records
from crossmodal_tf.data.text import RESERVED, Vocabulary, normalize, tokenize
from crossmodal_tf.errors import CmxError
from tests.conftest import TINY_CONFIG

NUM_IMAGES = 80


def read_examples(processed: Path, split: str) -> list[dict]:
    """Every example of a split's shards, parsed with tf.data (as a user's own script would)."""
    import tensorflow as tf

    spec = {"key": tf.io.FixedLenFeature([], tf.string), "kind": tf.io.FixedLenFeature([], tf.int64),
            "label": tf.io.FixedLenFeature([1], tf.int64), "text": tf.io.VarLenFeature(tf.int64),
            "image": tf.io.FixedLenFeature([], tf.string)}
    files = [str(p) for p in shard_paths(processed, split)]
    examples = []
    for serialized in tf.data.TFRecordDataset(files):
        parsed = tf.io.parse_single_example(serialized, spec)
        examples.append({"key": parsed["key"].numpy().decode(), "kind": EXAMPLE_KINDS[int(parsed["kind"])],
                         "label": int(parsed["label"][0]), "text": parsed["text"].values.numpy().tolist(),
                         "image": parsed["image"].numpy()})
    return examples


@pytest.fixture(scope="module")
def processed(tmp_path_factory, tiny_loader):
    """The tiny shapes config preprocessed once: (config, stats, {split: examples})."""
    config = tiny_loader(tmp_path_factory.mktemp("shapes"), f"data.shapes.num_images={NUM_IMAGES}")
    stats = preprocess(config)
    examples = {split: read_examples(config.processed_dir, split) for split in SPLITS}
    return config, stats, examples


# --- splits ------------------------------------------------------------------------------
def test_no_image_in_two_splits(processed):
    """An image key appears in one split only, the one split_of assigns it."""
    config, _, examples = processed
    keys = {split: {e["key"] for e in examples[split]} for split in SPLITS}
    assert keys["train"] and keys["val"] and keys["test"]
    assert not keys["train"] & keys["val"] and not keys["train"] & keys["test"] and not keys["val"] & keys["test"]
    novel = novel_keys(config)
    for split in SPLITS:
        for key in keys[split]:  # an image with a held-out combination goes to test (data.shapes.held_out)
            expected = "test" if key in novel else split_of(key, config.seed, config.data.split.val,
                                                            config.data.split.test)
            assert expected == split
    assert len(keys["train"] | keys["val"] | keys["test"]) == NUM_IMAGES  # every image is used


def novel_keys(config) -> set[str]:
    return set((config.processed_dir / NOVEL_KEYS).read_text(encoding="utf-8").split())


def shows_red_triangle(index: int, config) -> bool:
    scene = make_record(index, config.seed, 32, config.data.shapes.two_object_fraction, questions=False,
                        document=False).scene
    return any(o.colour == "red" and o.shape == "triangle" for o in scene.objects)


def test_novel_flag_is_set_exactly_for_test_scenes_with_a_held_out_combination(processed):
    config, stats, examples = processed
    assert config.data.shapes.held_out == ["red triangle"]  # the default
    showing = {f"shapes-{i:07d}" for i in range(NUM_IMAGES) if shows_red_triangle(i, config)}
    assert showing and novel_keys(config) == showing
    test_keys = {e["key"] for e in examples["test"]}
    assert showing <= test_keys and test_keys - showing  # test keeps seen images beside the novel ones
    assert stats["held_out"] == ["red triangle"]
    assert stats["novel_images"] == {"train": 0, "val": 0, "test": len(showing)}


def test_train_and_val_never_show_or_name_a_held_out_combination(processed):
    config, _, examples = processed
    vocab = Vocabulary.load(config.processed_dir / "vocab.txt")
    for split in ("train", "val"):
        for example in examples[split]:
            assert not shows_red_triangle(int(example["key"].split("-")[1]), config)
            assert "red triangle" not in " ".join(vocab.decode(example["text"])), example


def test_split_of_is_stable_and_follows_fractions():
    """split_of depends only on (seed, key) and gives roughly the configured fractions."""
    keys = [f"img-{i}" for i in range(4000)]
    first = [split_of(k, 1, 0.1, 0.2) for k in keys]
    assert first == [split_of(k, 1, 0.1, 0.2) for k in keys]
    share = Counter(first)
    assert abs(share["val"] / 4000 - 0.1) < 0.03 and abs(share["test"] / 4000 - 0.2) < 0.03
    assert first != [split_of(k, 2, 0.1, 0.2) for k in keys]
    assert set(split_of(k, 1, 0.0, 0.0) for k in keys) == {"train"}


# --- stats.json --------------------------------------------------------------------------
def test_stats_json_counts_and_histogram(processed):
    """stats.json counts per split equal the examples in the shards; the histogram covers them all."""
    config, stats, examples = processed
    written = json.loads((config.processed_dir / "stats.json").read_text(encoding="utf-8"))
    assert written["counts"] == {split: len(examples[split]) for split in SPLITS}
    assert stats["counts"] == written["counts"] and stats["reused"] is False
    for split in SPLITS:
        assert sum(written["examples_by_kind"][split].values()) == written["counts"][split]
        assert written["images"][split] == len({e["key"] for e in examples[split]})
    histogram = {int(k): v for k, v in written["caption_length_histogram"].items()}
    assert sum(histogram.values()) == sum(written["counts"].values())
    lengths = Counter(len(e["text"]) for split in SPLITS for e in examples[split])
    assert histogram == dict(lengths)
    assert written["skipped"] == {"count": 0, "by_reason": {}, "first": []}
    assert written["vocab_size"] == len(Vocabulary.load(config.processed_dir / "vocab.txt"))
    assert written["num_shards"] == {split: config.data.num_shards for split in SPLITS}
    assert len(list(shard_paths(config.processed_dir, "train"))) == config.data.num_shards


def test_labels_follow_kinds(processed):
    """Positives are labelled 1 and both kinds of negatives 0."""
    _, _, examples = processed
    for split in SPLITS:
        for example in examples[split]:
            assert example["label"] == (1 if example["kind"] == "positive" else 0)


def test_vocabulary_is_the_train_split_tokens(processed):
    """vocab.txt holds exactly the tokens of train-split captions (plus the reserved ones)."""
    config, _, _ = processed
    data = config.data
    tokens = set()
    for record in read_records(data, config.seed):
        if split_of(record.key, config.seed, data.split.val, data.split.test) == "train":
            for caption in record.captions:
                tokens.update(tokenize(caption)[: data.text.max_length])
    vocab = Vocabulary.load(config.processed_dir / "vocab.txt")
    assert vocab.tokens[:4] == list(RESERVED)
    assert set(vocab.tokens[4:]) == tokens


def test_examples_decode_to_the_records_captions(processed):
    """Positive texts decode to a caption of their image; hard negatives to none of them."""
    config, _, examples = processed
    vocab = Vocabulary.load(config.processed_dir / "vocab.txt")
    records = {r.key: r for r in read_records(config.data, config.seed)}
    kinds = Counter()
    for example in examples["train"]:
        text = " ".join(vocab.decode(example["text"]))
        own = {normalize(c) for c in records[example["key"]].captions}
        kinds[example["kind"]] += 1
        if example["kind"] == "positive":
            assert text in own
        else:
            assert text not in own
    assert kinds["positive"] and kinds["hard_negative"] and kinds["random_negative"]


def test_stored_pixels_are_the_source_pixels(processed):
    """The uint8 pixels in the shards are the generator's image for that key."""
    config, _, examples = processed
    for example in examples["val"][:5]:
        index = int(example["key"].split("-")[1])
        record = make_record(index, config.seed, config.data.shapes.image_size)
        expected = np.asarray(record.load_image())
        size = config.data.image.size
        stored = np.frombuffer(example["image"], dtype=np.uint8).reshape(size, size, 3)
        np.testing.assert_array_equal(stored, expected)


@pytest.mark.parametrize("ratio, hard_fraction", [(1.0, 0.5), (2.0, 0.0), (0.5, 1.0)])
def test_negatives_ratio_and_hard_fraction(tiny_config, ratio, hard_fraction):
    """negatives = ratio x positives; a hard_fraction share of them changes one attribute."""
    config = tiny_config("data.shapes.num_images=50", "data.split.val=0", "data.split.test=0",
                         "data.shapes.held_out=[]",  # every image in train
                         f"data.negatives.ratio={ratio}", f"data.negatives.hard_fraction={hard_fraction}")
    kinds = preprocess(config)["examples_by_kind"]["train"]
    positives = kinds["positive"]
    assert positives == 50 * config.data.negatives.positives_per_image
    negatives = kinds.get("hard_negative", 0) + kinds.get("random_negative", 0)
    assert negatives == ratio * positives
    share = kinds.get("hard_negative", 0) / negatives
    assert abs(share - hard_fraction) <= 0.15


def test_max_length_truncates_texts(tiny_config):
    """No stored text is longer than data.text.max_length tokens."""
    config = tiny_config("data.shapes.num_images=10", "data.text.max_length=3", "data.split.val=0",
                         "data.split.test=0")
    stats = preprocess(config)
    assert max(int(k) for k in stats["caption_length_histogram"]) == 3
    assert all(len(e["text"]) <= 3 for e in read_examples(config.processed_dir, "train"))


def test_char_level_vocabulary(tiny_config):
    """data.text.level: char builds a vocabulary of characters."""
    config = tiny_config("data.shapes.num_images=10", "data.text.level=char", "data.split.val=0",
                         "data.split.test=0")
    preprocess(config)
    vocab = Vocabulary.load(config.processed_dir / "vocab.txt")
    assert all(len(token) == 1 for token in vocab.tokens[4:])
    assert "a" in vocab.index


def test_vocabulary_ignores_val_and_test_words(tiny_config, tmp_path):
    """Words that only val/test captions use are not in the vocabulary (they become <unk>)."""
    folder = tmp_path / "unique"
    folder.mkdir()
    rows = []
    for i in range(30):
        Image.new("RGB", (8, 8), (i * 8, 0, 0)).save(folder / f"{i}.png")
        rows.append(f"{i}.png,shared word{i}\n")
    (folder / "captions.csv").write_text("image,caption\n" + "".join(rows), encoding="utf-8")
    config = tiny_config("data.source=manifest", f"data.path={folder}", "data.image.size=8",
                         "data.split.val=0.3", "data.split.test=0.3")
    preprocess(config)
    vocab = set(Vocabulary.load(config.processed_dir / "vocab.txt").tokens)
    splits = {i: split_of(hashlib.sha1(f"{i}.png".encode()).hexdigest()[:16], config.seed, 0.3, 0.3)
              for i in range(30)}
    assert set(splits.values()) == set(SPLITS)
    for i, split in splits.items():
        assert (f"word{i}" in vocab) == (split == "train"), (i, split)
    assert "shared" in vocab


# --- worker processes and shard counts ----------------------------------------------------
def preprocessed_files(config, stats) -> tuple[dict, dict]:
    """Every file of a preprocessed folder but stats.json, as bytes, and the stats less how and when they were made."""
    files = {p.name: p.read_bytes() for p in sorted(config.processed_dir.iterdir()) if p.name != "stats.json"}
    how = ("seconds", "seconds_by_pass", "created", "workers", "reused")
    return files, {k: v for k, v in stats.items() if k not in how}


def small_manifest(folder: Path, images: int = 40) -> Path:
    """A folder of tiny PNGs with two captions each in captions.csv; one image unreadable and one row without an
    image (each skipped and counted once)."""
    folder.mkdir()
    rows = []
    for i in range(images):
        Image.new("RGB", (8, 8), (i * 6, 255 - i * 6, 0)).save(folder / f"{i}.png")
        rows += [f"{i}.png,a red thing number {i}\n", f"{i}.png,something {i % 7} here\n"]
    (folder / "7.png").write_bytes(b"not a png")
    rows.insert(30, ",a row that names no image\n")
    (folder / "captions.csv").write_text("image,caption\n" + "".join(rows), encoding="utf-8")
    return folder


@pytest.mark.slow  # starts worker processes: ~10 s each
@pytest.mark.parametrize("source", ["shapes", "manifest"])
def test_workers_write_the_same_shards(tmp_path, tiny_loader, monkeypatch, source):
    """1, 2 and 3 workers write byte-identical shards, vocabularies and stats, for both random-access sources (the
    workers scan parts, make whole records and write their own shards); and so does a source read by the parent."""
    import crossmodal_tf.preprocessing as module

    monkeypatch.setattr(module, "MIN_SCAN_BLOCK", 15)  # several pass-1 parts, the last one shorter
    sets = (["data.shapes.num_images=90", "data.num_shards=4"] if source == "shapes" else
            ["data.source=manifest", f"data.path={small_manifest(tmp_path / 'images')}", "data.image.size=8",
             "data.num_shards=3"])
    outputs = []
    for workers in (1, 2, 3):
        config = tiny_loader(tmp_path, *sets, f"data.workers={workers}",
                             f"data.processed={tmp_path / source / str(workers)}")
        stats = preprocess(config)
        assert stats["workers"] == workers
        outputs.append(preprocessed_files(config, stats))
    if source == "shapes":  # the CLI, which never imports TensorFlow, forks its workers (and scans in other blocks)
        folder = tmp_path / source / "cli"
        overrides = (*sets, "data.workers=2", f"data.processed={folder}", f"data.path={tmp_path / 'raw'}")
        subprocess.run([sys.executable, "-m", "crossmodal_tf.cli.main", "preprocess", str(TINY_CONFIG), "--quiet",
                        *(part for override in overrides for part in ("--set", override))], check=True)
        forked = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
        assert forked["workers"] == 2
        outputs.append(preprocessed_files(tiny_loader(tmp_path, f"data.processed={folder}"), forked))
    else:  # the same manifest as if it could not be read in parts: the parent reads it and writes the shards
        monkeypatch.setattr(module, "is_random_access", lambda source: False)
        for workers in (1, 2):
            config = tiny_loader(tmp_path, *sets, f"data.workers={workers}",
                                 f"data.processed={tmp_path / source / f'streamed-{workers}'}")
            outputs.append(preprocessed_files(config, preprocess(config)))
    files, stats = outputs[0]
    assert all(output == outputs[0] for output in outputs[1:])
    assert {name for name in files if name.endswith(".tfrecord")} == {
        f"{split}-{i:05d}-of-{stats['num_shards']['train']:05d}.tfrecord" for split in SPLITS
        for i in range(stats["num_shards"]["train"])}
    assert stats["skipped"]["count"] == (2 if source == "manifest" else 0)
    # the number of workers decides how, not what: the output stays up to date
    assert preprocess(tiny_loader(tmp_path, *sets, "data.workers=2", "data.cache=none",
                                  f"data.processed={tmp_path / source / '1'}"))["reused"] is True


def test_an_image_s_examples_go_to_the_shard_of_its_position(processed):
    """Shard k of every split holds the examples of the images at positions k, k + num_shards, … and nothing else."""
    import tensorflow as tf

    config, stats, _ = processed
    count = stats["num_shards"]["train"]
    for split in SPLITS:
        for k, path in enumerate(shard_paths(config.processed_dir, split)):
            for serialized in tf.data.TFRecordDataset(str(path)):
                key = tf.io.parse_single_example(serialized, {"key": tf.io.FixedLenFeature([], tf.string)})["key"]
                assert int(key.numpy().decode().split("-")[1]) % count == k


def test_shards_are_the_bytes_tensorflow_writes(tmp_path):
    """RecordFile frames records (lengths, masked CRC-32C) exactly as tf.io.TFRecordWriter does."""
    import tensorflow as tf

    from crossmodal_tf.data.shards import RecordFile

    records = [b"", b"abc", bytes(range(256)) * 40]
    with tf.io.TFRecordWriter(str(tmp_path / "tf.tfrecord")) as writer:
        for record in records:
            writer.write(record)
    ours = RecordFile(tmp_path / "ours.tfrecord")
    for record in records:
        ours.write(record)
    ours.close()
    assert (tmp_path / "ours.tfrecord").read_bytes() == (tmp_path / "tf.tfrecord").read_bytes()


def test_workers_are_forked_unless_tensorflow_is_imported(monkeypatch):
    """Forked workers start at once; with TensorFlow's threads in the process they are spawned instead."""
    import sys

    from crossmodal_tf.data.workers import start_method

    monkeypatch.setitem(sys.modules, "tensorflow", sys)
    assert start_method() == "spawn"
    monkeypatch.delitem(sys.modules, "tensorflow")
    assert start_method() == "fork"


def test_auto_workers():
    """auto: one worker per core (at most 8), but in-process for a dataset too small to pay for the start."""
    assert resolve_workers(3, 10) == 3
    assert resolve_workers("auto", AUTO_POOL_MIN_IMAGES - 1) == 1
    assert 1 <= resolve_workers("auto", 10**6) <= MAX_AUTO_WORKERS


def test_auto_shard_count_arithmetic():
    """One shard per 100 MB, rounded up, and never fewer than 4."""
    mb = 10**6
    assert [auto_shard_count(n) for n in (0, 1, 400 * mb, 401 * mb, 1000 * mb, 1001 * mb)] == [4, 4, 4, 5, 10, 11]


def test_auto_shard_count_follows_the_largest_split(tiny_config):
    """num_shards auto estimates each split's bytes from pass 1's captions, examples per caption and image size;
    every split gets the count of the largest (a worker writes shard k of every split)."""
    scan = TextScan(Counter(), Counter(), Counter(), Counter(train=150_000, val=20_000, test=0), {})
    config = tiny_config("data.num_shards=auto", "data.image.size=64")  # 12,288 pixel bytes + 200
    assert shard_count(config, scan, uses_image=True) == 19
    scan.captions = Counter(train=2_000, val=150_000, test=0)  # whichever split is largest
    assert shard_count(config, scan, uses_image=True) == 19
    scan.examples_per_caption = 0.4  # e.g. match: 1 positive + 1 negative of an image's 5 captions
    assert shard_count(config, scan, uses_image=True) == 8
    assert shard_count(config, scan, uses_image=False) == 4
    assert shard_count(tiny_config("data.num_shards=3"), scan, True) == 3


# --- reuse, force, atomic output ---------------------------------------------------------
def shard_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.tfrecord")) + [folder / "vocab.txt"]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def test_up_to_date_output_is_reused_and_force_redoes_it(tiny_config):
    """A second preprocess reuses the output; force rewrites it, byte for byte the same."""
    config = tiny_config("data.shapes.num_images=20")
    first = preprocess(config)
    digest = shard_digest(config.processed_dir)
    again = preprocess(config)
    assert again["reused"] is True and again["created"] == first["created"]
    forced = preprocess(config, force=True)
    assert forced["reused"] is False
    assert shard_digest(config.processed_dir) == digest  # same seed and config: the same data
    # data.processed and on_error do not decide the content: still up to date
    assert preprocess(tiny_config("data.shapes.num_images=20", "data.on_error=fail"))["reused"] is True


@pytest.mark.parametrize("change", ["seed=8", "data.shapes.num_images=21", "data.image.size=16",
                                    "data.negatives.ratio=2"])
def test_changed_config_is_not_reused(tiny_config, change):
    """Changing anything that decides the data makes preprocess run again."""
    preprocess(tiny_config("data.shapes.num_images=20"))
    assert preprocess(tiny_config("data.shapes.num_images=20", change))["reused"] is False


class Interrupted(Exception):
    pass


def interrupt_after(monkeypatch, calls: int, error=KeyboardInterrupt):
    """Make the image encoding in preprocess fail on its N-th call (a crash mid-way)."""
    real = encode_module.image_to_array
    seen = {"n": 0}

    def flaky(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] > calls:
            raise error()
        return real(*args, **kwargs)

    monkeypatch.setattr(encode_module, "image_to_array", flaky)


def leftovers(config) -> list[str]:
    parent = config.processed_dir.parent
    return sorted(p.name for p in parent.iterdir() if p.name != config.processed_dir.name
                  and config.processed_dir.name in p.name) if parent.exists() else []


@pytest.mark.parametrize("error", [KeyboardInterrupt, Interrupted])
def test_interrupted_preprocess_writes_no_output(tiny_config, monkeypatch, error):
    """A preprocess that dies mid-way leaves no half-written output folder (nor temp folder)."""
    config = tiny_config("data.shapes.num_images=20")
    interrupt_after(monkeypatch, 5, error)
    with pytest.raises(error):
        preprocess(config)
    assert not config.processed_dir.exists()
    assert leftovers(config) == []


def test_interrupted_rerun_keeps_the_previous_output(tiny_config, monkeypatch):
    """A forced rerun that dies keeps the earlier, complete output usable and unchanged."""
    config = tiny_config("data.shapes.num_images=20")
    before = preprocess(config)
    digest = shard_digest(config.processed_dir)
    interrupt_after(monkeypatch, 5)
    with pytest.raises(KeyboardInterrupt):
        preprocess(config, force=True)
    monkeypatch.undo()
    assert shard_digest(config.processed_dir) == digest
    assert preprocess(config)["created"] == before["created"]  # still up to date, reused
    assert leftovers(config) == []


def empty_manifest(folder: Path, rows: str) -> Path:
    folder.mkdir()
    (folder / "bad.png").write_bytes(b"not an image")
    (folder / "captions.csv").write_text("image,caption\n" + rows, encoding="utf-8")
    return folder


@pytest.mark.parametrize("rows", [
    "../x.png,escapes\nmissing.png,\n,no image\n",   # every row refused while reading
    "bad.png,corrupt\nmissing.png,gone\n",           # every image unreadable
])
def test_dataset_empty_after_filtering(tiny_config, tmp_path, rows):
    """When every row is bad, preprocess stops with a CmxError instead of writing empty shards."""
    folder = empty_manifest(tmp_path / "m", rows)
    config = tiny_config("data.source=manifest", f"data.path={folder}", "data.split.val=0", "data.split.test=0")
    with pytest.raises(CmxError, match="empty after filtering"):
        preprocess(config)
    assert not config.processed_dir.exists()
    assert leftovers(config) == []


# --- the tf.data pipeline ----------------------------------------------------------------
def test_make_dataset_batches(processed):
    """The match task's batches are ({'text': int32 padded per batch with 0, 'image': uint8}, float32 label (B, 1))."""
    import tensorflow as tf

    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.tasks.match import arrange

    config, stats, _ = processed
    size, count = config.data.image.size, stats["counts"]["train"]
    dataset = make_dataset(config.processed_dir, "train", count, 16, size, arrange=arrange)
    assert int(dataset.cardinality()) == -(-count // 16)  # the size is known (Keras shows steps)
    seen = 0
    for inputs, labels in dataset:
        batch = labels.shape[0]
        assert inputs["image"].dtype == tf.uint8 and inputs["image"].shape == (batch, size, size, 3)
        assert inputs["text"].dtype == tf.int32 and labels.dtype == tf.float32
        assert labels.shape == (batch, 1)
        text = inputs["text"].numpy()
        lengths = (text != 0).sum(axis=1)
        assert text.shape[1] == lengths.max() <= config.data.text.max_length  # padded to the batch's longest
        for row, length in zip(text, lengths):
            assert (row[:length] != 0).all() and (row[length:] == 0).all()  # zeros only at the end
        assert set(np.unique(labels.numpy())) <= {0.0, 1.0}
        seen += batch
    assert seen == count


def test_make_dataset_kinds_keys_and_order(processed):
    """Parsed batches carry the example kinds and image keys; unshuffled order is the shard order and repeats."""
    from crossmodal_tf.data.pipeline import make_dataset

    config, stats, _ = processed
    args = (config.processed_dir, "val", stats["counts"]["val"], 8, config.data.image.size)
    batches = list(make_dataset(*args))
    labels = np.concatenate([b["label"].numpy()[:, 0] for b in batches])
    kinds = np.concatenate([b["kind"].numpy() for b in batches])
    keys = np.concatenate([b["key"].numpy() for b in batches])
    assert ((kinds == EXAMPLE_KINDS.index("positive")) == (labels == 1)).all()
    assert all(key.decode().startswith("shapes-") for key in keys)
    again = np.concatenate([b["label"].numpy()[:, 0] for b in make_dataset(*args)])
    np.testing.assert_array_equal(labels, again)


def test_shuffle_is_seeded(processed):
    """The same seed gives the same shuffled order (reproducible training)."""
    from crossmodal_tf.data.pipeline import make_dataset

    config, stats, _ = processed
    args = (config.processed_dir, "train", stats["counts"]["train"], 64, config.data.image.size)

    def first_texts(seed):
        return next(iter(make_dataset(*args, shuffle=True, seed=seed)))["text"].numpy()

    plain = next(iter(make_dataset(*args)))["text"].numpy()
    a, b = first_texts(3), first_texts(3)
    np.testing.assert_array_equal(a, b)
    assert a.shape != plain.shape or not np.array_equal(a, plain)


def test_make_dataset_without_shards(tmp_path):
    """A split without shards is a CmxError telling the user to preprocess again."""
    from crossmodal_tf.data.pipeline import make_dataset

    with pytest.raises(CmxError, match="preprocess"):
        make_dataset(tmp_path, "train", 10, 4, 32)


def test_streamed_split_reads_the_cached_examples(processed, monkeypatch):
    """data.cache none streams the shards every epoch, in the same order as the in-memory cache; auto picks by size."""
    from crossmodal_tf.data import pipeline
    from crossmodal_tf.data.pipeline import caches_in_memory, make_dataset, make_training_dataset

    config, stats, _ = processed
    args = (config.processed_dir, "train", stats["counts"]["train"], 16, config.data.image.size)

    def keys_and_texts(cache):
        batches = list(make_dataset(*args, cache=cache))
        return [(k, t.tobytes()) for b in batches for k, t in zip(b["key"].numpy(), b["text"].numpy())]

    assert keys_and_texts("none") == keys_and_texts("memory")

    def epoch_keys(cache):  # two shuffled training epochs
        dataset = make_training_dataset(*args, seed=1, shuffle_buffer=50, first_epoch=0, epochs=2, cache=cache)
        return [key for batch in dataset for key in batch["key"].numpy()]

    assert epoch_keys("none") == epoch_keys("memory")
    files = [str(p) for p in shard_paths(config.processed_dir, "train")]
    assert caches_in_memory(files, "auto") and caches_in_memory(files, "memory")
    assert not caches_in_memory(files, "none")
    monkeypatch.setattr(pipeline, "MEMORY_CACHE_BYTES", 1)  # as if the shards held more than 2 GB
    assert not caches_in_memory(files, "auto")
