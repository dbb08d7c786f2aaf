"""Task `retrieval`: a dual encoder; texts and images meet in one L2-normalised embedding space.

Training scores every caption of a batch against every image of it (in-batch
negatives) with a symmetric InfoNCE loss and a learned temperature. Evaluation
embeds a whole split and ranks all its images for each distinct caption
(text→image) and all its distinct captions for each image (image→text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crossmodal_tf.tasks.base import Task

if TYPE_CHECKING:  # for annotations: numpy is imported where it is used, so reading TASK stays fast
    import numpy as np

QUERIES = 6  # caption queries the report shows
TOP_IMAGES = 5  # images per query in the report
EMBEDDINGS = {"text": "text_shared_embedding", "image": "image_shared_embedding"}  # input → its output layer


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str]]:
    """Every caption of an image is one example (label 1); rows labelled 0 (captions that do not match) are left out.

    Negatives are the other images and captions of each batch, so none are stored.
    """
    labels = record.labels or (1,) * len(record.captions)
    return [(caption, 1, "positive") for caption, label in zip(record.captions, labels) if label]


def _embedding(features, dim: int, name: str):
    """A linear projection of a branch's features to the shared space, L2-normalised."""
    from keras import layers

    projected = layers.Dense(dim, name=f"{name}_projection")(features)
    # float32, so cosine similarities keep their precision under mixed precision
    return layers.UnitNormalization(dtype="float32", name=EMBEDDINGS[name])(projected)


def build_model(config, vocab_size: int, target_vocab_size: int | None = None):
    """Text and image branches → projections → unit vectors → 'similarity': logits (texts, images) of a batch."""
    import keras

    from crossmodal_tf.models.branches import build_image_branch, build_text_branch
    from crossmodal_tf.models.layers import ScaledSimilarity

    size = config.data.image.size
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    images = keras.Input(shape=(size, size, 3), dtype="uint8", name="image")
    cfg = config.model.embedding
    texts = _embedding(build_text_branch(config.model, tokens, vocab_size), cfg.dim, "text")
    pictures = _embedding(build_image_branch(config.model.image, images), cfg.dim, "image")
    logits = ScaledSimilarity(cfg.temperature, dtype="float32", name="similarity")([texts, pictures])
    return keras.Model({"text": tokens, "image": images}, logits, name="retrieval_model")


def arrange(batch):
    """A parsed batch → ({'text', 'image'}, (batch, batch) matrix of positives: same image or same caption)."""
    from crossmodal_tf.models.contrastive import in_batch_positives

    return {"text": batch["text"], "image": batch["image"]}, in_batch_positives(batch["key"], batch["text"])


def loss(train_cfg=None):
    from crossmodal_tf.models.contrastive import SymmetricInfoNCE

    return SymmetricInfoNCE()


def train_metrics() -> list:
    import keras

    from crossmodal_tf.models.contrastive import in_batch_accuracy

    return [keras.metrics.MeanMetricWrapper(in_batch_accuracy, name="accuracy")]


def build_encoders(model) -> dict:
    """{'text': token ids → embeddings, 'image': uint8 pixels → embeddings}: the trained model's two halves.

    Each is compiled once for any batch size (and text length): called eagerly, a
    Keras model runs its LSTM step by step in Python, which made a one-caption
    query cost tens of milliseconds.
    """
    import keras
    import tensorflow as tf

    encoders = {}
    for name, layer in EMBEDDINGS.items():
        inputs = model.get_layer(name).output
        encoder = keras.Model(inputs, model.get_layer(layer).output, name=f"{name}_encoder")
        signature = tf.TensorSpec((None, *inputs.shape[1:]), inputs.dtype)
        encoders[name] = tf.function(lambda x, encoder=encoder: encoder(x, training=False), input_signature=[signature])
    return encoders


def temperature(model) -> float:
    """The learned softmax temperature (1 / the similarity scale)."""
    import keras

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
    import numpy as np

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


def evaluate(run, model, dataset) -> dict:
    """Recall@1/5/10 and median rank, text→image (t2i_*) and image→text (i2t_*), over the whole split."""
    from crossmodal_tf.retrieval_scores import ranks_of, recall_scores

    split = embed_split(build_encoders(model), dataset)
    text_to_image = ranks_of(split.text_embeddings, split.image_embeddings, split.pairs)
    image_to_text = ranks_of(split.image_embeddings, split.text_embeddings, split.pairs[:, ::-1])
    results = {**recall_scores(text_to_image, "t2i"), **recall_scores(image_to_text, "i2t")}
    results.update({"images": len(split.keys), "captions": len(split.captions), "temperature": temperature(model)})
    return results


def report_sections(run, model, split: str, dataset) -> list:
    """Caption queries with their top-5 images (a strip each), scores, and which images are hits."""
    import numpy as np

    from crossmodal_tf import figures
    from crossmodal_tf.report_page import Section, card, gallery, note, table
    from crossmodal_tf.retrieval_scores import top_matches
    from crossmodal_tf.tasks.sequence import texts

    embedded = embed_split(build_encoders(model), dataset)
    pixels = {}
    for batch in dataset:
        for key, picture in zip(batch["key"].numpy(), batch["image"].numpy()):
            pixels.setdefault(key.decode(), picture)
    hits = {(int(c), int(i)) for c, i in embedded.pairs}
    level = run.config.data.text.level
    rows = []
    for query in range(min(QUERIES, len(embedded.captions))):
        best, scores = top_matches(embedded.image_embeddings, embedded.text_embeddings[query], TOP_IMAGES)
        strip = gallery([card(figures.example_image(pixels[embedded.keys[i]]), embedded.keys[i],
                              [f"{score:.3f}" + (" ✓" if (query, int(i)) in hits else "")])
                         for i, score in zip(best, scores)])
        rows.append([texts(np.asarray(embedded.captions[query])[None], run.vocab, level)[0], strip])
    return [Section(f"Text → image search ({split} split, {len(embedded.keys)} images)",
                    note(f"Each caption query with its {TOP_IMAGES} closest images and their cosine scores; "
                         "✓ marks an image the caption belongs to.")
                    + table(["query", f"top {TOP_IMAGES} images"], rows, raw_columns=(1,)))]


def export_endpoint(run, model):
    """(text strings, encoded images) → their unit embeddings and the (texts, images) cosine similarity matrix."""
    import keras
    import tensorflow as tf

    from crossmodal_tf.serving.image_ops import decode_images
    from crossmodal_tf.serving.endpoint import IMAGE, TEXT, Endpoint, text_input

    encode_text, table = text_input(run.vocab, run.config.data.text)
    encoders = {name: keras.Model(model.get_layer(name).output, model.get_layer(layer).output)
                for name, layer in EMBEDDINGS.items()}

    def serve(text, image):
        texts = encoders["text"](encode_text(text), training=False)
        images = encoders["image"](decode_images(image, run.config.data.image), training=False)
        return {"text_embedding": texts, "image_embedding": images,
                "similarity": tf.matmul(texts, images, transpose_b=True)}

    return Endpoint(serve, [TEXT, IMAGE], [table])


TASK = Task(
    name="retrieval", uses_image=True, frame_text=False, metric_names=("accuracy",), headline_metric="t2i_r1",
    reads=("data.image", "model.image", "model.embedding"), search_inputs=("query", "image"),
    make_examples=make_examples, build_model=build_model, loss=loss, train_metrics=train_metrics, arrange=arrange,
    evaluate=evaluate, report_sections=report_sections, export_endpoint=export_endpoint)
