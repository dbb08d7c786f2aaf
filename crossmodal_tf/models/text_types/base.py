"""What a text type is: the records every text type module builds (its keys and builders) and gives (Encoded)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field



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
    # the modules whose import registers its Keras layers: a saved model holding them loads only after it
    layer_modules: tuple[str, ...] = ()
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
