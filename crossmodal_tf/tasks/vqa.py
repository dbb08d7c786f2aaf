"""Task `vqa`: visual question answering. The question through the text branch, the image through the image
branch, fused, then a softmax over the answer vocabulary (the train split's answers, data/answers.py).

One example per question of a record: its text is the question, its label the answer's
class id and its kind the question type (preprocess makes both ids: Task.answers).
`model.use_image: false` builds no image branch: the question-only baseline that shows
how much the answers can be guessed without looking.
"""

from __future__ import annotations

import random

from crossmodal_tf.data.answers import ANNOTATOR_UNKNOWN
from crossmodal_tf.errors import CmxError
from crossmodal_tf.tasks.base import Task

EXAMPLES = 12  # the report's gallery of test questions: the first question of as many distinct images
RANDOM_IMAGES = 3  # test images `cmx sample` asks about when no --image is given
TOP_ANSWERS = 3  # answers `cmx sample` lists when no --top-k is given
AGREEING = 3  # VQA accuracy: an answer is fully right when this many annotators gave it


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(question, answer, question type, every annotator's answer) per question of the record."""
    return [(q.question, q.answer, q.type, tuple(q.answers)) for q in record.questions]


def build_model(config, vocab_size: int, answer_count: int | None = None):
    """Text branch (+ image branch, fused by model.fusion) → Dense softmax over the answers, named 'answer'."""
    import keras
    from keras import layers

    from crossmodal_tf.models.branches import build_image_branch
    from crossmodal_tf.models.fusion import FUSIONS, build_hidden_layers, build_text_features

    size = config.data.image.size
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")  # unused without the image branch
    question, words = build_text_features(config.model, tokens, vocab_size)
    if config.model.use_image:
        def image_branch(condition=None, grid=False):
            return build_image_branch(config.model.image, images, condition, grid=grid)

        fused = FUSIONS[config.model.fusion.type](config.model.fusion, question, image_branch, words)
    else:
        fused = build_hidden_layers(config.model.fusion, question)
    # float32 output keeps the softmax and the loss stable under mixed precision
    answer = layers.Dense(answer_count, activation="softmax", dtype="float32", name="answer")(fused)
    return keras.Model({"text": tokens, "image": images}, answer, name="vqa_model")


def arrange(batch):
    """A parsed batch → ({'text', 'image'}, answer id)."""
    return {"text": batch["text"], "image": batch["image"]}, batch["label"]


def loss(train_cfg=None):
    import keras

    return keras.losses.SparseCategoricalCrossentropy()


def train_metrics() -> list:
    import keras

    return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]


def question_accuracies(predicted, answers):
    """Each question's VQA accuracy: predicted is a vector of answer ids, answers a row of annotators' answer ids
    per question (0: padding; an annotator's answer outside the vocabulary is -1, matching nothing).

    The official VQA formula (Antol et al. 2015, and the VQA evaluation code): with n ≥ 2 annotators, the mean
    over each annotator left out of min(1, matches among the other n − 1 / 3); with ten annotators that is the
    mean over the ten 9-annotator subsets. One annotator: exact match.
    """
    import numpy as np

    predicted, answers = np.asarray(predicted), np.asarray(answers)
    given = answers != 0
    annotators = given.sum(axis=1)
    matches = ((answers == predicted[:, None]) & given).sum(axis=1)
    # leaving out one of the `matches` annotators who agree leaves matches - 1 agreeing; leaving out another, all
    agreeing_left_out = matches * np.minimum(1.0, np.maximum(matches - 1, 0) / AGREEING)
    other_left_out = (annotators - matches) * np.minimum(1.0, matches / AGREEING)
    several = (agreeing_left_out + other_left_out) / np.maximum(annotators, 1)
    return np.where(annotators >= 2, several, (matches > 0).astype(float))


def vqa_accuracy(predicted, answers) -> float:
    """Mean over questions of question_accuracies."""
    return float(question_accuracies(predicted, answers).mean()) if len(predicted) else 0.0


def answer_scores(predicted, labels, kinds, question_types, annotators=None) -> dict:
    """accuracy, accuracy_<type>, majority_accuracy (always answering id 1, the train split's most common
    answer) and, when some question has annotators' answers, vqa_accuracy over every question (one without
    them has its one answer, the label, which is then an exact match)."""
    import numpy as np

    predicted, labels, kinds = np.asarray(predicted), np.asarray(labels), np.asarray(kinds)
    correct = (predicted == labels) & (labels != 0)  # the unknown answer is never right
    results = {"accuracy": float(correct.mean()), "majority_accuracy": float((labels == 1).mean())}
    for index, name in enumerate(question_types):
        chosen = kinds == index
        if chosen.any():
            results[f"accuracy_{name}"] = float(correct[chosen].mean())
    if annotators is not None and annotators.shape[1] and (annotators != 0).any():
        rated = (annotators != 0).any(axis=1)
        own = np.where(labels != 0, labels, ANNOTATOR_UNKNOWN)  # an unknown label matches nothing, as -1
        single = np.zeros_like(annotators)
        single[:, 0] = own
        results["vqa_accuracy"] = vqa_accuracy(predicted, np.where(rated[:, None], annotators, single))
    return results


def known_answers(probs):
    """The probabilities with the unknown answer (id 0) ruled out of every choice: argmax and top-k pick real answers.

    Id 0 stands for every answer too rare to be a class; it is never scored right, and
    "something rare" is no answer to give a user, so the likeliest real answer is given
    instead (as VQA models do, whose answer vocabulary has no such class).
    """
    import numpy as np

    known = np.array(probs, copy=True)
    known[:, 0] = -1.0
    return known


def answered_batches(model, dataset):
    """Each parsed batch with its answer ids and the model's probabilities, as numpy: (batch, labels, probs)."""
    import numpy as np
    import tensorflow as tf

    predict = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    for batch in dataset:
        inputs, label = arrange(batch)
        yield batch, np.asarray(label)[:, 0].astype(np.int64), np.asarray(predict(inputs))


def evaluate(run, model, dataset) -> dict:
    """Loss, accuracy (overall and per question type), the majority baseline, and VQA accuracy when the
    questions carry several annotators' answers."""
    import keras
    import numpy as np

    mean_loss = keras.metrics.SparseCategoricalCrossentropy()
    predicted, labels, kinds, annotators = [], [], [], []
    for batch, label, probs in answered_batches(model, dataset):
        mean_loss.update_state(label, probs)
        predicted.append(known_answers(probs).argmax(axis=1))
        labels.append(label)
        kinds.append(np.asarray(batch["kind"]))
        annotators.append(np.asarray(batch["target"]))
    if not labels:
        return {}
    width = max(a.shape[1] for a in annotators)
    annotators = np.concatenate([np.pad(a, [(0, 0), (0, width - a.shape[1])]) for a in annotators])
    results = {"loss": float(mean_loss.result())}
    results.update(answer_scores(np.concatenate(predicted), np.concatenate(labels), np.concatenate(kinds),
                                 run.stats.get("question_types", []), annotators))
    results["examples"] = int(sum(len(label) for label in labels))
    return results


def report_sections(run, model, split: str, dataset) -> list:
    """A gallery of questions with the predicted and the true answer, and the accuracy per question type."""
    import numpy as np

    from crossmodal_tf import figures
    from crossmodal_tf.report_page import Section, card, gallery, note, table
    from crossmodal_tf.tasks.sequence import texts

    level, answers, types = run.config.data.text.level, run.answers.answers, run.stats.get("question_types", [])
    size = run.config.data.image.size
    cards, shown, predicted, labels, kinds = [], set(), [], [], []
    for batch, label, probs in answered_batches(model, dataset):
        best = known_answers(probs).argmax(axis=1)
        predicted.append(best)
        labels.append(label)
        kinds.append(np.asarray(batch["kind"]))
        keys, ids, images = batch["key"].numpy(), batch["text"].numpy(), batch["image"].numpy()
        # one question per image: a photo's questions often come together (DAQUAR has ~9 each), and a
        # gallery of the same few rooms shows less of what the model does than twelve different ones
        for row in range(len(label)):
            if len(cards) == EXAMPLES or keys[row] in shown:
                continue
            shown.add(keys[row])
            verdict = "right" if best[row] == label[row] and label[row] else "wrong"
            cards.append(card(figures.example_image(images[row]), f"question {len(cards) + 1}",
                              [texts(ids[row][None], run.vocab, level)[0],
                               f"answer: {answers[best[row]]} (p {probs[row, best[row]]:.2f}, {verdict})",
                               f"truth: {answers[label[row]]}"]))
    if not labels:
        return [Section("Answers", note(f"No questions in the {split} split."))]
    predicted, labels, kinds = np.concatenate(predicted), np.concatenate(labels), np.concatenate(kinds)
    correct = (predicted == labels) & (labels != 0)
    rows = [[name, int((kinds == i).sum()), float(correct[kinds == i].mean())]
            for i, name in enumerate(types) if (kinds == i).any()]
    rows.append(["all", len(labels), float(correct.mean())])
    return [Section(f"Answers ({split} split, {len(labels)} questions)",
                    note(f"{len(cards)} {split} images, one question each: the model's answer, its probability, "
                         f"the truth. Images as the model sees them ({size}×{size} px).")
                    + gallery(cards)),
            Section("Accuracy by question type", table(["type", "questions", "accuracy"], rows))]


def export_endpoint(run, model):
    """(question strings, encoded images) → {"answer": the likeliest answer, "probability": its probability}."""
    import tensorflow as tf

    from crossmodal_tf.serving.image_ops import decode_images
    from crossmodal_tf.serving.endpoint import IMAGE, TEXT, Endpoint, text_input

    encode_text, table = text_input(run.vocab, run.config.data.text)
    answers = tf.constant(run.answers.answers)

    def serve(text, image):
        probs = model({"text": encode_text(text), "image": decode_images(image, run.config.data.image)},
                      training=False)
        # the unknown answer (id 0) is never the answer given, as in known_answers
        known = tf.concat([tf.fill([tf.shape(probs)[0], 1], tf.constant(-1.0, probs.dtype)), probs[:, 1:]], axis=-1)
        best = tf.argmax(known, axis=-1)
        return {"answer": tf.gather(answers, best), "probability": tf.gather(probs, best, batch_dims=1)}

    return Endpoint(serve, [TEXT, IMAGE], [table])


def _test_questions(run, seed: int, questions: tuple[str, ...]):
    """(label, pixels, question, question ids or None, truth or None) for a few random test images: their own
    questions, or the given ones."""
    split = run.eval_split()
    by_key: dict[str, list] = {}
    for batch in run.dataset(split):
        for key, image, ids, label in zip(batch["key"].numpy(), batch["image"].numpy(), batch["text"].numpy(),
                                          batch["label"].numpy()[:, 0]):
            by_key.setdefault(key.decode(), []).append((image, ids, int(label)))
    if not by_key:
        raise CmxError(f"{run.config.processed_dir}: no test or val images to ask about; pass --image PATH")
    keys = sorted(random.Random(seed).sample(sorted(by_key), min(RANDOM_IMAGES, len(by_key))))
    if questions:
        return [(f"{split} image {k}", by_key[k][0][0], q, None, None) for k in keys for q in questions]
    answers = run.answers.answers
    return [(f"{split} image {k}", image, None, ids, answers[label]) for k in keys for image, ids, label in by_key[k]]


def sample(run, request, settings, seed: int, warn) -> list[dict]:
    """The top answers (--top-k, default 3) to the request's questions about its images, or about a few random
    test images (their own questions and true answers when no --question is given)."""
    import numpy as np

    from crossmodal_tf.data.images import load_image_batch
    from crossmodal_tf.data.text import encode_prompt
    from crossmodal_tf.tasks.sequence import texts

    text_cfg, image_cfg = run.config.data.text, run.config.data.image
    if request.images:
        if not request.questions:
            raise CmxError("--image: a vqa run answers questions about an image; add --question TEXT")
        pixels = load_image_batch(list(request.images), image_cfg.size, image_cfg.max_pixels,
                                  resize=image_cfg.resize)
        rows = [(path, image, q, None, None) for path, image in zip(request.images, pixels) for q in request.questions]
    else:
        rows = _test_questions(run, seed, request.questions)
    encoded = []
    for _, _, question, ids, _ in rows:
        if ids is None:
            ids, _, unknown = encode_prompt(question, run.vocab, text_cfg)
            ids = ids[: text_cfg.max_length]
            if unknown:
                warn(f"cmx: warning: --question {question!r}: not in the vocabulary, read as <unk>: "
                     f"{', '.join(unknown)}")
        encoded.append(list(ids))
    width = max(1, *(len(ids) for ids in encoded))
    tokens = np.array([ids + [0] * (width - len(ids)) for ids in encoded], np.int32)
    probs = np.asarray(run.model()({"text": tokens, "image": np.stack([r[1] for r in rows])}, training=False))
    k, answers = settings.top_k or TOP_ANSWERS, run.answers.answers
    records = []
    ranked = np.argsort(-known_answers(probs), axis=1)[:, :k]
    for (label, _, question, _, truth), ids, p, top in zip(rows, encoded, probs, ranked):
        record = {"input": label, "question": question or texts(np.array([ids]), run.vocab, text_cfg.level)[0],
                  "answer": answers[top[0]], "probability": float(p[top[0]]),
                  "answers": [{"answer": answers[i], "probability": float(p[i])} for i in top]}
        records.append(record if truth is None else {**record, "truth": truth})
    return records


TASK = Task(
    name="vqa", uses_image=True, frame_text=False, metric_names=("accuracy",), headline_metric="accuracy",
    reads=("data.image", "data.answers", "model.image", "model.fusion", "model.use_image"), answers=True,
    sample_inputs=("image", "question"), needs=("images", "questions"),
    make_examples=make_examples, build_model=build_model, loss=loss, train_metrics=train_metrics, arrange=arrange,
    evaluate=evaluate, report_sections=report_sections, export_endpoint=export_endpoint, sample=sample)
