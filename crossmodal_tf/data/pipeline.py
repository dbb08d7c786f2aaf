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


def parsed_examples(processed: Path, split: str, num_examples: int | None, image_size: int | None,
                    cache: str = "auto", shard: tuple[int, int] | None = None, raw_text: bool = False):
    """The examples of one split as a tf.data.Dataset of dicts: text, target, image, label, kind, key
    (and source_copy, target_copy, source_oov when the folder was made for model.copy; and with raw_text
    a translation pair's raw source_text and target_text, "" in folders written before they were stored, and
    a caption's raw_text, the caption as written).

    image_size None is a text-only dataset (no image); target holds a translation
    pair's target ids (empty for other tasks). A split that fits in memory (see
    caches_in_memory) is parsed once and cached parsed (uint8 pixels and token ids are
    compact), so later epochs only shuffle and batch: parsing on every epoch would take
    CPU from training on a small machine. A larger split is streamed from its shards
    every epoch, in the same order. shard (index, count) keeps one worker's share: whole
    files when there are at least count files, else every count-th example;
    num_examples is then None (unknown).
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
    if raw_text:  # evaluation only: training has no use for them
        spec.update(source_text=tf.io.FixedLenFeature([], tf.string, default_value=""),
                    target_text=tf.io.FixedLenFeature([], tf.string, default_value=""),
                    raw_text=tf.io.FixedLenFeature([], tf.string, default_value=""))
    copy = _holds_copy_ids(processed)
    if copy:
        spec.update(source_copy=tf.io.VarLenFeature(tf.int64), target_copy=tf.io.VarLenFeature(tf.int64),
                    source_oov=tf.io.VarLenFeature(tf.string))

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, spec)
        example = {"text": tf.cast(tf.sparse.to_dense(parsed["text"]), tf.int32),
                   "target": tf.cast(tf.sparse.to_dense(parsed["target"]), tf.int32),
                   "label": tf.cast(parsed["label"], tf.float32), "kind": parsed["kind"], "key": parsed["key"]}
        if copy:
            example.update({name: tf.cast(tf.sparse.to_dense(parsed[name]), tf.int32)
                            for name in ("source_copy", "target_copy")})
            example["source_oov"] = tf.sparse.to_dense(parsed["source_oov"])
        if raw_text:
            example.update(source_text=parsed["source_text"], target_text=parsed["target_text"],
                           raw_text=parsed["raw_text"])
        if image_size is not None:
            example["image"] = tf.reshape(tf.io.decode_raw(parsed["image"], tf.uint8), [image_size, image_size, 3])
        return example

    # Reading the shards interleaved (one record from each in turn) mixes them even
    # before the shuffle buffer; the known size lets Keras count steps per epoch.
    # Streamed, the files are read in parallel; deterministic keeps the cached order.
    in_memory = caches_in_memory(files, cache)
    index, count = shard or (0, 1)
    by_file = len(files) >= count
    if by_file:
        files = files[index::count]
    parallel = {} if in_memory else {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True}
    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1, **parallel)
    if not by_file:
        dataset = dataset.shard(count, index)
    if num_examples is not None:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples))
    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.cache() if in_memory else dataset


def _holds_copy_ids(processed: Path) -> bool:
    """Whether a preprocessed folder's examples hold copy attention's extended ids (its stats say so)."""
    import json

    stats = Path(processed) / "stats.json"
    return stats.is_file() and bool(json.loads(stats.read_text(encoding="utf-8")).get("copy"))


def make_dataset(processed: Path, split: str, num_examples: int, batch_size: int, image_size: int | None, *,
                 shuffle: bool = False, seed: int = 0, shuffle_buffer: int = 10000, arrange=None, cache: str = "auto",
                 length_window: int = 1, raw_text: bool = False, keys: tuple[frozenset[str], bool] | None = None):
    """A batched tf.data.Dataset of one split's parsed examples (see parsed_examples), or arrange(batch).

    keys (image keys, inside) keeps only the examples whose image is among the keys (inside) or is not (a split's
    seen and novel examples, evaluate.subset_metrics).

    arrange is a task's function from such a batch to (inputs, targets), as model.fit
    wants them. Texts are padded to the longest caption of each batch, not to
    max_length, so the LSTM runs no more steps than the batch needs. Images stay
    uint8 until the model scales them. length_window > 1 batches texts of similar length
    together (length_sorted_batches), for metrics that do not depend on the order.
    """
    import tensorflow as tf

    dataset = parsed_examples(processed, split, num_examples, image_size, cache, raw_text=raw_text)
    if keys is not None:
        dataset = dataset.filter(_key_filter(*keys))
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = length_sorted_batches(dataset, batch_size, length_window)
    if arrange is not None:
        dataset = dataset.map(arrange)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _key_filter(keys: frozenset[str], inside: bool):
    """A tf.data predicate: whether an example's image key is among keys (inside), or is not."""
    import tensorflow as tf

    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(sorted(keys), tf.string), tf.ones(len(keys), tf.int64)),
        default_value=0)
    wanted = 1 if inside else 0
    return lambda example: tf.equal(table.lookup(example["key"]), wanted)


def length_sorted_batches(examples, batch_size: int, window: int, seed=None):
    """Batches of texts of similar length: each run of window × batch_size examples is sorted by length, then batched.

    Batches are padded to their longest text, so a batch of like lengths makes the LSTM
    run few padded steps. Every full run gives exactly `window` batches, so a split of n
    examples still gives ceil(n / batch_size) batches, and steps per epoch and resume
    positions do not change. seed (a tensor is fine) shuffles the batches of each run,
    so training does not see them shortest first; window 1 is plain batching.
    """
    import tensorflow as tf

    if window <= 1:
        return examples.padded_batch(batch_size)

    variable = [key for key, spec in examples.element_spec.items() if spec.shape.rank and spec.shape[0] is None]

    def with_lengths(example):
        return {**example, **{key + LENGTH_SUFFIX: tf.shape(example[key])[0] for key in variable}}

    def sort_run(run):
        order = tf.argsort(run["text" + LENGTH_SUFFIX], stable=True)
        return {key: tf.gather(value, order) for key, value in run.items()}

    def split_run(run):
        def batch(index):
            part = {key: value[index * batch_size:(index + 1) * batch_size] for key, value in run.items()}
            # pad only to this batch's longest text, not the run's
            return {key: value[:, : tf.reduce_max(part[key + LENGTH_SUFFIX])] if key in variable else value
                    for key, value in part.items() if not key.endswith(LENGTH_SUFFIX)}

        size = tf.shape(run["text" + LENGTH_SUFFIX], out_type=tf.int64)[0]
        return tf.data.Dataset.range((size + batch_size - 1) // batch_size).map(batch)

    # Runs are sliced into batches rather than unbatched and batched again: unbatching
    # the empty target texts of non-translation tasks crashes TensorFlow 2.21.
    batches = examples.map(with_lengths).padded_batch(window * batch_size).map(sort_run).flat_map(split_run)
    return batches if seed is None else batches.shuffle(window, seed=seed, reshuffle_each_iteration=False)


LENGTH_SUFFIX = "__length"


def make_training_dataset(processed: Path, split: str, num_examples: int, batch_size: int, image_size: int | None,
                          *, seed: int, shuffle_buffer: int, first_epoch: int, epochs: int, skip_batches: int = 0,
                          arrange=None, worker: tuple[int, int] | None = None, length_window: int = 1,
                          cache: str = "auto", pick=None):
    """Shuffled batches of epochs first_epoch … epochs-1, one after the other, less the first skip_batches.

    Each epoch's order is a function of (seed, epoch) alone, not of how many epochs
    this process has run before: a run resumed at epoch k (and batch j) sees exactly
    the batches an uninterrupted run would have seen from there. Use with model.fit's
    steps_per_epoch = ceil(num_examples / batch_size).

    worker (index, count) makes one worker's stream of a multi-worker run: its share
    of the files (see parsed_examples), batch_size being the per-replica batch. Shares
    differ in size, so the stream is endless, with batches that run on across epoch
    ends: every worker then has a full batch for each of the steps that fit asks for.
    length_window > 1 batches texts of similar length together (length_sorted_batches).
    pick (data.epoch_pick.EpochPick) makes each epoch its own pick of the stored
    examples, exactly pick.size of them, also a function of (seed, epoch); a worker picks
    from its share, and its endless stream needs no cut.
    """
    import tensorflow as tf

    examples = parsed_examples(processed, split, None if worker else num_examples, image_size, cache, shard=worker)

    def epoch_seed(epoch):
        return tf.cast(seed, tf.int64) * 100_003 + epoch

    def epoch_examples(epoch):
        if pick is None:
            return examples.shuffle(shuffle_buffer, seed=epoch_seed(epoch), reshuffle_each_iteration=False)
        from crossmodal_tf.data.epoch_pick import pick_epoch

        picked = pick_epoch(examples, pick, epoch, epoch_seed(epoch)).shuffle(
            shuffle_buffer, seed=epoch_seed(epoch), reshuffle_each_iteration=False)
        # the draw keeps about pick.size: repeating, then cutting, makes every epoch exactly that long
        return picked if worker else picked.repeat().take(pick.size)

    if worker:
        stream = tf.data.Dataset.range(first_epoch, 2**62).flat_map(epoch_examples)
        dataset = length_sorted_batches(stream, batch_size, length_window, seed=epoch_seed(first_epoch))
    else:
        dataset = tf.data.Dataset.range(first_epoch, epochs).flat_map(
            lambda epoch: length_sorted_batches(epoch_examples(epoch), batch_size, length_window,
                                                seed=epoch_seed(epoch)))
    dataset = dataset.skip(skip_batches)
    if arrange is not None:
        dataset = dataset.map(arrange)
    return dataset.prefetch(tf.data.AUTOTUNE)
