"""Transformer text models: the cached single step is the whole forward pass, position by position, for the
three decoders; beams and samples share one copy of the memory; the models load in safe mode."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from crossmodal_tf.data.text import Vocabulary  # noqa: E402
from crossmodal_tf.decoding import DecodeSettings, per_row  # noqa: E402
from crossmodal_tf.errors import CmxError  # noqa: E402
from crossmodal_tf.tasks import caption, lm, match, seq2seq  # noqa: E402
from crossmodal_tf.decoding import make_decoder
from crossmodal_tf.tasks.sequence import generate  # noqa: E402

VOCAB = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", *[f"w{i}" for i in range(16)]])
TRANSFORMER = ("model.text.type=transformer", "model.text.dim=16", "model.text.heads=4", "model.text.ffn_dim=24",
               "model.text.layers=2", "model.text.max_positions=40")
SOURCES = np.array([[4, 5, 6, 0, 0, 0], [7, 8, 9, 10, 11, 0]], np.int32)
TOKENS = np.array([[2, 5, 9, 4, 11, 7, 6, 3], [2, 8, 8, 13, 4, 19, 5, 12]], np.int32)


def build(tiny_config, task, *sets, seed: int = 5):
    config = tiny_config(f"task={task}", *TRANSFORMER, *sets)
    keras.utils.set_random_seed(seed)
    sizes = (len(VOCAB), len(VOCAB)) if task == "seq2seq" else (len(VOCAB),)
    return config, {"lm": lm, "caption": caption, "seq2seq": seq2seq}[task].build_model(config, *sizes)


def start_inputs(task):
    if task == "caption":
        return {"image": np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)}
    return {"source": SOURCES} if task == "seq2seq" else {}


def log_softmax(logits):
    return np.asarray(tf.nn.log_softmax(tf.cast(logits, tf.float64)))


@pytest.mark.parametrize("task, positions", [("lm", "learned"), ("caption", "learned"), ("seq2seq", "sinusoidal")])
def test_the_cached_step_gives_the_forward_pass_log_probs_at_every_position(tiny_config, task, positions):
    config, model = build(tiny_config, task, f"model.text.positions={positions}")
    inputs = start_inputs(task)
    expected = log_softmax(model({**inputs, "text": TOKENS}, training=False))
    module = {"lm": lm, "caption": caption, "seq2seq": seq2seq}[task]
    gen = module.generator(model, config)
    state = gen.start(inputs or None, len(TOKENS))
    for position in range(TOKENS.shape[1]):
        logits, state = gen.step(tf.constant(TOKENS[:, position]), state)
        np.testing.assert_allclose(log_softmax(logits), expected[:, position], atol=1e-5, err_msg=f"position {position}")


def test_rows_of_one_input_share_its_memory_and_attend_to_their_own(tiny_config):
    # what beam search and num_samples do to a state: every row repeated, the memory left as it is
    config, model = build(tiny_config, "seq2seq")
    gen = seq2seq.generator(model, config)
    repeated = per_row(lambda s: tf.repeat(s, 3, axis=0), gen.start({"source": SOURCES}))
    assert repeated["shared"]["memory"][0]["keys"].shape[0] == len(SOURCES)
    tokens = np.repeat(TOKENS, 3, axis=0)
    tokens[1::3, 2:] = 6  # the rows of one input differ after two tokens
    expected = log_softmax(model({"source": np.repeat(SOURCES, 3, axis=0), "text": tokens}, training=False))
    for position in range(tokens.shape[1]):
        logits, repeated = gen.step(tf.constant(tokens[:, position]), repeated)
        np.testing.assert_allclose(log_softmax(logits), expected[:, position], atol=1e-5)


@pytest.mark.slow
def test_beam_search_scores_are_the_forward_pass_log_probs_and_survive_a_safe_mode_round_trip(tiny_config, tmp_path):
    config, model = build(tiny_config, "caption")
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False, safe_mode=True)
    pictures = start_inputs("caption")["image"]
    settings = DecodeSettings("beam", beam_width=3, max_length=6)
    results = []
    for m in (model, loaded):
        gen = caption.generator(m, config)
        results.append(generate(gen, make_decoder(gen, VOCAB, jit_compile=False), VOCAB, {"image": pictures}, 2, settings, 3))
    np.testing.assert_array_equal(results[0].tokens, results[1].tokens)
    for row in range(2):
        for beam in range(3):
            tokens = [int(t) for t in results[0].tokens[row, beam] if t]
            logits = np.asarray(model({"image": pictures[row:row + 1], "text": np.array([[2, *tokens[:-1]]])},
                                      training=False), np.float64)[0]
            logits[:, [0, 2]] = -np.inf  # the decoder never emits <pad> or <start>
            expected = sum(log_softmax(logits)[i, t] for i, t in enumerate(tokens))
            assert results[0].log_probs[row, beam] == pytest.approx(expected, abs=1e-3)


def test_a_prompt_and_its_continuation_must_fit_the_cache(tiny_config):
    config, model = build(tiny_config, "lm")
    gen = lm.generator(model, config)
    with pytest.raises(CmxError, match="model.text.max_positions"):
        generate(gen, make_decoder(gen, VOCAB, jit_compile=False), VOCAB, None, 1,
                 DecodeSettings("greedy", max_length=38), prompt_ids=[5, 6, 7])


def test_the_pooled_text_encoder_ignores_padding(tiny_config):
    config = tiny_config("task=match", *TRANSFORMER)
    model = match.build_model(config, len(VOCAB))
    image = np.zeros((1, 32, 32, 3), np.uint8)
    short = model({"text": np.array([[4, 5, 6]]), "image": image}, training=False)
    padded = model({"text": np.array([[4, 5, 6, 0, 0, 0]]), "image": image}, training=False)
    np.testing.assert_allclose(np.asarray(short), np.asarray(padded), atol=1e-5)
