"""Where a compiled decoding loop's time goes: each XLA operation's share, from a tf.profiler trace.

    .venv/bin/python benchmarks/profile_decoding_step.py [--decoder cached|recompute|lstm] [--batch 1] [--top 25]

Decodes greedily with the decoders of bench_transformer_decoding.py (same defaults:
2 blocks of width 256, 4 heads, vocabulary 2,000, 64 tokens), once to compile, then
--calls times under tf.profiler. XLA on CPU runs the compiled loop as a sequence of
operations (fusions, products, copies; names as in an XLA_FLAGS=--xla_dump_to dump of
the loop), each traced with its time: the table sums them per operation over the
calls and gives each one's time per step and share of the loop's time. Timings under
a profiler and on shared cores are approximate; shares are what to read.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
DUMP = tempfile.mkdtemp(prefix="cmx-xla-dump-")
# before TensorFlow loads XLA, which reads its flags once
os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={DUMP} --xla_dump_hlo_as_text".strip()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_decoding import build as build_lstm  # noqa: E402  (benchmarks/ is the script's directory)
from bench_transformer_decoding import Recompute, build_transformer  # noqa: E402


def operation_times(logdir: str) -> tuple[dict, dict]:
    """(total µs, count) per traced event name, over every thread of the host plane."""
    # the trace's protobuf ships with TensorFlow; no profiler plugin is needed to read it
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]).read_bytes())
    total, count = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                total[name] += event.duration_ps / 1e6
                count[name] += 1
    return total, count


def operation_sources(dump: str) -> dict:
    """{operation name: (kind, the TensorFlow op it computes)} from the optimised HLO of the decoding loop.

    A fusion is named after the op of its root instruction (the value it writes).
    """
    texts = [Path(path).read_text() for path in glob.glob(f"{dump}/*loop*cpu_after_optimizations.txt")]
    if not texts:
        return {}
    text = max(texts, key=len)  # the loop itself, not a small helper module
    root_op = {}
    for computation in re.finditer(r"^%(\S+) .*?\{\n(.*?)^\}", text, re.S | re.M):
        root = re.search(r"ROOT .*?op_name=\"([^\"]+)\"", computation.group(2))
        if root:
            root_op[computation.group(1)] = root.group(1)
    sources = {}
    for line in text.splitlines():
        match = re.match(r"\s*%(\S+) = .*? (\w[\w-]*)\(", line)
        if not match:
            continue
        name, opcode = match.groups()
        calls = re.search(r"kind=(k\w+), calls=%([\w.-]+)", line)
        if calls:
            sources[name] = (calls.group(1)[1:], root_op.get(calls.group(2), ""))
        else:
            op = re.search(r'op_name="([^"]+)"', line)
            sources[name] = (opcode, op.group(1) if op else "")
    return {name: (kind, op.removeprefix("while/")) for name, (kind, op) in sources.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decoder", choices=("cached", "recompute", "lstm"), default="cached")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from crossmodal_tf.decoding import DecodeSettings, Decoder

    if args.decoder == "lstm":
        gen = build_lstm(256, 2000)[2]
    else:
        model, cached = build_transformer(256, 2, 4, 2000, args.tokens)
        gen = cached if args.decoder == "cached" else Recompute(model, args.tokens + 1)
    decoder = Decoder(gen.step, end_id=-1, forbidden_ids=(0, 2), jit_compile=True)
    settings = DecodeSettings("greedy", max_length=args.tokens)
    first = np.full([args.batch], 2, np.int32)
    decoder.decode(gen.start(None, args.batch), first, settings, 1)  # compiles
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for seed in range(args.calls):
            decoder.decode(gen.start(None, args.batch), first, settings, 1, seed)
        tf.profiler.experimental.stop()
        total, count = operation_times(logdir)
    steps = args.calls * args.tokens
    # the loop's own operations run once per step; the rest (the call, the while loop itself) less often
    per_step = {name: us for name, us in total.items()
                if count[name] >= steps and name != "ThunkExecutor::Execute" and not name.startswith("end: ")}
    loop_us = sum(per_step.values())
    print(f"{args.decoder}, batch {args.batch}: {loop_us / steps:.1f} µs per step in {len(per_step)} operations "
          f"({args.batch * steps / loop_us * 1e6:,.0f} tokens/s inside the loop)\n")
    sources = operation_sources(DUMP)
    shutil.rmtree(DUMP, ignore_errors=True)
    print("| operation | µs per step | share | kind | computes |")
    print("|---|---|---|---|---|")
    for name, us in sorted(per_step.items(), key=lambda item: -item[1])[:args.top]:
        kind, op = sources.get(name, ("", ""))
        print(f"| {name} | {us / steps:.1f} | {us / loop_us:.1%} | {kind} | {op} |")


if __name__ == "__main__":
    main()
