"""Tasks: the only place that knows what a task is.

A task module provides build_model(config, vocab_size), loss(), train_metrics()
and evaluate(model, dataset, config). TASKS maps a config's `task:` to its module
by name, so that importing this registry does not import TensorFlow.
"""

import importlib

TASKS = {
    "match": "crossmodal_tf.tasks.match",
}


def load_task(name: str):
    """The task module registered under `name`."""
    return importlib.import_module(TASKS[name])
