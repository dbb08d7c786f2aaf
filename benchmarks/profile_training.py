"""Where training time goes for the match and caption models: a tf.profiler trace of `cmx train`, by category.

    .venv/bin/python benchmarks/profile_training.py [--work DIR] [--images 3000] [--tasks match caption]
        [--steps 40] [--repeats 2] [--write-results]

For each task's default config (shrunk to --images images, processed into --work),
`cmx train` runs two epochs with `train.profile_batches` set to --steps batches of the
second epoch (the first traces the step functions), so Keras' TensorBoard callback
writes a tf.profiler trace of steady-state steps. Its kernels' own times are summed per
category by benchmarks/trace_time.py: input pipeline, LSTM, convolutions, the rest of
the image branch, dense layers, optimizer, loss and metrics, other. That is CPU time
inside TensorFlow summed over threads, so its shares are what to read.

A cross-check that needs no trace: the same model, compiled as `cmx train` compiles it,
trains --steps batches from the real training pipeline and the same batches held in
memory beforehand, alternated --repeats times; the difference is what the input
pipeline costs the step. Absolute times on shared cores move with the load; ratios
and shares measured side by side much less.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import trace_time  # noqa: E402  (benchmarks/ is the script's directory)

CONFIGS = {"match": "configs/shapes_match.yaml", "caption": "configs/shapes_caption.yaml"}
CMX = [sys.executable, "-m", "crossmodal_tf.cli.main"]


def shrunk(task: str, work: Path, images: int, *extra: str) -> list[str]:
    """The --set arguments that shrink a task's default config to `images` images in work/."""
    return ["--set", f"name=profile-{task}", "--set", f"output.dir={work}/runs",
            "--set", f"data.processed={work}/{task}", "--set", f"data.shapes.num_images={images}",
            "--set", "train.early_stopping.patience=0", *[arg for value in extra for arg in ("--set", value)]]


def profiled_train(task: str, work: Path, images: int, steps: int) -> tuple[dict, dict]:
    """({category: µs per step}, run facts): `cmx train` for two epochs, tracing `steps` batches of the second."""
    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.preprocess import preprocess

    config = load_config(ROOT / CONFIGS[task], shrunk_overrides(task, work, images))
    stats = preprocess(config, quiet=True)
    per_epoch = math.ceil(stats["counts"]["train"] / config.train.batch_size)
    first = per_epoch + max(1, (per_epoch - steps) // 2)  # the middle of the second epoch
    sets = shrunk(task, work, images, "train.epochs=2", f"train.profile_batches=[{first},{first + steps - 1}]")
    subprocess.run([*CMX, "train", CONFIGS[task], *sets, "--overwrite", "--quiet"], check=True, cwd=ROOT)
    run = work / "runs" / f"profile-{task}"
    times = trace_time.self_times(trace_time.read_space(run / "tensorboard"))
    categories = {name: us / steps for name, us in trace_time.category_times(times).items()}
    top = {name: us / steps for name, us in times.most_common(40)}
    return categories, {"steps_per_epoch": per_epoch, "traced": [first, first + steps - 1], "top": top,
                        "train_examples": stats["counts"]["train"]}


def shrunk_overrides(task: str, work: Path, images: int, *extra: str) -> list[str]:
    """shrunk() as load_config's overrides (the values without the --set flags)."""
    return shrunk(task, work, images, *extra)[1::2]


def pipeline_cost(task: str, work: Path, images: int, epochs: int, repeats: int) -> dict:
    """Seconds per epoch of training steps fed by the training pipeline and by the same batches held in memory.

    Each side is one model.fit of 1 + epochs epochs (the first, which fills the caches,
    is left out), the two alternated `repeats` times on the same compiled model. The
    pipeline side is `cmx train`'s own dataset (parsed examples cached in memory, then
    shuffled, padded and arranged every epoch); the in-memory side reads one epoch of
    its finished batches from a cache.
    """
    import keras

    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.preprocess import read_stats
    from crossmodal_tf.environment import seed_everything
    from crossmodal_tf.tasks import load_task
    from crossmodal_tf.train import build_optimizer
    from crossmodal_tf.training_data import make_training_batches

    config = load_config(ROOT / CONFIGS[task], shrunk_overrides(task, work, images))
    stats = read_stats(config.processed_dir)
    task_module = load_task(config.task)
    count = stats["counts"]["train"]
    per_epoch = math.ceil(count / config.train.batch_size)
    seed_everything(config.seed)
    model = task_module.build_model(config, *task_module.vocab_sizes(stats))
    model.compile(optimizer=build_optimizer(config.train.optimizer, per_epoch * config.train.epochs, per_epoch),
                  loss=task_module.loss(), metrics=task_module.train_metrics(), jit_compile=False)

    def pipeline():
        return make_training_batches(config, task_module, None, count=count, size=config.data.image.size,
                                     first_epoch=0, last_epoch=1 + epochs, skip=0)

    finished = make_training_batches(config, task_module, None, count=count, size=config.data.image.size,
                                     first_epoch=0, last_epoch=1, skip=0).cache()
    for _ in finished:  # fills the cache: reading it later costs a copy, not shuffling, padding or arranging
        pass
    in_memory = finished.repeat()

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.started)

    def epoch_seconds(dataset) -> list[float]:
        timer = EpochTimes()
        timer.seconds = []
        model.fit(dataset, epochs=1 + epochs, steps_per_epoch=per_epoch, verbose=0, shuffle=False, callbacks=[timer])
        return timer.seconds[1:]

    seconds = {"pipeline": [], "in_memory": []}
    for _ in range(repeats):
        seconds["pipeline"] += epoch_seconds(pipeline())
        seconds["in_memory"] += epoch_seconds(in_memory)
    keras.backend.clear_session()
    piped, memory = statistics.median(seconds["pipeline"]), statistics.median(seconds["in_memory"])
    return {"steps_per_epoch": per_epoch, "seconds": seconds, "pipeline_s": piped, "in_memory_s": memory,
            "share": (piped - memory) / piped}


def table(categories: dict[str, float]) -> list[str]:
    """Markdown rows: each category's µs per step and share of the traced total."""
    total = sum(categories.values())
    rows = ["| category | ms per step | share |", "|---|---|---|"]
    rows += [f"| {name} | {us / 1000:.2f} | {us / total:.1%} |" for name, us in categories.items()]
    return rows + [f"| total (CPU time in TensorFlow, summed over threads) | {total / 1000:.2f} | 100% |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cmx-profile-training"))
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--tasks", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=30, help="batches of the second epoch to trace")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per side of the cross-check")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of the cross-check")
    parser.add_argument("--top", type=int, default=15, help="most expensive traced events to list")
    args = parser.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    for task in args.tasks:
        categories, facts = profiled_train(task, args.work, args.images, args.steps)
        print(f"\n## {task}: {facts['train_examples']} training examples, {facts['steps_per_epoch']} steps per epoch, "
              f"batches {facts['traced'][0]}-{facts['traced'][1]} traced")
        print("\n".join(table(categories)))
        print(f"\ntop {args.top} events (ms per step):")
        for name, us in list(facts["top"].items())[:args.top]:
            print(f"  {us / 1000:8.2f}  {trace_time.category(name):12.12}  {name}")
        cost = pipeline_cost(task, args.work, args.images, args.epochs, args.repeats)
        print(f"\ncross-check, s per epoch of {cost['steps_per_epoch']} steps: pipeline {cost['pipeline_s']:.2f}, "
              f"batches in memory {cost['in_memory_s']:.2f}: input pipeline share {cost['share']:.1%} "
              f"(all: {cost['seconds']})")
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; uptime before: {uptime_before}; after: "
          f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
