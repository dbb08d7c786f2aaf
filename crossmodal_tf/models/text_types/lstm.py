"""Text type `lstm`: stacked LSTMs. The encoder's final state is the text's vector; a decoder is conditioned on
an image through its initial states or its input steps (model.condition), on a source through the encoder's
final states and attention (model.attention), and may copy source words (model.copy)."""

from __future__ import annotations

from pydantic import Field

from crossmodal_tf.models.text_types.base import Encoded, TextSection, TextType


class LstmSettings(TextSection):
    """model.text with type lstm."""

    embedding_dim: int = Field(64, ge=1, description="lstm: token embedding size")
    units: int = Field(128, ge=1, description="lstm: units of each LSTM layer")
    bidirectional: bool = Field(False, description="lstm: encoders read both ways (never a decoder)")


def check(config, task) -> None:
    """Refuse a bidirectional decoder: it would see the words it predicts."""
    if task.generates_text and config.model.text.bidirectional:
        raise ValueError(f"model.text.bidirectional: task {task.name} decodes left to right; "
                         "a bidirectional decoder would see the words it predicts")


def build_encoder(model_cfg, tokens, vocab_size: int, name: str = "text", words: bool = False,
                  for_decoder: bool = False) -> Encoded:
    """The final state as the text's vector (and the word states); for a decoder, every step and each layer's
    final [h, c]."""
    import keras

    from crossmodal_tf.models.encoder import build_lstm_encoder, build_lstm_text_branch

    if for_decoder:
        steps, states = build_lstm_encoder(model_cfg.text, tokens, vocab_size, name)
        return Encoded(steps=steps, mask=keras.ops.not_equal(tokens, 0), states=states)
    if words:
        pooled, steps = build_lstm_text_branch(model_cfg.text, tokens, vocab_size, name, words=True)
        return Encoded(pooled=pooled, steps=steps)
    return Encoded(pooled=build_lstm_text_branch(model_cfg.text, tokens, vocab_size, name))


def build_decoder(model_cfg, tokens, vocab_size: int, image=None, source: Encoded | None = None, copy_ids=None,
                  copy_extra: int = 0, name: str = "decoder"):
    """An LstmDecoder's logits: after an image's pooled features (through a Dense ReLU layer, as model.condition
    says), or a source's encoder states (attended as model.attention says, copying with copy_ids), or nothing."""
    from keras import layers

    from crossmodal_tf.models.decoder import LstmDecoder

    cfg = model_cfg.text
    context, condition, attention = {}, None, "none"
    if image is not None:
        condition = model_cfg.condition
        context["condition"] = layers.Dense(cfg.units, activation="relu", name=f"{name}_image_condition")(image())
    if source is not None:
        attention = model_cfg.attention
        for i, (h, c) in enumerate(source.states):
            context[f"h{i}"], context[f"c{i}"] = h, c
        context.update(memory=source.steps, memory_mask=source.mask, copy_ids=copy_ids)
    decoder = LstmDecoder(vocab_size, cfg.embedding_dim, cfg.units, cfg.layers, cfg.dropout, condition=condition,
                          initial_states=source is not None, attention=attention,
                          copy_extra=copy_extra if copy_ids is not None else None, name=name)
    return decoder([tokens, *(context[key] for key in decoder.context_names)])


TEXT_TYPE = TextType(name="lstm", settings=LstmSettings, layer_modules=("crossmodal_tf.models.decoder",),
                     reads_outside=("model.condition", "model.attention", "model.copy"),
                     check=check, build_encoder=build_encoder, build_decoder=build_decoder)
