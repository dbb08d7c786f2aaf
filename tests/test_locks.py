"""One cmx train per run directory, stale locks taken over, and preprocesses of one folder that take turns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crossmodal_tf.environment
from crossmodal_tf.errors import CmxError
from crossmodal_tf.locks import exclusive_lock
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.stages.train import train

TESTS = Path(__file__).resolve().parent
HOLD = "import sys, time; from crossmodal_tf.locks import exclusive_lock\n" \
       "with exclusive_lock(sys.argv[1], 'x'):\n    print('held', flush=True); time.sleep(600)\n"


def hold_lock(path: Path) -> subprocess.Popen:
    """A process that holds the lock on path until it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(TESTS.parent)})
    assert process.stdout.readline().strip() == "held"
    return process


class StopBeforeTraining(Exception):
    """Raised where training would start: these tests need the run directory prepared, not a trained model."""


def refuse_to_train(seed, deterministic=True):
    raise StopBeforeTraining(seed)


def test_a_second_train_on_a_locked_run_directory_is_refused(tiny_config, tmp_path, monkeypatch):
    monkeypatch.setattr(crossmodal_tf.environment, "seed_everything", refuse_to_train)
    run = RunDir(tmp_path / "run")
    holder = hold_lock(run.lock)
    try:
        with pytest.raises(CmxError, match=rf"{run.root}: in use by another cmx process \(pid {holder.pid}\)"):
            train(tiny_config(), run_dir=run.root, progress="none")
        assert not (run.root / "config.yaml").exists()  # refused before writing anything
    finally:
        holder.kill()
        holder.wait()
    # its process is gone, so the lock is free again: training gets as far as it can here
    with pytest.raises(StopBeforeTraining):
        train(tiny_config(), run_dir=run.root, progress="none")
    assert (run.root / "config.yaml").is_file()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    path = tmp_path / "run" / ".lock"
    holder = hold_lock(path)
    with pytest.raises(CmxError, match="in use"):
        with exclusive_lock(path, "run"):
            pass
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert path.read_text().strip() == str(holder.pid)  # the file stays behind, stale
    with exclusive_lock(path, "run"):
        assert path.read_text().strip() == str(os.getpid())
    assert not path.exists()  # released and removed


def test_overwrite_keeps_the_lock_file_and_replaces_the_rest(tmp_path):
    run = RunDir(tmp_path / "run")
    (run.root / "checkpoints").mkdir(parents=True)
    (run.root / "config.yaml").write_text("task: match\n")
    with exclusive_lock(run.lock, "run"):
        assert run.has_contents()
        run.clear()
        assert not run.has_contents() and run.lock.is_file()


@pytest.mark.slow
def test_two_preprocesses_of_one_folder_take_turns(tmp_path):
    config = TESTS / "configs" / "tiny_match.yaml"
    args = [sys.executable, "-m", "crossmodal_tf.cli.main", "preprocess", str(config),
            "--set", "data.processed=processed", "--set", "data.shapes.num_images=300"]
    env = {**os.environ, "PYTHONPATH": str(TESTS.parent)}
    first = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = [p.communicate(timeout=240) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    assert sum("reused" in out for out, _ in outputs) >= 1  # the later one found the other's output up to date
    stats = json.loads((tmp_path / "processed" / "stats.json").read_text())
    import tensorflow as tf

    records = sum(1 for shard in (tmp_path / "processed").glob("*.tfrecord") for _ in tf.data.TFRecordDataset(str(shard)))
    assert records == sum(stats["counts"].values())
    assert not list(tmp_path.glob(".processed.tmp-*"))



def test_a_folder_a_training_reads_is_not_rewritten_for_other_data(tiny_config):
    """While a training holds the preprocessed folder, a config with other data (here another seed) that names the
    same data.processed is refused with one line instead of replacing the shards under the training; the same
    data is reused as always, and once the reader is gone the rewrite goes ahead."""
    from crossmodal_tf.preprocessing import preprocess, read_stats, readers_lock
    from crossmodal_tf.locks import shared_lock

    first, other = tiny_config(), tiny_config("seed=8")
    written = preprocess(first)["fingerprint"]
    with shared_lock(readers_lock(first.processed_dir)):
        with pytest.raises(CmxError, match="a running cmx train reads it"):
            preprocess(other)
        assert read_stats(first.processed_dir)["fingerprint"] == written
        assert preprocess(first)["reused"]
    assert not readers_lock(first.processed_dir).exists()  # the last reader leaves nothing behind
    assert preprocess(other)["fingerprint"] != written
