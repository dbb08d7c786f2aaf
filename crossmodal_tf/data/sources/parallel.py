"""The `parallel` source: source/target sentence pairs for translation, from a TSV or JSONL file.

`data.path` names the file itself, or a folder holding pairs.tsv, pairs.txt or
pairs.jsonl. A TSV row is `source<TAB>target[<TAB>anything]`: columns after the
second are ignored, so the common `english<TAB>chinese<TAB>attribution` files load
as they are. A JSONL row is {"source": ..., "target": ...}. A row that is not
UTF-8, lacks its target, or has an empty side is skipped and counted (fatal under
data.on_error: fail). Records carry no image.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterator

from crossmodal_tf.data.records import Record, SkipLog, json_object, read_lines
from crossmodal_tf.data.text import normalize
from crossmodal_tf.errors import CmxError

PAIR_FILES = ("pairs.tsv", "pairs.txt", "pairs.jsonl")


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
    for number, line in read_lines(path):
        place = f"{path}:{number}"
        if line is None:
            skips.add(place, "row is not UTF-8 text")
            continue
        if not line.strip():
            continue
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


def read_records(data_config, seed: int, skips: SkipLog | None = None) -> Iterator[Record]:
    """One Record per sentence pair, in file order; the source sentence is its caption, the target its translation.

    The key is the normalised source sentence, so repeated sources land in the same
    split and never leak from train into test.
    """
    skips = skips or SkipLog(data_config.on_error)
    path = pairs_file(Path(data_config.path))
    for place, source, target in _pairs(path, skips):
        key = "pair-" + hashlib.sha1(normalize(source).encode()).hexdigest()[:16]
        yield Record(key=key, captions=(source,), load_image=_no_image, canonical=key, translation=target,
                     place=place)


def _no_image():
    raise CmxError("the parallel source has no images; use it with task seq2seq")


def fingerprint(data_config) -> str:
    """Changes when the pairs file changes (size or modification time)."""
    path = pairs_file(Path(data_config.path))
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
