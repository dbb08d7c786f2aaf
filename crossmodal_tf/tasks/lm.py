"""Task `lm`: a text-only LSTM language model, p(text) = ∏ p(w_i | w_<i), over the captions."""

from __future__ import annotations

import keras

from crossmodal_tf.models.decoder import LstmGenerator, build_lstm_decoder
from crossmodal_tf.tasks.sequence import (  # noqa: F401  the task's interface, shared with caption
    FRAME_TEXT, GENERATES_TEXT, evaluate_tokens, loss, make_examples, teacher_forcing, train_metrics)

TAKES_IMAGE = False
USES_IMAGE = False  # preprocess stores pixels only for tasks that read them


def build_model(config, vocab_size: int) -> keras.Model:
    """Embedding → LSTM layers → next-token logits, over the whole text at once (teacher forcing)."""
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    logits = build_lstm_decoder(config.model.text, tokens, vocab_size)
    return keras.Model({"text": tokens}, logits, name="lm_model")


def arrange(batch):
    """A parsed batch → (decoder inputs, next-token targets)."""
    inputs, targets = teacher_forcing(batch["text"])
    return {"text": inputs}, targets


def evaluate(model: keras.Model, dataset, config, context) -> dict:
    """Loss, perplexity and token accuracy, beside the perplexity of a unigram model of the train split."""
    return evaluate_tokens(model, dataset, arrange, context)


def generator(model: keras.Model, config) -> LstmGenerator:
    """The trained model in single-step form, starting from a zero state."""
    return LstmGenerator(model, config.model.text)
