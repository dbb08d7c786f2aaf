"""Tasks: the only place that knows what a task is.

Each module here defines TASK, a `Task` (tasks/base.py): the facts the stages read
and the hooks that do the task's work. TASKS maps a config's `task:` to its module;
task modules import TensorFlow only inside their hooks, so that reading a task's
facts (the config layer, `cmx runs`) stays fast. Adding a task is one module and one
line here; tests/e2e/test_task_contract.py then runs every hook of it.
"""

import importlib

from crossmodal_tf.tasks.base import Task

TASKS = {
    "match": "crossmodal_tf.tasks.match",
    "lm": "crossmodal_tf.tasks.lm",
    "caption": "crossmodal_tf.tasks.caption",
    "seq2seq": "crossmodal_tf.tasks.seq2seq",
    "retrieval": "crossmodal_tf.tasks.retrieval",
    "vqa": "crossmodal_tf.tasks.vqa",
    "summarize": "crossmodal_tf.tasks.summarize",
}


def load_task(name: str) -> Task:
    """The Task registered under `name`."""
    return importlib.import_module(TASKS[name]).TASK


def task_reads_key(task: str, dotted: str) -> bool:
    """Whether a task reads a config key ("model.fusion.type"): those it declares in `reads`, and every key no
    registered task declares."""
    from crossmodal_tf.keys import reads_key

    return reads_key(load_task(task).reads, [load_task(name).reads for name in TASKS], dotted)
