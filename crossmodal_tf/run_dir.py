"""The run directory contract: where each file of a run lives, how its history is read and written."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from crossmodal_tf.atomic import write_text_atomic
from crossmodal_tf.data.subword import MODEL_FILES
from crossmodal_tf.errors import CmxError


def write_json(path: Path, data: dict) -> None:
    """Write a JSON file atomically, indented, UTF-8."""
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class RunDir:
    """Paths of one run directory (see docs/ARCHITECTURE.md for the contract)."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def env(self) -> Path:
        return self.root / "env.json"

    @property
    def stats(self) -> Path:
        return self.root / "stats.json"

    @property
    def vocab(self) -> Path:
        return self.root / "vocab.txt"

    @property
    def target_vocab(self) -> Path:
        """The target-side vocabulary of a seq2seq run (absent for other tasks)."""
        return self.root / "target_vocab.txt"

    @property
    def answer_vocab(self) -> Path:
        """The answers of a vqa run, one per class id (absent for other tasks)."""
        return self.root / "answer_vocab.txt"

    @property
    def subword_model(self) -> Path:
        """The SentencePiece model of a run whose data.text.level is subword (absent otherwise)."""
        return self.root / MODEL_FILES["text"]

    @property
    def target_subword_model(self) -> Path:
        """The SentencePiece model of a run whose data.target_text.level is subword (absent otherwise)."""
        return self.root / MODEL_FILES["target_text"]

    @property
    def vocabularies(self) -> tuple[Path, ...]:
        """Every vocabulary file a run may hold, copied from the preprocessed data: vocab.txt first."""
        return (self.vocab, self.target_vocab, self.answer_vocab, self.subword_model, self.target_subword_model)

    @property
    def lock(self) -> Path:
        """Held by the cmx train writing this run (see locks.py)."""
        return self.root / ".lock"

    def has_contents(self) -> bool:
        """Whether the folder holds anything besides its lock file."""
        return self.root.is_dir() and any(p.name != ".lock" for p in self.root.iterdir())

    def clear(self) -> None:
        """Delete everything in the folder but its lock file (what --overwrite does, under the lock)."""
        import shutil

        for path in self.root.iterdir():
            if path.name == ".lock":
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()

    @property
    def history(self) -> Path:
        return self.root / "history.csv"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def backup(self) -> Path:
        """The resumable checkpoints (weights, optimizer, seeds, position) for --resume; see checkpoints.py."""
        return self.checkpoints / "last"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.weights.h5"

    @property
    def model(self) -> Path:
        return self.root / "model.keras"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def index(self) -> Path:
        """cmx search's embedding indexes: <split>.npz and <split>.json (what it was built from)."""
        return self.root / "index"

    @property
    def curves(self) -> Path:
        """The learning curves (history.csv drawn), written at the end of training."""
        return self.root / "curves.png"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    def eval_json(self, split: str) -> Path:
        return self.root / f"eval_{split}.json"

    def require(self) -> "RunDir":
        """This run directory, or a CmxError when it is not one."""
        if not self.root.is_dir():
            raise CmxError(f"{self.root}: run directory not found")
        if not self.config.is_file():
            raise CmxError(f"{self.root}: not a run directory (no config.yaml)")
        return self

    def read_history(self) -> list[dict]:
        """The per-epoch rows written so far (from metrics.jsonl)."""
        if not self.metrics.is_file():
            return []
        return [json.loads(line) for line in self.metrics.read_text(encoding="utf-8").splitlines() if line.strip()]

    def write_history(self, rows: list[dict]) -> None:
        """Rewrite history.csv and metrics.jsonl from all rows (atomically)."""
        columns = ["epoch", "epoch_time_s"] + sorted({k for row in rows for k in row} - {"epoch", "epoch_time_s"})
        lines = [",".join(columns)]
        for row in rows:
            lines.append(",".join("" if row.get(c) is None else str(row[c]) for c in columns))
        write_text_atomic(self.history, "\n".join(lines) + "\n")
        write_text_atomic(self.metrics, "".join(json.dumps(row) + "\n" for row in rows))

    def read_csv_history(self) -> list[dict]:
        """The rows of history.csv as dicts of strings."""
        with open(self.history, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
