"""Task `match`: does this caption describe this image? A sigmoid over fused branch features."""

from __future__ import annotations

from crossmodal_tf.data.pairs import EXAMPLE_KINDS, match_pairs
from crossmodal_tf.tasks.base import Task

MISTAKES = 12  # the report's gallery of the most confident mistakes


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str]]:
    """Positives, random negatives and hard negatives of one image (see data.pairs.match_pairs)."""
    return match_pairs(record, rng, pool, data_cfg.negatives, hard_negative)


def build_model(config, vocab_size: int, target_vocab_size: int | None = None):
    """The match model: text branch + image branch → fusion → Dense(1, sigmoid) named 'match'."""
    import keras
    from keras import layers

    from crossmodal_tf.models.branches import build_image_branch
    from crossmodal_tf.models.fusion import FUSIONS, build_text_features

    size = config.data.image.size
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")
    text_features, words = build_text_features(config.model, tokens, vocab_size)

    def image_branch(condition=None, grid=False):
        return build_image_branch(config.model.image, images, condition, grid=grid)

    fused = FUSIONS[config.model.fusion.type](config.model.fusion, text_features, image_branch, words)
    # float32 output keeps the sigmoid and the loss stable under mixed precision
    score = layers.Dense(1, activation="sigmoid", dtype="float32", name="match")(fused)
    return keras.Model({"text": tokens, "image": images}, score, name="match_model")


def arrange(batch):
    """A parsed batch → ({'text', 'image'}, label)."""
    return {"text": batch["text"], "image": batch["image"]}, batch["label"]


def loss(train_cfg=None):
    """Binary cross-entropy, or with train.loss.focal_gamma above 0 focal loss: it weighs down the pairs the
    model already scores right, so the hard negatives it still confuses drive the updates."""
    import keras

    gamma = train_cfg.loss.focal_gamma if train_cfg is not None else 0.0
    if gamma:
        return keras.losses.BinaryFocalCrossentropy(gamma=gamma)
    return keras.losses.BinaryCrossentropy()


def train_metrics() -> list:
    import keras

    return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]


def called_matches(scores, threshold: float):
    """Which scores count as a match: those above eval.threshold (strictly), the rule by which Keras's
    accuracy, precision, recall and F1 decide, so that every figure of a run calls a pair the same way."""
    import numpy as np

    return np.asarray(scores) > threshold


def scored_batches(model, dataset):
    """Each parsed batch with its labels and match scores as numpy vectors: (batch, labels, scores).

    The model runs as one compiled graph: called eagerly, Keras steps through the
    LSTM in Python, several times slower.
    """
    import numpy as np
    import tensorflow as tf

    score_of = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    for batch in dataset:
        inputs, label = arrange(batch)
        yield batch, np.asarray(label)[:, 0], np.asarray(score_of(inputs))[:, 0]


def evaluate(run, model, dataset) -> dict:
    """Loss, accuracy, precision, recall, F1 and the exact ROC AUC over a dataset of parsed batches.

    Also the accuracy on each kind of example (positives, random and hard negatives),
    which shows whether the model tells apart captions that differ in one attribute.
    """
    import keras
    import numpy as np

    from crossmodal_tf.figures import roc_curve

    threshold = run.config.eval.threshold
    metrics = {
        "loss": keras.metrics.BinaryCrossentropy(),
        "accuracy": keras.metrics.BinaryAccuracy(threshold=threshold),
        "precision": keras.metrics.Precision(thresholds=threshold),
        "recall": keras.metrics.Recall(thresholds=threshold),
        "f1": keras.metrics.F1Score(threshold=threshold),
    }
    scores, labels, kinds = [], [], []
    for batch, label, score in scored_batches(model, dataset):
        for metric in metrics.values():
            metric.update_state(label[:, None], score[:, None])
        scores.append(score)
        labels.append(label)
        kinds.append(np.asarray(batch["kind"]))
    if not scores:
        return {}
    # F1Score returns one value per class: a vector of length 1 here
    results = {name: float(np.asarray(metric.result()).reshape(-1)[0]) for name, metric in metrics.items()}
    scores, labels, kinds = np.concatenate(scores), np.concatenate(labels), np.concatenate(kinds)
    # exact, from every score: Keras's AUC buckets scores by 1,000 thresholds, and a trained model's scores
    # crowd into the top and bottom buckets (positives at 0.9999 and negatives at 0.9995 made 0.5, not 1.0)
    results["auc"] = roc_curve(labels, scores)[2]
    correct = called_matches(scores, threshold) == (labels >= 0.5)
    for kind_id, kind_name in enumerate(EXAMPLE_KINDS):
        chosen = kinds == kind_id
        if chosen.any():
            results[f"accuracy_{kind_name}"] = float(correct[chosen].mean())
    results["examples"] = int(len(scores))
    return results


def report_sections(run, model, split: str, dataset) -> list:
    """ROC curve, confusion matrix and the most confident mistakes of a match run."""
    import numpy as np

    from crossmodal_tf import figures
    from crossmodal_tf.report_page import Section, card, gallery, image, note
    from crossmodal_tf.tasks.sequence import texts

    threshold = run.config.eval.threshold
    scores, labels, wrong = [], [], []  # wrong: (error, score, label, kind, text, image) of misjudged pairs
    for batch, label, score in scored_batches(model, dataset):
        scores.append(score)
        labels.append(label)
        kinds, ids, images = (batch[key].numpy() for key in ("kind", "text", "image"))
        for row in np.flatnonzero(called_matches(score, threshold) != (label >= 0.5)):
            wrong.append((abs(score[row] - label[row]), score[row], label[row], kinds[row], ids[row], images[row]))
        wrong = sorted(wrong, key=lambda w: -w[0])[:MISTAKES]  # only the gallery's images are kept
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    figures_html = (image(figures.roc_figure(labels, scores), "ROC curve")
                    + image(figures.confusion_figure(labels, called_matches(scores, threshold)), "confusion matrix"))
    level = run.config.data.text.level
    cards = [card(figures.example_image(pixels), f"mistake {n + 1}",
                  [texts(ids[None], run.vocab, level)[0],
                   f"score {score:.3f}, truth: {'match' if label >= 0.5 else 'no match'} "
                   f"({EXAMPLE_KINDS[kind].replace('_', ' ')})"])
             for n, (_, score, label, kind, ids, pixels) in enumerate(wrong)]
    mistakes = gallery(cards) if cards else note("No mistakes on this split.")
    return [Section(f"Match scores ({split} split, {len(scores)} pairs, threshold {threshold})", figures_html),
            Section("Most confident mistakes", note("The pairs the model got wrong with the most confidence: "
                                                    "the image, the caption it judged, its score.") + mistakes)]


def export_endpoint(run, model):
    """(text strings, encoded images) → {"score": match probability}."""
    from crossmodal_tf.serving.endpoint import IMAGE, TEXT, Endpoint, text_input
    from crossmodal_tf.serving.image_ops import decode_images

    encode_text, table = text_input(run.vocab, run.config.data.text)

    def serve(text, image):
        inputs = {"text": encode_text(text), "image": decode_images(image, run.config.data.image)}
        return {"score": model(inputs, training=False)[:, 0]}

    return Endpoint(serve, [TEXT, IMAGE], [table])


TASK = Task(
    name="match", uses_image=True, frame_text=False, metric_names=("accuracy", "auc"), headline_metric="accuracy",
    reads=("data.image", "data.negatives", "model.image", "model.fusion", "eval.threshold", "train.negatives",
           "train.loss"),
    make_examples=make_examples, build_model=build_model, loss=loss, train_metrics=train_metrics, arrange=arrange,
    evaluate=evaluate, report_sections=report_sections, export_endpoint=export_endpoint)
