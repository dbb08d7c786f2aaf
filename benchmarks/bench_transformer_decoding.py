"""Transformer decoding throughput: the cached single step against recomputing the prefix, and against the LSTM.

    .venv/bin/python benchmarks/bench_transformer_decoding.py [--dim 256] [--layers 2] [--vocab 2000] [--tokens 64]

Three lm decoders of the same vocabulary, untrained (speed does not depend on the
weights), each decoding greedily in cmx's compiled loop (crossmodal_tf.decoding, XLA)
with the end token disabled, so every sequence runs exactly --tokens steps:

- cached: the TransformerDecoder's cached step (models/cached_step.Generator), which keeps each block's keys and values, so a
  new token costs one row of attention per block;
- recompute: a step that keeps the tokens so far and runs the whole model over them
  for every new token (the prefix padded to the same fixed length as the cache, since
  a compiled loop needs one shape), taking the logits at the new position;
- lstm: the LSTM lm of bench_decoding.py, --units units.

Each rate is given per second of wall clock and per CPU-second of the process (all its
threads): on cores shared with other jobs the wall clock also counts the time they held
the cores, and a decoder whose products run on two threads (the recomputing one) loses
more of it than a single-threaded one.

Prints a JSON summary and a Markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_decoding import build as build_lstm  # noqa: E402  (benchmarks/ is the script's directory)
from bench_decoding import compiled_tokens_per_s  # noqa: E402


def build_transformer(dim: int, layers: int, heads: int, vocab: int, tokens: int):
    """An untrained Transformer lm whose cache holds <start> and --tokens more, and its cached generator."""
    import keras

    from crossmodal_tf.config import Config
    from crossmodal_tf.models.cached_step import Generator
    from crossmodal_tf.tasks import lm

    config = Config.model_validate({"task": "lm", "model": {"text": {
        "type": "transformer", "dim": dim, "heads": heads, "ffn_dim": 2 * dim, "layers": layers,
        "max_positions": max(tokens + 1, 64), "dropout": 0.0}}})
    keras.utils.set_random_seed(0)
    model = lm.build_model(config, vocab)
    return model, Generator(model, length=tokens + 1)


class Recompute:
    """A step that runs the whole model over the tokens so far (padded to `length`) for every new token."""

    def __init__(self, model, length: int):
        self.model, self.length = model, length

    def start(self, inputs, batch: int) -> dict:
        import tensorflow as tf

        return {"tokens": tf.zeros([batch, self.length], tf.int32), "index": tf.zeros([batch], tf.int32)}

    def step(self, tokens, state: dict):
        import tensorflow as tf

        index = state["index"]
        slot = tf.one_hot(index, self.length, dtype=tf.int32)
        history = state["tokens"] * (1 - slot) + slot * tokens[:, None]
        logits = self.model({"text": history}, training=False)
        return tf.gather(logits, index, axis=1, batch_dims=1), {"tokens": history, "index": index + 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--units", type=int, default=256, help="the LSTM's units")
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from crossmodal_tf.decoding import DecodeSettings

    greedy = DecodeSettings("greedy", max_length=args.tokens)
    model, cached = build_transformer(args.dim, args.layers, args.heads, args.vocab, args.tokens)
    decoders = {"cached": cached, "recompute": Recompute(model, args.tokens + 1),
                "lstm": build_lstm(args.units, args.vocab)[2]}
    results = {key: getattr(args, key) for key in ("dim", "layers", "heads", "units", "vocab", "tokens")}
    for name, gen in decoders.items():
        for batch in (1, 32):
            results[f"{name}_batch{batch}"] = compiled_tokens_per_s(gen, greedy, batch, args.tokens, args.repeats)
    print(json.dumps(results, indent=2))
    print(f"\n## Transformer decoding ({args.layers} blocks of {args.dim}, {args.heads} heads; LSTM {args.units} "
          f"units; vocabulary {args.vocab}; {args.tokens} tokens, greedy)\n")
    print("| decoder | batch | tokens/s | cached × | tokens per CPU-second | cached × (CPU) | first call (compile) |")
    print("|---|---|---|---|---|---|---|")
    labels = {"cached": "Transformer, cached keys and values", "recompute": "Transformer, whole prefix every step",
              "lstm": "LSTM, carried state"}
    for batch in (1, 32):
        cached = results[f"cached_batch{batch}"]
        for name, label in labels.items():
            r = results[f"{name}_batch{batch}"]
            print(f"| {label} | {batch} | {r['tokens_per_s']:,.0f} | {cached['tokens_per_s'] / r['tokens_per_s']:.1f} "
                  f"| {r['tokens_per_cpu_s']:,.0f} | {cached['tokens_per_cpu_s'] / r['tokens_per_cpu_s']:.1f} "
                  f"| {r['first_call_s']:.1f} s |")


if __name__ == "__main__":
    main()
