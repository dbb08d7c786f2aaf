"""The decoder on fixed-logit bigram models: each next-token distribution is a row of a table.

No training: the right answer of each strategy is known from the table.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from crossmodal_tf.decoding import Decoder, DecodeSettings, filter_logits, first_argmax  # noqa: E402

PAD, UNK, START, END = 0, 1, 2, 3


def bigram_decoder(probs: np.ndarray, jit_compile: bool = False) -> Decoder:
    """A decoder whose next-token distribution depends only on the previous token: row `prev` of probs."""
    table = tf.constant(np.log(np.maximum(probs, 1e-12)), tf.float32)

    def step(tokens, state):
        return tf.gather(table, tokens), {"steps": state["steps"] + 1}

    return Decoder(step, end_id=END, forbidden_ids=(PAD, START), jit_compile=jit_compile)


def start_state(batch: int) -> dict:
    return {"steps": tf.zeros([batch, 1], tf.int32)}


def distinct_table(vocab: int = 12, seed: int = 0) -> np.ndarray:
    """Random distinct probabilities in every row, END included (so sequences do end)."""
    rng = np.random.default_rng(seed)
    probs = rng.random((vocab, vocab)) + np.arange(vocab) * 1e-3
    probs[:, [PAD, START]] = 0
    return probs / probs.sum(axis=1, keepdims=True)


def decode(decoder, batch, settings, seed=0, num_samples=1):
    return decoder.decode(start_state(batch), [START] * batch, settings, num_samples, seed)


def transitions(tokens: np.ndarray):
    """(previous, next) token pairs of decoded rows, from <start> up to and including <end>."""
    for row in tokens.reshape(-1, tokens.shape[-1]):
        previous = START
        for token in row:
            if token == PAD:
                break
            yield previous, int(token)
            previous = token


def test_top_k_never_leaves_the_k_most_likely():
    probs = distinct_table()
    decoder = bigram_decoder(probs)
    result = decode(decoder, 400, DecodeSettings("top_k", temperature=3.0, top_k=3, max_length=6))
    seen = set()
    for previous, token in transitions(result.tokens):
        top3 = set(np.argsort(-probs[previous])[:3])
        assert token in top3
        seen.add((previous, token))
    # at a high temperature all three of the top tokens of <start> come up
    assert len({t for p, t in seen if p == START}) == 3


def test_top_p_stays_inside_the_nucleus():
    probs = np.zeros((8, 8))
    probs[:, END] = 1.0
    probs[START] = 0
    probs[START, [4, 5, 6, 7]] = [0.5, 0.3, 0.15, 0.05]  # nucleus at 0.7 is {4, 5}: 0.5 alone falls short
    decoder = bigram_decoder(probs)
    first = decode(decoder, 500, DecodeSettings("top_p", top_p=0.7, max_length=2)).tokens[:, 0, 0]
    assert set(first) == {4, 5}
    assert 0.5 < np.mean(first == 4) < 0.75  # renormalised inside the nucleus: 0.5 / 0.8


def test_top_p_keeps_the_most_likely_token_even_when_it_alone_exceeds_p():
    probs = np.zeros((8, 8))
    probs[:, END] = 1.0
    probs[START] = 0
    probs[START, [4, 5]] = [0.9, 0.1]
    first = decode(bigram_decoder(probs), 50, DecodeSettings("top_p", top_p=0.2, max_length=2)).tokens[:, 0, 0]
    assert set(first) == {4}


def test_low_temperature_equals_greedy_and_temperature_zero_is_greedy():
    decoder = bigram_decoder(distinct_table(seed=1))
    greedy = decode(decoder, 4, DecodeSettings("greedy", max_length=8)).tokens
    cold = decode(decoder, 4, DecodeSettings("sample", temperature=1e-4, max_length=8), seed=5).tokens
    zero = decode(decoder, 4, DecodeSettings("top_p", temperature=0.0, max_length=8), seed=5).tokens
    np.testing.assert_array_equal(cold, greedy)
    np.testing.assert_array_equal(zero, greedy)


def test_greedy_follows_the_argmax_and_scores_its_log_probability():
    probs = distinct_table(seed=2)
    result = decode(bigram_decoder(probs), 1, DecodeSettings("greedy", max_length=10))
    expected, previous, log_prob = [], START, 0.0
    for _ in range(10):
        token = int(np.argmax(probs[previous]))
        expected.append(token)
        log_prob += np.log(probs[previous, token])
        if token == END:
            break
        previous = token
    assert list(result.tokens[0, 0, : len(expected)]) == expected
    assert result.log_probs[0, 0] == pytest.approx(log_prob, rel=1e-5)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_first_argmax_is_tf_argmax_ties_included(jit_compile):
    rng = np.random.default_rng(3)
    scores = rng.integers(-3, 3, (64, 50)).astype(np.float32)  # few values: many ties for the maximum
    scores[5] = -1e9  # a row all at the same score
    picked = tf.function(first_argmax, jit_compile=jit_compile)(tf.constant(scores))
    np.testing.assert_array_equal(picked.numpy(), np.argmax(scores, axis=-1))


def test_beam_width_one_equals_greedy():
    decoder = bigram_decoder(distinct_table(seed=3))
    greedy = decode(decoder, 3, DecodeSettings("greedy", max_length=9))
    beam = decode(decoder, 3, DecodeSettings("beam", beam_width=1, max_length=9))
    np.testing.assert_array_equal(beam.tokens, greedy.tokens)
    np.testing.assert_allclose(beam.log_probs, greedy.log_probs, rtol=1e-5)


def test_beam_search_finds_the_best_sequence_where_greedy_does_not():
    a, b, y, xs = 4, 5, 6, [7, 8, 9, 10]
    probs = np.full((11, 11), 1e-9)
    probs[START, [a, b]] = [0.6, 0.4]       # greedy takes a ...
    probs[a, xs] = 0.25                     # ... but every continuation of a is unlikely: 0.6 * 0.25 = 0.15
    probs[b, [y, 7]] = [0.9, 0.1]           # b y <end> has 0.4 * 0.9 = 0.36
    probs[[y, *xs], END] = 1.0
    probs[END, END] = 1.0
    decoder = bigram_decoder(probs)
    greedy = decode(decoder, 1, DecodeSettings("greedy", max_length=5))
    beam = decode(decoder, 1, DecodeSettings("beam", beam_width=2, length_penalty=0.0, max_length=5), num_samples=2)
    assert greedy.tokens[0, 0, 0] == a
    assert list(beam.tokens[0, 0, :3]) == [b, y, END]
    assert beam.log_probs[0, 0] == pytest.approx(np.log(0.36), rel=1e-4)
    assert beam.log_probs[0, 0] > greedy.log_probs[0, 0]
    assert beam.scores[0, 0] >= beam.scores[0, 1]  # the n best come best first


def test_beam_search_returns_distinct_beams():
    result = decode(bigram_decoder(distinct_table(seed=4)), 2, DecodeSettings("beam", beam_width=4, max_length=6),
                    num_samples=4)
    for row in result.tokens:
        assert len({tuple(beam) for beam in row}) == 4


def every_sequence(probs: np.ndarray, max_length: int):
    """(tokens, log p) of every sequence a bigram table can decode: ended by END or cut at max_length."""
    tokens = [t for t in range(len(probs)) if t not in (PAD, START)]
    open_ = [((), 0.0)]
    for _ in range(max_length):
        grown = []
        for prefix, log_p in open_:
            for token in tokens:
                sequence = (prefix + (token,), log_p + np.log(probs[prefix[-1] if prefix else START, token]))
                if token == END:
                    yield sequence
                else:
                    grown.append(sequence)
        open_ = grown
    yield from open_


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_beam_wider_than_the_search_space_returns_the_exact_n_best(alpha):
    """With every sequence kept in the beam, the n best by length-penalised score are known by enumeration."""
    probs = distinct_table(vocab=6, seed=14)
    probs[:, END] *= 0.5
    probs /= probs.sum(axis=1, keepdims=True)
    result = decode(bigram_decoder(probs), 1, DecodeSettings("beam", beam_width=128, length_penalty=alpha,
                                                             max_length=4), num_samples=6)
    ranked = sorted(((log_p / ((5 + len(t)) / 6) ** alpha, t, log_p) for t, log_p in every_sequence(probs, 4)),
                    reverse=True)[:6]
    assert [tuple(int(x) for x in beam if x) for beam in result.tokens[0]] == [t for _, t, _ in ranked]
    np.testing.assert_allclose(result.scores[0], [score for score, _, _ in ranked], rtol=1e-5)
    np.testing.assert_allclose(result.log_probs[0], [log_p for _, _, log_p in ranked], rtol=1e-5)


def test_num_samples_are_independent_draws_from_the_model():
    probs = distinct_table(seed=15)
    result = decode(bigram_decoder(probs), 2, DecodeSettings("sample", max_length=1), num_samples=3000)
    first = result.tokens[:, :, 0]
    for row in first:
        frequencies = np.bincount(row, minlength=len(probs)) / len(row)
        np.testing.assert_allclose(frequencies, probs[START], atol=0.03)
    assert np.mean(first[0] == first[1]) < 0.3  # the two rows draw apart, not the same samples twice


def test_a_seeded_run_repeats_exactly_and_another_seed_differs():
    decoder = bigram_decoder(distinct_table(seed=5))
    settings = DecodeSettings("sample", temperature=1.0, max_length=8)
    first = decode(decoder, 16, settings, seed=11)
    again = decode(decoder, 16, settings, seed=11)
    other = decode(decoder, 16, settings, seed=12)
    np.testing.assert_array_equal(first.tokens, again.tokens)
    np.testing.assert_array_equal(first.log_probs, again.log_probs)
    assert not np.array_equal(first.tokens, other.tokens)


def test_sequences_stop_at_the_end_token_and_never_emit_padding_or_start():
    decoder = bigram_decoder(distinct_table(seed=6))
    tokens = decode(decoder, 200, DecodeSettings("sample", temperature=2.0, max_length=12)).tokens[:, 0]
    for row in tokens:
        ends = np.flatnonzero(row == END)
        if len(ends):
            assert not row[ends[0] + 1:].any()  # padding after the end
            assert row[: ends[0]].all()
        assert START not in row


def test_num_samples_gives_independent_samples_per_row():
    result = decode(bigram_decoder(distinct_table(seed=7)), 2, DecodeSettings("sample", max_length=8), num_samples=6)
    assert result.tokens.shape == (2, 6, 8)
    assert len({tuple(t) for t in result.tokens[0]}) > 1


@pytest.mark.slow
def test_compiled_loops_match_eager_ones_and_are_reused():
    probs = distinct_table(seed=8)
    eager, compiled = bigram_decoder(probs), bigram_decoder(probs, jit_compile=True)
    for settings in (DecodeSettings("greedy", max_length=7), DecodeSettings("beam", beam_width=3, max_length=7)):
        np.testing.assert_array_equal(decode(eager, 5, settings).tokens, decode(compiled, 5, settings).tokens)
    # XLA draws other random numbers than the eager kernels, but a seed still repeats exactly
    sampled = DecodeSettings("top_k", top_k=4, max_length=7)
    np.testing.assert_array_equal(decode(compiled, 5, sampled, seed=3).tokens, decode(compiled, 5, sampled, seed=3).tokens)
    for previous, token in transitions(decode(compiled, 50, sampled, seed=4).tokens):
        assert token in set(np.argsort(-probs[previous])[:4])
    loops = len(compiled._loops)
    decode(compiled, 5, DecodeSettings("top_k", top_k=4, temperature=0.5, max_length=7), seed=9)
    assert len(compiled._loops) == loops  # a new temperature or seed reuses the compiled loop


def test_filter_logits_top_k_keeps_exactly_k():
    logits = tf.constant([[0.1, 2.0, 1.0, -1.0, 3.0]])
    kept = filter_logits(logits, "top_k", 1.0, top_k=2).numpy()[0] > -1e8
    assert list(np.flatnonzero(kept)) == [1, 4]


@pytest.mark.parametrize("top_p", [0.1, 0.5, 0.9, 0.99])
def test_top_p_nucleus_equals_the_sorted_definition(top_p):
    """The smallest set of most likely tokens whose mass reaches top_p, on random distributions."""
    logits = np.random.default_rng(int(top_p * 100)).normal(0, 2, (40, 300)).astype(np.float32)
    kept = filter_logits(tf.constant(logits), "top_p", 1.0, top_p=top_p).numpy() > -1e8
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    for row, kept_row in zip(probs, kept):
        order = np.argsort(-row)
        size = int(np.searchsorted(np.cumsum(row[order]), top_p) + 1)
        assert set(np.flatnonzero(kept_row)) == set(order[:size])


@pytest.mark.parametrize("k", [1, 5, 40])
def test_top_k_keeps_exactly_the_k_largest_on_random_logits(k):
    logits = np.random.default_rng(k).normal(0, 3, (30, 500)).astype(np.float32)
    kept = filter_logits(tf.constant(logits), "top_k", 0.7, top_k=k).numpy() > -1e8
    for row, kept_row in zip(logits, kept):
        assert set(np.flatnonzero(kept_row)) == set(np.argsort(-row)[:k])


# --- bans for long outputs: min_length and no_repeat_ngram_size -------------------------------------------
def ends_early_table(vocab: int = 10) -> np.ndarray:
    """END is the likeliest next token everywhere, so only min_length keeps sequences going."""
    probs = distinct_table(vocab, seed=9)
    probs[:, END] += 2.0
    probs[:, [PAD, START]] = 0
    return probs / probs.sum(axis=1, keepdims=True)


def end_positions(tokens: np.ndarray) -> list[int]:
    rows = tokens.reshape(-1, tokens.shape[-1])
    return [int(np.flatnonzero(row == END)[0]) if END in row else len(row) for row in rows]


@pytest.mark.parametrize("settings", [DecodeSettings("greedy", max_length=8),
                                      DecodeSettings("sample", temperature=2.0, max_length=8),
                                      DecodeSettings("top_k", top_k=3, max_length=8),
                                      DecodeSettings("top_p", top_p=0.9, max_length=8),
                                      DecodeSettings("beam", beam_width=3, max_length=8)])
def test_min_length_forbids_the_end_token_before_the_minimum(settings):
    from dataclasses import replace

    decoder = bigram_decoder(ends_early_table())
    num = 3 if settings.strategy == "beam" else 1
    free = decode(decoder, 40, settings, num_samples=num)
    assert min(end_positions(free.tokens)) == 0  # without a minimum, sequences end at once
    held = decode(decoder, 40, replace(settings, min_length=4), num_samples=num)
    assert min(end_positions(held.tokens)) == 4  # four tokens, then the end token as soon as it is allowed
    assert held.tokens.shape[-1] == 8


def test_min_length_leaves_the_log_probability_the_models():
    probs = ends_early_table()
    result = decode(bigram_decoder(probs), 1, DecodeSettings("greedy", max_length=8, min_length=2))
    row = list(result.tokens[0, 0])
    expected = np.log(probs[START, row[0]]) + np.log(probs[row[0], row[1]]) + np.log(probs[row[1], row[2]])
    assert row[2] == END
    assert result.log_probs[0, 0] == pytest.approx(expected, rel=1e-5)


def looping_table() -> np.ndarray:
    """a → b and b → a by far the likeliest, c and d the runners-up: greedy writes a b a b a b …"""
    a, b, c, d = 4, 5, 6, 7
    probs = np.full((8, 8), 0.01)
    probs[:, [PAD, START]] = 0
    probs[START, a] = 1.0
    probs[a, [b, c, d]] = [1.0, 0.3, 0.2]
    probs[b, [a, c, d]] = [1.0, 0.3, 0.2]
    probs[[c, d], a] = 1.0
    probs[[c, d], [d, c]] = 0.5
    return probs / probs.sum(axis=1, keepdims=True)


def ngrams(row, n: int) -> list[tuple]:
    row = [int(t) for t in row if t != PAD]
    return [tuple(row[j:j + n]) for j in range(len(row) - n + 1)]


def greedy_without_repeats(probs: np.ndarray, n: int, length: int) -> list[int]:
    """Greedy decoding with fairseq's n-gram ban, written out in Python."""
    out, previous = [], START
    for _ in range(length):
        scores = np.log(np.maximum(probs[previous], 1e-12))
        scores[[PAD, START]] = -np.inf
        for j in range(len(out) - n + 1):
            if out[j:j + n - 1] == out[len(out) - n + 1:]:
                scores[out[j + n - 1]] = -np.inf
        previous = int(np.argmax(scores))
        out.append(previous)
        if previous == END:
            break
    return out


def test_without_the_ban_greedy_loops_and_with_it_repeats_no_bigram():
    decoder = bigram_decoder(looping_table())
    looping = decode(decoder, 1, DecodeSettings("greedy", max_length=10)).tokens[0, 0]
    assert list(looping[:6]) == [4, 5, 4, 5, 4, 5]
    banned = decode(decoder, 1, DecodeSettings("greedy", max_length=10, no_repeat_ngram_size=2)).tokens[0, 0]
    assert len(set(ngrams(banned, 2))) == len(ngrams(banned, 2))
    assert list(banned[:len(greedy_without_repeats(looping_table(), 2, 10))]) == greedy_without_repeats(
        looping_table(), 2, 10)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_greedy_with_the_ban_equals_the_python_reference(n, jit_compile):
    for seed in range(3):
        probs = distinct_table(vocab=7, seed=20 + seed)
        probs[:, END] *= 0.2  # long enough sequences to repeat themselves
        probs /= probs.sum(axis=1, keepdims=True)
        result = decode(bigram_decoder(probs, jit_compile), 1,
                        DecodeSettings("greedy", max_length=12, no_repeat_ngram_size=n))
        expected = greedy_without_repeats(probs, n, 12)
        assert list(result.tokens[0, 0, :len(expected)]) == expected
        # the log-probability stays the model's, not that of the ban's renormalised distribution
        log_prob = sum(np.log(probs[p, t]) for p, t in zip([START] + expected[:-1], expected))
        assert result.log_probs[0, 0] == pytest.approx(log_prob, rel=1e-4)


@pytest.mark.parametrize("settings", [DecodeSettings("sample", temperature=3.0, max_length=14),
                                      DecodeSettings("top_p", top_p=0.95, max_length=14),
                                      DecodeSettings("beam", beam_width=4, max_length=14)])
def test_no_sequence_repeats_a_trigram(settings):
    from dataclasses import replace

    decoder = bigram_decoder(looping_table())
    num = 4 if settings.strategy == "beam" else 1
    free = decode(decoder, 60, settings, num_samples=num).tokens
    assert any(len(set(ngrams(row, 3))) < len(ngrams(row, 3)) for row in free.reshape(-1, 14))
    result = decode(decoder, 60, replace(settings, no_repeat_ngram_size=3), num_samples=num)
    for row in result.tokens.reshape(-1, 14):
        assert len(set(ngrams(row, 3))) == len(ngrams(row, 3))


def test_beam_search_with_the_ban_repeats_no_bigram_in_any_beam():
    decoder = bigram_decoder(looping_table())
    result = decode(decoder, 2, DecodeSettings("beam", beam_width=3, max_length=10, no_repeat_ngram_size=2),
                    num_samples=3)
    assert result.scores.min() > -1e6  # every returned beam is a real one, none forced through a ban
    for row in result.tokens.reshape(-1, 10):
        assert len(set(ngrams(row, 2))) == len(ngrams(row, 2))
    looping = decode(decoder, 1, DecodeSettings("beam", beam_width=3, max_length=10)).tokens[0, 0]
    assert list(looping[:6]) == [4, 5, 4, 5, 4, 5]


def test_repeated_ngram_tokens_marks_what_followed_the_last_tokens():
    from crossmodal_tf.decoding import repeated_ngram_tokens

    history = tf.constant([[4, 5, 6, 4, 5, 0, 0], [4, 5, 4, 7, 4, 0, 0]])
    # bigrams: row 0 ends in 5, once followed by 6; row 1 ends in 4, followed by 5 and by 7 before
    banned = repeated_ngram_tokens(history, 5, 2, 9).numpy()
    assert list(np.flatnonzero(banned[0])) == [6]
    assert list(np.flatnonzero(banned[1])) == [5, 7]
    assert list(np.flatnonzero(repeated_ngram_tokens(history, 5, 3, 9).numpy()[0])) == [6]
    assert not repeated_ngram_tokens(history, 5, 3, 9).numpy()[1].any()
    assert list(np.flatnonzero(repeated_ngram_tokens(history, 3, 1, 9).numpy()[0])) == [4, 5, 6]
    assert not repeated_ngram_tokens(history, 1, 2, 9).numpy().any()  # one token: no bigram yet


@pytest.mark.slow  # compiles three XLA loops
def test_a_new_ban_compiles_a_new_loop_and_a_new_temperature_does_not():
    decoder = bigram_decoder(distinct_table(seed=10), jit_compile=True)
    decode(decoder, 3, DecodeSettings("top_p", max_length=6, no_repeat_ngram_size=2), seed=1)
    loops = len(decoder._loops)
    decode(decoder, 3, DecodeSettings("top_p", temperature=0.3, max_length=6, no_repeat_ngram_size=2), seed=2)
    assert len(decoder._loops) == loops
    decode(decoder, 3, DecodeSettings("top_p", max_length=6, no_repeat_ngram_size=3), seed=1)
    decode(decoder, 3, DecodeSettings("top_p", max_length=6, no_repeat_ngram_size=3, min_length=2), seed=1)
    assert len(decoder._loops) == loops + 2
    decode(decoder, 3, DecodeSettings("beam", max_length=6, no_repeat_ngram_size=2))
    decode(decoder, 3, DecodeSettings("beam", length_penalty=1.0, max_length=6, no_repeat_ngram_size=2))
    assert len(decoder._loops) == loops + 3  # the length penalty only ranks the finished beams
