"""Task `match`: does this caption describe this image? A sigmoid over fused branch features."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from crossmodal_tf.data.pairs import EXAMPLE_KINDS, match_pairs
from crossmodal_tf.models.branches import build_image_branch, build_text_branch
from crossmodal_tf.models.fusion import FUSIONS

GENERATES_TEXT = False
FRAME_TEXT = False  # captions are stored as plain token ids
USES_IMAGE = True


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str]]:
    """Positives, random negatives and hard negatives of one image (see data.pairs.match_pairs)."""
    return match_pairs(record, rng, pool, data_cfg.negatives, hard_negative)


def build_model(config, vocab_size: int) -> keras.Model:
    """The match model: text branch + image branch → fusion → Dense(1, sigmoid) named 'match'."""
    size = config.data.image.size
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")
    text_features = build_text_branch(config.model.text, tokens, vocab_size)

    def image_branch(condition=None):
        return build_image_branch(config.model.image, images, condition)

    fused = FUSIONS[config.model.fusion.type](config.model.fusion, text_features, image_branch)
    # float32 output keeps the sigmoid and the loss stable under mixed precision
    score = layers.Dense(1, activation="sigmoid", dtype="float32", name="match")(fused)
    return keras.Model({"text": tokens, "image": images}, score, name="match_model")


def arrange(batch):
    """A parsed batch → ({'text', 'image'}, label)."""
    return {"text": batch["text"], "image": batch["image"]}, batch["label"]


def loss():
    return keras.losses.BinaryCrossentropy()


def train_metrics() -> list:
    return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]


def evaluate(model: keras.Model, dataset, config, context=None) -> dict:
    """Loss, accuracy, precision, recall, F1 and ROC AUC over a dataset of parsed batches.

    Also the accuracy on each kind of example (positives, random and hard negatives),
    which shows whether the model tells apart captions that differ in one attribute.
    """
    threshold = config.eval.threshold
    metrics = {
        "loss": keras.metrics.BinaryCrossentropy(),
        "accuracy": keras.metrics.BinaryAccuracy(threshold=threshold),
        "precision": keras.metrics.Precision(thresholds=threshold),
        "recall": keras.metrics.Recall(thresholds=threshold),
        "f1": keras.metrics.F1Score(threshold=threshold),
        "auc": keras.metrics.AUC(num_thresholds=1000),
    }
    scores, labels, kinds = [], [], []
    for batch in dataset:
        inputs, label = arrange(batch)
        kind = batch["kind"]
        score = model(inputs, training=False)
        for metric in metrics.values():
            metric.update_state(label, score)
        scores.append(np.asarray(score)[:, 0])
        labels.append(np.asarray(label)[:, 0])
        kinds.append(np.asarray(kind))
    if not scores:
        return {}
    # F1Score returns one value per class: a vector of length 1 here
    results = {name: float(np.asarray(metric.result()).reshape(-1)[0]) for name, metric in metrics.items()}
    scores, labels, kinds = np.concatenate(scores), np.concatenate(labels), np.concatenate(kinds)
    correct = (scores >= threshold) == (labels >= 0.5)
    for kind_id, kind_name in enumerate(EXAMPLE_KINDS):
        chosen = kinds == kind_id
        if chosen.any():
            results[f"accuracy_{kind_name}"] = float(correct[chosen].mean())
    results["examples"] = int(len(scores))
    return results

