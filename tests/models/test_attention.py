"""Question-guided attention over the image's grid (model.fusion.type: attention) and its layer."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf.config import validate_config

VOCAB, ANSWERS, SIZE = 30, 7, 16


def config(bidirectional=False, **fusion):
    return validate_config({
        "task": "vqa", "seed": 1, "data": {"image": {"size": SIZE}},
        "model": {"text": {"embedding_dim": 8, "units": 8, "dropout": 0.0, "bidirectional": bidirectional},
                  "image": {"filters": [4, 8], "dropout": 0.0},
                  "fusion": {"type": "attention", "project": 6, "hidden": [8], "dropout": 0.0, **fusion}}})


def inputs(batch=3, length=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"text": rng.integers(1, VOCAB, size=(batch, length)).astype("int32"),
            "image": rng.integers(0, 256, size=(batch, SIZE, SIZE, 3)).astype("uint8")}


def build(cfg):
    from crossmodal_tf.tasks.vqa import build_model

    return build_model(cfg, VOCAB, ANSWERS)


@pytest.mark.parametrize("hops", [1, 2])
def test_each_hop_gives_one_attended_vector_and_weights_summing_to_one(hops):
    """(batch, hops · units) out; per hop, weights over the h·w positions that sum to 1 for every example."""
    from crossmodal_tf.models.layers import QuestionAttention

    rng = np.random.default_rng(0)
    features = rng.normal(size=(4, 3, 5, 6)).astype("float32")
    question = rng.normal(size=(4, 9)).astype("float32")
    layer = QuestionAttention(units=7, hops=hops)
    assert tuple(layer([features, question]).shape) == (4, hops * 7)
    attended, weights = layer.attend([features, question])
    assert len(attended) == len(weights) == hops
    for weight in weights:
        weight = np.asarray(weight)
        assert weight.shape == (4, 15) and (weight >= 0).all()
        np.testing.assert_allclose(weight.sum(axis=1), 1.0, rtol=1e-5)


def test_the_question_changes_where_it_looks():
    """Two questions about one feature map give different weights: the scores depend on the question."""
    from crossmodal_tf.models.layers import QuestionAttention

    rng = np.random.default_rng(1)
    features = np.repeat(rng.normal(size=(1, 4, 4, 3)).astype("float32"), 2, axis=0)
    question = rng.normal(size=(2, 5)).astype("float32") * 3
    _, weights = QuestionAttention(units=8, hops=1).attend([features, question])
    assert not np.allclose(np.asarray(weights[0])[0], np.asarray(weights[0])[1])


def test_the_image_branch_returns_its_last_feature_map_for_attention():
    """grid=True: the last block's map before its pooling (16 px, two blocks: 8×8), not a pooled vector."""
    import keras

    from crossmodal_tf.models.branches import build_image_branch

    images = keras.Input((SIZE, SIZE, 3), dtype="uint8")
    assert tuple(build_image_branch(config().model.image, images, grid=True).shape) == (None, 8, 8, 8)
    assert len(build_image_branch(config().model.image, images).shape) == 2


@pytest.mark.parametrize("film", [False, True])
def test_vqa_model_with_attention_answers_and_survives_a_safe_mode_round_trip(tmp_path, film):
    """One probability row per question; the saved .keras model loads in safe mode and answers the same."""
    import keras

    model = build(config(film=film, hops=2))
    batch = inputs()
    expected = np.asarray(model(batch, training=False))
    assert expected.shape == (3, ANSWERS)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0, rtol=1e-5)
    assert any("film" in layer.name for layer in model.layers) == film
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(batch, training=False)), expected, rtol=1e-6, atol=1e-6)
    _, weights = loaded.get_layer("fusion_attention").attend(
        [np.zeros((3, 8, 8, 10), "float32"), np.zeros((3, 8), "float32")])
    np.testing.assert_allclose(np.asarray(weights[1]).sum(axis=1), 1.0, rtol=1e-5)


def test_reading_words_ignores_padding_and_round_trips_in_safe_mode(tmp_path):
    """model.fusion.read_words: the hops read the question's words; padding after the question changes no
    answer, a changed word does, and the saved model loads in safe mode and answers the same."""
    import keras

    model = build(config(bidirectional=True, film=True, hops=2, read_words=True))
    batch = inputs(length=4)
    expected = np.asarray(model(batch, training=False))
    padded = {**batch, "text": np.pad(batch["text"], [(0, 0), (0, 3)])}
    np.testing.assert_allclose(np.asarray(model(padded, training=False)), expected, rtol=1e-5, atol=1e-6)
    changed = {**batch, "text": batch["text"].copy()}
    changed["text"][:, 1] = (changed["text"][:, 1] % (VOCAB - 1)) + 1
    assert not np.allclose(np.asarray(model(changed, training=False)), expected)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(padded, training=False)), expected, rtol=1e-5, atol=1e-6)
