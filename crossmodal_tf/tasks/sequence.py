"""What the generative tasks (lm, caption, seq2seq) share: examples, teacher forcing, loss, token metrics,
decoding in batches and `cmx sample`'s continuation of prompts.

Texts a model predicts are stored framed as <start> w1 … wn <end>. Teacher forcing
feeds <start> w1 … wn and predicts w1 … wn <end>; padding (id 0) is masked out of the
loss and the metrics.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from crossmodal_tf.data.text import END, START, UNK, Vocabulary, encode_prompt
from crossmodal_tf.errors import CmxError

if TYPE_CHECKING:  # for annotations: numpy is imported where it is used, so reading TASK stays fast
    import numpy as np


def make_examples(record, rng, pool, data_cfg, hard_negative) -> list[tuple[str, int, str]]:
    """Every caption of an image is one example (label 1): the model learns all paraphrases."""
    return [(caption, 1, "positive") for caption in record.captions]


def loss(train_cfg=None):
    """Cross-entropy over next-token logits; padding targets (id 0) do not count."""
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0)


def train_metrics() -> list:
    from crossmodal_tf.models.metrics import TokenAccuracy

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
        import numpy as np
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
    import numpy as np

    counts: Counter = Counter()
    for batch in dataset:
        targets = np.asarray(batch[text_field])[:, 1:]
        counts.update(targets[targets > 0].tolist())
    return counts


def texts(tokens: np.ndarray, vocab: Vocabulary, level: str, unknown: str | None = None) -> list[str]:
    """Decoded rows of token ids (stopping at <end>) as text (a subword vocabulary joins its pieces).

    unknown: what each <unk> is written as, a word of its own (text_scores.NO_MATCH for scoring); None
    writes it as the vocabulary does.
    """
    import numpy as np

    if unknown is None:
        return [vocab.detokenize(vocab.decode(row), level) for row in np.asarray(tokens)]
    out = []
    for row in np.asarray(tokens):
        segments: list[list[str]] = [[]]
        for token in vocab.decode(row):
            if token == UNK:
                segments.append([])
            else:
                segments[-1].append(token)
        # the pieces between two <unk> are joined on their own: a subword model has no piece for the marker
        out.append(" ".join(f" {unknown} ".join(vocab.detokenize(s, level) for s in segments).split()))
    return out


def greedy(max_length: int, sample_cfg=None):
    """Greedy decoding settings, with the bans (min_length, no_repeat_ngram_size) of a sample config when given."""
    from crossmodal_tf.decoding import DecodeSettings

    if sample_cfg is None:
        return DecodeSettings("greedy", max_length=max_length)
    return DecodeSettings("greedy", max_length=max_length, min_length=sample_cfg.min_length,
                          no_repeat_ngram_size=sample_cfg.no_repeat_ngram_size)


def decode_settings(sample_cfg):
    """The config's sample section (or cmx sample's options merged into it) as DecodeSettings."""
    from crossmodal_tf.decoding import DecodeSettings

    return DecodeSettings(sample_cfg.strategy, sample_cfg.temperature, sample_cfg.top_k, sample_cfg.top_p,
                          sample_cfg.beam_width, sample_cfg.length_penalty, sample_cfg.max_length,
                          sample_cfg.min_length, sample_cfg.no_repeat_ngram_size)


def generate(gen, decoder, vocab: Vocabulary, inputs: dict | None, batch: int, settings, num_samples: int = 1,
             seed: int = 0, prompt_ids: list[int] | tuple = ()):
    """Decode num_samples continuations for each of `batch` rows, after <start> and an optional prompt.

    The prompt runs through the decoder's step first (prefill), so decoding picks
    up after its last word; the result's log-probabilities cover the new tokens.
    """
    import numpy as np

    sequence = [vocab.index[START], *prompt_ids]
    capacity = getattr(gen, "length", None)  # a Transformer's cache slots; an LSTM's state has no such limit
    if capacity is not None and len(sequence) - 1 + settings.max_length > capacity:
        raise CmxError(f"model.text.max_positions: {capacity} positions cannot hold <start>, a prompt of "
                       f"{len(prompt_ids)} tokens and {settings.max_length} more; lower the sample's max_length")
    state = gen.start(inputs, batch)
    if len(sequence) > 1:
        state = decoder.prefill(state, np.tile(np.asarray(sequence[:-1], np.int32), (batch, 1)))
    first = np.full([batch], sequence[-1], np.int32)
    return decoder.decode(state, first, settings, num_samples, seed)


def decode_rows(gen, decoder, vocab: Vocabulary, name: str, rows: np.ndarray, settings, batch_size: int,
                num_samples: int = 1, seed: int = 0, prompt_ids=(), filler: np.ndarray | None = None,
                others: dict | None = None):
    """Decode every row of one start input (images, source sentences) in batches: Decoded, (rows, samples, steps).

    Every batch is padded to batch_size rows of `filler` (zeros by default), so the
    compiled loop sees one shape and compiles once. others holds further start inputs,
    row for row with rows (a copy decoder's extended source ids), padded with zeros.
    """
    import numpy as np

    from crossmodal_tf.decoding import Decoded

    parts = []
    batch_size = max(1, min(batch_size, len(rows)))  # no padding beyond the rows there are
    pad = np.zeros(rows.shape[1:], rows.dtype) if filler is None else filler
    for begin in range(0, len(rows), batch_size):
        chunk = rows[begin:begin + batch_size]
        padded = np.concatenate([chunk, np.broadcast_to(pad, (batch_size - len(chunk), *rows.shape[1:]))])
        inputs = {name: padded}
        for other, values in (others or {}).items():
            part = values[begin:begin + batch_size]
            inputs[other] = np.concatenate([part, np.zeros((batch_size - len(part), *values.shape[1:]), values.dtype)])
        decoded = generate(gen, decoder, vocab, inputs, batch_size, settings, num_samples, seed + begin, prompt_ids)
        parts.append(Decoded(decoded.tokens[: len(chunk)], decoded.log_probs[: len(chunk)],
                             decoded.scores[: len(chunk)]))
    return Decoded(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("tokens", "log_probs", "scores")))


def evaluate_tokens(run, model, dataset, arrange, text_field: str = "text") -> dict:
    """Teacher-forced loss, perplexity and token accuracy over a dataset, and the unigram baseline's perplexity.

    text_field is the framed text the model predicts: "text", or "target" for seq2seq.
    """
    metrics = TokenMetrics()
    for batch in dataset:
        inputs, targets = arrange(batch)
        metrics.update(model(inputs, training=False), targets)
    results = metrics.results()
    if results:
        vocab = run.target_vocab if text_field == "target" else run.vocab
        results["unigram_perplexity"] = unigram_perplexity(run.train_counts(text_field), metrics.counts, len(vocab))
    return results


def continue_prompts(run, gen, prompts: list[str], settings, seed: int, warn, start: dict | None = None,
                     labels: list[str] = (), references: list | None = None, unknown: bool = True) -> list[dict]:
    """cmx sample's records for continuations of each prompt ("" for none), num_samples each.

    start holds the start inputs of a conditioned decoder ({"image": batch}) with one
    label per row; without it one unconditioned row is decoded. unknown False: no <unk> is generated.
    """
    from crossmodal_tf.decoding import make_decoder, worth_compiling

    vocab, level = run.vocab, run.config.data.text.level
    encoded = []
    for prompt in prompts or [""]:
        ids, seen, unseen = encode_prompt(prompt, vocab, run.config.data.text)
        if unseen:
            warn(f"cmx: warning: --prompt {prompt!r}: not in the vocabulary, read as <unk>: {', '.join(unseen)}")
        encoded.append((prompt, ids, seen))
    rows = len(labels) if start else 1
    decoder = make_decoder(gen, vocab, worth_compiling(rows * settings.num_samples), unknown)
    records = []
    for prompt, ids, seen in encoded:
        result = generate(gen, decoder, vocab, start, rows, decode_settings(settings), settings.num_samples, seed,
                          ids)
        for row in range(rows):
            for n, (tokens, log_prob) in enumerate(zip(result.tokens[row], result.log_probs[row])):
                text = vocab.detokenize([*seen, *vocab.decode(tokens)], level)
                record = {"input": labels[row] if start else prompt, "sample": n + 1, "text": text,
                          "log_prob": round(float(log_prob), 4), "strategy": settings.strategy}
                if start and prompt:
                    record["prompt"] = prompt
                if references is not None:
                    record["references"] = references[row]
                records.append(record)
    return records
