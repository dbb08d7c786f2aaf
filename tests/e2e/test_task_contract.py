"""The task contract: every registered task trains, evaluates, reports, exports, samples and lists.

A task gets this test by being registered in crossmodal_tf.tasks.TASKS and giving a
tiny config in tests/configs/tiny_<task>.yaml. Each task's run trains one epoch on
the tiny shapes data; then every hook of its Task is exercised through the stage
that calls it.
"""

from __future__ import annotations

import csv
import json
import types
from pathlib import Path

import numpy as np
import pytest

from cli_runner import app, invoke, png_bytes
from crossmodal_tf.tasks import TASKS, load_task

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parents[1]
# what an exported signature's inputs are fed in this test: text strings, a prompt, encoded images
INPUTS = {"text": ["a small red circle", ""], "prompt": ["a small", ""]}


@pytest.fixture(scope="module", params=sorted(TASKS))
def trained(request, tmp_path_factory):
    """One task's tiny run, trained for one epoch and tested, in its own folder."""
    name = request.param
    config = TESTS / "configs" / f"tiny_{name}.yaml"
    assert config.is_file(), f"task {name} has no tiny config for the contract test: {config}"
    root = tmp_path_factory.mktemp(f"contract-{name}")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        printed = invoke("train", str(config), "--quiet", "--run-dir", "runs/tiny").output
        tested = json.loads(invoke("test", "runs/tiny", "--json").output)
        yield types.SimpleNamespace(task=load_task(name), root=root, run=root / "runs/tiny", tested=tested,
                                    printed=printed)


def test_training_logs_every_metric_the_task_allows_to_monitor(trained):
    with open(trained.run / "history.csv", newline="", encoding="utf-8") as handle:
        columns = set(next(csv.reader(handle)))
    assert set(trained.task.monitors()) <= columns


def test_evaluation_writes_the_headline_metric(trained):
    written = json.loads((trained.run / "eval_test.json").read_text(encoding="utf-8"))
    assert written == trained.tested
    assert isinstance(written[trained.task.headline_metric], (int, float))


def test_cmx_runs_shows_the_headline_figure(trained):
    from crossmodal_tf.run_summary import summarize_run

    summary = summarize_run(trained.run)
    assert summary.test_metric == trained.task.headline_metric
    assert summary.test_value == trained.tested[trained.task.headline_metric]
    assert f"{trained.task.headline_metric} " in invoke("runs", str(trained.root / "runs")).output


def test_the_report_has_the_task_sections(trained):
    from crossmodal_tf.run import open_run

    run = open_run(trained.run)
    sections = trained.task.report_sections(run, run.model(), "test", run.dataset("test"))
    assert sections and all(section.body for section in sections)
    invoke("report", str(trained.run))
    page = (trained.run / "report.html").read_text(encoding="utf-8")
    assert all(f"<h2>{section.title.split(' (')[0]}" in page for section in sections)


def test_the_export_serves_raw_inputs_in_a_fresh_process(trained):
    from fresh_process import serve_in_fresh_process

    printed = invoke("export", str(trained.run), "--out", "exported").output
    names = printed.split("serve(")[1].split(")")[0].replace(": string", "").split(", ")
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    inputs = {name: png_bytes(pixels) if name == "image" else INPUTS[name] for name in names}
    served = serve_in_fresh_process(trained.root / "exported", inputs)
    assert served and all(len(values) == 2 for values in served.values())


def test_sample_generates_from_the_inputs_the_task_takes(trained):
    task = trained.task
    if not task.sample_inputs:
        assert "does not generate text" in str(_sample_error(trained.run))
        return
    options = {"image": [], "prompt": ["--prompt", "a small"], "text": ["--text", "a small red circle"],
               "question": ["--question", "what colour is the circle?"]}
    args = [arg for name in task.sample_inputs for arg in options[name]]
    records = invoke("sample", str(trained.run), *args, "--num-samples", "1", "--strategy", "greedy",
                     "--output", "samples.jsonl")
    assert records.exit_code == 0
    lines = (trained.root / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    produced = "text" if task.generates_text else "answer"
    assert lines and all(produced in json.loads(line) for line in lines)


def _sample_error(run):
    from typer.testing import CliRunner

    return CliRunner().invoke(app, ["sample", str(run)]).exception
