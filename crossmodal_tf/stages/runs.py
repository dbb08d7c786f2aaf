"""Run management: the summaries of the run directories under a folder, and the comparison of two runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.run_summary import RunSummary, flatten, read_json, read_run_config, summarize_run


def list_runs(folder: str | Path = "runs") -> list[RunSummary]:
    """Summaries of the run directories in folder (and the folder itself when it is one), newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CmxError(f"{folder}: folder not found")
    candidates = [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]
    runs = [summarize_run(p) for p in candidates if RunDir(p).config.is_file()]
    return sorted(runs, key=lambda r: r.started, reverse=True)


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
