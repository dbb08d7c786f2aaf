"""The answer vocabulary of visual question answering: the train split's answers, each a class of the model.

Id 0 is the unknown answer: answers seen fewer than data.answers.min_count times in
the train split (and every answer only val or test has) map to it, and a prediction
of it always counts as wrong. The rest are ordered by train count (ties
alphabetically), so id 1 is the train split's most common answer: the majority
baseline's answer.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Iterable

from crossmodal_tf.data.text import normalize

UNKNOWN = "<unk>"
# How an annotator's answer outside the vocabulary is stored among a question's annotators' answers: not 0,
# which pads those rows in a batch, so that VQA accuracy counts every annotator (tasks/vqa.py)
ANNOTATOR_UNKNOWN = -1


def normalize_answer(answer: str) -> str:
    """An answer as it is compared: lowercased, punctuation dropped, whitespace collapsed."""
    return normalize(answer)


class Answers:
    """Answer ↔ class id, with the unknown answer at 0."""

    def __init__(self, answers: Iterable[str]):
        self.answers = list(answers)
        if not self.answers or self.answers[0] != UNKNOWN:
            raise ValueError(f"an answer vocabulary must start with {UNKNOWN}")
        self.index = {answer: i for i, answer in enumerate(self.answers)}

    @classmethod
    def build(cls, counts: Counter, min_count: int = 1) -> "Answers":
        """The answers counted at least min_count times, most frequent first (ties alphabetically)."""
        kept = sorted((a for a, c in counts.items() if a and c >= min_count and a != UNKNOWN), key=lambda a: (-counts[a], a))
        return cls([UNKNOWN, *kept])

    def __len__(self) -> int:
        return len(self.answers)

    def id(self, answer: str) -> int:
        """The class id of an answer (normalised first); 0 when it is not in the vocabulary."""
        return self.index.get(normalize_answer(answer), 0)

    def save(self, path: Path) -> None:
        Path(path).write_text("\n".join(self.answers) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> "Answers":
        return cls(Path(path).read_text(encoding="utf-8").rstrip("\n").split("\n"))
