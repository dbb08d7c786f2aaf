"""A third text type, for tests/models/test_text_types.py: what registering one takes is this module and one line
in TEXT_TYPES. A bigram model: the next token's logits from the last token's embedding alone."""

from __future__ import annotations

from functools import cache

from pydantic import Field

from crossmodal_tf.models.text_types.base import Encoded, TextSection, TextType


class BigramSettings(TextSection):
    width: int = Field(8, ge=1, description="bigram: token embedding size")


def check(config, task) -> None:
    """Nothing this type cannot build."""


def build_encoder(model_cfg, tokens, vocab_size: int, name: str = "text", words: bool = False,
                  for_decoder: bool = False) -> Encoded:
    """The mean of the real tokens' embeddings."""
    import keras

    mask = keras.ops.not_equal(tokens, 0)
    steps = keras.layers.Embedding(vocab_size, model_cfg.text.width, name=f"{name}_embedding")(tokens)
    weights = keras.ops.expand_dims(keras.ops.cast(mask, steps.dtype), -1)
    pooled = keras.ops.sum(steps * weights, axis=1) / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)
    return Encoded(pooled=pooled, steps=steps, mask=mask)


def build_decoder(model_cfg, tokens, vocab_size: int, image=None, source=None, copy_ids=None, copy_extra: int = 0,
                  name: str = "decoder"):
    """A BigramDecoder's logits (it reads no image and no source)."""
    return BigramDecoder(vocab_size, model_cfg.text.width, name=name)([tokens])


@cache
def _decoder_class():
    import keras

    from crossmodal_tf.models.cached_step import CachedDecoder

    @keras.saving.register_keras_serializable(package="crossmodal_tf_tests")
    class BigramDecoder(CachedDecoder):
        def __init__(self, vocab_size: int, width: int, **kwargs):
            super().__init__(**kwargs)
            self.vocab_size, self.width = vocab_size, width
            self.embedding = keras.layers.Embedding(vocab_size, width)
            self.logits = keras.layers.Dense(vocab_size, dtype="float32")

        def call(self, inputs, training=None):
            return self.logits(self.embedding(inputs[0]))

        def get_config(self):
            return {**super().get_config(), "vocab_size": self.vocab_size, "width": self.width}

        def cached_step(self, length=None):
            return BigramStep(self)

    return BigramDecoder


class BigramStep:
    length = None

    def __init__(self, decoder):
        self.decoder = decoder

    def start(self, context, batch):
        import tensorflow as tf

        return {"steps": tf.zeros([batch], tf.int32)}  # the decoding loops carry a state of tensors

    def step(self, tokens, state):
        return self.decoder.logits(self.decoder.embedding(tokens)), {"steps": state["steps"] + 1}


def BigramDecoder(*args, **kwargs):  # noqa: N802  the Keras class, defined when first built (Keras loads lazily)
    return _decoder_class()(*args, **kwargs)


TEXT_TYPE = TextType(name="bigram", settings=BigramSettings, check=check, build_encoder=build_encoder,
                     build_decoder=build_decoder)
