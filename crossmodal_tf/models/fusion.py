"""Fusions: combine text and image features into one vector. FUSIONS maps model.fusion.type to a builder."""

from __future__ import annotations

from keras import layers


def build_concat_fusion(cfg, text_features, image_features):
    """Concatenate both feature vectors, then the Dense hidden layers of model.fusion.hidden."""
    x = layers.Concatenate(name="fusion_concat")([text_features, image_features])
    for i, units in enumerate(cfg.hidden):
        x = layers.Dense(units, activation="relu", name=f"fusion_dense_{i}")(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"fusion_dropout_{i}")(x)
    return x


FUSIONS = {"concat": build_concat_fusion}
