"""Text types: what `model.text.type` names. TEXT_TYPES maps each name to the module that defines it.

A text type module defines TEXT_TYPE, a `TextType`: its keys (a pydantic section of
model.text, plus the keys outside it that it reads) and the builders of every text
model a task needs, through one interface: the text encoder (`build_encoder`: one
vector per text, or the states a decoder attends to) and the decoder (`build_decoder`:
next-token logits in training, built as one `CachedDecoder` layer whose cached step
generates; models/cached_step.py). Tasks ask the type named in their config and never
branch on it. A module imports Keras only inside its builders, so the config layer
reads its keys without loading Keras. Adding a text type is one module and one line
here; tests/e2e/test_task_contract.py then runs every task with it.
"""

from __future__ import annotations

import importlib

from crossmodal_tf.models.text_types.base import TextType

TEXT_TYPES = {
    "lstm": "crossmodal_tf.models.text_types.lstm",
    "transformer": "crossmodal_tf.models.text_types.transformer",
}
DEFAULT_TEXT_TYPE = "lstm"


def load_text_type(name: str) -> TextType:
    """The TextType registered under `name`."""
    return importlib.import_module(TEXT_TYPES[name]).TEXT_TYPE
