"""Task `retrieval`: a dual encoder; texts and images meet in one L2-normalised embedding space.

Training scores every caption of a batch against every image of it (in-batch
negatives) with a symmetric InfoNCE loss and a learned temperature. Evaluation
embeds a whole split and ranks all its images for each distinct caption
(text→image) and all its distinct captions for each image (image→text).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import layers

from crossmodal_tf.models.branches import build_image_branch, build_text_branch
from crossmodal_tf.models.contrastive import SymmetricInfoNCE, in_batch_accuracy, in_batch_positives
from crossmodal_tf.models.layers import ScaledSimilarity
from crossmodal_tf.retrieval_scores import ranks_of, recall_scores

GENERATES_TEXT = False
FRAME_TEXT = False  # captions are stored as plain token ids
USES_IMAGE = True
EMBEDDINGS = {"text": "text_shared_embedding", "image": "image_shared_embedding"}  # input → its output layer


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str]]:
    """Every caption of an image is one example (label 1); rows labelled 0 (captions that do not match) are left out.

    Negatives are the other images and captions of each batch, so none are stored.
    """
    labels = record.labels or (1,) * len(record.captions)
    return [(caption, 1, "positive") for caption, label in zip(record.captions, labels) if label]


def _embedding(features, dim: int, name: str):
    """A linear projection of a branch's features to the shared space, L2-normalised."""
    projected = layers.Dense(dim, name=f"{name}_projection")(features)
    # float32, so cosine similarities keep their precision under mixed precision
    return layers.UnitNormalization(dtype="float32", name=EMBEDDINGS[name])(projected)


def build_model(config, vocab_size: int) -> keras.Model:
    """Text and image branches → projections → unit vectors → 'similarity': logits (texts, images) of a batch."""
    size = config.data.image.size
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")
    cfg = config.model.embedding
    texts = _embedding(build_text_branch(config.model.text, tokens, vocab_size), cfg.dim, "text")
    pictures = _embedding(build_image_branch(config.model.image, images), cfg.dim, "image")
    logits = ScaledSimilarity(cfg.temperature, dtype="float32", name="similarity")([texts, pictures])
    return keras.Model({"text": tokens, "image": images}, logits, name="retrieval_model")


def arrange(batch):
    """A parsed batch → ({'text', 'image'}, (batch, batch) matrix of positives: same image or same caption)."""
    return {"text": batch["text"], "image": batch["image"]}, in_batch_positives(batch["key"], batch["text"])


def loss():
    return SymmetricInfoNCE()


def train_metrics() -> list:
    return [keras.metrics.MeanMetricWrapper(in_batch_accuracy, name="accuracy")]


def build_encoders(model: keras.Model) -> dict:
    """{'text': token ids → embeddings, 'image': uint8 pixels → embeddings}: the trained model's two halves.

    Each is compiled once for any batch size (and text length): called eagerly, a
    Keras model runs its LSTM step by step in Python, which made a one-caption
    query cost tens of milliseconds.
    """
    import tensorflow as tf

    encoders = {}
    for name, layer in EMBEDDINGS.items():
        inputs = model.get_layer(name).output
        encoder = keras.Model(inputs, model.get_layer(layer).output, name=f"{name}_encoder")
        signature = tf.TensorSpec((None, *inputs.shape[1:]), inputs.dtype)
        encoders[name] = tf.function(lambda x, encoder=encoder: encoder(x, training=False), input_signature=[signature])
    return encoders


def temperature(model: keras.Model) -> float:
    """The learned softmax temperature (1 / the similarity scale)."""
    return float(1.0 / keras.ops.convert_to_numpy(model.get_layer("similarity").scale()))


@dataclass
class SplitEmbeddings:
    """A split's distinct images and distinct captions, embedded, and which caption describes which image."""

    keys: list[str]
    image_embeddings: np.ndarray  # (images, dim), unit rows
    captions: list[tuple[int, ...]]  # token ids, without padding
    text_embeddings: np.ndarray  # (captions, dim), unit rows
    pairs: np.ndarray  # (n, 2) int: (caption index, image index) for every caption of every image


def embed_split(encoders: dict, dataset) -> SplitEmbeddings:
    """Embed every distinct image and caption of a dataset of parsed batches.

    A caption shared by several images is one caption with several pairs, which is
    how a query counts any of its images as a hit.
    """
    images, captions, pairs = {}, {}, set()
    image_rows, text_rows = [], []
    for batch in dataset:
        text_vectors = encoders["text"](batch["text"]).numpy()
        image_vectors = encoders["image"](batch["image"]).numpy()
        for row, (key, ids) in enumerate(zip(batch["key"].numpy(), batch["text"].numpy())):
            key, ids = key.decode(), tuple(int(i) for i in ids if i)
            if key not in images:
                images[key] = len(images)
                image_rows.append(image_vectors[row])
            if ids not in captions:
                captions[ids] = len(captions)
                text_rows.append(text_vectors[row])
            pairs.add((captions[ids], images[key]))
    return SplitEmbeddings(list(images), np.stack(image_rows), list(captions), np.stack(text_rows),
                           np.array(sorted(pairs), np.int64).reshape(-1, 2))


def evaluate(model: keras.Model, dataset, config, context=None) -> dict:
    """Recall@1/5/10 and median rank, text→image (t2i_*) and image→text (i2t_*), over the whole split."""
    split = embed_split(build_encoders(model), dataset)
    text_to_image = ranks_of(split.text_embeddings, split.image_embeddings, split.pairs)
    image_to_text = ranks_of(split.image_embeddings, split.text_embeddings, split.pairs[:, ::-1])
    results = {**recall_scores(text_to_image, "t2i"), **recall_scores(image_to_text, "i2t")}
    results.update({"images": len(split.keys), "captions": len(split.captions), "temperature": temperature(model)})
    return results
