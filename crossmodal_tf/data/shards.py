"""TFRecord shards: serialise examples and spread them over a fixed number of files."""

from __future__ import annotations

from pathlib import Path

import numpy as np



def serialize_example(image: np.ndarray | None, text: list[int], label: int, kind: int, key: str,
                      target: list[int] | None = None) -> bytes:
    """One tf.train.Example: raw uint8 pixels (none for text-only tasks), token ids, 0/1 label, example kind,
    image key, and the target-side token ids of a translation pair."""
    import tensorflow as tf

    feature = {
        "text": tf.train.Feature(int64_list=tf.train.Int64List(value=text)),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        "kind": tf.train.Feature(int64_list=tf.train.Int64List(value=[kind])),
        "key": tf.train.Feature(bytes_list=tf.train.BytesList(value=[key.encode()])),
    }
    if image is not None:
        feature["image"] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()]))
    if target is not None:
        feature["target"] = tf.train.Feature(int64_list=tf.train.Int64List(value=target))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


class ShardWriter:
    """Writes one split's examples into `<split>-NNNNN-of-NNNNN.tfrecord` files, each to a random shard.

    Not round-robin: an image's examples come in a fixed pattern (positives, then
    negatives), and round-robin would put all first positives in one shard and all
    negatives in another, so a reader going shard by shard would see label-sorted data.
    """

    def __init__(self, folder: Path, split: str, num_shards: int, seed: int = 0):
        import random

        import tensorflow as tf

        self.paths = [folder / f"{split}-{i:05d}-of-{num_shards:05d}.tfrecord" for i in range(num_shards)]
        self.writers = [tf.io.TFRecordWriter(str(p)) for p in self.paths]
        self.rng = random.Random(f"{seed}:shards:{split}")
        self.count = 0

    def write(self, serialized: bytes) -> None:
        self.writers[self.rng.randrange(len(self.writers))].write(serialized)
        self.count += 1

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def shard_paths(folder: Path, split: str) -> list[Path]:
    """The shard files of one split, in order."""
    return sorted(Path(folder).glob(f"{split}-*-of-*.tfrecord"))
