"""What the generative tasks (lm, caption) share: examples, teacher forcing, loss and token metrics.

Texts are stored framed as <start> w1 … wn <end>. Teacher forcing feeds
<start> w1 … wn and predicts w1 … wn <end>; padding (id 0) is masked out of the
loss and the metrics.
"""

from __future__ import annotations

import math
from collections import Counter

import keras
import numpy as np

from crossmodal_tf.data.text import END, START, Vocabulary, detokenize

FRAME_TEXT = True  # preprocess stores <start> … <end> around every text
GENERATES_TEXT = True


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str]]:
    """Every caption of an image is one example (label 1): the model learns all paraphrases."""
    return [(caption, 1, "positive") for caption in record.captions]


def loss():
    """Cross-entropy over next-token logits; padding targets (id 0) do not count."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)


@keras.saving.register_keras_serializable(package="crossmodal_tf")
class TokenAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Next-token accuracy over real targets only.

    The decoder's input mask alone is not enough: a text's <end> is a real input
    whose target is padding, and would count as a wrong prediction.
    """

    def update_state(self, y_true, y_pred, sample_weight=None):
        real = keras.ops.cast(keras.ops.not_equal(y_true, 0), "float32")
        weight = real if sample_weight is None else keras.ops.cast(sample_weight, "float32") * real
        return super().update_state(y_true, y_pred, weight)


def train_metrics() -> list:
    return [TokenAccuracy(name="token_accuracy")]


def teacher_forcing(text):
    """Framed token ids (batch, steps) → decoder inputs and next-token targets."""
    return text[:, :-1], text[:, 1:]


class TokenMetrics:
    """Summed cross-entropy and correct predictions over the real (non-padding) target tokens."""

    def __init__(self):
        self.nll = 0.0
        self.correct = 0
        self.tokens = 0
        self.counts: Counter = Counter()

    def update(self, logits, targets) -> None:
        import tensorflow as tf

        targets = np.asarray(targets)
        real = targets > 0
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits).numpy()
        self.nll += float(nll[real].sum())
        self.correct += int((np.asarray(logits).argmax(-1) == targets)[real].sum())
        self.tokens += int(real.sum())
        self.counts.update(targets[real].tolist())

    def results(self) -> dict:
        if not self.tokens:
            return {}
        mean = self.nll / self.tokens
        return {"loss": mean, "perplexity": math.exp(mean), "token_accuracy": self.correct / self.tokens,
                "tokens": self.tokens}


def unigram_perplexity(train_counts: Counter, eval_counts: Counter, vocab_size: int) -> float:
    """Perplexity of a unigram model of the train targets (add-one smoothed) on other targets: the floor to beat."""
    total = sum(train_counts.values()) + vocab_size
    nll = -sum(n * math.log((train_counts[t] + 1) / total) for t, n in eval_counts.items())
    return math.exp(nll / max(1, sum(eval_counts.values())))


def target_counts(dataset, text_field: str = "text") -> Counter:
    """Counts of the real predicted tokens (all but <start>) of a dataset's framed text field."""
    counts: Counter = Counter()
    for batch in dataset:
        targets = np.asarray(batch[text_field])[:, 1:]
        counts.update(targets[targets > 0].tolist())
    return counts


def texts(tokens: np.ndarray, vocab: Vocabulary, level: str) -> list[str]:
    """Decoded rows of token ids (stopping at <end>) as text."""
    return [detokenize(vocab.decode(row), level) for row in np.asarray(tokens)]


def generate(gen, decoder, vocab: Vocabulary, inputs: dict | None, batch: int, settings, num_samples: int = 1,
             seed: int = 0, prompt_ids: list[int] | tuple = ()):
    """Decode num_samples continuations for each of `batch` rows, after <start> and an optional prompt.

    The prompt runs through the decoder's step first (prefill), so decoding picks
    up after its last word; the result's log-probabilities cover the new tokens.
    """
    state = gen.start(inputs, batch)
    sequence = [vocab.index[START], *prompt_ids]
    if len(sequence) > 1:
        state = decoder.prefill(state, np.tile(np.asarray(sequence[:-1], np.int32), (batch, 1)))
    first = np.full([batch], sequence[-1], np.int32)
    return decoder.decode(state, first, settings, num_samples, seed)


def make_decoder(generator, vocab: Vocabulary, jit_compile: bool = True):
    """A Decoder over a generator's step that stops at <end> and never emits <pad> or <start>."""
    from crossmodal_tf.decoding import Decoder

    return Decoder(generator.step, end_id=vocab.index[END], forbidden_ids=(0, vocab.index[START]),
                   jit_compile=jit_compile)


def evaluate_tokens(model, dataset, arrange, context, text_field: str = "text") -> dict:
    """Teacher-forced loss, perplexity and token accuracy over a dataset, and the unigram baseline's perplexity.

    text_field is the framed text the model predicts: "text", or "target" for seq2seq.
    """
    metrics = TokenMetrics()
    for batch in dataset:
        inputs, targets = arrange(batch)
        metrics.update(model(inputs, training=False), targets)
    results = metrics.results()
    if results:
        vocab = context.target_vocab if text_field == "target" else context.vocab
        results["unigram_perplexity"] = unigram_perplexity(context.train_counts(text_field), metrics.counts,
                                                           len(vocab))
    return results
