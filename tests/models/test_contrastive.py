"""The InfoNCE loss, the in-batch positives and the similarity layer of the retrieval task."""

import numpy as np
import pytest
import tensorflow as tf

from crossmodal_tf.models.contrastive import SymmetricInfoNCE, in_batch_accuracy, in_batch_positives
from crossmodal_tf.models.layers import ScaledSimilarity


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_loss_is_lower_for_aligned_embeddings_than_for_shuffled_ones():
    rng = np.random.default_rng(0)
    images = unit(rng.normal(size=(8, 16)))
    texts = unit(images + 0.1 * rng.normal(size=(8, 16)))
    positives = np.eye(8, dtype=np.float32)
    loss = SymmetricInfoNCE()
    aligned = float(loss(positives, 10 * texts @ images.T))
    shuffled = float(loss(positives, 10 * texts[rng.permutation(8)] @ images.T))
    assert aligned < 0.1 < 1.0 < shuffled


def test_loss_is_symmetric_in_texts_and_images():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 6)).astype(np.float32)
    positives = np.eye(6, dtype=np.float32)
    positives[0, 1] = positives[1, 0] = 1.0
    loss = SymmetricInfoNCE()
    assert float(loss(positives, logits)) == pytest.approx(float(loss(positives.T, logits.T)), rel=1e-6)


def test_duplicate_captions_are_not_pushed_apart():
    """Texts 0 and 1 are the same caption of two images; each is scored equally with both images.

    With the in-batch positives, the loss gives no gradient on those pairs; had the
    duplicate been a negative (plain diagonal targets), the gradient would push it away.
    """
    logits = tf.Variable(np.array([[5.0, 5.0, 0.0],
                                   [5.0, 5.0, 0.0],
                                   [0.0, 0.0, 5.0]], np.float32))
    keys = tf.constant([b"img-a", b"img-b", b"img-c"])
    texts = tf.constant([[4, 5, 6, 0], [4, 5, 6, 0], [4, 7, 0, 0]])
    positives = in_batch_positives(keys, texts)
    assert positives.numpy().tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    for targets, pushed_apart in ((positives, False), (tf.eye(3), True)):
        with tf.GradientTape() as tape:
            value = SymmetricInfoNCE()(targets, logits)
        gradient = tape.gradient(value, logits).numpy()
        # gradient descent lowers a logit whose gradient is positive
        assert (gradient[0, 1] > 1e-3) == pushed_apart and (gradient[1, 0] > 1e-3) == pushed_apart


def test_positives_mark_the_same_image_under_two_captions():
    keys = tf.constant([b"a", b"a", b"b"])
    texts = tf.constant([[4, 5], [6, 7], [4, 8]])
    assert in_batch_positives(keys, texts).numpy().tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_positives_follow_a_caption_to_every_copy_of_its_image():
    # rows: (a, "red circle"), (b, "red circle"), (b, "there is a red circle")
    keys = tf.constant([b"a", b"b", b"b"])
    texts = tf.constant([[4, 5, 0], [4, 5, 0], [6, 4, 5]])
    # text 0 describes image b (it is b's caption in row 1), so also column 2, which is image b again
    assert in_batch_positives(keys, texts).numpy().tolist() == [[1, 1, 1], [1, 1, 1], [0, 1, 1]]


def test_in_batch_accuracy_counts_a_top_score_on_any_positive():
    positives = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    logits = np.array([[0.1, 0.9, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]], np.float32)
    assert np.asarray(in_batch_accuracy(positives, logits)).tolist() == [1.0, 0.0, 1.0]


def test_similarity_scale_starts_at_one_over_the_temperature_and_is_clipped():
    layer = ScaledSimilarity(temperature=0.1)
    texts = unit(np.array([[1.0, 0.0], [0.0, 1.0]], np.float32))
    logits = np.asarray(layer([texts, texts]))
    assert logits == pytest.approx(np.array([[10.0, 0.0], [0.0, 10.0]]), rel=1e-5)
    layer.log_scale.assign(20.0)
    assert float(layer.scale()) == pytest.approx(100.0, rel=1e-5)
