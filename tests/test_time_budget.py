"""train.time_budget_minutes: training stops once the wall-clock budget is spent, and ends as an early stop."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from crossmodal_tf.checkpoints import list_checkpoints
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.stages.train import train

BUDGET_MINUTES = 0.05  # 3 s: far fewer than the 1000 epochs asked for fit in it


@pytest.mark.slow  # about 15 s: three trainings (the second only restores) on a shared 2-core machine
def test_budget_stops_a_long_run_early_and_writes_the_model(tiny_config, tmp_path):
    """A budget of seconds with 1000 epochs stops early; model, history and a consistent checkpoint are written;
    a resume with the budget spent trains nothing more, one with a larger budget trains on."""
    sets = ("data.shapes.num_images=40", "train.epochs=1000", "train.batch_size=4",
            f"train.time_budget_minutes={BUDGET_MINUTES}")
    lines = []
    summary = train(tiny_config(*sets), progress="none", warn=lines.append)
    run = RunDir(Path(summary["run_dir"]))
    history = run.read_history()
    assert 1 <= len(history) < 1000
    assert run.model.is_file() and run.best_weights.is_file()
    assert [line for line in lines if "time_budget_minutes" in line and "stopped in epoch" in line]

    meta = json.loads((list_checkpoints(run.backup)[0] / "meta.json").read_text(encoding="utf-8"))
    assert meta["train_seconds"] >= BUDGET_MINUTES * 60
    steps = math.ceil(json.loads(run.stats.read_text(encoding="utf-8"))["counts"]["train"] / 4)
    # the cut epoch is checkpointed as the partial epoch it is: whole epochs and the batches after them
    assert meta["epochs_done"] * steps + meta["steps_in_epoch"] == meta["global_step"]
    assert meta["steps_in_epoch"] < steps

    lines.clear()
    train(tiny_config(*sets), resume=True, progress="none", warn=lines.append)
    assert [line for line in lines if "nothing more is trained" in line]
    assert RunDir(Path(summary["run_dir"])).read_history() == history

    # a larger budget on --resume trains on from the checkpoint: the cut epoch's remaining batches first.
    # It is set from the seconds already spent, since on a loaded machine the first run's one step (with
    # its tracing) can overrun a fixed larger budget and leave nothing to train.
    larger = (meta["train_seconds"] + BUDGET_MINUTES * 60) / 60
    train(tiny_config(*sets[:-1], f"train.time_budget_minutes={larger}"), resume=True, progress="none",
          warn=lines.append)
    later = json.loads((list_checkpoints(run.backup)[0] / "meta.json").read_text(encoding="utf-8"))
    assert later["global_step"] > meta["global_step"]
    assert later["train_seconds"] >= larger * 60
    assert later["epochs_done"] * steps + later["steps_in_epoch"] == later["global_step"]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_budget_must_be_a_positive_number(tiny_config, value):
    """A budget of no time (or not a number) is a config error naming the key."""
    from crossmodal_tf.errors import CmxError

    with pytest.raises(CmxError, match="train.time_budget_minutes"):
        tiny_config(f"train.time_budget_minutes={value}")


def test_budget_is_refused_with_multi_worker(tiny_config):
    """Every worker reads its own clock: they would stop after different batches, so the pair is refused."""
    from crossmodal_tf.errors import CmxError

    with pytest.raises(CmxError, match="multi_worker"):
        tiny_config("train.time_budget_minutes=1", "train.strategy=multi_worker")
