"""Decoding throughput: cmx's compiled single-step loop against the predict-the-whole-prefix loop.

    .venv/bin/python benchmarks/bench_decoding.py [--units 256] [--vocab 2000] [--tokens 20]

The baseline is what a user copies from the Keras text-generation examples: for each
new token, model.predict on the whole prefix so far and take the last step's logits.
cmx decodes with crossmodal_tf.decoding: the whole loop compiled once with XLA,
carrying the LSTM state, so each token costs one LSTM step. Both use the same
untrained lm model (speed does not depend on the weights); the end token is
disabled so that every sequence runs exactly --tokens steps. Prints a JSON summary
and a Markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def build(units: int, vocab: int):
    import keras

    from crossmodal_tf.config import Config
    from crossmodal_tf.tasks import lm

    config = Config.model_validate({"task": "lm", "model": {"text": {"embedding_dim": 64, "units": units,
                                                                      "dropout": 0.0}}})
    keras.utils.set_random_seed(0)
    model = lm.build_model(config, vocab)
    return config, model, lm.generator(model, config)


def baseline_tokens_per_s(model, tokens: int, repeats: int = 3) -> float:
    """model.predict on the growing prefix for every new token, batch 1 (greedy)."""
    import numpy as np

    model.predict({"text": np.array([[2]], np.int32)}, verbose=0)  # build the predict function once
    times = []
    for _ in range(repeats):
        prefix = [2]
        started = time.perf_counter()
        for _ in range(tokens):
            logits = model.predict({"text": np.array([prefix], np.int32)}, verbose=0)
            prefix.append(int(logits[0, -1].argmax()))
        times.append(time.perf_counter() - started)
    return tokens / statistics.median(times)


def compiled_tokens_per_s(gen, settings, batch: int, tokens: int, repeats: int = 15) -> dict:
    """Tokens/s of cmx's compiled loop (end token disabled), after one call that compiles it."""
    import numpy as np

    from crossmodal_tf.decoding import Decoder

    decoder = Decoder(gen.step, end_id=-1, forbidden_ids=(0, 2), jit_compile=True)
    first = np.full([batch], 2, np.int32)
    started = time.perf_counter()
    decoder.decode(gen.start(None, batch), first, settings, 1)
    compile_s = time.perf_counter() - started
    times, cpu_times = [], []
    for seed in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        result = decoder.decode(gen.start(None, batch), first, settings, 1, seed)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
    assert (result.tokens > 0).all(), "every sequence must run all steps"
    # a beam search of width W runs W sequences per row; count the tokens of the returned beam only.
    # Per CPU-second (this process's, all its threads) as well: on shared cores the wall clock also
    # counts the time other processes held them, the CPU time much less so.
    return {"tokens_per_s": batch * tokens / statistics.median(times), "first_call_s": compile_s,
            "tokens_per_cpu_s": batch * tokens / statistics.median(cpu_times), "calls_compiled": len(decoder._loops)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=256)
    parser.add_argument("--vocab", type=int, default=2000)
    parser.add_argument("--tokens", type=int, default=20)
    args = parser.parse_args()

    from crossmodal_tf.decoding import DecodeSettings

    _, model, gen = build(args.units, args.vocab)
    results = {"units": args.units, "vocab": args.vocab, "tokens": args.tokens,
               "baseline_batch1": baseline_tokens_per_s(model, args.tokens)}
    greedy = DecodeSettings("greedy", max_length=args.tokens)
    top_p = DecodeSettings("top_p", top_p=0.9, max_length=args.tokens)
    top_k = DecodeSettings("top_k", top_k=40, max_length=args.tokens)
    beam = DecodeSettings("beam", beam_width=4, max_length=args.tokens)
    for name, settings, batch in (("greedy_batch1", greedy, 1), ("greedy_batch32", greedy, 32),
                                  ("top_p_batch1", top_p, 1), ("top_p_batch32", top_p, 32),
                                  ("top_k_batch1", top_k, 1), ("top_k_batch32", top_k, 32),
                                  ("beam4_batch1", beam, 1), ("beam4_batch32", beam, 32)):
        results[name] = compiled_tokens_per_s(gen, settings, batch, args.tokens)
    print(json.dumps(results, indent=2))
    base = results["baseline_batch1"]
    print(f"\n## Decoding throughput (LSTM {args.units} units, vocabulary {args.vocab}, {args.tokens} tokens)\n")
    print("| decoder | batch | tokens/s | × baseline | first call (compile) |")
    print("|---|---|---|---|---|")
    print(f"| model.predict on the growing prefix (baseline) | 1 | {base:,.0f} | 1.0 | — |")
    for name in ("greedy_batch1", "greedy_batch32", "top_p_batch1", "top_p_batch32", "top_k_batch1", "top_k_batch32",
                 "beam4_batch1", "beam4_batch32"):
        r = results[name]
        label, batch = name.rsplit("_batch", 1)
        print(f"| cmx compiled loop, {label} | {batch} | {r['tokens_per_s']:,.0f} | {r['tokens_per_s'] / base:,.0f} "
              f"| {r['first_call_s']:.1f} s |")


if __name__ == "__main__":
    main()
