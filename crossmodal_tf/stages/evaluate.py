"""The eval and test stages: a run directory's model on one split → eval_<split>.json."""

from __future__ import annotations

from pathlib import Path

from crossmodal_tf.run import open_run, require_checkpoint
from crossmodal_tf.run_dir import write_json


def evaluate_run(run_dir: str | Path, split: str = "val", checkpoint: str = "best", quiet: bool = True) -> dict:
    """Evaluate a run's model on a split; writes and returns the flat metrics dict."""
    require_checkpoint(checkpoint)
    run = open_run(run_dir, quiet)
    run.require_split(split)
    metrics = run.task.evaluate(run, run.model(checkpoint), run.dataset(split))
    metrics = {"split": split, "checkpoint": checkpoint, **metrics}
    write_json(run.paths.eval_json(split), metrics)
    return metrics
