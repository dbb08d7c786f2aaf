"""Text type `transformer`: pre-LayerNorm Transformer blocks (keras-hub). The encoder's steps averaged over the
real tokens are the text's vector; a decoder cross-attends to an image's feature map, position by position, or
to every step of a source's encoder."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from crossmodal_tf.models.text_types.base import Encoded, TextSection, TextType


class TransformerSettings(TextSection):
    """model.text with type transformer."""

    dim: int = Field(128, ge=1, description="transformer: width of the token embeddings and of every block")
    heads: int = Field(4, ge=1, description="transformer: attention heads per block; they must divide dim")
    ffn_dim: int = Field(256, ge=1, description="transformer: hidden units of each block's feed-forward layer")
    positions: Literal["learned", "sinusoidal"] = Field(
        "learned", description="transformer: position embeddings learned per position, or fixed sinusoids")
    max_positions: int = Field(
        64, ge=2, description="transformer: the longest text a block reads, framing and generated tokens "
                              "included: learned positions have a row each, the decoding cache a slot each")


def check(config, task) -> None:
    """Refuse heads that do not divide dim, a fusion that reads word states, and texts longer than the positions."""
    text = config.model.text
    if text.dim % text.heads:
        raise ValueError(f"model.text.heads: {text.heads} heads do not divide model.text.dim {text.dim}")
    if config.model.fusion.read_words:
        # the Transformer branch hands the fusion one averaged vector, not the LSTM's word states
        raise ValueError("model.fusion.read_words: reads an LSTM's word states; with model.text.type "
                         "transformer set it to false")
    longest = max([config.data.text.max_length + 2 * task.frame_text]
                  + [config.data.target_text.max_length + 2] * task.target_text)
    if longest > text.max_positions:
        raise ValueError(f"model.text.max_positions: {text.max_positions} is shorter than the texts the model "
                         f"reads ({longest} tokens with <start> and <end>)")


def build_encoder(model_cfg, tokens, vocab_size: int, name: str = "text", words: bool = False,
                  for_decoder: bool = False) -> Encoded:
    """The steps averaged over the real tokens as the text's vector; for a decoder, every step and the mask."""
    from crossmodal_tf.models.transformer import build_transformer_encoder, build_transformer_text_branch

    if words:
        raise ValueError("a transformer text encoder gives no word states (model.fusion.read_words)")
    if for_decoder:
        steps, mask = build_transformer_encoder(model_cfg.text, tokens, vocab_size, name)
        return Encoded(steps=steps, mask=mask)
    return Encoded(pooled=build_transformer_text_branch(model_cfg.text, tokens, vocab_size, name))


def build_decoder(model_cfg, tokens, vocab_size: int, image=None, source: Encoded | None = None, copy_ids=None,
                  copy_extra: int = 0, name: str = "decoder"):
    """A TransformerDecoder's logits: cross-attending to an image's grid positions, or to a source's steps, or
    to nothing. copy_ids is refused: copy attention is the LSTM decoder's."""
    from crossmodal_tf.models.transformer import TransformerDecoder, grid_memory

    if copy_ids is not None:
        raise ValueError("model.copy: the transformer decoder has no copy attention")
    cfg = model_cfg.text
    context = {}
    if image is not None:
        context["memory"] = grid_memory(cfg, image(grid=True), name=f"{name}_image_memory")
    if source is not None:
        context.update(memory=source.steps, memory_mask=source.mask)
    decoder = TransformerDecoder(vocab_size, cfg.dim, cfg.heads, cfg.ffn_dim, cfg.layers, cfg.dropout,
                                 cfg.positions, cfg.max_positions, memory="memory" in context,
                                 memory_mask="memory_mask" in context, name=name)
    return decoder([tokens, *(context[key] for key in decoder.context_names)])


TEXT_TYPE = TextType(name="transformer", settings=TransformerSettings,
                     layer_modules=("crossmodal_tf.models.transformer",), check=check, build_encoder=build_encoder,
                     build_decoder=build_decoder)
