"""The task contract: every registered task, with every registered text type, trains, evaluates, reports,
exports, samples and lists.

A task gets this test by being registered in crossmodal_tf.tasks.TASKS and giving a
tiny config in tests/configs/tiny_<task>.yaml; a text type by being registered in
crossmodal_tf.models.text_types.TEXT_TYPES and giving a tiny model.text in
tests/configs/text_types/<type>.yaml. Each run trains one epoch on the tiny shapes
data; then every hook of its Task is exercised through the stage that calls it.
"""

from __future__ import annotations

import csv
import json
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from cli_runner import app, invoke, png_bytes
from crossmodal_tf.models.text_types import TEXT_TYPES
from crossmodal_tf.tasks import TASKS, load_task

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parents[1]
# what an exported signature's inputs are fed in this test: text strings, a prompt, encoded images
INPUTS = {"text": ["a small red circle", ""], "prompt": ["a small", ""]}


# every task with every text type: tiny_<task>.yaml with model.text from text_types/<type>.yaml
COMBINATIONS = [(task, text_type) for task in sorted(TASKS) for text_type in TEXT_TYPES]


def contract_config(task: str, text_type: str, folder: Path) -> Path:
    """tiny_<task>.yaml with model.text set to text_types/<type>.yaml (the other type's keys it inherits are
    dropped with a warning, as for any config that extends one of another text type)."""
    config, text = TESTS / "configs" / f"tiny_{task}.yaml", TESTS / "configs" / "text_types" / f"{text_type}.yaml"
    assert config.is_file(), f"task {task} has no tiny config for the contract test: {config}"
    assert text.is_file(), f"text type {text_type} has no tiny model.text for the contract test: {text}"
    path = folder / f"tiny_{task}_{text_type}.yaml"
    settings = yaml.safe_load(text.read_text(encoding="utf-8"))
    path.write_text(yaml.safe_dump({"extends": str(config), "name": f"tiny-{task}-{text_type}",
                                    "model": {"text": settings}}), encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=COMBINATIONS, ids=[f"{task}-{text_type}" for task, text_type in COMBINATIONS])
def trained(request, tmp_path_factory):
    """One task's tiny run with one text type, trained for one epoch and tested, in its own folder."""
    name, text_type = request.param
    root = tmp_path_factory.mktemp(f"contract-{name}-{text_type}")
    config = contract_config(name, text_type, root)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        printed = invoke("train", str(config), "--quiet", "--run-dir", "runs/tiny").output
        tested = json.loads(invoke("test", "runs/tiny", "--json").output)
        yield types.SimpleNamespace(task=load_task(name), text_type=text_type, root=root, run=root / "runs/tiny",
                                    tested=tested, printed=printed)


def test_the_run_has_the_text_type_it_was_given(trained):
    from crossmodal_tf.config import config_from_run

    assert config_from_run(trained.run).model.text.type == trained.text_type


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


def test_the_export_serves_raw_inputs(trained):
    """The export takes raw inputs. Served in this process to save a TensorFlow import per run: each task's own
    end-to-end module serves its LSTM run's export in a fresh process that imports TensorFlow alone, and
    test_subword_cli a Transformer translator's; the other Transformer exports are served here only."""
    from fresh_process import serve_in_this_process

    printed = invoke("export", str(trained.run), "--out", "exported").output
    names = printed.split("serve(")[1].split(")")[0].replace(": string", "").split(", ")
    pixels = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    inputs = {name: png_bytes(pixels) if name == "image" else INPUTS[name] for name in names}
    served = serve_in_this_process(trained.root / "exported", inputs)
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
