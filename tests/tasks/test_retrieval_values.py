"""retrieval's evaluate hook on a fixed dual encoder whose embeddings are known: R@1/5/10 and median rank by
value, shared captions, and the tie rule (an irrelevant item scoring exactly as high as the best relevant one
ranks above it: ties count against the query).

Images embed as the 2-d direction of their pixels' first two channels (less 128), captions as the row of a
fixed table their first token picks, so every cosine similarity is known.
"""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf.retrieval_scores import recall_scores
from crossmodal_tf.tasks import retrieval

SIZE = 4
# image key → its embedding direction; D is B's twin (the same pixels), so the two always tie
IMAGES = {"A": (100, 0), "B": (0, 100), "C": (-100, 0), "D": (0, 100)}
# caption token → its embedding direction
CAPTIONS = {4: (100, 10), 5: (0, 100), 6: (60, 80), 7: (-100, -10), 8: (0, -100)}
# (image, caption) rows of the split: caption 7 describes A and C
ROWS = [("A", 4), ("A", 7), ("B", 5), ("C", 6), ("C", 7), ("D", 8)]


def fixed_dual_encoder():
    """A retrieval model with the task's layer names whose embeddings are IMAGES' and CAPTIONS' directions."""
    import keras
    from keras import layers

    from crossmodal_tf.models.layers import ScaledSimilarity

    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    images = keras.Input(shape=(SIZE, SIZE, 3), dtype="uint8", name="image")
    table = layers.Embedding(max(CAPTIONS) + 1, 2, name="caption_table")
    texts = layers.UnitNormalization(name=retrieval.EMBEDDINGS["text"])(table(tokens[:, 0]))
    means = layers.GlobalAveragePooling2D()(keras.ops.cast(images, "float32"))
    channels = layers.Dense(2, name="first_two_channels")
    pictures = layers.UnitNormalization(name=retrieval.EMBEDDINGS["image"])(channels(means))
    logits = ScaledSimilarity(0.07, name="similarity")([texts, pictures])
    model = keras.Model({"text": tokens, "image": images}, logits)
    weights = np.zeros((max(CAPTIONS) + 1, 2), np.float32)
    for token, vector in CAPTIONS.items():
        weights[token] = vector
    table.set_weights([weights])
    channels.set_weights([np.array([[1, 0], [0, 1], [0, 0]], np.float32), np.array([-128, -128], np.float32)])
    return model


def batches(rows, size: int) -> list[dict]:
    """Parsed batches of (image key, caption token) rows: uniform images, captions as [token, 3, 0]."""
    import tensorflow as tf

    out = []
    for begin in range(0, len(rows), size):
        part = rows[begin:begin + size]
        pixels = [np.broadcast_to(np.array([128 + IMAGES[k][0], 128 + IMAGES[k][1], 0], np.uint8), (SIZE, SIZE, 3))
                  for k, _ in part]
        out.append({"text": tf.constant([[token, 3, 0] for _, token in part], tf.int32),
                    "image": tf.constant(np.stack(pixels)), "key": tf.constant([k.encode() for k, _ in part]),
                    "label": tf.ones((len(part), 1)), "kind": tf.zeros(len(part), tf.int64)})
    return out


@pytest.fixture(scope="module")
def model():
    return fixed_dual_encoder()


@pytest.mark.parametrize("rows, size", [(ROWS, 4), (ROWS[::-1], 2), (ROWS[2:] + ROWS[:2], 1)])
def test_recall_and_median_rank_by_value_in_any_row_order(model, rows, size):
    results = retrieval.evaluate(None, model, batches(rows, size))
    # text → image, each caption's rank of its best image (cosines from the directions above):
    #   4 → A first: 1.  5 → B (1.0), but D ties at 1.0 and is not 5's: 2.  6 (0.6, 0.8) → C at -0.6 under
    #   A 0.6, B 0.8, D 0.8: 4.  7 → A or C; C at 0.995 is first: 1.  8 → D at -1, under A 0, C 0 and B -1: 4.
    assert results["t2i_r1"] == pytest.approx(2 / 5)
    assert results["t2i_r5"] == 1.0 and results["t2i_r10"] == 1.0
    assert results["t2i_median_rank"] == 2.0
    # image → text: A's best caption is 4 (0.995): 1; B's 5: 1; C's 7 (0.995): 1; D's only caption 8 at -1,
    # under 5 (1.0), 6 (0.8), 4 (0.0995) and 7 (-0.0995): 5
    assert results["i2t_r1"] == pytest.approx(3 / 4)
    assert results["i2t_r5"] == 1.0 and results["i2t_median_rank"] == 1.0
    assert (results["images"], results["captions"]) == (4, 5)  # caption 7 is one caption with two images
    assert results["temperature"] == pytest.approx(0.07)


def test_a_caption_shared_by_two_tied_images_is_a_hit_at_once(model):
    """Give caption 5 to D as well: the tie that counted against it is now between two of its own images."""
    results = retrieval.evaluate(None, model, batches(ROWS + [("D", 5)], 4))
    assert results["t2i_r1"] == pytest.approx(3 / 5)  # 4, 5 and 7 first
    # D's best caption is now 5 (1.0), tied with nothing irrelevant above it: i2t all first
    assert results["i2t_r1"] == 1.0 and results["i2t_median_rank"] == 1.0


def test_median_rank_of_an_even_count_is_the_mean_of_the_middle_two():
    assert recall_scores(np.array([1, 2, 3, 10]), "t2i")["t2i_median_rank"] == 2.5
