"""Cached features of a frozen backbone train the same model as running the backbone every step."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.mark.slow
def test_cached_features_train_what_the_backbone_every_step_trains(tmp_path, monkeypatch):
    """Same data, seed and batches: the cached run's losses equal the uncached run's; its model.keras takes pixels;
    env.json records the weights' SHA-256; a second run reads the cache instead of computing it."""
    import keras

    from crossmodal_tf.config import load_config
    from crossmodal_tf.models.backbones import make_backbone, weights_sha256
    from crossmodal_tf.stages.train import train
    from tests.conftest import TESTS

    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "mobilenet_v2.weights.h5"
    make_backbone("mobilenet_v2", 32, pooled=True, model_name="saved").save_weights(weights)
    histories, logs = {}, {}
    for cached in (True, False, True):
        config = load_config(TESTS / "configs" / "tiny_caption.yaml", [
            "model.image.backbone=mobilenet_v2", f"model.image.weights={weights}",
            f"model.image.cache_features={str(cached).lower()}", f"name=run-{cached}", "train.epochs=2"],
            warn=lambda line: None)
        lines = []
        train(config, overwrite=True, progress="none", warn=lines.append)
        histories[cached] = [json.loads(line) for line in (tmp_path / "runs" / f"run-{cached}" / "metrics.jsonl")
                             .read_text().splitlines()]
        logs.setdefault(cached, []).append(lines)
    for a, b in zip(histories[True], histories[False]):
        np.testing.assert_allclose([a["loss"], a["val_loss"]], [b["loss"], b["val_loss"]], rtol=2e-3)
    assert any("computing the mobilenet_v2 features" in line for line in logs[True][0])
    assert not any("computing" in line for line in logs[True][1]) and any("cached by" in l for l in logs[True][1])
    env = json.loads((tmp_path / "runs" / "run-True" / "env.json").read_text())
    assert env["image_weights"]["sha256"] == weights_sha256(weights)
    model = keras.models.load_model(tmp_path / "runs" / "run-True" / "model.keras", compile=False)
    assert model.input["image"].shape[1:] == (32, 32, 3)
