"""cmx runs and cmx compare on hand-made run directories (only the contract's files, no model)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_summary import best_epoch, flatten
from crossmodal_tf.stages.runs import compare_runs, list_runs


def make_run(folder, name, task, started, losses, test=None, **config):
    run = folder / name
    run.mkdir(parents=True)
    data = {"name": name, "task": task, "train": {"epochs": len(losses), "checkpoint": {"monitor": "val_loss"}},
            **config}
    (run / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    (run / "env.json").write_text(json.dumps({"started": started}), encoding="utf-8")
    rows = [{"epoch": i + 1, "epoch_time_s": 1.5, "val_loss": v} for i, v in enumerate(losses)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if test:
        (run / "eval_test.json").write_text(json.dumps({"split": "test", **test}), encoding="utf-8")
    return run


@pytest.fixture
def two_runs(tmp_path):
    old = make_run(tmp_path, "old", "match", "2026-01-01T10:00:00+0000", [0.7, 0.5, 0.6], {"accuracy": 0.9},
                   model={"fusion": {"type": "concat"}})
    new = make_run(tmp_path, "new", "lm", "2026-02-01T10:00:00+0000", [3.0, 2.5], {"perplexity": 2.3},
                   model={"fusion": {"type": "film"}})
    (tmp_path / "not-a-run").mkdir()
    return tmp_path, old, new


def test_list_runs_newest_first_with_best_and_test(two_runs):
    folder, _, _ = two_runs
    runs = list_runs(folder)
    assert [r.name for r in runs] == ["new", "old"]
    assert (runs[1].best, runs[1].best_epoch, runs[1].test_value) == (0.5, 2, 0.9)
    assert runs[0].test_text() == "perplexity 2.3" and runs[1].duration_s == 4.5


def test_best_epoch_maximises_scores():
    history = [{"epoch": 1, "val_auc": 0.7}, {"epoch": 2, "val_auc": 0.9}, {"epoch": 3}]
    assert best_epoch(history, "val_auc") == (2, 0.9)
    assert best_epoch(history, "val_loss") == (None, None)


def test_compare_lists_differing_dotted_keys_and_metrics(two_runs):
    _, old, new = two_runs
    comparison = compare_runs(old, new)
    diff = {key: (a, b) for key, a, b in comparison.config_diff}
    assert diff["model.fusion.type"] == ("concat", "film") and diff["task"] == ("match", "lm")
    assert "train.checkpoint.monitor" not in diff
    metrics = {name: (a, b) for name, a, b in comparison.metrics}
    assert metrics["test accuracy"] == (0.9, None) and metrics["epochs"] == (3, 2)


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": [1]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1], "e": {}}


def test_cli_runs_and_compare(two_runs):
    folder, old, new = two_runs
    listed = CliRunner().invoke(app, ["runs", str(folder)], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and listed.output.index("new") < listed.output.index("old")
    compared = CliRunner().invoke(app, ["compare", str(old), str(new)], env={"COLUMNS": "200"})
    assert compared.exit_code == 0 and "model.fusion.type" in compared.output and "film" in compared.output


def test_missing_folder_and_non_run_are_user_errors(tmp_path):
    with pytest.raises(CmxError, match="folder not found"):
        list_runs(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CmxError, match="not a run directory"):
        compare_runs(tmp_path / "empty", tmp_path / "empty")
