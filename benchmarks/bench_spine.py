"""Measure the spine's figures and write them to benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/bench_spine.py [--config configs/shapes_match.yaml] [--skip-demo]

1. CLI latency: `cmx --help` and `cmx config validate` (median of 7 runs each).
2. The demo: `cmx preprocess` + `cmx train` + `cmx test` on the default config,
   wall time of each and the test metrics.
3. Training throughput: `cmx train` against a hand-written `model.fit` on numpy arrays
   in memory, the same model (built by the same task code), steady-state epochs
   (the first epoch, which traces and fills caches, is left out), both in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CMX = str(Path(sys.executable).with_name("cmx"))


def timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - started


def cli_latency(config: str) -> dict:
    timed([CMX, "--help"])  # warm the file cache once
    help_times = [timed([CMX, "--help"]) for _ in range(7)]
    validate_times = [timed([CMX, "config", "validate", config]) for _ in range(7)]
    return {"help_s": statistics.median(help_times), "validate_s": statistics.median(validate_times)}


def run_demo(config: str, work: Path, overrides: list[str] | tuple = ()) -> dict:
    """Preprocess, train and test config as `make demo` does (overrides: more --set values); times and figures."""
    name = "bench-demo"
    sets = ["--set", f"name={name}", "--set", f"output.dir={work}/runs", "--set", f"data.processed={work}/processed"]
    sets += [arg for value in overrides for arg in ("--set", value)]
    times = {
        "preprocess_s": timed([CMX, "preprocess", config, *sets, "--force", "--quiet"]),
        "train_s": timed([CMX, "train", config, *sets, "--overwrite", "--quiet"]),
        "test_s": timed([CMX, "test", f"{work}/runs/{name}"]),
    }
    metrics = json.loads((work / "runs" / name / "eval_test.json").read_text())
    history = (work / "runs" / name / "history.csv").read_text().strip().splitlines()
    return {**times, "epochs": len(history) - 1, "test": metrics}


def throughput(config_path: str, work: Path, epochs: int = 4, overrides: list[str] | tuple = (),
               rounds: int = 1) -> dict:
    """samples/s of cmx train and of model.fit on numpy arrays, same model, same data, both validating each epoch.

    rounds > 1 alternates the two (cmx, numpy, cmx, numpy, ...): this machine's speed
    drifts by tens of percent within minutes, and alternating spreads the drift over
    both sides. Each side's figure is the median of its epochs, leaving out the first
    epoch of each block (tracing, filling caches).
    """
    def cmx_train(round_: int) -> tuple[list[float], Path]:
        sets = ["--set", f"name=bench-speed-{round_}", "--set", f"output.dir={work}/runs",
                "--set", f"data.processed={work}/processed", "--set", f"train.epochs={epochs}",
                "--set", "train.early_stopping.patience=0",
                *[arg for value in overrides for arg in ("--set", value)]]
        subprocess.run([CMX, "train", config_path, *sets, "--overwrite", "--quiet"], check=True, capture_output=True,
                       cwd=ROOT)
        run = work / "runs" / f"bench-speed-{round_}"
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        count = json.loads((run / "stats.json").read_text())["counts"]["train"]
        return [count / r["epoch_time_s"] for r in rows[1:]], run

    cmx_rates, run = cmx_train(0)
    stats = json.loads((run / "stats.json").read_text())
    n_train = stats["counts"]["train"]

    import numpy as np
    import tensorflow as tf

    sys.path.insert(0, str(ROOT))
    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.shards import shard_paths
    from crossmodal_tf.environment import seed_everything
    from crossmodal_tf.tasks import load_task
    from crossmodal_tf.stages.train import build_optimizer

    config = load_config(run / "config.yaml")
    size, max_length = config.data.image.size, config.data.text.max_length
    spec = {"image": tf.io.FixedLenFeature([], tf.string), "text": tf.io.VarLenFeature(tf.int64),
            "label": tf.io.FixedLenFeature([1], tf.int64)}

    def arrays(split: str):
        """One split as numpy arrays, each caption padded to max_length, as a hand-written pipeline would."""
        images, texts, labels = [], [], []
        for record in tf.data.TFRecordDataset([str(p) for p in shard_paths(config.processed_dir, split)]):
            parsed = tf.io.parse_single_example(record, spec)
            images.append(np.frombuffer(parsed["image"].numpy(), np.uint8).reshape(size, size, 3))
            tokens = tf.sparse.to_dense(parsed["text"]).numpy()[:max_length]
            texts.append(np.pad(tokens, (0, max_length - len(tokens))))
            labels.append(parsed["label"].numpy())
        return {"text": np.stack(texts).astype("int32"), "image": np.stack(images)}, np.stack(labels).astype("float32")

    x, y = arrays("train")
    validation = arrays("val")  # cmx train validates every epoch, and its epoch times include that

    import keras

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_times.append(time.perf_counter() - self.started)

    numpy_rates = []
    for round_ in range(rounds):
        if round_:
            cmx_rates += cmx_train(round_)[0]
        seed_everything(config.seed)
        task = load_task(config.task)
        model = task.build_model(config, stats["vocab_size"])
        model.compile(optimizer=build_optimizer(config.train.optimizer, len(y) // config.train.batch_size * epochs),
                      loss=task.loss(), metrics=task.train_metrics(), jit_compile=False)
        epoch_times = []
        model.fit(x, y, batch_size=config.train.batch_size, epochs=epochs, callbacks=[EpochTimer()], verbose=0,
                  validation_data=validation, validation_batch_size=config.eval.batch_size)
        numpy_rates += [len(y) / t for t in epoch_times[1:]]
    cmx_rate, numpy_rate = statistics.median(cmx_rates), statistics.median(numpy_rates)
    return {"train_examples": n_train, "epochs": epochs, "rounds": rounds, "cmx_samples_s": cmx_rate,
            "numpy_fit_samples_s": numpy_rate, "ratio": cmx_rate / numpy_rate,
            "cmx_epochs_samples_s": [round(r) for r in cmx_rates], "numpy_epochs_samples_s": [round(r) for r in numpy_rates]}


def write_results(results: dict, command: str) -> None:
    lines = ["## The spine: CLI latency, the match demo, training throughput (`benchmarks/bench_spine.py`)", "",
             f"Produced by `{command}` on {results['date']} ({results['machine']}).",
             "Each figure below was measured in that one run; nothing here is asserted in tests.", ""]
    lat = results["latency"]
    lines += ["### CLI latency (median of 7 runs, target < 0.5 s)", "",
              "| command | seconds |", "|---|---|",
              f"| `cmx --help` | {lat['help_s']:.3f} |",
              f"| `cmx config validate configs/shapes_match.yaml` | {lat['validate_s']:.3f} |", ""]
    if "demo" in results:
        demo = results["demo"]
        test = demo["test"]
        total = demo["preprocess_s"] + demo["train_s"] + demo["test_s"]
        lines += ["### The demo: default shapes_match config (target: < 10 min, accuracy ≥ 0.95, ROC AUC ≥ 0.98)", "",
                  "| stage | seconds |", "|---|---|",
                  f"| cmx preprocess | {demo['preprocess_s']:.1f} |",
                  f"| cmx train ({demo['epochs']} epochs) | {demo['train_s']:.1f} |",
                  f"| cmx test | {demo['test_s']:.1f} |",
                  f"| **total** | **{total:.1f}** ({total / 60:.1f} min) |", "",
                  "| test metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in test.items()]
        verdicts = [f"time {total / 60:.1f} min {'meets' if total < 600 else 'misses'} < 10 min",
                    f"accuracy {test['accuracy']:.4f} {'meets' if test['accuracy'] >= 0.95 else 'misses'} ≥ 0.95",
                    f"ROC AUC {test['auc']:.4f} {'meets' if test['auc'] >= 0.98 else 'misses'} ≥ 0.98"]
        lines += ["", "Against the targets: " + "; ".join(verdicts) + ".", ""]
    if "throughput" in results:
        tp = results["throughput"]
        lines += ["### Training throughput: `cmx train` vs hand-written `model.fit` on numpy arrays (target ratio ≥ 1.0)",
                  "", f"Same model and data ({tp['train_examples']} training examples), median of epochs 2–{tp['epochs']}.",
                  "", "| pipeline | samples/s |", "|---|---|",
                  f"| cmx train (TFRecord → tf.data, per-batch padding) | {tp['cmx_samples_s']:.0f} |",
                  f"| model.fit on numpy arrays (padded to max_length) | {tp['numpy_fit_samples_s']:.0f} |",
                  f"| **ratio** | **{tp['ratio']:.2f}** ({'meets' if tp['ratio'] >= 1.0 else 'misses'} ≥ 1.0) |", ""]
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from results_file import replace_section

    replace_section("bench_spine", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/shapes_match.yaml")
    parser.add_argument("--skip-demo", action="store_true", help="leave out the 10-minute demo run")
    parser.add_argument("--skip-throughput", action="store_true", help="leave out the throughput comparison")
    parser.add_argument("--update", action="store_true",
                        help="keep the figures of the last run (WORK/results.json) that this run leaves out")
    parser.add_argument("--work", default="/tmp/cmx-bench")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    previous = work / "results.json"
    results = json.loads(previous.read_text()) if args.update and previous.is_file() else {}
    results.update(date=time.strftime("%Y-%m-%d"), machine=f"{platform.machine()}, {os.cpu_count()} CPU cores")
    results["latency"] = cli_latency(args.config)
    print(json.dumps(results["latency"]), flush=True)
    if not args.skip_demo:
        results["demo"] = run_demo(args.config, work)
        print(json.dumps(results["demo"]), flush=True)
    if not args.skip_throughput:
        results["throughput"] = throughput(args.config, work)
        print(json.dumps(results["throughput"]), flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=2))
    write_results(results, " ".join(["python benchmarks/bench_spine.py", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
