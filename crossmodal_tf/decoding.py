"""Autoregressive decoding around a single-step function: greedy, sampling, top-k, top-p and beam search.

Everything here knows only a step function `step(tokens, state) -> (logits, state)`:
tokens is an int32 [batch] vector, state any nest of tensors whose first axis is the
batch, logits [batch, vocab]. The language model, the captioner and the translator
each provide one, so the decoder knows no task. The whole loop (not just one step)
runs inside one compiled function that carries the recurrent state, so a new token
costs one step of the network, never a re-run of the prefix. A compiled loop is kept
per decoding setting and reused across calls; only a new batch shape retraces it.

A state that is a dict may hold a "shared" entry: tensors with one row per input row of
the call (an encoder's output), which the loops neither repeat for samples or beams nor
reorder with the beams; the step finds a beam's or sample's input row as its row
divided by the rows per input (they are always consecutive).

Two bans for long outputs sit in the loop, before any strategy sees the scores: min_length
(no end token before that many tokens) and no_repeat_ngram_size (no n-gram twice in a
sequence). Each is built into the loop only when it is on, so that plain greedy decoding
pays nothing for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import tensorflow as tf

_NEG_INF = -1e9  # finite, so that -inf - -inf never makes a NaN inside XLA
_BISECTIONS = 24  # top-k and top-p thresholds are found to 2**-24 of their search range
_TOP_K_RANGE = 40.0


@dataclass(frozen=True)
class DecodeSettings:
    """How to pick each next token; mirrors the config's `sample` section."""

    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    beam_width: int = 4
    length_penalty: float = 0.0
    max_length: int = 24
    min_length: int = 0  # tokens generated before the end token may come (fairseq's min_len); 0: no minimum
    no_repeat_ngram_size: int = 0  # n > 0: no n-gram occurs twice in one sequence (fairseq semantics); 0: off

    @property
    def is_greedy(self) -> bool:
        """Temperature 0 is the limit where sampling becomes argmax, so it decodes greedily."""
        return self.strategy == "greedy" or (self.strategy != "beam" and self.temperature == 0)


@dataclass
class Decoded:
    """Decoded sequences: tokens [batch, n, max_length] (0 after the end token), their summed log-probability."""

    tokens: np.ndarray
    log_probs: np.ndarray  # under the model: the bans of min_length and no_repeat_ngram_size pick, never rescale
    scores: np.ndarray  # what ranked them: log_probs, or length-normalised log_probs for beams


def length_normalised(log_probs, lengths, alpha: float):
    """GNMT length penalty: log p / ((5 + length) / 6) ** alpha; alpha 0 leaves the scores as they are."""
    lengths = tf.cast(lengths, tf.float32)
    return log_probs / tf.pow((5.0 + lengths) / 6.0, alpha)


def filter_logits(logits, strategy: str, temperature, top_k: int = 0, top_p=1.0):
    """Temperature-scaled logits with tokens outside the top-k or the top-p nucleus pushed to -inf.

    top_k is a Python int (XLA needs it static); temperature and top_p may be tensors.
    Tokens tied with the k-th logit stay in.
    """
    scaled = logits / tf.cast(temperature, logits.dtype)
    if strategy == "top_k" and top_k > 0:
        # The k-th largest logit by bisection (the largest t with k logits >= t): tf.math.top_k sorts the
        # whole vocabulary under XLA on CPU, which cost more than the rest of the step. The search starts
        # 40 below the top logit: tokens further down have under e**-40 of its probability.
        high = tf.reduce_max(scaled, axis=-1, keepdims=True)
        low = tf.maximum(tf.reduce_min(scaled, axis=-1, keepdims=True), high - _TOP_K_RANGE)
        for _ in range(_BISECTIONS):
            middle = (low + high) / 2
            enough = tf.reduce_sum(tf.cast(scaled >= middle, tf.int32), axis=-1, keepdims=True) >= top_k
            low, high = tf.where(enough, middle, low), tf.where(enough, high, middle)
        scaled = tf.where(scaled >= low, scaled, _NEG_INF)
    if strategy == "top_p":
        # The nucleus is {p >= t} for the largest t whose tokens still hold top_p of the mass. Bisection
        # on t finds it with a few reductions over the vocabulary; a full sort per step costs far more
        # under XLA on CPU.
        probs = tf.nn.softmax(scaled)
        low = tf.zeros_like(probs[:, :1])
        high = tf.reduce_max(probs, axis=-1, keepdims=True)
        for _ in range(_BISECTIONS):
            middle = (low + high) / 2
            mass = tf.reduce_sum(tf.where(probs >= middle, probs, 0.0), axis=-1, keepdims=True)
            enough = mass >= top_p
            low, high = tf.where(enough, middle, low), tf.where(enough, high, middle)
        scaled = tf.where(probs >= low, scaled, _NEG_INF)
    return scaled


def first_argmax(scores):
    """[rows, vocab] → [rows] int32: the first index of each row's largest score, as tf.argmax.

    As a maximum and then a minimum over the indices that reach it: two plain reductions,
    which XLA on CPU vectorises, where tf.argmax's (value, index) reduction is not; at
    batch 32 and a 2,000-word vocabulary it cost a tenth of a Transformer's cached step.
    """
    vocab = tf.shape(scores)[-1]
    best = tf.reduce_max(scores, axis=-1, keepdims=True)
    return tf.reduce_min(tf.where(scores >= best, tf.range(vocab)[None, :], vocab), axis=-1)


def repeated_ngram_tokens(history, length, n: int, vocab):
    """[rows, vocab] True for each token that would repeat an n-gram of history[:, :length] as token `length`.

    history is [rows, max_length] (tokens at and after `length` are ignored), n a Python
    int. The last n - 1 tokens are compared with every earlier (n - 1)-gram at once; the
    token after each match is scattered into the result: a handful of vector ops per step,
    with no loop over positions.
    """
    starts = history.shape[1] - n + 1  # n-grams a row of max_length tokens holds
    rows = tf.shape(history)[0]
    # the n-gram from j is wholly generated when j + n - 1 < length
    match = tf.broadcast_to(tf.range(starts)[None, :] <= length - n, [rows, starts])
    for k in range(n - 1):
        last = tf.gather(history, tf.maximum(length - n + 1 + k, 0), axis=1)  # clamped: unused when length < n
        match = match & tf.equal(history[:, k:k + starts], last[:, None])
    following = history[:, n - 1:]
    where = tf.stack([tf.broadcast_to(tf.range(rows)[:, None], [rows, starts]), following], axis=-1)
    counts = tf.tensor_scatter_nd_add(tf.zeros([rows, vocab], tf.int32), where, tf.cast(match, tf.int32))
    return counts > 0


SHARED = "shared"


def per_row(fn: Callable, state):
    """fn applied to every tensor of a state but those under a dict state's "shared" entry."""
    if isinstance(state, dict) and SHARED in state:
        rows = tf.nest.map_structure(fn, {key: value for key, value in state.items() if key != SHARED})
        return {**rows, SHARED: state[SHARED]}
    return tf.nest.map_structure(fn, state)


def _unfinished(max_length: int):
    """The loop condition of both decoding loops: steps left and some row not yet at its end token."""

    def running(i, previous, state, out, scores, finished):
        return tf.logical_and(i < max_length, tf.logical_not(tf.reduce_all(finished)))

    return running


class Decoder:
    """Compiled decoding loops over one step function.

    end_id stops a sequence (pass -1 to never stop, e.g. for benchmarks); the
    forbidden ids (padding, start) are never emitted. jit_compile=True compiles
    each loop with XLA.
    """

    def __init__(self, step: Callable, end_id: int, forbidden_ids: tuple[int, ...] = (), jit_compile: bool = True):
        self.step = step
        self.end_id = end_id
        self.forbidden_ids = tuple(forbidden_ids)
        self.jit_compile = jit_compile
        self._loops: dict = {}

    def _mask_forbidden(self, logits):
        if not self.forbidden_ids:
            return logits
        vocab = tf.shape(logits)[-1]
        banned = tf.reduce_any(tf.one_hot(list(self.forbidden_ids), vocab, on_value=True, off_value=False,
                                          dtype=tf.bool), axis=0)
        return tf.where(banned, tf.cast(_NEG_INF, logits.dtype), logits)

    def _bans(self, settings: DecodeSettings) -> Callable:
        """(scores [rows, vocab], step i, history [rows, max_length]) → scores with the settings' bans at -inf.

        Only the bans that are on become ops: with both off the function returns its input.
        """
        min_length = settings.min_length if self.end_id >= 0 else 0
        # an n-gram longer than the output can never repeat
        n = settings.no_repeat_ngram_size if settings.no_repeat_ngram_size <= settings.max_length else 0

        def ban(scores, i, history):
            if min_length > 0:
                early_end = tf.logical_and(i < min_length, tf.range(tf.shape(scores)[-1]) == self.end_id)
                scores = tf.where(early_end[None, :], _NEG_INF, scores)
            if n > 0:
                scores = tf.where(repeated_ngram_tokens(history, i, n, tf.shape(scores)[-1]), _NEG_INF, scores)
            return scores

        return ban

    def _compiled(self, key, build):
        if key not in self._loops:
            self._loops[key] = tf.function(build(), jit_compile=self.jit_compile, reduce_retracing=False)
        return self._loops[key]

    # --- greedy and sampling ------------------------------------------------------------
    def generate(self, state, first_tokens, settings: DecodeSettings, seed: int = 0) -> Decoded:
        """One sequence per row of first_tokens, by greedy choice or by sampling; n is 1 in the result."""
        if settings.strategy == "beam":
            raise ValueError("use beam_search for the beam strategy")
        greedy = settings.is_greedy
        key = ("generate", greedy, settings.strategy, settings.top_k, settings.max_length, settings.min_length,
               settings.no_repeat_ngram_size)
        loop = self._compiled(key, lambda: self._sampling_loop(settings, greedy))
        first = tf.convert_to_tensor(np.asarray(first_tokens, dtype=np.int32))
        temperature = max(settings.temperature, 1e-6)
        tokens, log_probs = loop(state, first, tf.constant(temperature, tf.float32),
                                 tf.constant(settings.top_p, tf.float32), tf.constant(seed, tf.int32))
        tokens, log_probs = tokens.numpy()[:, None, :], log_probs.numpy()[:, None]
        return Decoded(tokens, log_probs, log_probs)

    def _sampling_loop(self, settings: DecodeSettings, greedy: bool):
        max_length, end_id = settings.max_length, self.end_id
        ban = self._bans(settings)

        def loop(state, first, temperature, top_p, seed):
            batch = tf.shape(first)[0]
            out = tf.zeros([batch, max_length], tf.int32)
            total = tf.zeros([batch], tf.float32)
            finished = tf.zeros([batch], tf.bool)

            def body(i, previous, state, out, total, finished):
                logits, state = self.step(previous, state)
                logits = self._mask_forbidden(tf.cast(logits, tf.float32))
                allowed = ban(logits, i, out)
                if greedy:
                    token = first_argmax(allowed)
                else:
                    filtered = filter_logits(allowed, settings.strategy, temperature, settings.top_k, top_p)
                    token = tf.random.stateless_categorical(filtered, 1, seed=tf.stack([seed, i]),
                                                            dtype=tf.int32)[:, 0]
                token = tf.where(finished, 0, token)
                # log p(token) without materialising the whole log-softmax: only one entry per row is kept
                picked = tf.gather(logits, token, axis=1, batch_dims=1) - tf.reduce_logsumexp(logits, axis=-1)
                total += tf.where(finished, 0.0, picked)
                out += tf.one_hot(i, max_length, dtype=tf.int32)[None, :] * token[:, None]
                finished = finished | tf.equal(token, end_id)
                return i + 1, token, state, out, total, finished

            _, _, _, out, total, _ = tf.while_loop(
                _unfinished(max_length), body, (tf.constant(0), first, state, out, total, finished))
            return out, total

        return loop

    def greedy_loop(self, settings: DecodeSettings) -> Callable:
        """The greedy loop with the settings' bans, uncompiled, for building into another graph (cmx export):
        (state, first tokens) → (tokens [batch, max_length], summed log-probabilities [batch])."""
        loop = self._sampling_loop(settings, greedy=True)
        return lambda state, first: loop(state, first, 1.0, 1.0, 0)  # temperature, top-p, seed: unused by greedy

    # --- beam search ----------------------------------------------------------------------
    def beam_search(self, state, first_tokens, settings: DecodeSettings, num_return: int = 1) -> Decoded:
        """The num_return best of beam_width beams per row, best first, by length-normalised log-probability.

        Beams are extended and pruned by their summed log-probability; the length
        penalty (GNMT, alpha = settings.length_penalty) ranks the finished beams. A beam
        cut at max_length counts as finished there. The returned beams are distinct; when
        the bans leave fewer than beam_width continuations, the rest score about -1e9.
        """
        width = settings.beam_width
        if not 1 <= num_return <= width:
            raise ValueError(f"num_return must be between 1 and the beam width {width}, found {num_return}")
        key = ("beam", width, settings.max_length, settings.min_length, settings.no_repeat_ngram_size)
        loop = self._compiled(key, lambda: self._beam_loop(width, settings))
        first = tf.convert_to_tensor(np.asarray(first_tokens, dtype=np.int32))
        tokens, log_probs = loop(state, first)
        lengths = tf.reduce_sum(tf.cast(tokens > 0, tf.int32), axis=-1)
        scores = length_normalised(log_probs, lengths, settings.length_penalty)
        order = tf.argsort(scores, axis=-1, direction="DESCENDING", stable=True)[:, :num_return]
        pick = lambda x: tf.gather(x, order, axis=1, batch_dims=1).numpy()  # noqa: E731
        return Decoded(pick(tokens), pick(log_probs), pick(scores))

    def _beam_loop(self, width: int, settings: DecodeSettings):
        max_length, end_id = settings.max_length, self.end_id
        ban = self._bans(settings)

        def loop(state, first):
            batch = tf.shape(first)[0]
            state = per_row(lambda s: tf.repeat(s, width, axis=0), state)
            previous = tf.repeat(first, width)
            # only the first beam is alive at the start, so the first step does not pick one token W times
            scores = tf.tile(tf.concat([[0.0], tf.fill([width - 1], _NEG_INF)], 0)[None, :], [batch, 1])
            finished = tf.zeros([batch, width], tf.bool)
            out = tf.zeros([batch, width, max_length], tf.int32)

            def body(i, previous, state, out, scores, finished):
                logits, state = self.step(previous, state)
                logits = self._mask_forbidden(tf.cast(logits, tf.float32))
                vocab = tf.shape(logits)[-1]
                # the bans follow each beam, since out is reordered with the beams below
                log_probs = ban(tf.nn.log_softmax(logits), i, tf.reshape(out, [batch * width, max_length]))
                log_probs = tf.reshape(log_probs, [batch, width, vocab])
                # a finished beam continues with padding at no cost, and only with padding
                pad_only = tf.where(tf.range(vocab) == 0, 0.0, _NEG_INF)
                log_probs = tf.where(finished[:, :, None], pad_only[None, None, :], log_probs)
                candidates = tf.reshape(scores[:, :, None] + log_probs, [batch, width * vocab])
                scores, index = tf.math.top_k(candidates, k=width)
                beam, token = index // vocab, index % vocab
                out = tf.gather(out, beam, axis=1, batch_dims=1)
                out += tf.one_hot(i, max_length, dtype=tf.int32)[None, None, :] * token[:, :, None]
                finished = tf.gather(finished, beam, axis=1, batch_dims=1) | tf.equal(token, end_id)
                rows = tf.reshape(beam + tf.range(batch)[:, None] * width, [-1])
                # gathering by computed rows forgets the static shapes the loop needs to keep
                state = per_row(lambda s: tf.ensure_shape(tf.gather(s, rows, axis=0), s.shape), state)
                previous = tf.ensure_shape(tf.reshape(token, [-1]), previous.shape)
                return i + 1, previous, state, out, scores, finished

            _, _, _, out, scores, _ = tf.while_loop(
                _unfinished(max_length), body, (tf.constant(0), previous, state, out, scores, finished))
            return out, scores

        return loop

    # --- prompts ----------------------------------------------------------------------------
    def prefill(self, state, tokens: np.ndarray):
        """Run the step over a prompt's tokens [batch, length] and return the state after them."""
        key = ("prefill",)
        step = self._compiled(key, lambda: (lambda tokens, state: self.step(tokens, state)[1]))
        for position in range(tokens.shape[1]):
            state = step(tf.constant(tokens[:, position], tf.int32), state)
        return state

    def decode(self, state, first_tokens, settings: DecodeSettings, num_samples: int = 1, seed: int = 0) -> Decoded:
        """num_samples sequences per row: the best beams for beam search, else independent samples."""
        if settings.strategy == "beam":
            return self.beam_search(state, first_tokens, settings, num_samples)
        first = np.repeat(np.asarray(first_tokens, dtype=np.int32), num_samples)
        if num_samples > 1:
            state = per_row(lambda s: tf.repeat(s, num_samples, axis=0), state)
        result = self.generate(state, first, settings, seed)
        rows = len(first_tokens)
        return Decoded(result.tokens.reshape(rows, num_samples, -1), result.log_probs.reshape(rows, num_samples),
                       result.scores.reshape(rows, num_samples))


# XLA-compiling a decode loop takes seconds on a CPU, while greedily decoding a few dozen rows takes a tenth of a
# second compiled or not: only a split of many rows pays the compile back.
COMPILE_MIN_ROWS = 512


def worth_compiling(rows: int) -> bool:
    """Whether XLA-compiling a decode loop pays back its compile time over this many rows."""
    return rows >= COMPILE_MIN_ROWS


def make_decoder(generator, vocab, jit_compile: bool = True, unknown: bool = True) -> Decoder:
    """A Decoder over a generator's step that stops at <end> and never emits <pad> or <start> (nor <unk> when
    unknown is False: Task.writes_unknown). vocab is a data.text.Vocabulary."""
    from crossmodal_tf.data.text import END, START, UNK

    forbidden = (0, vocab.index[START]) + (() if unknown else (vocab.index[UNK],))
    return Decoder(generator.step, end_id=vocab.index[END], forbidden_ids=forbidden, jit_compile=jit_compile)
