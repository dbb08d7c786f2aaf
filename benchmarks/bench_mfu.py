"""Model FLOP utilisation: each task's default model, trained by `cmx train`, against this machine's peak.

    .venv/bin/python benchmarks/bench_mfu.py [--work DIR] [--quick]     # prints the figures as JSON

For each task's default config (shrunk to a few thousand images so each takes a minute or
two), `cmx train` runs two epochs; examples/s is the second epoch's (the first traces).
The model's training FLOPs per example come from benchmarks/model_flops.py, with every
token input as long as the mean padded length of that input in the training batches.
achieved FLOP/s = training FLOPs per example × examples/s, and its share of the float32
matrix-multiply peak measured in the same run is the model FLOP utilisation (MFU).
run_all.py calls measure() and writes the table to RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
CMX = str(Path(sys.executable).with_name("cmx"))

# task → its default config; every one is the file a user starts from
CONFIGS = {"match": "configs/shapes_match.yaml", "lm": "configs/shapes_lm.yaml",
           "caption": "configs/shapes_caption.yaml", "seq2seq": "configs/shapes_translate.yaml",
           "retrieval": "configs/shapes_retrieval.yaml", "vqa": "configs/shapes_vqa.yaml",
           "summarize": "configs/shapes_summarize.yaml"}


def mean_lengths(run, batches: int = 20) -> dict[str, float]:
    """The mean padded length of each token input of the model over the first training batches."""
    lengths: dict[str, list[int]] = {}
    for batch in run.dataset("train").take(batches):
        inputs = run.task.arrange(batch)[0]
        for name, value in inputs.items():
            if value.dtype.is_integer and len(value.shape) == 2:
                lengths.setdefault(name, []).append(int(value.shape[1]))
    return {name: statistics.mean(values) for name, values in lengths.items()}


def task_mfu(task: str, work: Path, images: int) -> dict:
    """examples/s and training FLOPs per example of one task's default model (two epochs of `cmx train`)."""
    import model_flops

    from crossmodal_tf.run import open_run

    name = f"mfu-{task}"
    sets = ["--set", f"name={name}", "--set", f"output.dir={work}/runs", "--set", f"data.processed={work}/{task}",
            "--set", f"data.shapes.num_images={images}", "--set", "train.epochs=2",
            "--set", "train.early_stopping.patience=0"]
    subprocess.run([CMX, "train", CONFIGS[task], *sets, "--overwrite", "--quiet"], check=True, capture_output=True,
                   cwd=ROOT)
    run = open_run(work / "runs" / name)
    epochs = run.paths.read_history()
    examples_s = run.count("train") / epochs[-1]["epoch_time_s"]
    second = run.target_vocab if run.task.target_text else run.answers
    model = run.task.build_model(run.config, len(run.vocab), len(second) if second is not None else None)
    lengths = mean_lengths(run)
    count = model_flops.walk(model_flops.with_lengths(model, {k: round(v) for k, v in lengths.items()}), steps=0)
    return {"examples_s": examples_s, "train_examples": run.count("train"), "lengths": lengths,
            "forward_flops": count.forward, "training_flops": count.training,
            "achieved_flops_s": count.training * examples_s,
            "by_type": {k: v / count.forward for k, v in count.by_type.items()}, "uncounted": count.uncounted}


def measure(work: Path, quick: bool = False) -> dict:
    """The float32 and bfloat16 peaks, then every task's MFU against the float32 peak."""
    import model_flops

    peaks = {dtype: model_flops.matmul_peak(dtype) for dtype in ("float32", "bfloat16")}
    tasks = {}
    for task in CONFIGS:
        figures = task_mfu(task, work, 600 if quick else 3000)
        figures["mfu"] = figures["achieved_flops_s"] / peaks["float32"]
        tasks[task] = figures
        print(f"{task}: {json.dumps({k: v for k, v in figures.items() if k != 'by_type'})}", flush=True)
    peaks["float32_after"] = model_flops.matmul_peak("float32")  # the machine's drift over the run
    return {"peaks": peaks, "tasks": tasks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="folder for the runs (default: a temporary one)")
    parser.add_argument("--quick", action="store_true", help="tiny workloads, to check the script")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cmx-mfu-") as scratch:
        print(json.dumps(measure(Path(args.work or scratch), args.quick), indent=2))


if __name__ == "__main__":
    main()
