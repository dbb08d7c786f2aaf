"""The lm and caption models: the single-step generator must be the teacher-forced model, one token at a time."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from crossmodal_tf.decoding import DecodeSettings  # noqa: E402
from crossmodal_tf.tasks import caption, lm  # noqa: E402
from crossmodal_tf.models.metrics import TokenAccuracy  # noqa: E402
from crossmodal_tf.decoding import make_decoder  # noqa: E402
from crossmodal_tf.tasks.sequence import generate, unigram_perplexity  # noqa: E402
from crossmodal_tf.data.text import Vocabulary  # noqa: E402

VOCAB = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", *[f"w{i}" for i in range(16)]])


def images(count: int, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def teacher_forced_log_prob(model, tokens: np.ndarray, image=None) -> float:
    """log p of a decoded row (ending at <end> or max length) under the whole-sequence model."""
    row = [int(t) for t in tokens if t]
    inputs = {"text": np.array([[2, *row[:-1]]], np.int32)}
    if image is not None:
        inputs["image"] = image[None]
    logits = np.asarray(model(inputs, training=False), np.float64)[0]
    logits[:, [0, 2]] = -np.inf  # the decoder never emits <pad> or <start>, so it renormalises without them
    top = logits.max(-1, keepdims=True)
    log_probs = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    return float(sum(log_probs[i, t] for i, t in enumerate(row)))


@pytest.mark.parametrize("condition", ["init_state", "every_step", "both"])
def test_caption_generator_matches_the_teacher_forced_model(tiny_config, condition):
    config = tiny_config("task=caption", f"model.condition={condition}", "model.text.layers=2")
    keras.utils.set_random_seed(1)
    model = caption.build_model(config, len(VOCAB))
    gen = caption.generator(model, config)
    decoder = make_decoder(gen, VOCAB, jit_compile=False)
    pictures = images(2)
    result = generate(gen, decoder, VOCAB, {"image": pictures}, 2, DecodeSettings("greedy", max_length=6))
    for row, picture in enumerate(pictures):
        expected = teacher_forced_log_prob(model, result.tokens[row, 0], picture)
        assert result.log_probs[row, 0] == pytest.approx(expected, abs=1e-3)
    # the image matters: different pictures give different next-token distributions
    first = np.asarray(model({"text": np.array([[2], [2]], np.int32), "image": pictures}, training=False))
    assert not np.allclose(first[0], first[1])


def test_lm_generator_matches_the_teacher_forced_model_after_a_prompt(tiny_config):
    config = tiny_config("task=lm")
    keras.utils.set_random_seed(2)
    model = lm.build_model(config, len(VOCAB))
    gen = lm.generator(model, config)
    decoder = make_decoder(gen, VOCAB, jit_compile=False)
    prompt = [5, 9]
    result = generate(gen, decoder, VOCAB, None, 1, DecodeSettings("greedy", max_length=5), prompt_ids=prompt)
    full = teacher_forced_log_prob(model, np.array([*prompt, *result.tokens[0, 0]]))
    prefix = teacher_forced_log_prob(model, np.array(prompt))
    assert result.log_probs[0, 0] == pytest.approx(full - prefix, abs=1e-3)


@pytest.mark.slow  # trains, saves and reloads a caption run: ~15 s
def test_a_saved_caption_model_loads_in_safe_mode_and_generates_the_same(tiny_config, tmp_path):
    config = tiny_config("task=caption", "model.condition=both")
    model = caption.build_model(config, len(VOCAB))
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False, safe_mode=True)
    settings = DecodeSettings("beam", beam_width=3, max_length=6)
    outputs = []
    for m in (model, loaded):
        gen = caption.generator(m, config)
        outputs.append(generate(gen, make_decoder(gen, VOCAB), VOCAB, {"image": images(3)}, 3, settings, 2))
    np.testing.assert_array_equal(outputs[0].tokens, outputs[1].tokens)


def test_padding_is_left_out_of_loss_and_token_accuracy(tiny_config):
    """Two batches that differ only in padding length give the same loss and accuracy."""
    config = tiny_config("task=lm")
    model = lm.build_model(config, len(VOCAB))
    model.compile(loss=lm.TASK.loss(), metrics=lm.TASK.train_metrics())
    short = np.array([[2, 5, 6, 3], [2, 7, 3, 0]], np.int32)
    padded = np.concatenate([short, np.zeros((2, 5), np.int32)], axis=1)
    results = [model.evaluate(*lm.arrange({"text": t}), verbose=0, return_dict=True) for t in (short, padded)]
    assert results[0]["loss"] == pytest.approx(results[1]["loss"], rel=1e-5)
    assert results[0]["token_accuracy"] == pytest.approx(results[1]["token_accuracy"])


def test_token_accuracy_ignores_padding_targets():
    metric = TokenAccuracy()
    logits = np.eye(5, dtype=np.float32)[[[1, 2, 4]]]  # predicts 1, 2, 4
    metric.update_state(np.array([[1, 3, 0]]), logits)  # right, wrong, padding
    assert float(metric.result()) == pytest.approx(0.5)


def test_unigram_perplexity_is_the_vocabulary_size_for_uniform_counts():
    from collections import Counter

    counts = Counter({t: 100 for t in range(4, 14)})
    assert unigram_perplexity(counts, Counter({5: 3, 6: 1}), vocab_size=10) == pytest.approx(10.0)


def test_decoders_cannot_be_bidirectional(tiny_config):
    from crossmodal_tf.errors import CmxError

    with pytest.raises(CmxError, match="model.text.bidirectional"):
        tiny_config("task=caption", "model.text.bidirectional=true")
