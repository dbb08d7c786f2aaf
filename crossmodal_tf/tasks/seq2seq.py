"""Task `seq2seq`: an LSTM encoder-decoder with attention translates English into Chinese.

Examples are sentence pairs: from the parallel source, or every English caption of
a shapes image with its Chinese caption. The source side is stored as plain token
ids (the `text` field, source vocabulary), the target side framed as
<start> … <end> (the `target` field, target vocabulary). Decoding reuses the
sampler of the generative tasks through the same single-step generator.
"""

from __future__ import annotations

from collections import defaultdict

import keras
import numpy as np

from crossmodal_tf.decoding import Decoded, DecodeSettings
from crossmodal_tf.models.decoder import LstmGenerator, build_lstm_decoder
from crossmodal_tf.models.encoder import build_lstm_encoder
from crossmodal_tf.tasks.sequence import (  # noqa: F401  the task's interface, shared with lm and caption
    GENERATES_TEXT, evaluate_tokens, generate, loss, make_decoder, teacher_forcing, texts, train_metrics)
from crossmodal_tf.text_scores import translation_scores

FRAME_TEXT = False  # the source is plain ids; the target is framed (see TARGET_TEXT)
TARGET_TEXT = True  # preprocess stores each example's translation, framed, with its own vocabulary
USES_IMAGE = False
TAKES_IMAGE = False
TAKES_SOURCE = True  # cmx sample translates --text / --input sentences


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str, str]]:
    """Every source sentence of a record (each English caption of a shapes image) paired with its translation."""
    if not record.translation:
        return []
    return [(caption, 1, "positive", record.translation) for caption in record.captions]


def build_model(config, vocab_size: int, target_vocab_size: int) -> keras.Model:
    """Source ids → LSTM encoder → (final states, attended steps) → LSTM decoder → next-token logits."""
    source = keras.Input(shape=(None,), dtype="int32", name="source")
    tokens = keras.Input(shape=(None,), dtype="int32", name="text")
    cfg = config.model.text
    memory, states = build_lstm_encoder(cfg, source, vocab_size)
    attention = config.model.attention
    logits = build_lstm_decoder(cfg, tokens, target_vocab_size, initial_states=states,
                                memory=memory if attention != "none" else None, attention=attention)
    return keras.Model({"source": source, "text": tokens}, logits, name="seq2seq_model")


def arrange(batch):
    """A parsed batch → (source and decoder inputs, next-token targets of the translation)."""
    inputs, targets = teacher_forcing(batch["target"])
    return {"source": batch["text"], "text": inputs}, targets


def generator(model: keras.Model, config) -> LstmGenerator:
    """The trained decoder in single-step form; its start state (and attended memory) comes from the source."""
    outputs = {}
    for i in range(config.model.text.layers):
        _, outputs[f"h{i}"], outputs[f"c{i}"] = model.get_layer(f"encoder_lstm_{i}").output
    if config.model.attention != "none":
        outputs["memory"] = model.get_layer(f"encoder_lstm_{config.model.text.layers - 1}").output[0]
    return LstmGenerator(model, config.model.text, outputs, ("source",), memory_tokens="source")


def pad_sources(sources: list[list[int]], length: int) -> np.ndarray:
    """Source ids as one (rows, length) array, cut to length and padded with 0."""
    out = np.zeros((len(sources), length), np.int32)
    for row, ids in enumerate(sources):
        ids = ids[:length]
        out[row, : len(ids)] = ids
    return out


def translate(gen: LstmGenerator, decoder, target_vocab, sources: np.ndarray, settings: DecodeSettings,
              batch_size: int, num_samples: int = 1, seed: int = 0) -> Decoded:
    """Translations of padded source rows: the Decoded result, (rows, num_samples, steps).

    Every batch is padded to batch_size rows (and every row to the same length by
    pad_sources), so the compiled loop sees one shape and compiles once.
    """
    parts = []
    batch_size = max(1, min(batch_size, len(sources)))
    for begin in range(0, len(sources), batch_size):
        chunk = sources[begin:begin + batch_size]
        padded = np.concatenate([chunk, np.zeros((batch_size - len(chunk), chunk.shape[1]), chunk.dtype)])
        padded[len(chunk):, 0] = 1  # <unk>: a row of padding alone would have nothing to attend to
        decoded = generate(gen, decoder, target_vocab, {"source": padded}, batch_size, settings, num_samples,
                           seed + begin)
        parts.append(Decoded(decoded.tokens[: len(chunk)], decoded.log_probs[: len(chunk)],
                             decoded.scores[: len(chunk)]))
    return Decoded(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("tokens", "log_probs", "scores")))


def sources_with_references(dataset, target_vocab, level: str):
    """(source id rows, references) of the distinct source sentences of a dataset, each with all its translations."""
    references: dict[tuple, list[str]] = defaultdict(list)
    for batch in dataset:
        for source, target in zip(batch["text"].numpy(), batch["target"].numpy()):
            key = tuple(int(t) for t in source if t)
            text = texts(target[None, :], target_vocab, level)[0]
            if text not in references[key]:
                references[key].append(text)
    return [list(k) for k in references], list(references.values())


def evaluate(model: keras.Model, dataset, config, context) -> dict:
    """Token metrics of the target side with teacher forcing, then sacrebleu BLEU and chrF of greedy translations."""
    results = evaluate_tokens(model, dataset, arrange, context, text_field="target")
    level = config.data.target_text.level
    sources, references = sources_with_references(dataset, context.target_vocab, level)
    gen = generator(model, config)
    decoder = make_decoder(gen, context.target_vocab)
    settings = DecodeSettings("greedy", max_length=config.data.target_text.max_length + 1)  # the tokens and <end>
    decoded = translate(gen, decoder, context.target_vocab, pad_sources(sources, config.data.text.max_length),
                        settings, config.eval.batch_size)
    hypotheses = texts(decoded.tokens[:, 0], context.target_vocab, level)
    results.update(translation_scores(hypotheses, references, "zh" if level == "char" else "13a"))
    results["sentences"] = len(hypotheses)
    return results
