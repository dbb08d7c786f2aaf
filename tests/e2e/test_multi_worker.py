"""train.strategy: multi_worker on one machine: two `cmx train` worker processes on 127.0.0.1.

MultiWorkerMirroredStrategy runs on CPU too, so the whole path a cluster takes (TF_CONFIG,
per-worker data, gradient all-reduce, chief-only run directory, a dead peer, --resume)
is tested here with two local processes.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crossmodal_tf.distribute import local_tf_configs

# every test trains two-worker or one-process runs in subprocesses
pytestmark = pytest.mark.slow
# two long, independent tests: an xdist group each (tests/conftest.py)
SPREAD_OVER_WORKERS = True

TESTS = Path(__file__).resolve().parents[1]
CMX = Path(sys.executable).parent / "cmx"
CONFIG = TESTS / "configs" / "tiny_caption.yaml"
SETTINGS = ["--quiet", "--set", "train.epochs=4", "--set", "train.batch_size=32"]
MULTI = ["--set", "train.strategy=multi_worker"]
# Two workers see the examples in another order than one process does (each reads its
# own shards), so losses agree closely but not to the digit. Training lowers this
# config's loss by about 0.45 in 4 epochs; 5 % of the final loss is about 0.15.
TOLERANCE = 0.05


def start_workers(cwd: Path, scratch: Path, *extra: str) -> list[subprocess.Popen]:
    """Start the two workers of one cluster; worker 0 is the chief. Their temp folders go under scratch."""
    workers = []
    for index, tf_config in enumerate(local_tf_configs(2)):
        tmp = scratch / f"tmp{index}"
        tmp.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TF_CONFIG": tf_config, "TMPDIR": str(tmp)}
        workers.append(subprocess.Popen([str(CMX), "train", str(CONFIG), *SETTINGS, *MULTI, *extra], cwd=cwd, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return workers


def finish(worker: subprocess.Popen, timeout: float = 150) -> tuple[int, str]:
    try:
        _, err = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        pytest.fail("a worker hung")
    return worker.returncode, err


def history(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def single_run(tmp_path_factory) -> list[dict]:
    """The reference: one process, the same config and global batch."""
    root = tmp_path_factory.mktemp("single")
    subprocess.run([str(CMX), "train", str(CONFIG), *SETTINGS, "--run-dir", "runs/one"], cwd=root, check=True,
                   capture_output=True, timeout=300)
    return history(root / "runs" / "one")


def test_two_workers_train_like_one_process(tmp_path, single_run):
    workers = start_workers(tmp_path, tmp_path / "scratch")
    results = [finish(w) for w in workers]
    assert [code for code, _ in results] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]

    run = tmp_path / "runs" / "tiny-caption"
    rows = history(run)
    assert len(rows) == len(single_run) == 4
    assert rows[0]["loss"] - rows[-1]["loss"] > 0.25  # it learned, as the single process does
    for key in ("loss", "val_loss"):
        assert abs(rows[-1][key] - single_run[-1][key]) <= TOLERANCE * single_run[-1][key], (key, rows, single_run)
    assert (run / "model.keras").is_file() and (run / "curves.png").is_file()
    # only the chief wrote: the other worker's temporary run folder is gone
    assert not any((tmp_path / "scratch" / "tmp1").iterdir())


def test_a_dead_worker_stops_the_other_and_resume_finishes(tmp_path):
    workers = start_workers(tmp_path, tmp_path / "scratch", "--set", "train.checkpoint_every_steps=2")
    backup = tmp_path / "runs" / "tiny-caption" / "checkpoints" / "last"
    deadline = time.time() + 120
    while not (backup.is_dir() and any(backup.glob("step-*"))) and time.time() < deadline:
        assert workers[0].poll() is None, workers[0].communicate()[1][-2000:]
        time.sleep(0.2)
    assert any(backup.glob("step-*")), "the chief wrote no checkpoint"
    workers[1].send_signal(signal.SIGKILL)
    killed = time.time()
    code, err = finish(workers[0], timeout=120)
    assert time.time() - killed < 90  # a bounded wait, not a hang in an all-reduce
    assert code == 1, err[-2000:]
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert "another worker of the cluster failed" in lines[-1] and "--resume" in lines[-1]
    workers[1].wait()

    resumed = start_workers(tmp_path, tmp_path / "scratch2", "--set", "train.checkpoint_every_steps=2", "--resume")
    results = [finish(w) for w in resumed]
    assert [c for c, _ in results] == [0, 0], results[0][1][-2000:] + results[1][1][-2000:]
    rows = history(tmp_path / "runs" / "tiny-caption")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
