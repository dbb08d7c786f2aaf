"""Record: one image (or none) and its texts, as every data source yields it; reading rows of text files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator


SPLIT_NAMES = ("train", "val", "test")


@dataclass(frozen=True)
class Question:
    """One question about an image and its answer.

    answer: the answer to train on (a dataset's majority or only answer).
    answers: every annotator's answer when the dataset has several (VQA accuracy
        counts agreement with them); empty when there is only `answer`.
    type: the kind of question ("colour", "count", …; shapes names six), or "".
    """

    question: str
    answer: str
    answers: tuple[str, ...] = ()
    type: str = ""


@dataclass(frozen=True)
class Record:
    """One image with its captions (or one sentence pair), as a data source yields it.

    key: unique id of the image (splits are made by key, so no image is in two splits).
    captions: its English texts; labels, when given, are parallel 0/1 match labels.
    translation: the target-language text of a translation pair (shapes: Chinese).
    load_image: returns a PIL image; called only when pixels are needed (a source
        without images, such as parallel, raises when asked). It must pickle (a
        module-level function, or functools.partial of one: no lambda), because
        preprocess calls it in worker processes.
    canonical: meaning of the captions; two records with the same canonical text
        describe the same content, so one's caption is no negative for the other.
    scene: structured content, when the source knows it (hard negatives need it).
    place: where the record came from, for error messages (file:row).
    split: the split the dataset itself puts this record in ("train" | "val" | "test"),
        which preprocess honours instead of hashing the key; None when the source has
        no predefined split (see preprocess.record_split for the whole rule).
    questions: questions about the image with their answers (visual question
        answering); empty when the source has none or was not asked for them
        (read_records' needs). A record may have questions and no captions (a
        QA-only manifest): caption tasks then make no examples of it.
    document: a longer text of which each caption is a summary (shapes: a paragraph
        about the scene); None when the source has none or was not asked for it. The
        parallel source gives none: its pairs serve summarization as they are (source → target).
    novel: the record shows a combination the dataset holds out of train and val (shapes: data.shapes.held_out);
        such a record comes with split "test", and evaluation reports seen and novel test examples apart.
    """

    key: str
    captions: tuple[str, ...]
    load_image: Callable[[], Any]
    canonical: str = ""
    translation: str | None = None
    labels: tuple[int, ...] | None = None
    scene: Any = None
    place: str = ""
    split: str | None = None
    questions: tuple[Question, ...] = ()
    document: str | None = None
    novel: bool = False


class SkipLog:
    """Records that were skipped, with where and why; fatal when data.on_error is 'fail'."""

    KEEP = 100  # the first skips are listed in stats.json; all are counted

    def __init__(self, on_error: str = "skip"):
        from collections import Counter

        self.on_error = on_error
        self.count = 0
        self.reasons: Counter = Counter()
        self.examples: list[dict] = []

    def add(self, place: str, reason: str) -> None:
        """Count a skipped record, or raise CmxError when skipping is not allowed."""
        from crossmodal_tf.errors import CmxError

        if self.on_error == "fail":
            raise CmxError(f"{place}: {reason} (data.on_error is 'fail')")
        self.count += 1
        self.reasons[reason.split(" (")[0]] += 1
        if len(self.examples) < self.KEEP:
            self.examples.append({"place": place, "reason": reason})

    def to_dict(self) -> dict:
        return {"count": self.count, "by_reason": dict(self.reasons), "first": self.examples}


def read_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    """(line number, text) per line; text is None where the line is not UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield number, raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None


def text_rows(path: Path, skips: SkipLog) -> Iterator[tuple[str, str]]:
    """("file:line", text) of every non-blank line; a line that is not UTF-8 is skipped and counted."""
    for number, line in read_lines(path):
        place = f"{path}:{number}"
        if line is None:
            skips.add(place, "row is not UTF-8 text")
        elif line.strip():
            yield place, line


def json_object(line: str, place: str, skips: SkipLog) -> dict | None:
    """A JSONL row as a dict, or None after counting it in skips (invalid JSON, or not an object)."""
    import json

    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        skips.add(place, f"invalid JSON ({exc.msg})")
        return None
    if not isinstance(row, dict):
        skips.add(place, "row is not a JSON object")
        return None
    return row
