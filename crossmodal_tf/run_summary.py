"""What a run directory says about itself, read without TensorFlow: its summary, config and JSON files.

Only the files of the run directory contract are read (config.yaml as plain YAML,
env.json, metrics.jsonl, eval_<split>.json), so summarising many runs imports no
TensorFlow and a run whose config a newer cmx wrote still reads. `cmx runs`,
`cmx compare` and the report's facts all read runs through this module.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.tasks import TASKS, load_task
from crossmodal_tf.tasks.base import monitor_mode


@dataclass
class RunSummary:
    """What `cmx runs` shows of one run."""

    path: Path
    name: str
    task: str
    started: str
    epochs: int
    configured_epochs: int | None
    monitor: str
    best: float | None
    best_epoch: int | None
    test_metric: str
    test_value: float | None
    duration_s: float

    def best_text(self) -> str:
        return "—" if self.best is None else f"{self.monitor} {self.best:.4g} (epoch {self.best_epoch})"

    def test_text(self) -> str:
        return "—" if self.test_value is None else f"{self.test_metric} {self.test_value:.4g}"


def read_json(path: Path) -> dict:
    """A JSON file's object, or {} when it is missing or unreadable (a run still training)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def read_run_config(run: RunDir) -> dict:
    """config.yaml of a run as plain nested dicts."""
    try:
        return yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CmxError(f"{run.config}: unreadable config ({exc})") from None


def best_epoch(history: list[dict], monitor: str) -> tuple[int | None, float | None]:
    """(epoch, value) of the best value of monitor in the history, or (None, None) when it is absent."""
    rows = [r for r in history if isinstance(r.get(monitor), (int, float))]
    if not rows:
        return None, None
    pick = max if monitor_mode(monitor) == "max" else min  # as the checkpoint callback picked it
    row = pick(rows, key=lambda r: r[monitor])
    return row["epoch"], row[monitor]


def summarize_run(path: str | Path) -> RunSummary:
    """The summary of one run directory (a CmxError when it is not one)."""
    run = RunDir(Path(path)).require()
    config = read_run_config(run)
    history = run.read_history()
    monitor = config.get("train", {}).get("checkpoint", {}).get("monitor", "val_loss")
    epoch, best = best_epoch(history, monitor)
    task = str(config.get("task", "?"))
    # a run of a task this cmx does not know (a newer one wrote it) shows its loss
    metric = load_task(task).headline_metric if task in TASKS else "loss"
    test = read_json(run.eval_json("test"))
    started = read_json(run.env).get("started") or time.strftime("%Y-%m-%dT%H:%M:%S%z",
                                                                  time.localtime(run.config.stat().st_mtime))
    return RunSummary(path=run.root, name=str(config.get("name", run.root.name)), task=task, started=started,
                      epochs=len(history), configured_epochs=config.get("train", {}).get("epochs"),
                      monitor=monitor, best=best, best_epoch=epoch, test_metric=metric,
                      test_value=test.get(metric), duration_s=sum(r.get("epoch_time_s", 0.0) for r in history))


def flatten(data: dict, prefix: str = "") -> dict:
    """Nested dicts as one dict of dotted keys: {"train": {"epochs": 3}} → {"train.epochs": 3}."""
    flat = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat
