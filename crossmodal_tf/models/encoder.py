"""The LSTM text encoders (text type lstm): the text branch of match, vqa and retrieval, and the encoder of seq2seq."""

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


def build_lstm_text_branch(cfg, tokens, vocab_size: int, name: str = "text", words: bool = False):
    """Embedding (padding masked) → stacked, optionally bidirectional LSTMs; returns the final state.

    cfg is the model.text section. With words set, returns (final state, every step's
    state): the same final state as without, plus the word states (padding still
    masked) for a fusion that reads the text word by word.
    """
    x = layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=True, name=f"{name}_embedding")(tokens)
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_embedding_dropout")(x)
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        lstm = layers.LSTM(cfg.units, return_sequences=words or not last, return_state=words and last,
                           name=f"{name}_lstm_{i}")
        if cfg.bidirectional:
            lstm = layers.Bidirectional(lstm, name=f"{name}_bilstm_{i}")
        x = lstm(x)
    if words:
        # (steps, h, c) or, bidirectional, (steps, forward h, c, backward h, c); the final state is the h's
        steps, final = x[0], x[1] if len(x) == 3 else layers.Concatenate(name=f"{name}_final")([x[1], x[3]])
        if cfg.dropout:
            steps = layers.Dropout(cfg.dropout, name=f"{name}_steps_dropout")(steps)
            final = layers.Dropout(cfg.dropout, name=f"{name}_dropout")(final)
        return final, steps
    if cfg.dropout:
        x = layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return x
