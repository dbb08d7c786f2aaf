"""The `manifest` source: a folder of images plus captions.jsonl or captions.csv, and/or qa.jsonl or qa.csv.

Caption rows carry `image` (a path relative to the folder), `text` or `caption`,
and an optional 0/1 `label`. Question rows (visual question answering) carry
`image`, `question`, `answer`, optional `answers` (every annotator's answer: a
list in JSONL, a `|`-separated string in CSV) and optional `type`. Any row may
carry `split` (train | val | test), which preprocess honours (see
preprocess.record_split). Rows naming the same image, in either file, are grouped
into one Record, so an image with several captions or questions stays in one
split; a QA-only folder gives records without captions. A Flickr8k-style
`image,caption` CSV loads as it is. Repeated question rows are kept as they are
(DAQUAR repeats some), repeated caption rows are skipped.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Iterator

from crossmodal_tf.data.images import open_image
from crossmodal_tf.data.records import SPLIT_NAMES, Question, Record, SkipLog, json_object, text_rows
from crossmodal_tf.data.text import normalize
from crossmodal_tf.errors import CmxError

READS = ("data.path",)  # the config keys this source reads beyond those every source reads
GIVES = ("images", "questions")  # what its records carry beyond texts: questions from qa.jsonl or qa.csv

CAPTION_FILES = ("captions.jsonl", "captions.csv")
QA_FILES = ("qa.jsonl", "qa.csv")


def _first_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def manifest_files(folder: Path) -> tuple[Path | None, Path | None]:
    """The folder's (captions file, QA file): either may be None, not both; else a CmxError naming what is missing."""
    if not folder.is_dir():
        raise CmxError(f"data.path: manifest folder {folder} not found")
    captions, qa = _first_file(folder, CAPTION_FILES), _first_file(folder, QA_FILES)
    if captions is None and qa is None:
        raise CmxError(f"data.path: {folder} holds neither {' nor '.join(CAPTION_FILES)} "
                       f"(nor {' nor '.join(QA_FILES)} for questions)")
    return captions, qa


def _rows(path: Path, skips: SkipLog) -> Iterator[tuple[str, dict]]:
    """(place, row mapping) for each data row of a JSONL or CSV captions file."""
    if path.suffix == ".jsonl":
        for place, line in text_rows(path, skips):
            row = json_object(line, place, skips)
            if row is not None:
                yield place, row
        return
    header = None
    for place, line in text_rows(path, skips):
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


def _parse_split(value) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lower() in SPLIT_NAMES:
        return value.strip().lower()
    raise ValueError(f"unknown split {value!r} (expected train, val or test)")


def _parse_answers(value, csv_row: bool) -> tuple[str, ...]:
    """A row's `answers`: a JSON list of strings, or in CSV one `|`-separated string; blanks dropped."""
    if value is None or value == "":
        return ()
    if csv_row and isinstance(value, str):
        value = value.split("|")
    if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
        raise ValueError("'answers' must be a list of strings")
    return tuple(a.strip() for a in value if a.strip())


@dataclass
class _Groups:
    """Rows read so far, grouped by the image they name; each distinct image path is resolved once."""

    folder: Path
    root: Path
    skips: SkipLog
    by_image: dict = field(default_factory=dict)
    resolved: dict = field(default_factory=dict)

    def image_of(self, row: dict, place: str) -> Path | None:
        """The resolved image path a row names, or None after counting the row (no image, or outside the folder)."""
        image = row.get("image")
        if not isinstance(image, str) or not image.strip():
            self.skips.add(place, "row has no 'image'")
            return None
        if image not in self.resolved:
            target = (self.folder / image.strip()).resolve()
            self.resolved[image] = target if target.is_relative_to(self.root) else None
        if self.resolved[image] is None:
            self.skips.add(place, f"image path {image!r} leaves the dataset folder")
        return self.resolved[image]

    def group(self, target: Path, place: str, split: str | None) -> dict | None:
        """The image's group (made on its first row), or None when the row names another split than earlier rows."""
        group = self.by_image.setdefault(str(target), {"place": place, "captions": [], "labels": [], "image": target,
                                                       "rows": {}, "questions": [], "split": None})
        if split is not None:
            if group["split"] is None:
                group["split"] = (split, place)
            elif group["split"][0] != split:
                self.skips.add(place, f"split {split!r} differs from {group['split'][0]!r} given for this image "
                                      f"at {group['split'][1]}")
                return None
        return group

    def add_captions(self, path: Path) -> None:
        for place, row in _rows(path, self.skips):
            text = row.get("text", row.get("caption"))
            if not isinstance(row.get("image"), str) or not row["image"].strip():
                self.skips.add(place, "row has no 'image'")
                continue
            if not isinstance(text, str) or not normalize(text):
                self.skips.add(place, "row has no text (an empty or missing 'text'/'caption')")
                continue
            try:
                label, split = _parse_label(row.get("label")), _parse_split(row.get("split"))
            except ValueError as exc:
                self.skips.add(place, str(exc))
                continue
            target = self.image_of(row, place)
            group = target and self.group(target, place, split)
            if group is None:
                continue
            if text.strip() in group["rows"]:
                # a repeated row would weigh that caption twice (and duplicate a test example)
                self.skips.add(place, f"duplicate row (the same image and text as {group['rows'][text.strip()]})")
                continue
            group["rows"][text.strip()] = place
            group["captions"].append(text.strip())
            group["labels"].append(label)

    def add_questions(self, path: Path) -> None:
        for place, row in _rows(path, self.skips):
            question, answer = row.get("question"), row.get("answer")
            if isinstance(answer, int) and not isinstance(answer, bool):
                answer = str(answer)  # a JSON number such as 2 ("how many chairs…")
            if not isinstance(question, str) or not question.strip():
                self.skips.add(place, "row has no question (an empty or missing 'question')")
                continue
            if not isinstance(answer, str):
                self.skips.add(place, "row has no answer (a missing or non-text 'answer')")
                continue
            if not answer.strip():
                self.skips.add(place, "empty answer")
                continue
            kind = row.get("type") or ""
            try:
                answers = _parse_answers(row.get("answers"), path.suffix == ".csv")
                split = _parse_split(row.get("split"))
                if not isinstance(kind, str):
                    raise ValueError("'type' must be a string")
            except ValueError as exc:
                self.skips.add(place, str(exc))
                continue
            target = self.image_of(row, place)
            group = target and self.group(target, place, split)
            if group is not None:
                group["questions"].append(Question(question.strip(), answer.strip(), answers, kind.strip()))


def read_records(data_config, seed: int, skips: SkipLog | None = None, needs=None) -> Iterator[Record]:
    """Group the manifest rows (captions, then questions) by image and yield one Record per image, in file order.

    needs is not read: both files are, whatever the task, since the images of either make the records.
    """
    return _records(data_config, skips or SkipLog(data_config.on_error))


def num_records(data_config) -> int:
    """How many records read_records yields (a text-only read of the manifest; a bad row is fatal or skipped as
    data.on_error says, so that data.on_error: fail stops here, before any worker starts)."""
    return sum(1 for _ in _records(data_config, SkipLog(data_config.on_error)))


def records_at(data_config, seed: int, indices: range, skips: SkipLog | None = None,
               needs=None) -> Iterator[tuple[int, Record]]:
    """(index, record) at these positions of read_records' order: the manifest is read whole (text only), the
    images of the other records are not opened.

    The rows that make no record are counted in skips by the part that holds position 0
    only, so that parts read in several processes count each of them once.
    """
    counts = 0 in indices
    last = max(indices, default=-1)
    for index, record in enumerate(_records(data_config, (skips or SkipLog(data_config.on_error)) if counts
                                            else SkipLog("skip"))):
        if index > last and not counts:
            return  # the part that counts reads on to the end: a later image may still be refused
        if index in indices:
            yield index, record


def _records(data_config, skips: SkipLog) -> Iterator[Record]:
    """read_records' records, the rows that make none counted in skips."""
    folder = Path(data_config.path)
    captions_path, qa_path = manifest_files(folder)
    root = folder.resolve()
    groups = _Groups(folder, root, skips)
    if captions_path:
        groups.add_captions(captions_path)
    if qa_path:
        groups.add_questions(qa_path)
    max_pixels = data_config.image.max_pixels
    for target, group in groups.by_image.items():
        labels = group["labels"]
        if not labels and not group["questions"]:
            continue  # every row of this image was refused (and counted)
        if any(label is None for label in labels) and any(label is not None for label in labels):
            skips.add(group["place"], "some rows of this image have a label and some do not")
            continue
        key = hashlib.sha1(str(Path(target).relative_to(root)).encode()).hexdigest()[:16]
        yield Record(
            key=key,
            captions=tuple(group["captions"]),
            labels=tuple(labels) if labels and labels[0] is not None else None,
            load_image=partial(open_image, group["image"], max_pixels),
            canonical=f"manifest:{key}",
            place=group["place"],
            split=group["split"][0] if group["split"] else None,
            questions=tuple(group["questions"]),
        )


def predefined_splits(data_config) -> set[str]:
    """The splits that the folder's rows name (see preprocess.record_split); a text-only read of the manifest."""
    return {r.split for r in read_records(data_config, 0, SkipLog("skip")) if r.split}


def fingerprint(data_config) -> str:
    """Changes when the captions or QA file or any image in the folder changes (size or time)."""
    folder = Path(data_config.path)
    files = manifest_files(folder)
    digest = hashlib.sha256()
    for item in sorted(folder.rglob("*")):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    digest.update(" ".join(path.name for path in files if path).encode())
    return digest.hexdigest()
