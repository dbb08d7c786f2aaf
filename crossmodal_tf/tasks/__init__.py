"""Tasks: the only place that knows what a task is.

A task module provides build_model(config, vocab_size[, target_vocab_size]), loss(),
train_metrics(), make_examples(record, rng, pool, data_config, hard_negative) with
FRAME_TEXT, USES_IMAGE and optionally TARGET_TEXT (what preprocess stores),
arrange(batch) (a parsed batch → model inputs and targets), evaluate(model, dataset,
config, context) and GENERATES_TEXT; a task that generates text also provides
generator(model, config) and TAKES_IMAGE (and TAKES_SOURCE when it translates).
TASKS maps a config's `task:` to its module by name, so that importing this
registry does not import TensorFlow.
"""

import importlib

TASKS = {
    "match": "crossmodal_tf.tasks.match",
    "lm": "crossmodal_tf.tasks.lm",
    "caption": "crossmodal_tf.tasks.caption",
    "seq2seq": "crossmodal_tf.tasks.seq2seq",
    "retrieval": "crossmodal_tf.tasks.retrieval",
}


def load_task(name: str):
    """The task module registered under `name`."""
    return importlib.import_module(TASKS[name])
