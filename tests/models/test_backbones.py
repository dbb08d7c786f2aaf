"""Pretrained backbones (model.image.backbone): weights from a local file, preprocessing in the graph, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmodal_tf.config import validate_config
from crossmodal_tf.errors import CmxError

SIZE, VOCAB, ANSWERS = 32, 20, 5
REAL_WEIGHTS = Path(__file__).resolve().parents[3] / "shared" / "weights" / \
    "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"


def config(task="caption", size=SIZE, fusion="concat", **image):
    return validate_config({
        "task": task, "data": {"image": {"size": size}},
        "model": {"text": {"embedding_dim": 8, "units": 8, "dropout": 0.0},
                  "image": {"backbone": "mobilenet_v2", "dropout": 0.0, **image},
                  **({"fusion": {"type": fusion, "project": 6, "hidden": [8]}} if task == "vqa" else {})}})


def build(cfg):
    from crossmodal_tf.tasks import load_task

    return load_task(cfg.task).build_model(cfg, VOCAB, ANSWERS)


@pytest.fixture(scope="module")
def saved_weights(tmp_path_factory):
    """A MobileNetV2 without top at SIZE px, random weights, saved as .weights.h5: (path, its weights)."""
    from crossmodal_tf.models.backbones import make_backbone

    backbone = make_backbone("mobilenet_v2", SIZE, pooled=True, model_name="saved")
    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.weights.h5"
    backbone.save_weights(path)
    return path, backbone.get_weights()


def test_weights_file_is_loaded_and_a_frozen_backbone_trains_nothing(saved_weights):
    """The model's backbone holds the file's values; frozen, only the head's weights are trainable."""
    path, values = saved_weights
    model = build(config(weights=str(path)))
    backbone = model.get_layer("image_backbone")
    assert all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), values))
    assert not backbone.trainable_weights
    assert model.trainable_weights  # the decoder still learns


@pytest.mark.slow
def test_trainable_n_trains_the_last_n_layers_only():
    model = build(config(trainable=3))
    backbone = model.get_layer("image_backbone")
    trains = [layer.trainable for layer in backbone.layers]
    assert trains[-3:] == [True] * 3 and not any(trains[:-3])
    assert backbone.trainable_weights


def test_resnet_preprocessing_in_the_graph_matches_keras_preprocess_input():
    """Raw uint8 pixels in; the graph's BGR + mean subtraction equals keras.applications' preprocess_input."""
    import keras

    from crossmodal_tf.models.backbones import BACKBONES, preprocessed

    images = keras.Input((4, 4, 3), dtype="uint8")
    model = keras.Model(images, preprocessed(BACKBONES["resnet50"], images, "image"))
    pixels = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3)).astype("uint8")
    expected = keras.applications.resnet50.preprocess_input(pixels.astype("float32"))
    np.testing.assert_allclose(model.predict(pixels, verbose=0), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_backbone_hands_its_grid_to_the_vqa_attention():
    """fusion attention asks for the grid: the features layer is (batch, h, w, channels), not a pooled vector."""
    model = build(config("vqa", size=64, fusion="attention"))
    assert len(model.get_layer("image_features").output.shape) == 4
    rng = np.random.default_rng(0)
    out = model({"text": rng.integers(1, VOCAB, (2, 5)).astype("int32"),
                 "image": rng.integers(0, 256, (2, 64, 64, 3)).astype("uint8")})
    assert out.shape == (2, ANSWERS)


def test_unknown_backbone_names_the_closest():
    with pytest.raises(CmxError, match="^model.image.backbone: unknown backbone 'mobilenet2'; did you mean "
                                       "mobilenet_v2"):
        config(backbone="mobilenet2")


@pytest.mark.parametrize("case", ["missing", "truncated", pytest.param("other_network", marks=pytest.mark.slow),
                                  "too_many_layers"])
def test_bad_weights_and_settings_are_one_error_naming_the_key(case, saved_weights, tmp_path):
    path, _ = saved_weights
    image, expected = {"weights": str(path)}, "do not fit backbone mobilenet_v3_small"
    if case == "missing":
        image, expected = {"weights": str(tmp_path / "absent.h5")}, "not found; it is read from disk, never downloaded"
    elif case == "truncated":
        cut = tmp_path / "cut.weights.h5"
        cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        image, expected = {"weights": str(cut)}, "not a readable HDF5 weights file (truncated"
    elif case == "too_many_layers":
        image, expected = {"trainable": 10_000}, "model.image.trainable: 10000 layers asked to train"
    cfg = config(**image, backbone="mobilenet_v3_small" if case == "other_network" else "mobilenet_v2")
    with pytest.raises(CmxError, match="^model.image.") as raised:
        build(cfg)
    assert expected in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.slow
@pytest.mark.skipif(not REAL_WEIGHTS.is_file(),
                    reason="the shared ImageNet MobileNetV2 weights (../shared/weights/) are not on this machine")
def test_real_imagenet_weights_load():
    """The shared ImageNet file (legacy Keras .h5 layout) loads into the backbone at 96 px, value for value."""
    import h5py

    model = build(config(size=96, weights=str(REAL_WEIGHTS)))
    backbone = model.get_layer("image_backbone")
    with h5py.File(REAL_WEIGHTS, "r") as weights:
        kernel = np.asarray(weights["Conv1"]["Conv1"]["kernel"])
    np.testing.assert_array_equal(backbone.get_layer("Conv1").kernel.numpy(), kernel)
