"""Two `cmx train` workers on 127.0.0.1 (train.strategy: multi_worker) against one process, same global batch.

    .venv/bin/python benchmarks/bench_multi_worker.py      # prints the figures as JSON

The tiny captioner of the tests (tests/configs/tiny_caption.yaml, 4 epochs, global batch
32) trains once in one process and once as a two-worker cluster on this machine. The
figures are each run's final training and validation loss, their relative difference,
and the wall time of each. Two processes on one 2-core machine are not meant to be
faster: the point is that the cluster trains the same model. benchmarks/run_all.py
calls measure(work_dir).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from crossmodal_tf.distribute import local_tf_configs  # noqa: E402  (no TensorFlow at import)

CMX = str(Path(sys.executable).with_name("cmx"))
CONFIG = ROOT / "tests" / "configs" / "tiny_caption.yaml"
SETTINGS = ["--quiet", "--set", "train.epochs=4", "--set", "train.batch_size=32"]


def _final(run: Path) -> dict:
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {"epochs": len(rows), "loss": float(rows[-1]["loss"]), "val_loss": float(rows[-1]["val_loss"])}


def measure(work_dir) -> dict:
    """Final losses and wall times of one process and of a two-worker cluster on the same config."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    subprocess.run([CMX, "train", str(CONFIG), *SETTINGS, "--run-dir", "runs/one"], cwd=work, check=True,
                   capture_output=True)
    single_s = time.perf_counter() - started

    started = time.perf_counter()
    workers = []
    for tf_config in local_tf_configs(2):
        workers.append(subprocess.Popen(
            [CMX, "train", str(CONFIG), *SETTINGS, "--set", "train.strategy=multi_worker", "--run-dir", "runs/two"],
            cwd=work, env={**os.environ, "TF_CONFIG": tf_config}, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True))
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        if worker.returncode:
            raise RuntimeError(f"a worker failed ({worker.returncode}): {err[-2000:]}")
    cluster_s = time.perf_counter() - started

    one, two = _final(work / "runs" / "one"), _final(work / "runs" / "two")
    return {"config": "tests/configs/tiny_caption.yaml, 4 epochs, global batch 32",
            "single": {**one, "wall_s": round(single_s, 1)}, "two_workers": {**two, "wall_s": round(cluster_s, 1)},
            "loss_difference": abs(two["loss"] - one["loss"]) / one["loss"],
            "val_loss_difference": abs(two["val_loss"] - one["val_loss"]) / one["val_loss"]}


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="cmx-bench-multi-worker-") as work:
        print(json.dumps(measure(work), indent=2))


if __name__ == "__main__":
    main()
