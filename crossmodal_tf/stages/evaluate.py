"""The eval and test stages: a run directory's model on one split → eval_<split>.json.

When some of the split's images show a combination the data holds out of training
(data.shapes.held_out), the task's own evaluate also runs on the seen and on the novel
examples apart, and their metrics come beside the overall ones as "seen/<metric>" and
"novel/<metric>": no task needs to know about it. A subset's figures are computed over
that subset alone (retrieval: its gallery holds only the subset's images and captions).
"""

from __future__ import annotations

from pathlib import Path

from crossmodal_tf.run import open_run, require_checkpoint
from crossmodal_tf.run_dir import write_json


def evaluate_run(run_dir: str | Path, split: str = "val", checkpoint: str = "best") -> dict:
    """Evaluate a run's model on a split; writes and returns the flat metrics dict."""
    require_checkpoint(checkpoint)
    run = open_run(run_dir)
    run.require_split(split)
    model = run.model(checkpoint)
    metrics = run.task.evaluate(run, model, run.dataset(split))
    metrics = {"split": split, "checkpoint": checkpoint, **metrics, **subset_metrics(run, model, split)}
    write_json(run.paths.eval_json(split), metrics)
    return metrics


SUBSETS = ("seen", "novel")


def subset_metrics(run, model, split: str) -> dict:
    """The task's metrics on the split's seen and on its novel examples apart ({"seen/accuracy": …,
    "novel/accuracy": …}) when some of its images are novel (Run.novel_keys); otherwise nothing."""
    novel = run.novel_keys(split)
    if not novel:
        return {}
    results = {}
    for subset in SUBSETS:
        dataset = run.dataset(split, keys=(novel, subset == "novel"))
        results.update({f"{subset}/{name}": value for name, value in run.task.evaluate(run, model, dataset).items()})
    return results
