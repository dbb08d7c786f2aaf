"""Run management: a summary of each run directory under a folder, and the comparison of two runs.

Only the files of the run directory contract are read (config.yaml as plain YAML,
env.json, metrics.jsonl, eval_<split>.json), so listing many runs imports no
TensorFlow and a run whose config a newer cmx wrote still lists.
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


def list_runs(folder: str | Path = "runs") -> list[RunSummary]:
    """Summaries of the run directories in folder (and the folder itself when it is one), newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CmxError(f"{folder}: folder not found")
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    runs = [summarize_run(p) for p in candidates if RunDir(p).config.is_file()]
    return sorted(runs, key=lambda r: r.started, reverse=True)


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


@dataclass
class Comparison:
    """Two runs side by side: the config keys whose values differ, and every metric of each."""

    runs: tuple[RunSummary, RunSummary]
    config_diff: list[tuple[str, object, object]]  # (dotted key, value in A, value in B); absent is None
    metrics: list[tuple[str, object, object]]  # ("val loss", A, B) …


def compare_runs(path_a: str | Path, path_b: str | Path) -> Comparison:
    """The config diff (dotted keys) and the eval metrics of two runs side by side."""
    runs = (RunDir(Path(path_a)).require(), RunDir(Path(path_b)).require())
    configs = [flatten(read_run_config(r)) for r in runs]
    keys = sorted(set(configs[0]) | set(configs[1]))
    diff = [(k, configs[0].get(k), configs[1].get(k)) for k in keys if configs[0].get(k) != configs[1].get(k)]
    metrics = []
    summaries = tuple(summarize_run(r.root) for r in runs)
    metrics.append(("epochs", summaries[0].epochs, summaries[1].epochs))
    metrics.append(("best " + summaries[0].monitor, summaries[0].best, summaries[1].best))
    for split in ("val", "test"):
        evals = [read_json(r.eval_json(split)) for r in runs]
        names = [k for k in dict.fromkeys([*evals[0], *evals[1]]) if k not in ("split", "checkpoint")]
        metrics.extend((f"{split} {name}", evals[0].get(name), evals[1].get(name)) for name in names)
    return Comparison(summaries, diff, metrics)
