"""Shards → tf.data: parse in batches, cache, shuffle, pad per batch, prefetch."""

from __future__ import annotations

from pathlib import Path

from crossmodal_tf.data.shards import shard_paths
from crossmodal_tf.errors import CmxError


def make_dataset(processed: Path, split: str, num_examples: int, batch_size: int, image_size: int, *,
                 shuffle: bool = False, seed: int = 0, shuffle_buffer: int = 10000,
                 with_kind: bool = False):
    """A batched tf.data.Dataset of ({'text', 'image'}, label[, kind]) for one split.

    Texts are padded to the longest caption of each batch, not to max_length, so
    the LSTM runs no more steps than the batch needs. Images stay uint8 until the
    model scales them. Serialized records are cached (they are compact) and parsed
    a whole batch at a time, which is far cheaper than one parse per example.
    """
    import tensorflow as tf

    files = [str(p) for p in shard_paths(processed, split)]
    if not files:
        raise CmxError(f"{processed}: no shards for the {split} split; run cmx preprocess again")
    # Reading the shards interleaved (one record from each in turn) mixes them even
    # before the shuffle buffer; the known size lets Keras count steps per epoch.
    dataset = tf.data.Dataset.from_tensor_slices(files).interleave(
        tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_examples)).cache()
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "text": tf.io.VarLenFeature(tf.int64),
        "label": tf.io.FixedLenFeature([1], tf.int64),
        "kind": tf.io.FixedLenFeature([], tf.int64),
    }

    def parse(serialized):
        parsed = tf.io.parse_example(serialized, spec)
        pixels = tf.io.decode_raw(parsed["image"], tf.uint8)
        images = tf.reshape(pixels, [-1, image_size, image_size, 3])
        texts = tf.cast(tf.sparse.to_dense(parsed["text"]), tf.int32)
        labels = tf.cast(parsed["label"], tf.float32)
        inputs = {"text": texts, "image": images}
        if with_kind:
            return inputs, labels, parsed["kind"]
        return inputs, labels

    return dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
