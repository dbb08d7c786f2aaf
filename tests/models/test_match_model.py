"""The match model: shapes, variants, the coordinate layer and saving in the .keras format."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf.config import validate_config

VOCAB = 30
SIZE = 16


def config(**model):
    """A small match config; `model` overrides sections of model.* (e.g. text={...})."""
    sections = {"text": {"embedding_dim": 8, "units": 8, "dropout": 0.0},
                "image": {"filters": [4, 8], "dropout": 0.0}, "fusion": {"hidden": [8], "dropout": 0.0}}
    for name, values in model.items():
        sections[name] = {**sections[name], **values}
    return validate_config({"task": "match", "seed": 1, "data": {"image": {"size": SIZE}}, "model": sections})


def inputs(batch=3, length=5, seed=0):
    rng = np.random.default_rng(seed)
    return {"text": rng.integers(1, VOCAB, size=(batch, length)).astype("int32"),
            "image": rng.integers(0, 256, size=(batch, SIZE, SIZE, 3)).astype("uint8")}


def build(cfg):
    from crossmodal_tf.tasks.match import build_model

    return build_model(cfg, VOCAB)


def test_output_is_one_probability_per_pair():
    """The model maps a batch of (text, image) pairs to scores of shape (batch, 1) in [0, 1]."""
    model = build(config())
    score = np.asarray(model(inputs(batch=4), training=False))
    assert score.shape == (4, 1)
    assert ((score >= 0) & (score <= 1)).all()
    assert model.output.dtype == "float32"
    assert set(model.input) == {"text", "image"}  # inputs are named as the pipeline names them


@pytest.mark.parametrize("text", [
    {"bidirectional": True},
    {"layers": 2},
    {"layers": 2, "bidirectional": True, "dropout": 0.2},
])
def test_text_branch_variants_build_and_run(text):
    """Bidirectional and stacked LSTMs build, run and keep the output shape."""
    model = build(config(text=text))
    assert np.asarray(model(inputs(), training=False)).shape == (3, 1)
    lstm_names = [layer.name for layer in model.layers if "lstm" in layer.name]
    assert len(lstm_names) == text.get("layers", 1)
    assert all(("bilstm" in n) == text.get("bidirectional", False) for n in lstm_names)


@pytest.mark.parametrize("image", [{"pool": "avg", "batch_norm": False}, {"filters": [4], "kernel_size": 5}])
def test_image_branch_variants_build_and_run(image):
    """Average pooling, no batch norm, other kernels and depths build and run."""
    model = build(config(image=image))
    assert np.asarray(model(inputs(), training=False)).shape == (3, 1)
    convs = [layer for layer in model.layers if layer.name.startswith("image_conv_")]
    assert len(convs) == len(image.get("filters", [4, 8]))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_does_not_change_the_score(bidirectional):
    """Extra zero padding (texts are padded per batch) leaves a pair's score unchanged."""
    model = build(config(text={"bidirectional": bidirectional}))
    batch = inputs(batch=2, length=4)
    padded = dict(batch, text=np.pad(batch["text"], ((0, 0), (0, 3))))
    np.testing.assert_allclose(np.asarray(model(batch, training=False)),
                               np.asarray(model(padded, training=False)), atol=1e-5)


def test_text_changes_the_score():
    """The score depends on the caption (the text branch is wired in)."""
    model = build(config())
    a, b = inputs(seed=1), inputs(seed=2)
    mixed = dict(a, text=b["text"])
    assert not np.allclose(np.asarray(model(a, training=False)), np.asarray(model(mixed, training=False)))


@pytest.mark.parametrize("coord_channels", [True, False])
def test_coord_channels_switch(coord_channels):
    """model.image.coord_channels adds (or leaves out) the coordinate layer and 2 input channels."""
    model = build(config(image={"coord_channels": coord_channels}))
    names = [layer.name for layer in model.layers]
    assert ("image_coordinates" in names) == coord_channels
    conv = model.get_layer("image_conv_0")
    assert conv.kernel.shape[2] == (5 if coord_channels else 3)
    assert np.asarray(model(inputs(), training=False)).shape == (3, 1)


def test_coordinate_channels_values():
    """CoordinateChannels keeps the input and appends x and y grids running from -1 to 1."""
    from crossmodal_tf.models.layers import CoordinateChannels

    images = np.random.default_rng(0).random((2, 4, 5, 3)).astype("float32")
    layer = CoordinateChannels()
    out = np.asarray(layer(images))
    assert out.shape == (2, 4, 5, 5)
    assert layer.compute_output_shape((None, 4, 5, 3)) == (None, 4, 5, 5)
    np.testing.assert_array_equal(out[..., :3], images)
    x, y = out[0, ..., 3], out[0, ..., 4]
    np.testing.assert_allclose(x[0], np.linspace(-1, 1, 5), atol=1e-6)   # x grows along the width
    np.testing.assert_allclose(y[:, 0], np.linspace(-1, 1, 4), atol=1e-6)  # y grows down the height
    assert np.allclose(x, x[0:1]) and np.allclose(y, y[:, 0:1])
    np.testing.assert_array_equal(out[0, ..., 3:], out[1, ..., 3:])  # the same for every image


def fusion_types() -> list[str]:
    from crossmodal_tf.models.fusion import FUSIONS

    return list(FUSIONS)


def test_fusion_registry_matches_the_config():
    """model.fusion.type accepts exactly the registered fusions."""
    from typing import get_args

    from crossmodal_tf.config import FusionConfig

    assert set(get_args(FusionConfig.model_fields["type"].annotation)) == set(fusion_types())


@pytest.mark.parametrize("fusion", fusion_types())
def test_every_fusion_builds_and_ignores_padding(fusion):
    """Each fusion gives (batch, 1) scores in [0, 1] that extra padding does not change."""
    model = build(config(fusion={"type": fusion, "project": 8}))
    batch = inputs(batch=2, length=4)
    score = np.asarray(model(batch, training=False))
    assert score.shape == (2, 1) and ((score >= 0) & (score <= 1)).all()
    padded = dict(batch, text=np.pad(batch["text"], ((0, 0), (0, 2))))
    np.testing.assert_allclose(np.asarray(model(padded, training=False)), score, atol=1e-5)


@pytest.mark.parametrize("fusion", fusion_types())
def test_save_and_load_keras_format_in_safe_mode(tmp_path, fusion):
    """A saved .keras model loads with safe_mode=True and scores exactly as before."""
    import keras

    model = build(config(text={"bidirectional": True}, fusion={"type": fusion, "project": 8}))
    batch = inputs()
    expected = np.asarray(model(batch, training=False))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False, safe_mode=True)
    np.testing.assert_allclose(np.asarray(loaded(batch, training=False)), expected, rtol=1e-6, atol=1e-6)
    assert "image_coordinates" in [layer.name for layer in loaded.layers]


def test_match_task_contract():
    """The task names a binary loss and accuracy/AUC training metrics."""
    from crossmodal_tf.tasks import load_task

    task = load_task("match")
    assert task.generates_text is False
    assert type(task.loss()).__name__ == "BinaryCrossentropy"
    assert [m.name for m in task.train_metrics()] == ["accuracy", "auc"]


def test_focal_gamma_makes_the_loss_focal_and_weighs_down_pairs_scored_right():
    """train.loss.focal_gamma: above 0, a pair already scored right costs less than under cross-entropy."""
    from crossmodal_tf.tasks import load_task

    task = load_task("match")
    focal = task.loss(validate_config({"task": "match", "train": {"loss": {"focal_gamma": 2.0}}}).train)
    plain = task.loss(validate_config({"task": "match"}).train)
    assert type(focal).__name__ == "BinaryFocalCrossentropy" and type(plain).__name__ == "BinaryCrossentropy"
    right, wrong = (np.array([[1.0]]), np.array([[0.9]])), (np.array([[1.0]]), np.array([[0.2]]))
    assert float(focal(*right)) < 0.05 * float(plain(*right))  # (1 - 0.9)^2 = 0.01 of it
    assert float(focal(*wrong)) > 0.5 * float(plain(*wrong))  # (1 - 0.2)^2 = 0.64 of it


def test_spatial_soft_argmax_finds_where_a_feature_fires():
    """With a sharp peak, a channel's position output is the peak's (x, y) in [-1, 1]."""
    import numpy as np

    from crossmodal_tf.models.layers import SpatialSoftArgmax

    features = np.zeros((1, 5, 5, 2), "float32")
    features[0, 0, 4, 0] = 50.0  # channel 0: top right
    features[0, 4, 0, 1] = 50.0  # channel 1: bottom left
    positions = np.asarray(SpatialSoftArgmax()(features))
    x, y = positions[0, :2], positions[0, 2:]
    np.testing.assert_allclose(x, [1.0, -1.0], atol=1e-3)
    np.testing.assert_allclose(y, [-1.0, 1.0], atol=1e-3)


def test_positions_add_two_features_per_channel():
    """model.image.positions appends x and y per channel of the last block to the pooled features."""
    import keras

    from crossmodal_tf.config import validate_config
    from crossmodal_tf.models.branches import build_image_branch

    config = validate_config({"task": "match", "model": {"image": {"filters": [4, 6], "positions": True}}})
    images = keras.Input((16, 16, 3), dtype="uint8")
    assert build_image_branch(config.model.image, images).shape[-1] == 6 * 3
