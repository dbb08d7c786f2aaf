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
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

TEXT_TYPES = {
    "lstm": "crossmodal_tf.models.text_types.lstm",
    "transformer": "crossmodal_tf.models.text_types.transformer",
}
DEFAULT_TEXT_TYPE = "lstm"


class TextSection(BaseModel):
    """The keys of model.text that every text type reads; a type's settings add its own to them."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    layers: int = Field(1, ge=1, description="LSTM layers, or Transformer blocks")
    dropout: float = Field(0.1, ge=0, lt=1)


@dataclass
class Encoded:
    """What a text encoder gives: any of one vector per text, every token's state, which tokens are real, and a
    decoder's start state (the type's own structure; an LSTM's final [h, c] per layer)."""

    pooled: Any = None  # (batch, d)
    steps: Any = None  # (batch, steps, d)
    mask: Any = None  # (batch, steps) bool
    states: Any = None


@dataclass(frozen=True, kw_only=True)
class TextType:
    """One text model family: its config keys and the builders every task asks for."""

    name: str
    settings: type[TextSection]  # its keys under model.text (the config merges every type's fields)
    reads_outside: tuple[str, ...] = ()  # the keys outside model.text that it reads ("model.condition")
    # (config, task) → None, or a ValueError "dotted.key: why" for settings it cannot build (checked when loading)
    check: Callable[[Any, Any], None]
    # (model config, token ids, vocab size, name, words=False, for_decoder=False) → Encoded: pooled (and with
    # words, the word states); for_decoder: what this type's decoder attends to and starts from
    build_encoder: Callable[..., Encoded]
    # (model config, token ids, vocab size, image=None, source=None, copy_ids=None, copy_extra=0, name="decoder")
    # → next-token logits (batch, steps, vocab); image is a callable image_branch(grid=False) of a captioner,
    # source an Encoded of build_encoder(for_decoder=True); the logits come from one CachedDecoder layer
    build_decoder: Callable[..., Any]

    @property
    def reads(self) -> tuple[str, ...]:
        """Every config key this type declares it reads: its model.text fields and reads_outside."""
        return (*(f"model.text.{key}" for key in self.settings.model_fields), *self.reads_outside)


def load_text_type(name: str) -> TextType:
    """The TextType registered under `name`."""
    return importlib.import_module(TEXT_TYPES[name]).TEXT_TYPE
