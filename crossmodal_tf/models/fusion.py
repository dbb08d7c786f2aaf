"""Fusions: combine the text features with the image branch. FUSIONS maps model.fusion.type to a builder.

A builder takes (cfg, text_features, image_branch, words=None), where
image_branch(condition=None, grid=False) builds the image branch and returns its
features; most fusions call it plainly, FiLM passes the text features in so that the
text steers the convolutions, attention asks for the feature map (grid=True) to choose
positions from. `words` are the text's word states, given when reads_words(cfg) says
the fusion reads them (build_text_features builds both).
"""

from __future__ import annotations

from keras import layers

from crossmodal_tf.models.branches import build_text_branch
from crossmodal_tf.models.layers import CoordinateChannels, QuestionAttention


def reads_words(cfg) -> bool:
    """Whether the model.fusion section reads the text word by word (attention with read_words), not one vector."""
    return cfg.type == "attention" and cfg.read_words


def build_text_features(model_cfg, tokens, vocab_size: int):
    """(the text branch's features, its word states or None): word states only when model.fusion reads them."""
    if reads_words(model_cfg.fusion):
        return build_text_branch(model_cfg, tokens, vocab_size, words=True)
    return build_text_branch(model_cfg, tokens, vocab_size), None


def build_hidden_layers(cfg, x):
    """The Dense (and Dropout) layers of model.fusion.hidden on x."""
    for i, units in enumerate(cfg.hidden):
        x = layers.Dense(units, activation="relu", name=f"fusion_dense_{i}")(x)
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"fusion_dropout_{i}")(x)
    return x


def build_concat_fusion(cfg, text_features, image_branch, words=None):
    """Concatenate text and image feature vectors, then the Dense layers of model.fusion.hidden."""
    return build_hidden_layers(cfg, layers.Concatenate(name="fusion_concat")([text_features, image_branch()]))


def build_concat_product_fusion(cfg, text_features, image_branch, words=None):
    """Concatenate text, image and their elementwise product (both projected to model.fusion.project units).

    Both projections are layer-normalised: at initialisation the LSTM's outputs are
    tiny next to the pooled image features, and an unnormalised product then carries
    no signal, which leaves training stuck at chance for epochs.
    """
    image_features = image_branch()
    text_projected = layers.LayerNormalization(name="fusion_text_norm")(
        layers.Dense(cfg.project, name="fusion_text_projection")(text_features))
    image_projected = layers.LayerNormalization(name="fusion_image_norm")(
        layers.Dense(cfg.project, name="fusion_image_projection")(image_features))
    product = layers.Multiply(name="fusion_product")([text_projected, image_projected])
    return build_hidden_layers(cfg, layers.Concatenate(name="fusion_concat")([text_features, image_features, product]))


def build_film_fusion(cfg, text_features, image_branch, words=None):
    """FiLM (Perez et al., 2018): the text modulates every conv block, then text and image are concatenated.

    Checking a caption against a picture needs the image features to be about what
    the caption names; with plain concatenation the pooled features must describe
    every object and position in advance, and relations ("left of") get lost.
    """
    image_features = image_branch(condition=text_features)
    return build_hidden_layers(cfg, layers.Concatenate(name="fusion_concat")([text_features, image_features]))


def build_attention_fusion(cfg, text_features, image_branch, words=None):
    """Stacked attention (SAN, Yang et al., 2016): the text attends over the last conv feature map's positions
    in model.fusion.hops hops; the attended vectors are concatenated with the text.

    Pooling the whole map makes the image vector describe every object at once;
    attention lets the question pick the object it names. The map gets coordinate
    channels so that an attended vector also says where it looked (relations).
    With model.fusion.film the text modulates the conv blocks as well; with
    model.fusion.read_words each hop reads the question's words (given as `words`) to
    choose what it looks for (see QuestionAttention).
    """
    grid = image_branch(condition=text_features if cfg.film else None, grid=True)
    grid = CoordinateChannels(name="fusion_grid_coordinates")(grid)
    inputs = [grid, text_features] + ([words] if cfg.read_words else [])
    attended = QuestionAttention(cfg.project, cfg.hops, cfg.read_words, name="fusion_attention")(inputs)
    return build_hidden_layers(cfg, layers.Concatenate(name="fusion_concat")([text_features, attended]))


FUSIONS = {
    "attention": build_attention_fusion,
    "concat": build_concat_fusion,
    "concat_product": build_concat_product_fusion,
    "film": build_film_fusion,
}
