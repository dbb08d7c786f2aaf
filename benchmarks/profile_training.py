"""Where training time goes for the match and caption models: a tf.profiler trace of `cmx train`, by category.

    .venv/bin/python benchmarks/profile_training.py [--work DIR] [--images 3000] [--tasks match caption]
        [--steps 30] [--epochs 2] [--repeats 2] [--baseline DIR [--skip-profile]]

For each task's default config (shrunk to --images images, processed into --work),
`cmx train` runs two epochs with `train.profile_batches` set to --steps batches of the
second epoch (the first traces the step functions), so Keras' TensorBoard callback
writes a tf.profiler trace of steady-state steps. benchmarks/trace_time.py sums its
threads' time per kernel and category (input pipeline, LSTM, convolutions, batch
norm, the rest of the image branch, dense layers, optimizer, executor, Keras' loop,
other), two ways: thread-busy time (with the work kernels split off to the intra-op
threads) and each kernel's latency on its inter-op thread. Shares are what to read.

A cross-check that needs no trace: the same model, compiled as `cmx train` compiles it,
trains from `cmx train`'s own training pipeline and from one epoch of its finished
batches held in memory, alternated --repeats times (--epochs timed epochs each); the
difference is what the input pipeline costs the step.

--baseline DIR (a copy of other code, e.g. `git archive main | tar -x -C DIR`) also
runs `cmx train` of both codes on the same data, alternated --repeats times, and
profiles both (the baseline must know train.profile_batches; --skip-profile: only the
speeds). Absolute times on shared cores move with the load; shares, and ratios measured
side by side, much less.
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


def run_cmx(code: Path, *args: str) -> float:
    """Run the cmx CLI of the checkout at code (its folder first on the path: `python -m` puts the cwd there);
    returns the CPU seconds it took (user + system, every thread)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([*CMX, *args], check=True, cwd=code, env={**os.environ, "PYTHONPATH": str(code)},
                   capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def shrunk(task: str, work: Path, images: int, *extra: str) -> list[str]:
    """The --set arguments that shrink a task's default config to `images` images in work/."""
    return ["--set", f"name=profile-{task}", "--set", f"output.dir={work}/runs",
            "--set", f"data.processed={work}/{task}", "--set", f"data.shapes.num_images={images}",
            "--set", "train.early_stopping.patience=0", *[arg for value in extra for arg in ("--set", value)]]


def profiled_train(task: str, work: Path, images: int, steps: int, code: Path = ROOT) -> tuple[dict, dict]:
    """({view: {category: µs per step}}, run facts): `cmx train` for two epochs, tracing `steps` batches of the second.

    code is the checkout whose crossmodal_tf trains (it must know train.profile_batches).
    """
    from crossmodal_tf.config import load_config
    from crossmodal_tf.preprocessing import preprocess

    config = load_config(ROOT / CONFIGS[task], shrunk_overrides(task, work, images))
    stats = preprocess(config, quiet=True)
    per_epoch = math.ceil(stats["counts"]["train"] / config.train.batch_size)
    first = per_epoch + max(1, (per_epoch - steps) // 2)  # the middle of the second epoch
    sets = shrunk(task, work, images, "train.epochs=2", f"train.profile_batches=[{first},{first + steps - 1}]")
    run_cmx(code, "train", str(ROOT / CONFIGS[task]), *sets, "--overwrite", "--quiet")
    run = work / "runs" / f"profile-{task}"
    space = trace_time.read_space(run / "tensorboard")
    traced = len(trace_time.step_seconds(space)) or steps
    busy = trace_time.thread_times(space)
    views = {"busy": busy, "latency": trace_time.thread_times(space, regions=False)}
    categories = {view: {name: us / traced for name, us in trace_time.category_times(times).items()}
                  for view, times in views.items()}
    return categories, {"steps_per_epoch": per_epoch, "traced": [first, first + steps - 1], "steps": traced,
                        "wall_ms": 1000 * statistics.mean(trace_time.step_seconds(space) or [0.0]),
                        "top": {name: us / traced for name, us in busy.most_common(40)},
                        "train_examples": stats["counts"]["train"]}


def shrunk_overrides(task: str, work: Path, images: int, *extra: str) -> list[str]:
    """shrunk() as load_config's overrides (the values without the --set flags)."""
    return shrunk(task, work, images, *extra)[1::2]


def compiled_model(task: str, work: Path, images: int):
    """(config, task module, training examples, steps per epoch, the model compiled as `cmx train` compiles it)."""
    from crossmodal_tf.config import load_config
    from crossmodal_tf.preprocessing import read_stats
    from crossmodal_tf.environment import seed_everything
    from crossmodal_tf.tasks import load_task
    from crossmodal_tf.stages.train import build_optimizer

    config = load_config(ROOT / CONFIGS[task], shrunk_overrides(task, work, images))
    stats = read_stats(config.processed_dir)
    task_module = load_task(config.task)
    count = stats["counts"]["train"]
    per_epoch = math.ceil(count / config.train.batch_size)
    seed_everything(config.seed)
    model = task_module.build_model(config, *task_module.vocab_sizes(stats))
    model.compile(optimizer=build_optimizer(config.train.optimizer, per_epoch * config.train.epochs, per_epoch),
                  loss=task_module.loss(), metrics=task_module.train_metrics(), jit_compile=False)
    return config, task_module, count, per_epoch, model


def timed_fit(model, dataset, epochs: int, per_epoch: int) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds of each of `epochs` epochs of model.fit, after one more that is left out (tracing, caches).

    CPU is this process's, every thread: other jobs' load moves it much less than wall time.
    """
    import keras

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            wall.append(time.perf_counter() - self.started[0])
            cpu.append(time.process_time() - self.started[1])

    wall, cpu = [], []
    model.fit(dataset, epochs=1 + epochs, steps_per_epoch=per_epoch, verbose=0, shuffle=False,
              callbacks=[EpochTimes()])
    return wall[1:], cpu[1:]


def batch_norm_cost(task: str, work: Path, images: int, epochs: int, repeats: int) -> dict:
    """Wall and CPU seconds per epoch of the task's model with Keras' BatchNormalization and with the fused one.

    The two models differ in that layer only; both train on `cmx train`'s training
    pipeline in this process, alternated `repeats` times.
    """
    import keras

    from crossmodal_tf.models import branches
    from crossmodal_tf.training_data import make_training_batches

    models = {}
    for variant, layer in (("keras", keras.layers.BatchNormalization), ("fused", branches.FusedBatchNormalization)):
        fused, branches.FusedBatchNormalization = branches.FusedBatchNormalization, layer
        try:
            config, task_module, count, per_epoch, models[variant] = compiled_model(task, work, images)
        finally:
            branches.FusedBatchNormalization = fused
    seconds = {key: [] for key in ("keras", "fused", "keras_cpu", "fused_cpu")}
    for _ in range(repeats):
        for variant, model in models.items():
            dataset = make_training_batches(config, task_module, None, count=count, size=config.data.image.size,
                                            first_epoch=0, last_epoch=1 + epochs, skip=0)
            wall, cpu = timed_fit(model, dataset, epochs, per_epoch)
            seconds[variant] += wall
            seconds[variant + "_cpu"] += cpu
    keras.backend.clear_session()
    return {"steps_per_epoch": per_epoch, "seconds": seconds,
            "median": {key: statistics.median(values) for key, values in seconds.items()}}


def pipeline_cost(task: str, work: Path, images: int, epochs: int, repeats: int) -> dict:
    """Seconds per epoch of training steps fed by the training pipeline and by the same batches held in memory.

    Each side is one model.fit of 1 + epochs epochs (the first, which fills the caches,
    is left out), the two alternated `repeats` times on the same compiled model. The
    pipeline side is `cmx train`'s own dataset (parsed examples cached in memory, then
    shuffled, padded and arranged every epoch); the in-memory side reads one epoch of
    its finished batches from a cache.
    """
    import keras

    from crossmodal_tf.training_data import make_training_batches

    config, task_module, count, per_epoch, model = compiled_model(task, work, images)

    def pipeline():
        return make_training_batches(config, task_module, None, count=count, size=config.data.image.size,
                                     first_epoch=0, last_epoch=1 + epochs, skip=0)

    finished = make_training_batches(config, task_module, None, count=count, size=config.data.image.size,
                                     first_epoch=0, last_epoch=1, skip=0).cache()
    for _ in finished:  # fills the cache: reading it later costs a copy, not shuffling, padding or arranging
        pass
    in_memory = finished.repeat().prefetch(2)  # as the pipeline's last stage: the step never waits for a copy

    seconds = {"pipeline": [], "in_memory": [], "pipeline_cpu": [], "in_memory_cpu": []}
    for _ in range(repeats):
        for side, dataset in (("pipeline", pipeline()), ("in_memory", in_memory)):
            wall, cpu = timed_fit(model, dataset, epochs, per_epoch)
            seconds[side] += wall
            seconds[side + "_cpu"] += cpu
    keras.backend.clear_session()
    median = {key: statistics.median(values) for key, values in seconds.items()}
    return {"steps_per_epoch": per_epoch, "seconds": seconds, "median": median,
            "share": (median["pipeline"] - median["in_memory"]) / median["pipeline"],
            "cpu_share": (median["pipeline_cpu"] - median["in_memory_cpu"]) / median["pipeline_cpu"]}


def code_speeds(task: str, work: Path, images: int, baseline: Path, epochs: int, repeats: int) -> dict:
    """samples/s of `cmx train` with this checkout's code and with the code at `baseline`, alternated.

    Both train the same config on the same processed data (validation included, as
    history.csv times epochs); each run's figure is the median of its epochs after the
    first (which traces). PYTHONPATH picks the code each run imports.
    """
    import json

    speeds: dict[str, list[float]] = {"baseline": [], "this": [], "baseline_cpu_s": [], "this_cpu_s": []}
    for _ in range(repeats):
        for side, code in (("baseline", baseline), ("this", ROOT)):
            sets = shrunk(task, work, images, f"train.epochs={epochs}", f"name=speed-{task}-{side}")
            speeds[side + "_cpu_s"].append(run_cmx(code, "train", str(ROOT / CONFIGS[task]), *sets, "--overwrite",
                                                   "--quiet"))
            run = work / "runs" / f"speed-{task}-{side}"
            count = json.loads((run / "stats.json").read_text())["counts"]["train"]
            rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
            speeds[side].append(statistics.median(count / row["epoch_time_s"] for row in rows[1:]))
            speeds[side + "_final_loss"] = rows[-1]["loss"]
    return speeds


def table(categories: dict[str, dict[str, float]]) -> list[str]:
    """Markdown rows: each category's ms per step and share, thread-busy (intra-op regions in) and latency."""
    busy, latency = categories["busy"], categories["latency"]
    total, total_latency = sum(busy.values()), sum(latency.values())
    rows = ["| category | thread-busy ms per step | share | kernel latency ms per step | share |",
            "|---|---|---|---|---|"]
    rows += [f"| {name} | {us / 1000:.1f} | {us / total:.1%} | {latency.get(name, 0) / 1000:.1f} | "
             f"{latency.get(name, 0) / total_latency:.1%} |" for name, us in busy.items()]
    return rows + [f"| total | {total / 1000:.1f} | 100% | {total_latency / 1000:.1f} | 100% |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cmx-profile-training"))
    parser.add_argument("--images", type=int, default=3000)
    parser.add_argument("--tasks", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=30, help="batches of the second epoch to trace")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per side of the cross-check")
    parser.add_argument("--repeats", type=int, default=2, help="alternations of the cross-check")
    parser.add_argument("--top", type=int, default=15, help="most expensive traced events to list")
    parser.add_argument("--baseline", type=Path, help="a checkout of other code (e.g. `git archive main | tar -x -C "
                                                      "DIR`): also compare `cmx train`'s samples/s with it")
    parser.add_argument("--skip-profile", action="store_true", help="only the --baseline comparison")
    parser.add_argument("--only-cross-check", action="store_true", help="no trace, only the cross-check")
    parser.add_argument("--batch-norm", action="store_true", help="only: the same model with Keras' batch norm and "
                                                                   "with the fused one, in this process, alternated")
    args = parser.parse_args()

    started = datetime.datetime.now(datetime.timezone.utc)
    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    for task in args.tasks:
        if args.baseline:
            speeds = code_speeds(task, args.work, args.images, args.baseline, args.epochs + 1, args.repeats)
            ratio = statistics.median(speeds["this"]) / statistics.median(speeds["baseline"])
            cpu = statistics.median(speeds["baseline_cpu_s"]) / statistics.median(speeds["this_cpu_s"])
            print(f"\n{task}: cmx train samples/s (alternated): baseline {[round(v) for v in speeds['baseline']]}, "
                  f"this code {[round(v) for v in speeds['this']]}; ratio of medians {ratio:.2f}. CPU seconds of "
                  f"the whole cmx train: baseline {[round(v, 1) for v in speeds['baseline_cpu_s']]}, this code "
                  f"{[round(v, 1) for v in speeds['this_cpu_s']]}: {cpu:.2f}x less. Final training loss "
                  f"{speeds['baseline_final_loss']:.4f} against {speeds['this_final_loss']:.4f}")
        if args.skip_profile:
            continue
        if args.batch_norm:
            cost = batch_norm_cost(task, args.work, args.images, args.epochs, args.repeats)
            median = cost["median"]
            print(f"\n{task}: Keras' BatchNormalization against the fused one, median s per epoch of "
                  f"{cost['steps_per_epoch']} steps, wall: {median['keras']:.2f} against {median['fused']:.2f} "
                  f"({median['keras'] / median['fused']:.2f}x); CPU: {median['keras_cpu']:.2f} against "
                  f"{median['fused_cpu']:.2f} ({median['keras_cpu'] / median['fused_cpu']:.2f}x)")
            print(f"every epoch: { {key: [round(v, 2) for v in values] for key, values in cost['seconds'].items()} }")
            continue
        codes = ((("baseline", args.baseline),) if args.baseline else ()) + (("this code", ROOT),)
        for side, code in () if args.only_cross_check else codes:
            categories, facts = profiled_train(task, args.work, args.images, args.steps, code)
            print(f"\n## {task} ({side}): {facts['train_examples']} training examples, "
                  f"{facts['steps_per_epoch']} steps per epoch, batches {facts['traced'][0]}-{facts['traced'][1]} "
                  f"traced ({facts['steps']} steps), {facts['wall_ms']:.1f} ms wall per step")
            print("\n".join(table(categories)))
            print(f"\ntop {args.top} kernels, thread-busy ms per step:")
            for name, us in list(facts["top"].items())[:args.top]:
                print(f"  {us / 1000:8.2f}  {trace_time.category(name)[:14]:14}  {name.split('/')[-1][:40]:40}  "
                      f"{name[-110:]}")
        cost = pipeline_cost(task, args.work, args.images, args.epochs, args.repeats)
        median = cost["median"]
        print(f"\n{task}: cross-check, median s per epoch of {cost['steps_per_epoch']} steps, wall: pipeline "
              f"{median['pipeline']:.2f}, batches in memory {median['in_memory']:.2f}: input pipeline share "
              f"{cost['share']:.1%}; CPU: {median['pipeline_cpu']:.2f} against {median['in_memory_cpu']:.2f}: "
              f"{cost['cpu_share']:.1%}")
        print(f"every epoch: { {key: [round(v, 2) for v in values] for key, values in cost['seconds'].items()} }")
    print(f"\n{started:%Y-%m-%d %H:%M} UTC; uptime before: {uptime_before}; after: "
          f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
