"""VQA test accuracy beside its baselines, all from one run: the image model, the question-only model, the majority.

    .venv/bin/python benchmarks/bench_vqa.py CONFIG [--work DIR] [--set KEY=VALUE ...] [--no-write]

Trains CONFIG as it is, then again with model.use_image=false (the same preprocessed
data and code), runs `cmx test` on both, and writes the accuracy overall and per
question type, the majority answer's accuracy (from the image model's eval), each
model's train time (the sum of history.csv's epoch_time_s) and the machine's load
average while it trained into the `bench_vqa <name>` section of benchmarks/RESULTS.md.
The load is part of the figure: this machine has 2 cores, often shared with other
training jobs, and a train time means little without it.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from load_sampler import load_range, sampled_load  # beside this file

ROOT = Path(__file__).resolve().parent.parent
# the package of this checkout, whichever cmx is installed
CMX = [sys.executable, "-m", "crossmodal_tf.cli.main"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def cmx(*args: str) -> str:
    """Run one cmx command from the repository root; its stdout (a failure raises with its stderr)."""
    done = subprocess.run([*CMX, *args], cwd=ROOT, env=ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"cmx {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def train_and_test(config: str, run_dir: Path, sets: list[str]) -> dict:
    """Train into run_dir and test it: the test metrics, the train time and epochs, the load average meanwhile."""
    with sampled_load() as loads:
        started = time.perf_counter()
        cmx("train", config, *[a for s in sets for a in ("--set", s)], "--run-dir", str(run_dir), "--overwrite",
            "--quiet")
    wall = time.perf_counter() - started
    test = json.loads(cmx("test", str(run_dir), "--json"))
    with open(run_dir / "history.csv", newline="") as rows:
        history = list(csv.DictReader(rows))
    return {"test": test, "train_s": sum(float(r["epoch_time_s"]) for r in history), "epochs": len(history),
            "command_s": wall, "load": load_range(loads),
            "best_epoch": max(history, key=lambda r: float(r["val_accuracy"]))["epoch"]}


def section(name: str, command: str, results: dict) -> str:
    """The Markdown of one config's figures."""
    image, blind = results["image"], results["blind"]
    types = sorted(k.removeprefix("accuracy_") for k in image["test"] if k.startswith("accuracy_"))
    lines = [f"### {name}: image + question beside the question alone and the majority answer (`bench_vqa.py`)", "",
             f"Produced by `{command}` on {results['date']} ({results['machine']}); both models trained on the "
             "same preprocessed data by the same code, the majority answer from the image model's eval.", "",
             "| test accuracy | image + question | question only | majority answer |", "|---|---|---|---|",
             f"| **all** | **{image['test']['accuracy']:.3f}** | {blind['test']['accuracy']:.3f} | "
             f"{image['test']['majority_accuracy']:.3f} |"]
    lines += [f"| {t} | {image['test'][f'accuracy_{t}']:.3f} | {blind['test'].get(f'accuracy_{t}', 0.0):.3f} | |"
              for t in types if t != "other"]
    lines += [f"| test questions | {image['test']['examples']} | {blind['test']['examples']} | |"]
    lines += ["| train time (sum of epoch times) | " + " | ".join(
        f"{r['train_s']:.0f} s ({r['epochs']} epochs, best {r['best_epoch']}; load {r['load'][0]:.1f}–{r['load'][1]:.1f})"
        for r in (image, blind)) + " | |", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config")
    parser.add_argument("--work", default="/tmp/cmx-bench-vqa", help="runs and preprocessed data go here")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a config override, for both runs")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    name = Path(args.config).stem
    sets = [f"data.processed={work / name}-data", *args.sets]
    results = {"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores"}
    results["image"] = train_and_test(args.config, work / f"{name}-image", sets)
    print(json.dumps(results["image"]), flush=True)
    results["blind"] = train_and_test(args.config, work / f"{name}-blind", [*sets, "model.use_image=false"])
    print(json.dumps(results["blind"]), flush=True)
    (work / f"{name}-results.json").write_text(json.dumps(results, indent=2))
    command = " ".join(["python benchmarks/bench_vqa.py", args.config, *(f"--set {s}" for s in args.sets)])
    text = section(name, command, results)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from results_file import replace_section

        replace_section(f"bench_vqa {name}", text)


if __name__ == "__main__":
    main()
