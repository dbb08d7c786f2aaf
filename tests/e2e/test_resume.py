"""Kill -9 at any moment, then --resume: the run ends with exactly the metrics of an uninterrupted run.

Each test trains the tiny config (dropout on, cosine learning-rate decay, shuffled
batches, a checkpoint every 2 batches) in a subprocess, kills it with SIGKILL at some
point, resumes it, and compares the test metrics and the per-epoch validation loss
with a reference run that was never interrupted.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# every test trains (and kills and resumes) runs in subprocesses
pytestmark = pytest.mark.slow
# the kill-and-resume tests are long and independent: an xdist group each (tests/conftest.py), so that both
# workers share them; the reference run is then trained on each worker
SPREAD_OVER_WORKERS = True

TESTS = Path(__file__).resolve().parents[1]
CMX = Path(sys.executable).parent / "cmx"
SETTINGS = ["--set", "train.epochs=2", "--set", "train.checkpoint_every_steps=2",
            "--set", "model.text.dropout=0.2", "--set", "model.fusion.dropout=0.2",
            "--set", "train.optimizer.schedule=cosine"]


def cmx(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(CMX), *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"cmx {' '.join(args)} exited {result.returncode}:\n{result.stderr[-2000:]}")
    return result


def train_args(run: str, *extra: str) -> list[str]:
    return ["train", str(TESTS / "configs" / "tiny_match.yaml"), "--quiet", "--run-dir", run, *SETTINGS, *extra]


def outcome(root: Path, run: str) -> dict:
    """The run's test metrics (evaluated here, in this process: faster than another cmx process) and history."""
    from crossmodal_tf.stages.evaluate import evaluate_run

    cwd = os.getcwd()
    os.chdir(root)  # the run's config names its data relative to where it was trained
    try:
        metrics = evaluate_run(root / run, "test")
    finally:
        os.chdir(cwd)
    history = [json.loads(line) for line in (root / run / "metrics.jsonl").read_text().splitlines()]
    return {"test": {k: round(v, 6) for k, v in metrics.items() if isinstance(v, float)},
            "val_loss": [round(row["val_loss"], 6) for row in history], "epochs": [row["epoch"] for row in history]}


def checkpoints(root: Path, run: str) -> list[Path]:
    folder = root / run / "checkpoints" / "last"
    return sorted(folder.glob("step-*")) if folder.is_dir() else []


def kill_after(root: Path, run: str, checkpoints_seen: int, *extra: str) -> None:
    """Start training and SIGKILL it once it has written that many checkpoints (so, at an arbitrary moment)."""
    process = subprocess.Popen([str(CMX), *train_args(run, *extra)], cwd=root, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    seen: set[str] = set()
    while process.poll() is None and time.time() < deadline:
        seen.update(p.name for p in checkpoints(root, run))
        if len(seen) >= checkpoints_seen:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, "training ended before it could be killed"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    cmx(*train_args("runs/reference"), cwd=root)
    return root, outcome(root, "runs/reference")


@pytest.mark.parametrize("checkpoints_seen", [2, 4])  # inside epoch 1; inside epoch 2, past an epoch end
def test_kill_9_then_resume_gives_the_uninterrupted_metrics(reference, checkpoints_seen):
    root, expected = reference
    run = f"runs/killed-{checkpoints_seen}"
    kill_after(root, run, checkpoints_seen)
    assert not (root / run / "model.keras").exists()
    cmx(*train_args(run, "--resume"), cwd=root)
    assert outcome(root, run) == expected


@pytest.mark.parametrize("where", ["batch", "epoch"])
def test_a_kill_at_the_end_of_an_epoch_resumes_exactly(reference, where):
    """After the checkpoint of epoch 1's last batch (before its validation), or after its epoch-end checkpoint."""
    root, expected = reference
    run = f"runs/edge-{where}"
    steps_per_epoch = json.loads(sorted((root / "runs/reference/checkpoints/last").glob("step-*"))[-1]
                                 .joinpath("meta.json").read_text())["global_step"] // 2  # 2 epochs
    killer = subprocess.run([sys.executable, str(Path(__file__).with_name("kill_at_step.py")), str(steps_per_epoch),
                             where, *train_args(run)], cwd=root, capture_output=True, text=True, timeout=300)
    assert killer.returncode == -signal.SIGKILL, killer.stderr[-2000:]
    cmx(*train_args(run, "--resume"), cwd=root)
    assert outcome(root, run) == expected


# each epoch its own pick of a larger stored pool of negatives: random ones in epoch 1, half hard ones in epoch 2
PICK = ["--set", "data.negatives.train_ratio=2", "--set", "train.negatives.hard_fraction=[0,0.5]"]


@pytest.fixture(scope="module")
def picked_reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume-pick")
    cmx(*train_args("runs/reference", *PICK), cwd=root)
    return root, outcome(root, "runs/reference")


def test_a_curriculum_of_negatives_resumes_exactly(reference, picked_reference):
    """Killed inside epoch 2, whose examples are another pick than epoch 1's, the resumed run still matches."""
    root, expected = picked_reference
    assert expected["val_loss"] != reference[1]["val_loss"]  # the pick did change what was trained on
    run = "runs/killed-pick"
    kill_after(root, run, 4, *PICK)
    assert not (root / run / "model.keras").exists()
    cmx(*train_args(run, *PICK, "--resume"), cwd=root)
    assert outcome(root, run) == expected


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one(reference):
    """A kill during a checkpoint write leaves a temporary folder; disk damage leaves a truncated file."""
    root, expected = reference
    run = "runs/damaged"
    kill_after(root, run, 5)
    newest = checkpoints(root, run)[-1]
    weights = newest / "state.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])
    leftover = newest.parent / ".step-000000099.tmp-999"  # what a kill in the middle of a write leaves
    leftover.mkdir()
    result = cmx(*train_args(run, "--resume"), cwd=root)
    assert f"checkpoint {run}/checkpoints/last/{newest.name} is damaged" in result.stderr
    assert "falling back to" in result.stderr
    assert not leftover.exists()
    assert outcome(root, run) == expected


def test_ctrl_c_saves_prints_the_resume_command_and_exits_130(reference):
    root, expected = reference
    run = "runs/interrupted"
    process = subprocess.Popen([str(CMX), *train_args(run)], cwd=root, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    while not checkpoints(root, run) and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "cmx: interrupted in epoch" in err and "saved" in err and "Traceback" not in err
    command = err.split("resume with: ", 1)[1].strip()
    args = shlex.split(command)
    assert args[0] == "cmx" and "--resume" in args
    cmx(*args[1:], cwd=root)
    assert outcome(root, run) == expected


def test_a_diverging_loss_stops_with_a_clear_message_and_keeps_only_good_checkpoints(tmp_path):
    args = train_args("runs/diverged", "--set", "train.optimizer={name: sgd, learning_rate: 1.0e+30}")
    result = cmx(*args, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "the loss became NaN or infinite" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "runs/diverged/model.keras").exists()
    import numpy as np

    from crossmodal_tf.checkpoints import list_checkpoints

    for checkpoint in list_checkpoints(tmp_path / "runs/diverged/checkpoints/last"):
        import h5py

        with h5py.File(checkpoint / "state.weights.h5") as weights:
            arrays = []
            weights["layers"].visititems(lambda _, item: arrays.append(np.asarray(item))
                                         if isinstance(item, h5py.Dataset) else None)
        assert all(np.isfinite(a).all() for a in arrays)
