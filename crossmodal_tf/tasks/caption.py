"""Task `caption`: an LSTM decoder conditioned on the image branch's features describes the image."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from crossmodal_tf.decoding import DecodeSettings
from crossmodal_tf.models.branches import build_image_branch
from crossmodal_tf.models.decoder import LstmGenerator, build_lstm_decoder, conditioned_start
from crossmodal_tf.tasks.sequence import (  # noqa: F401  the task's interface, shared with lm
    FRAME_TEXT, GENERATES_TEXT, evaluate_tokens, generate, loss, make_decoder, make_examples, teacher_forcing, texts,
    train_metrics)
from crossmodal_tf.text_scores import caption_scores

TAKES_IMAGE = True
USES_IMAGE = True


def build_model(config, vocab_size: int) -> keras.Model:
    """Image branch → Dense 'caption_condition' → LSTM decoder (model.condition says how it conditions)."""
    size = config.data.image.size
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    features = build_image_branch(config.model.image, images)
    condition = layers.Dense(config.model.text.units, activation="relu", name="caption_condition")(features)
    logits = build_lstm_decoder(config.model.text, tokens, vocab_size, condition, config.model.condition)
    return keras.Model({"text": tokens, "image": images}, logits, name="caption_model")


def arrange(batch):
    """A parsed batch → (image and decoder inputs, next-token targets)."""
    inputs, targets = teacher_forcing(batch["text"])
    return {"text": inputs, "image": batch["image"]}, targets


def generator(model: keras.Model, config) -> LstmGenerator:
    """The trained model in single-step form; its start state comes from the image."""
    start = conditioned_start(model, config.model.text, "caption_condition", config.model.condition)
    return LstmGenerator(model, config.model.text, start, ("image",))


def images_with_references(dataset, vocab, level: str):
    """(keys, images, references) of the distinct images of a dataset, with all their captions as references."""
    order, images, references = [], {}, {}
    for batch in dataset:
        for key, image, text in zip(batch["key"].numpy(), batch["image"].numpy(), batch["text"].numpy()):
            key = key.decode()
            if key not in images:
                order.append(key)
                images[key] = image
                references[key] = []
            references[key].extend(texts(text[None, :], vocab, level))
    stacked = np.stack([images[k] for k in order]) if order else np.zeros((0, 1, 1, 3), np.uint8)
    return order, stacked, [references[k] for k in order]


def describe(gen: LstmGenerator, decoder, vocab, images: np.ndarray, settings: DecodeSettings,
             batch_size: int, num_samples: int = 1, seed: int = 0, prompt_ids=()):
    """Captions for images (optionally continuing a prompt): the Decoded result, (images, num_samples, steps).

    Every batch is padded to batch_size, so the compiled loop sees one shape and
    compiles once.
    """
    from crossmodal_tf.decoding import Decoded

    parts = []
    batch_size = max(1, min(batch_size, len(images)))  # no padding beyond the images there are
    for begin in range(0, len(images), batch_size):
        chunk = images[begin:begin + batch_size]
        padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        decoded = generate(gen, decoder, vocab, {"image": padded}, batch_size, settings, num_samples, seed + begin,
                           prompt_ids)
        parts.append(Decoded(decoded.tokens[: len(chunk)], decoded.log_probs[: len(chunk)],
                             decoded.scores[: len(chunk)]))
    return Decoded(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("tokens", "log_probs", "scores")))


def evaluate(model: keras.Model, dataset, config, context) -> dict:
    """Token metrics with teacher forcing, then BLEU-1…4 (and CIDEr-D) of greedy captions of each distinct image."""
    results = evaluate_tokens(model, dataset, arrange, context)
    level = config.data.text.level
    _, images, references = images_with_references(dataset, context.vocab, level)
    gen = generator(model, config)
    decoder = make_decoder(gen, context.vocab)
    settings = DecodeSettings("greedy", max_length=config.data.text.max_length + 1)  # the words and <end>
    decoded = describe(gen, decoder, context.vocab, images, settings, config.eval.batch_size)
    hypotheses = texts(decoded.tokens[:, 0], context.vocab, level)
    results.update(caption_scores(hypotheses, references, level))
    results["images"] = len(hypotheses)
    return results
