"""The `manifest` source: a folder of images plus captions.jsonl or captions.csv.

Rows carry `image` (a path relative to the folder), `text` or `caption`, and an
optional 0/1 `label`. Rows naming the same image are grouped into one Record, so
an image with several captions stays in one split. A Flickr8k-style
`image,caption` CSV loads as it is.
"""

from __future__ import annotations

import csv
import hashlib
import io
from functools import partial
from pathlib import Path
from typing import Iterator

from crossmodal_tf.data.images import open_image
from crossmodal_tf.data.records import Record, SkipLog, json_object, read_lines
from crossmodal_tf.data.text import normalize
from crossmodal_tf.errors import CmxError

CAPTION_FILES = ("captions.jsonl", "captions.csv")


def captions_file(folder: Path) -> Path:
    """The folder's captions file, or a CmxError naming what is missing."""
    if not folder.is_dir():
        raise CmxError(f"data.path: manifest folder {folder} not found")
    for name in CAPTION_FILES:
        if (folder / name).is_file():
            return folder / name
    raise CmxError(f"data.path: {folder} holds neither {' nor '.join(CAPTION_FILES)}")


def _rows(path: Path, skips: SkipLog) -> Iterator[tuple[str, dict]]:
    """(place, row mapping) for each data row of a JSONL or CSV captions file."""
    if path.suffix == ".jsonl":
        for number, line in read_lines(path):
            place = f"{path}:{number}"
            if line is None:
                skips.add(place, "row is not UTF-8 text")
            elif line.strip():
                row = json_object(line, place, skips)
                if row is not None:
                    yield place, row
        return
    header = None
    for number, line in read_lines(path):
        place = f"{path}:{number}"
        if line is None:
            skips.add(place, "row is not UTF-8 text")
            continue
        if not line.strip():
            continue
        try:
            fields = next(csv.reader(io.StringIO(line)))
        except csv.Error as exc:  # e.g. a bare carriage return inside a field
            if header is None:
                raise CmxError(f"{place}: unreadable CSV header ({exc})") from None
            skips.add(place, f"malformed CSV row ({exc})")
            continue
        if header is None:
            header = [f.strip().lower() for f in fields]
            if "image" not in header:
                raise CmxError(f"{place}: the CSV header must name an 'image' column, found {','.join(header)}")
            continue
        # Flickr8k captions hold commas without quoting: the caption is the rest of the line.
        if len(fields) > len(header) and header[-1] in ("caption", "text"):
            fields = fields[: len(header) - 1] + [",".join(fields[len(header) - 1:])]
        yield place, dict(zip(header, fields))


def _parse_label(value) -> int | None:
    if value is None or value == "":
        return None
    if str(value).strip() in ("0", "1", "0.0", "1.0") or value in (True, False):
        return int(float(value))
    raise ValueError(f"label must be 0 or 1, found {value!r}")


def read_records(data_config, seed: int, skips: SkipLog | None = None) -> Iterator[Record]:
    """Group the manifest rows by image and yield one Record per image, in file order."""
    skips = skips or SkipLog(data_config.on_error)
    folder = Path(data_config.path)
    path = captions_file(folder)
    root = folder.resolve()
    groups: dict[str, dict] = {}
    for place, row in _rows(path, skips):
        image = row.get("image")
        text = row.get("text", row.get("caption"))
        if not isinstance(image, str) or not image.strip():
            skips.add(place, "row has no 'image'")
            continue
        if not isinstance(text, str) or not normalize(text):
            skips.add(place, "row has no text (an empty or missing 'text'/'caption')")
            continue
        try:
            label = _parse_label(row.get("label"))
        except ValueError as exc:
            skips.add(place, str(exc))
            continue
        target = (folder / image.strip()).resolve()
        if not target.is_relative_to(root):
            skips.add(place, f"image path {image!r} leaves the dataset folder")
            continue
        group = groups.setdefault(str(target), {"place": place, "captions": [], "labels": [], "image": target,
                                                "rows": {}})
        if text.strip() in group["rows"]:
            # a repeated row would weigh that caption twice (and duplicate a test example)
            skips.add(place, f"duplicate row (the same image and text as {group['rows'][text.strip()]})")
            continue
        group["rows"][text.strip()] = place
        group["captions"].append(text.strip())
        group["labels"].append(label)
    max_pixels = data_config.image.max_pixels
    for target, group in groups.items():
        labels = group["labels"]
        if any(label is None for label in labels) and any(label is not None for label in labels):
            skips.add(group["place"], "some rows of this image have a label and some do not")
            continue
        key = hashlib.sha1(str(Path(target).relative_to(root)).encode()).hexdigest()[:16]
        yield Record(
            key=key,
            captions=tuple(group["captions"]),
            labels=tuple(labels) if labels[0] is not None else None,
            load_image=partial(open_image, group["image"], max_pixels),
            canonical=f"manifest:{key}",
            place=group["place"],
        )


def fingerprint(data_config) -> str:
    """Changes when the captions file or any image in the folder changes (size or time)."""
    folder = Path(data_config.path)
    path = captions_file(folder)
    digest = hashlib.sha256()
    for item in sorted(folder.rglob("*")):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    digest.update(path.name.encode())
    return digest.hexdigest()
