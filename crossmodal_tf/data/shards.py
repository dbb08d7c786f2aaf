"""TFRecord shards: serialise examples and spread them over a fixed number of files."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Iterable

import numpy as np

SHARD_BYTES = 100 * 10**6  # big enough to read fast, small enough to spread over many readers
MIN_SHARDS = 4  # so that several training workers can each read whole files of every split

SPLITS = ("train", "val", "test")  # every preprocessed folder has these, each possibly empty


def auto_shard_count(estimated_bytes: int) -> int:
    """Shards for a split of about estimated_bytes: one per SHARD_BYTES, and at least MIN_SHARDS."""
    return max(MIN_SHARDS, math.ceil(estimated_bytes / SHARD_BYTES))


def serialize_example(image: np.ndarray | None, text: list[int], label: int, kind: int, key: str,
                      target: list[int] | None = None, copy: tuple | None = None,
                      texts: tuple[str, str] | None = None, raw: str | None = None) -> bytes:
    """One serialised tf.train.Example: raw uint8 pixels (none for text-only tasks), token ids, 0/1 label,
    example kind, image key, and the target-side token ids of a translation pair.

    copy (model.copy) adds the extended ids of data/copy_ids.py: (the source's ids, the framed target's ids,
    the source's words outside the target vocabulary) as source_copy, target_copy and source_oov.

    texts (a translation pair) adds the pair's raw source and target text, as source_text and target_text:
    outputs are scored against the reference as it was written, not read back from its ids (cut at
    max_length, rare words as <unk>, punctuation and case normalised away).

    raw (a task with Task.raw_references: a caption) adds the text as written, as raw_text, for the same reason.

    Encoded here rather than with tf.train.Example so that preprocess workers need not
    import TensorFlow (seconds and hundreds of MB per process). Features are written in
    sorted order, so the bytes depend on the example alone; any protobuf reader
    (tf.io.parse_single_example included) reads them as the same Example.
    """
    feature = {"text": _int64_list(text), "label": _int64_list([label]), "kind": _int64_list([kind]),
               "key": _bytes_list(key.encode())}
    if image is not None:
        feature["image"] = _bytes_list(image.tobytes())
    if target is not None:
        feature["target"] = _int64_list(target)
    if copy is not None:
        source_copy, target_copy, oov = copy
        feature.update(source_copy=_int64_list(source_copy), target_copy=_int64_list(target_copy),
                       source_oov=_bytes_list(*(word.encode() for word in oov)))
    if texts is not None:
        feature.update(source_text=_bytes_list(texts[0].encode()), target_text=_bytes_list(texts[1].encode()))
    if raw is not None:
        feature["raw_text"] = _bytes_list(raw.encode())
    entries = b"".join(_field(1, _field(1, name.encode()) + _field(2, feature[name])) for name in sorted(feature))
    return _field(1, entries)  # Example.features (1) → Features.feature (1): map<string, Feature>


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative int64 values as their 64-bit two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _bytes_list(*values: bytes) -> bytes:
    """Feature{bytes_list (1): BytesList{value (1): [values]}}; no values is an empty list."""
    return _field(1, b"".join(_field(1, value) for value in values))


def _int64_list(values: list[int]) -> bytes:
    """Feature{int64_list (3): Int64List{value (1), packed}}; no values is an empty list, as TensorFlow writes it."""
    packed = b"".join(_varint(int(v)) for v in values)
    return _field(3, _field(1, packed) if values else b"")


def masked_crc32c(data: bytes) -> int:
    """TFRecord's checksum: CRC-32C (Castagnoli), rotated right by 15 bits plus a constant."""
    import google_crc32c  # C code: a pure-Python CRC of every image would cost more than encoding it

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(serialized: bytes) -> bytes:
    """One TFRecord: length (uint64), its masked CRC, the bytes, their masked CRC (little endian)."""
    length = struct.pack("<Q", len(serialized))
    return (length + struct.pack("<I", masked_crc32c(length)) + serialized
            + struct.pack("<I", masked_crc32c(serialized)))


class RecordFile:
    """An uncompressed TFRecord file, the bytes tf.io.TFRecordWriter writes, written without TensorFlow.

    Preprocess workers write their own shards; importing TensorFlow in each of them
    (and in the parent) would cost seconds and hundreds of MB per process.
    """

    def __init__(self, path: Path):
        self.handle = open(path, "wb")

    def write(self, serialized: bytes) -> None:
        self.handle.write(tfrecord(serialized))

    def close(self) -> None:
        self.handle.close()


def shard_name(split: str, index: int, num_shards: int) -> str:
    return f"{split}-{index:05d}-of-{num_shards:05d}.tfrecord"


class ShardWriter:
    """Writes one split's examples into `<split>-NNNNN-of-NNNNN.tfrecord` files: the examples of the image at
    position i of the source go to shard i mod num_shards.

    By position, not at random: a worker that makes the images i ≡ k (mod num_shards)
    writes shard k of every split on its own, and the bytes do not depend on how many
    workers there are. Each shard still spans the whole dataset (a source sorted by
    anything is spread over every shard), and an image's examples stay together in
    the order they were drawn (shuffled per image).
    only: open just these shards (a worker's); the others are someone else's.
    """

    def __init__(self, folder: Path, split: str, num_shards: int, only: Iterable[int] | None = None):
        self.num_shards = num_shards
        self.files = {i: RecordFile(Path(folder) / shard_name(split, i, num_shards))
                      for i in (range(num_shards) if only is None else only)}
        self.count = 0

    def write(self, serialized: bytes, position: int) -> None:
        """Write an example of the image at `position` of the source."""
        self.files[position % self.num_shards].write(serialized)
        self.count += 1

    def close(self) -> None:
        for file in self.files.values():
            file.close()


def shard_paths(folder: Path, split: str) -> list[Path]:
    """The shard files of one split, in order."""
    return sorted(Path(folder).glob(f"{split}-*-of-*.tfrecord"))
