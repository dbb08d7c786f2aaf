"""The seq2seq model: attention respects source padding, and the single-step generator is the whole model."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from crossmodal_tf.decoding import DecodeSettings  # noqa: E402
from crossmodal_tf.data.text import Vocabulary  # noqa: E402
from crossmodal_tf.models.cached_step import Generator, decoder_of  # noqa: E402
from crossmodal_tf.tasks import seq2seq  # noqa: E402
from crossmodal_tf.decoding import make_decoder  # noqa: E402

SOURCE = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", *[f"s{i}" for i in range(12)]])
TARGET = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", *[f"t{i}" for i in range(9)]])
SOURCES = np.array([[4, 5, 6, 0, 0, 0], [7, 8, 9, 10, 11, 0]], np.int32)


def model_for(tiny_config, attention: str, layers: int = 1, seed: int = 3):
    config = tiny_config("task=seq2seq", f"model.attention={attention}", f"model.text.layers={layers}")
    keras.utils.set_random_seed(seed)
    return config, seq2seq.build_model(config, len(SOURCE), len(TARGET))


def teacher_forced_log_prob(model, source: np.ndarray, tokens: np.ndarray) -> float:
    """log p of a decoded row (ending at <end> or max length) given its source, under the whole model."""
    row = [int(t) for t in tokens if t]
    logits = np.asarray(model({"source": source[None], "text": np.array([[2, *row[:-1]]], np.int32)},
                              training=False), np.float64)[0]
    logits[:, [0, 2]] = -np.inf  # the decoder never emits <pad> or <start>, so it renormalises without them
    top = logits.max(-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    return float(sum(log_probs[i, t] for i, t in enumerate(row)))


@pytest.mark.parametrize("attention, layers", [("luong", 1), ("bahdanau", 2), ("none", 1)])
def test_the_generator_matches_the_teacher_forced_model(tiny_config, attention, layers):
    config, model = model_for(tiny_config, attention, layers)
    gen = seq2seq.generator(model, config)
    settings = DecodeSettings("greedy", max_length=7)
    result = seq2seq.translate(gen, make_decoder(gen, TARGET, jit_compile=False), TARGET, SOURCES, settings, 2)
    for row, source in enumerate(SOURCES):
        expected = teacher_forced_log_prob(model, source, result.tokens[row, 0])
        assert result.log_probs[row, 0] == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("attention", ["luong", "bahdanau"])
def test_attention_ignores_source_padding(tiny_config, attention):
    _, model = model_for(tiny_config, attention)
    decoder_in = np.array([[2, 5, 6]], np.int32)
    short = model({"source": np.array([[4, 5, 6]], np.int32), "text": decoder_in}, training=False)
    long = model({"source": np.array([[4, 5, 6, 0, 0, 0, 0]], np.int32), "text": decoder_in}, training=False)
    np.testing.assert_allclose(np.asarray(short), np.asarray(long), atol=1e-5)


@pytest.mark.parametrize("attention, layer", [("luong", keras.layers.Attention),
                                              ("bahdanau", keras.layers.AdditiveAttention)])
def test_the_attention_setting_picks_the_keras_layer(tiny_config, attention, layer):
    config, model = model_for(tiny_config, attention)
    decoder = decoder_of(model)
    assert isinstance(decoder.attention, layer)
    # weights over the source steps: one per (decoder step, source step); the memory is what the model gives
    # its decoder (the generator's context)
    context = Generator(model, ("source",)).context_model({"source": SOURCES[:1]})
    queries = np.random.default_rng(0).normal(size=(1, 4, config.model.text.units)).astype("float32")
    _, scores = decoder.attention([queries, context["memory"]], return_attention_scores=True,
                                  mask=[None, context["memory_mask"]])
    assert tuple(scores.shape) == (1, 4, SOURCES.shape[1])
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, atol=1e-5)
    assert np.asarray(scores)[..., 3:].max() < 1e-6  # padded source steps get no weight


def test_no_attention_builds_no_attention_layer(tiny_config):
    _, model = model_for(tiny_config, "none")
    assert decoder_of(model).attention is None and "memory" not in decoder_of(model).context_names


def test_beam_search_translates_with_the_shared_decoder(tiny_config):
    config, model = model_for(tiny_config, "luong")
    gen = seq2seq.generator(model, config)
    settings = DecodeSettings("beam", beam_width=3, max_length=6)
    result = seq2seq.translate(gen, make_decoder(gen, TARGET), TARGET, SOURCES, settings, 2, num_samples=2)
    assert result.tokens.shape[:2] == (2, 2)
    assert (result.scores[:, 0] >= result.scores[:, 1]).all()  # best first
