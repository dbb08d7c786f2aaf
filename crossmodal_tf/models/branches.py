"""The text and image branches every task builds on."""

from __future__ import annotations

from keras import layers

from crossmodal_tf.models.layers import (CoordinateChannels, FeatureModulation, FusedBatchNormalization,
                                         SpatialSoftArgmax)


def build_text_branch(model_cfg, tokens, vocab_size: int, name: str = "text", words: bool = False):
    """Token ids → one feature vector per text, built by the text type model.text.type names.

    model_cfg is the model section. With words set, returns (that vector, every word's
    state) for a fusion that reads the text word by word.
    """
    from crossmodal_tf.models.text_types import load_text_type

    encoded = load_text_type(model_cfg.text.type).build_encoder(model_cfg, tokens, vocab_size, name=name, words=words)
    return (encoded.pooled, encoded.steps) if words else encoded.pooled


def build_image_branch(cfg, images, condition=None, name: str = "image", grid: bool = False):
    """uint8 pixels → scaled → [coordinates] → Conv2D blocks → global pooling [+ positions]; returns features.

    cfg is the model.image section: one block (Conv2D, optional batch norm, ReLU,
    2x2 pooling) per entry of filters. With a `condition` tensor (text features),
    each block's channels are modulated by it before the ReLU (FiLM). With grid set,
    returns the last block's feature map instead, before its pooling: (batch, h, w,
    filters) positions for attention to choose from. A `model.image.backbone` other
    than conv builds that pretrained network instead (models/backbones.py).
    """
    if cfg.backbone != "conv":
        from crossmodal_tf.models.backbones import build_backbone_branch

        return build_backbone_branch(cfg, images, name=name, grid=grid, condition=condition)
    pool = layers.MaxPooling2D if cfg.pool == "max" else layers.AveragePooling2D
    global_pool = layers.GlobalMaxPooling2D if cfg.pool == "max" else layers.GlobalAveragePooling2D
    x = layers.Rescaling(1.0 / 255, name=f"{name}_scale")(images)
    if cfg.coord_channels:
        x = CoordinateChannels(name=f"{name}_coordinates")(x)
    for i, filters in enumerate(cfg.filters):
        x = layers.Conv2D(filters, cfg.kernel_size, padding="same", use_bias=not cfg.batch_norm,
                          name=f"{name}_conv_{i}")(x)
        if cfg.batch_norm:
            # under FiLM the text supplies each channel's scale and shift
            x = FusedBatchNormalization(center=condition is None, scale=condition is None, name=f"{name}_bn_{i}")(x)
        if condition is not None:
            factors = layers.Dense(2 * filters, name=f"{name}_film_{i}")(condition)
            x = FeatureModulation(name=f"{name}_modulation_{i}")([x, factors])
        x = layers.ReLU(name=f"{name}_relu_{i}")(x)
        if grid and i == len(cfg.filters) - 1:
            return x
        x = pool(2, name=f"{name}_pool_{i}")(x)
    pooled = global_pool(name=f"{name}_global_pool")(x)
    if cfg.positions:
        positions = SpatialSoftArgmax(name=f"{name}_positions")(x)
        pooled = layers.Concatenate(name=f"{name}_pooled_positions")([pooled, positions])
    x = pooled
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return x
