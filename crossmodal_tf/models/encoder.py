"""The LSTM encoder of the encoder-decoder (seq2seq) task."""

from __future__ import annotations

from keras import layers


def build_lstm_encoder(cfg, tokens, vocab_size: int, name: str = "encoder"):
    """Source ids (batch, steps) → every step's outputs (batch, steps, units) and each layer's final [h, c].

    cfg is the model.text section. The padding mask travels with the outputs, so
    attention over them ignores padded steps. Layer i's final state starts the
    decoder's layer i.
    """
    x = layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name=f"{name}_embedding")(tokens)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_embedding_dropout")(x)
    states = []
    for i in range(cfg.layers):
        x, h, c = layers.LSTM(cfg.units, return_sequences=True, return_state=True, name=f"{name}_lstm_{i}")(x)
        states.append([h, c])
        if cfg.dropout:
            x = layers.Dropout(cfg.dropout, name=f"{name}_dropout_{i}")(x)
    return x, states
