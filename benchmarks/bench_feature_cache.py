"""Epoch time of a frozen pretrained backbone: cached features against running the backbone every step.

    .venv/bin/python benchmarks/bench_feature_cache.py [--config configs/flickr8k_caption_mobilenet.yaml]
        [--epochs 3] [--out /tmp/cmx-bench-cache] [--set KEY=VALUE ...] [--section NAME] [--write]

Trains the config twice with `cmx train` (one process each, one after the other), the
same data, model, seed and batches: once with model.image.cache_features true, once
false. Reads each run's history.csv and compares the median epoch time of the epochs
after the first (the first also traces the graphs). The time the cached run spends
computing the features once (before its first epoch) is reported beside it, from the
cache's own log lines. Prints a JSON summary and, with --write, puts a Markdown section
into benchmarks/RESULTS.md. Paths in the config are relative to the working directory:
run it from the repository root (flickr8k_2k is read from ../shared/datasets/).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results_file import replace_section  # noqa: E402


def train(config: str, out: Path, name: str, epochs: int, cache: bool, extra: list[str]) -> dict:
    """One `cmx train` run (extra: more --set values); its epoch times and the wall time of the whole command."""
    sets = [*extra, f"name={name}", f"output.dir={out}", f"train.epochs={epochs}", "train.early_stopping.patience=0",
            f"model.image.cache_features={'true' if cache else 'false'}"]
    command = [sys.executable, "-m", "crossmodal_tf.cli.main", "train", config, "--overwrite",
               *[arg for s in sets for arg in ("--set", s)]]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    lines = []
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            lines.append((time.perf_counter() - started, line.rstrip()))
            print(line, end="", flush=True)
    if proc.returncode:
        raise SystemExit(f"cmx train failed ({proc.returncode})")
    with open(out / name / "history.csv", encoding="utf-8") as handle:
        times = [float(row["epoch_time_s"]) for row in csv.DictReader(handle)]
    computing = [t for t, line in lines if "computing the" in line]
    cached = [t for t, line in lines if "cached by the frozen" in line]
    return {"epoch_times": times, "wall_s": round(time.perf_counter() - started, 1),
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "features_s": round(cached[0] - computing[0], 1) if computing and cached else None,
            "command": shlex.join(["python", "-m", "crossmodal_tf.cli.main", "train", config, "--overwrite",
                                   *[arg for s in sets for arg in ("--set", s)]])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/flickr8k_caption_mobilenet.yaml")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/cmx-bench-cache"))
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to both runs, e.g. data.image.size=224")
    parser.add_argument("--section", default="feature_cache", help="the RESULTS.md section to write")
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cached = train(args.config, args.out, "cached", args.epochs, cache=True, extra=args.sets)
    running = train(args.config, args.out, "backbone-every-step", args.epochs, cache=False, extra=args.sets)
    fast, slow = (statistics.median(r["epoch_times"][1:] or r["epoch_times"]) for r in (cached, running))
    summary = {"config": args.config, "epochs": args.epochs, "cached": cached, "backbone_every_step": running,
               "median_epoch_s_cached": fast, "median_epoch_s_every_step": slow, "speedup": round(slow / fast, 1)}
    print(json.dumps(summary, indent=1))
    if not args.write:
        return
    verdict = "meets" if slow / fast >= 10 else "**misses**"
    sets = "".join(f" --set {s}" for s in args.sets)
    section = f"""## Cached backbone features against running the frozen backbone every step (issue 16): `{args.config}`{sets}

Produced by `python benchmarks/bench_feature_cache.py --config {args.config} --epochs {args.epochs}{sets} --section {args.section} --write`
on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} ({platform.machine()}, {os.cpu_count()} CPU cores, shared
with other jobs). The same config, data, seed and batches twice; epoch time is history.csv's `epoch_time_s`
(validation included), median of the epochs after the first (the first also traces the graphs).

| figure | cached features | backbone every step | ratio | target |
|---|---|---|---|---|
| seconds per epoch | {fast:.1f} | {slow:.1f} | **{slow / fast:.1f}×** | ≥ 10×: {verdict} |
| wall time of `cmx train`, start-up included | {cached['wall_s']} s | {running['wall_s']} s | | |

- Epoch times: cached {cached['epoch_times']}, every step {running['epoch_times']}.
- Load average (1 min) before and after each run, on 2 cores: cached {cached['load_1min']}, every step
  {running['load_1min']}.
- Computing the cached features once (train and val photos, before the first epoch):
  {cached['features_s']} s; a second run with the same backbone, weights and size reads them back.
- Commands: `{cached['command']}` and `{running['command']}`.
"""
    replace_section(args.section, section)


if __name__ == "__main__":
    main()
