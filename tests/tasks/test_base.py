"""The Task record: what every registered task declares, checked without training anything."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from crossmodal_tf.tasks import TASKS, load_task, task_reads_key
from crossmodal_tf.tasks.base import Task, monitor_mode


@pytest.mark.parametrize("name", sorted(TASKS))
def test_a_registered_task_declares_what_its_hooks_make(name):
    task = load_task(name)
    assert task.name == name
    assert tuple(metric.name for metric in task.train_metrics()) == task.metric_names
    assert "val_loss" in task.monitors() and all(m.startswith(("val_", "loss")) or m in task.metric_names
                                                   for m in task.monitors())


def test_reading_the_tasks_imports_no_tensorflow():
    """The config layer and `cmx runs` read task facts; that must stay fast."""
    code = ("import sys; from crossmodal_tf.tasks import TASKS, load_task; [load_task(n) for n in TASKS]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_task_without_a_hook_or_with_inconsistent_facts_is_refused():
    match = load_task("match")
    fields = {f.name: getattr(match, f.name) for f in dataclasses.fields(Task)}
    with pytest.raises(TypeError, match="evaluate"):
        Task(**{k: v for k, v in fields.items() if k != "evaluate"})
    with pytest.raises(TypeError, match="generates text"):
        Task(**{**fields, "generates_text": True})


def test_reads_key_knows_general_and_task_specific_keys():
    match, lm = load_task("match"), load_task("lm")
    assert "model.fusion" in match.reads and "model.fusion" not in lm.reads
    assert task_reads_key("match", "model.fusion.type") and not task_reads_key("lm", "model.fusion.type")
    assert task_reads_key("match", "train.epochs") and task_reads_key("lm", "model.text.units")
    assert not task_reads_key("lm", "data.image.size") and task_reads_key("match", "data.image.size")


@pytest.mark.parametrize("monitor, mode", [("val_loss", "min"), ("loss", "min"), ("val_accuracy", "max"),
                                           ("val_auc", "max"), ("val_f1", "max"), ("perplexity", "min"),
                                           ("val_token_accuracy", "max"), ("t2i_r1", "max")])
def test_monitor_mode(monitor, mode):
    assert monitor_mode(monitor) == mode
