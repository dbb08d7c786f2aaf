"""The `parallel` source: source/target sentence pairs for translation, from a TSV or JSONL file, or one per split.

`data.path` names the file itself, or a folder holding pairs.tsv, pairs.txt or
pairs.jsonl, or a folder laid out by split: `train.tsv`, `dev.tsv` (or `val.tsv`)
and `test.tsv` (each may be .jsonl instead), whose records carry their file's split
(Record.split), which preprocess honours. train is required; dev/val and test are
optional: a split without its file is drawn from train by hashing the source
sentence with data.split's fraction (preprocess.record_split), as for a single file.
A split file that is present but holds no usable pair, a folder with two files for
one split (dev.tsv and val.tsv) or with both layouts, is refused with a one-line
error naming the file. A TSV row is `source<TAB>target[<TAB>anything]`: columns after the
second are ignored, so the common `english<TAB>chinese<TAB>attribution` files load
as they are. A JSONL row is {"source": ..., "target": ...}. A row that is not
UTF-8, lacks its target, or has an empty side is skipped and counted (fatal under
data.on_error: fail). Records carry no image."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from crossmodal_tf.data.records import Record, SkipLog, json_object, text_rows
from crossmodal_tf.data.text import normalize
from crossmodal_tf.errors import CmxError

READS = ("data.path",)  # the config keys this source reads beyond those every source reads
GIVES = ("translations", "documents")  # each pair is also read as document → summary

PAIR_FILES = ("pairs.tsv", "pairs.txt", "pairs.jsonl")
SPLIT_FILES = {"train": ("train.tsv", "train.jsonl"), "val": ("dev.tsv", "val.tsv", "dev.jsonl", "val.jsonl"),
               "test": ("test.tsv", "test.jsonl")}


def split_files(path: Path) -> dict[str, Path]:
    """{split: file} of a folder laid out by split; {} when data.path is a file or a folder with a pairs file."""
    if not path.is_dir():
        return {}
    found = {split: [path / name for name in names if (path / name).is_file()] for split, names in SPLIT_FILES.items()}
    if not any(found.values()):
        return {}
    for files in found.values():
        if len(files) > 1:
            raise CmxError(f"data.path: {path} holds both {files[0].name} and {files[1].name} for one split; keep one")
    pairs = [name for name in PAIR_FILES if (path / name).is_file()]
    if pairs:
        raise CmxError(f"data.path: {path} holds both {pairs[0]} and split files (train.tsv, …); keep one layout")
    if not found["train"]:
        raise CmxError(f"data.path: {path / 'train.tsv'} not found (a folder of split files needs train.tsv; "
                       f"dev.tsv or val.tsv and test.tsv are optional)")
    return {split: files[0] for split, files in found.items() if files}


def pairs_file(path: Path) -> Path:
    """The pairs file that data.path names (the file, or one of PAIR_FILES in the folder)."""
    if path.is_file():
        return path
    if path.is_dir():
        for name in PAIR_FILES:
            if (path / name).is_file():
                return path / name
        raise CmxError(f"data.path: {path} holds none of {', '.join(PAIR_FILES)}")
    raise CmxError(f"data.path: parallel file {path} not found")


def _pairs(path: Path, skips: SkipLog) -> Iterator[tuple[str, str, str]]:
    """(place, source, target) for every usable row of the file."""
    jsonl = path.suffix == ".jsonl"
    for place, line in text_rows(path, skips):
        if jsonl:
            row = json_object(line, place, skips)
            if row is None:
                continue
            source, target = row.get("source"), row.get("target")
        else:
            fields = line.rstrip("\r\n").split("\t")
            source, target = fields[0], (fields[1] if len(fields) > 1 else None)
        if target is None:
            skips.add(place, "row has no target (expected source<TAB>target)" if not jsonl
                      else "row has no 'target'")
            continue
        if not isinstance(source, str) or not isinstance(target, str):
            skips.add(place, "source and target must be strings")
            continue
        if not normalize(source) or not normalize(target):
            skips.add(place, "empty sentence (source or target has no words)")
            continue
        yield place, source.strip(), target.strip()


def read_records(data_config, seed: int, skips: SkipLog | None = None, needs=None) -> Iterator[Record]:
    """One Record per sentence pair, in file order (train, val, test for split files); the source sentence is its
    caption, the target its translation. needs is not read: a pair has nothing to leave out.

    The key is the normalised source sentence, so repeated sources land in the same
    split and never leak from train into test (when the splits are hashed).
    """
    skips = skips or SkipLog(data_config.on_error)
    path = Path(data_config.path)
    files = split_files(path) or {None: pairs_file(path)}
    for split, file in files.items():
        found = 0
        for place, source, target in _pairs(file, skips):
            found += 1
            key = "pair-" + hashlib.sha1(normalize(source).encode()).hexdigest()[:16]
            yield Record(key=key, captions=(source,), load_image=_no_image, canonical=key, translation=target,
                         place=place, split=split)
        if split and not found:
            raise CmxError(f"{file}: the {split} split file holds no sentence pairs")


def predefined_splits(data_config) -> set[str]:
    """The splits a folder of split files gives (see preprocess.record_split); none for a single file."""
    return set(split_files(Path(data_config.path)))


def _no_image():
    raise CmxError("the parallel source has no images; use it with task seq2seq")


def fingerprint(data_config) -> str:
    """Changes when the pairs file, or any split file, changes (size or modification time)."""
    path = Path(data_config.path)
    files = list(split_files(path).values()) or [pairs_file(path)]
    stats = [f"{file.resolve()}:{file.stat().st_size}:{file.stat().st_mtime_ns}" for file in files]
    return hashlib.sha256("\n".join(stats).encode()).hexdigest()
