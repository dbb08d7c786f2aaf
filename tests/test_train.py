"""The train stage's guards around the run directory (no training happens in these tests)."""

from __future__ import annotations

import pytest

import crossmodal_tf.environment
from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.stages.train import train


class StopBeforeTraining(Exception):
    """Raised where training would start, so that a test stops right after the run directory is prepared."""


@pytest.fixture
def no_training(monkeypatch):
    def refuse(seed, deterministic=True):
        raise StopBeforeTraining(seed)

    monkeypatch.setattr(crossmodal_tf.environment, "seed_everything", refuse)


def test_overwrite_refuses_a_folder_that_is_not_a_run(tiny_config, tmp_path, no_training):
    """--overwrite replaces a run; it must not delete an ordinary folder (no config.yaml) given as run dir."""
    folder = tmp_path / "my-documents"
    folder.mkdir()
    (folder / "thesis.txt").write_text("years of work", encoding="utf-8")
    config = tiny_config("data.shapes.num_images=8")
    with pytest.raises(CmxError, match="not a run directory"):
        train(config, run_dir=folder, overwrite=True, progress="none")
    assert (folder / "thesis.txt").is_file()


def test_existing_run_needs_resume_or_overwrite(tiny_config, tmp_path, no_training):
    """An existing run directory is never reused silently."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("task: match\n", encoding="utf-8")
    with pytest.raises(CmxError, match="--resume .* --overwrite"):
        train(tiny_config(), run_dir=run, progress="none")
    with pytest.raises(CmxError, match="exclude each other"):
        train(tiny_config(), run_dir=run, resume=True, overwrite=True, progress="none")
    with pytest.raises(CmxError, match="config differs"):
        train(tiny_config(), run_dir=run, resume=True, progress="none")


def test_overwrite_replaces_an_existing_run(tiny_config, tmp_path, no_training):
    """--overwrite on a real run directory clears the old run's files."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("task: match\n", encoding="utf-8")
    (run / "eval_val.json").write_text("{}", encoding="utf-8")
    with pytest.raises(StopBeforeTraining):
        train(tiny_config("data.shapes.num_images=8"), run_dir=run, overwrite=True, progress="none")
    assert not (run / "eval_val.json").exists()


def test_run_dir_history_round_trip(tmp_path):
    """history.csv starts with epoch, epoch_time_s; metrics.jsonl holds the same rows."""
    run = RunDir(tmp_path / "run")
    rows = [{"epoch": 1, "epoch_time_s": 0.5, "loss": 0.7, "val_loss": 0.69},
            {"epoch": 2, "epoch_time_s": 0.4, "loss": 0.6, "val_loss": 0.65}]
    run.write_history(rows)
    assert run.read_history() == rows
    csv_rows = run.read_csv_history()
    assert list(csv_rows[0])[:2] == ["epoch", "epoch_time_s"]
    assert [float(r["loss"]) for r in csv_rows] == [0.7, 0.6]


def test_require_names_what_is_missing(tmp_path):
    """A missing folder, or one without config.yaml, is a CmxError naming the folder."""
    with pytest.raises(CmxError, match="run directory not found"):
        RunDir(tmp_path / "nope").require()
    (tmp_path / "plain").mkdir()
    with pytest.raises(CmxError, match="not a run directory"):
        RunDir(tmp_path / "plain").require()


def test_cosine_schedule_warms_up_then_decays_to_zero():
    pytest.importorskip("keras")
    from crossmodal_tf.config import validate_config
    from crossmodal_tf.stages.train import build_optimizer

    cfg = validate_config({"task": "match", "train": {"optimizer": {
        "schedule": "cosine", "learning_rate": 0.002, "warmup_epochs": 1}}}).train.optimizer
    schedule = build_optimizer(cfg, total_steps=100, steps_per_epoch=10)._learning_rate
    rates = [float(schedule(step)) for step in (0, 5, 10, 55, 100)]
    assert rates[0] == 0 and rates[1] == pytest.approx(0.001) and rates[2] == pytest.approx(0.002)
    assert rates[3] == pytest.approx(0.001, rel=1e-3) and rates[4] == pytest.approx(0, abs=1e-9)
