"""cmx report on run directories that are not finished: the page still appears, with notes where parts are missing."""

from __future__ import annotations

import json

import pytest

from crossmodal_tf.config import dump_config
from crossmodal_tf.errors import CmxError
from crossmodal_tf.stages.report.build import write_report
from crossmodal_tf.tasks import TASKS


def _unfinished_run(folder, config):
    """A run directory as train leaves it after one epoch: config, env, history; no model, no eval yet."""
    run = folder / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    (run / "env.json").write_text(json.dumps({"started": "2026-01-01T10:00:00+0000", "command": ["cmx", "train"]}),
                                  encoding="utf-8")
    row = {"epoch": 1, "epoch_time_s": 3.0, "loss": 0.7, "val_loss": 0.69}
    (run / "metrics.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")
    return run


def test_report_of_an_unfinished_run_says_what_is_missing(tiny_config, tmp_path):
    run = _unfinished_run(tmp_path, tiny_config())
    written = write_report(run)
    page = (run / "report.html").read_text(encoding="utf-8")
    assert written["path"] == str(run / "report.html") and written["bytes"] == len(page.encode())
    assert "<h2>Learning curves" in page and "data:image/png;base64," in page
    assert "No eval_val.json or eval_test.json yet" in page and "No model.keras yet" in page
    assert "val_loss 0.69 (epoch 1)" in page


def test_report_of_a_folder_that_is_not_a_run_is_a_user_error(tmp_path):
    with pytest.raises(CmxError, match="not a run directory"):
        write_report(tmp_path)
