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
