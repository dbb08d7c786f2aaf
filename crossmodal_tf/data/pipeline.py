"""Shards → tf.data: parse, cache, shuffle (by epoch when training), pad per batch, prefetch."""

from __future__ import annotations

import os
from pathlib import Path

from crossmodal_tf.data.shards import shard_paths
from crossmodal_tf.errors import CmxError

MEMORY_CACHE_BYTES = 2 * 10**9  # data.cache auto: splits whose shards hold less are cached in memory


def caches_in_memory(files: list[str], cache: str = "auto") -> bool:
    """Whether a split is kept in memory (data.cache 'memory', or 'auto' below MEMORY_CACHE_BYTES of shards)."""
    if cache == "auto":
        return sum(os.path.getsize(f) for f in files) < MEMORY_CACHE_BYTES
    return cache == "memory"


def parsed_examples(processed: Path, split: str, num_examples: int, image_size: int | None, cache: str = "auto"):
    """The examples of one split as a tf.data.Dataset of dicts: text, target, image, label, kind, key.

    image_size None is a text-only dataset (no image); target holds a translation
    pair's target ids (empty for other tasks). A split that fits in memory (see
    caches_in_memory) is parsed once and cached parsed (uint8 pixels and token ids are
    compact), so later epochs only shuffle and batch: parsing on every epoch would take
    CPU from training on a small machine. A larger split is streamed from its shards
    every epoch, in the same order.
    """
    import tensorflow as tf

    files = [str(p) for p in shard_paths(processed, split)]
    if not files:
        raise CmxError(f"{processed}: no shards for the {split} split; run cmx preprocess again")
    spec = {
        "text": tf.io.VarLenFeature(tf.int64),
        "target": tf.io.VarLenFeature(tf.int64),
        "label": tf.io.FixedLenFeature([1], tf.int64),
        "kind": tf.io.FixedLenFeature([], tf.int64),
        "key": tf.io.FixedLenFeature([], tf.string),
    }
    if image_size is not None:
        spec["image"] = tf.io.FixedLenFeature([], tf.string)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        example = {"text": tf.cast(tf.sparse.to_dense(parsed["text"]), tf.int32),
                   "target": tf.cast(tf.sparse.to_dense(parsed["target"]), tf.int32),
                   "label": tf.cast(parsed["label"], tf.float32), "kind": parsed["kind"], "key": parsed["key"]}
        if image_size is not None:
            example["image"] = tf.reshape(tf.io.decode_raw(parsed["image"], tf.uint8), [image_size, image_size, 3])
        return example

    # Reading the shards interleaved (one record from each in turn) mixes them even
    # before the shuffle buffer; the known size lets Keras count steps per epoch.
    # Streamed, the files are read in parallel; deterministic keeps the cached order.
    in_memory = caches_in_memory(files, cache)
    parallel = {} if in_memory else {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1, **parallel)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.cache() if in_memory else dataset


def make_dataset(processed: Path, split: str, num_examples: int, batch_size: int, image_size: int | None, *,
                 shuffle: bool = False, seed: int = 0, shuffle_buffer: int = 10000, arrange=None, cache: str = "auto"):
    """A batched tf.data.Dataset of one split's parsed examples (see parsed_examples), or arrange(batch).

    arrange is a task's function from such a batch to (inputs, targets), as model.fit
    wants them. Texts are padded to the longest caption of each batch, not to
    max_length, so the LSTM runs no more steps than the batch needs. Images stay
    uint8 until the model scales them.
    """
    import tensorflow as tf

    dataset = parsed_examples(processed, split, num_examples, image_size, cache)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.padded_batch(batch_size)
    if arrange is not None:
        dataset = dataset.map(arrange)
    return dataset.prefetch(tf.data.AUTOTUNE)


def make_training_dataset(processed: Path, split: str, num_examples: int, batch_size: int, image_size: int | None,
                          *, seed: int, shuffle_buffer: int, first_epoch: int, epochs: int, skip_batches: int = 0,
                          arrange=None, cache: str = "auto"):
    """Shuffled batches of epochs first_epoch … epochs-1, one after the other, less the first skip_batches.

    Each epoch's order is a function of (seed, epoch) alone, not of how many epochs
    this process has run before: a run resumed at epoch k (and batch j) sees exactly
    the batches an uninterrupted run would have seen from there. Use with model.fit's
    steps_per_epoch = ceil(num_examples / batch_size).
    """
    import tensorflow as tf

    examples = parsed_examples(processed, split, num_examples, image_size, cache)

    def epoch_batches(epoch):
        epoch_seed = tf.cast(seed, tf.int64) * 100_003 + epoch
        return examples.shuffle(shuffle_buffer, seed=epoch_seed, reshuffle_each_iteration=False).padded_batch(
            batch_size)

    dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(epoch_batches).skip(skip_batches)
    if arrange is not None:
        dataset = dataset.map(arrange)
    return dataset.prefetch(tf.data.AUTOTUNE)
