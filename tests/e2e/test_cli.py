"""End to end: `cmx` preprocess → train → eval → test on the tiny config, and the error contract.

The pipeline runs once per module (in-process, through typer's CliRunner); error cases run the
installed `cmx` console script in a subprocess because they check the real exit code and stderr.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_runner import invoke, png_bytes
from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError

TESTS = Path(__file__).resolve().parents[1]
TINY = TESTS / "configs" / "tiny_match.yaml"
CMX = Path(sys.executable).parent / "cmx"
RUN = Path("runs/tiny-match")  # relative to the module's working folder
EVAL_KEYS = {"accuracy", "auc", "f1", "precision", "recall", "loss"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A fresh working folder for the module; relative config paths land in it."""
    root = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        yield root


@pytest.fixture(scope="module")
def trained(workdir):
    """preprocess → train (1 epoch) → eval (val) → test, once for the whole module."""
    preprocessed = invoke("preprocess", str(TINY))
    trained = invoke("train", str(TINY))
    evaluated = invoke("eval", str(RUN), "--json")
    tested = invoke("test", str(RUN), "--json")
    written = {split: json.loads((workdir / RUN / f"eval_{split}.json").read_text(encoding="utf-8"))
               for split in ("val", "test")}  # read now: later tests evaluate again
    return types.SimpleNamespace(root=workdir, run=workdir / RUN, preprocess=preprocessed.output,
                                 train=trained.output, eval=json.loads(evaluated.output),
                                 test=json.loads(tested.output), written=written)


def cmx(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The installed console script, as a user runs it."""
    return subprocess.run([str(CMX), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "80"})


# --- the happy path ------------------------------------------------------------------------
@pytest.mark.slow
def test_commands_report_what_they_did(trained):
    """Each command prints a summary naming its output."""
    assert "written" in trained.preprocess and "'train':" in trained.preprocess
    assert "runs/tiny-match: 1 epochs, best val_loss" in trained.train
    assert trained.eval["split"] == "val" and trained.test["split"] == "test"


@pytest.mark.slow
def test_run_directory_contents(trained):
    """The run directory holds every file of its contract (docs/ARCHITECTURE.md)."""
    run = trained.run
    for name in ("config.yaml", "env.json", "stats.json", "history.csv", "metrics.jsonl", "model.keras",
                 "vocab.txt", "eval_val.json", "eval_test.json"):
        assert (run / name).is_file(), name
    assert (run / "checkpoints" / "best.weights.h5").is_file()
    assert any((run / "checkpoints" / "last").iterdir())
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    assert not list(run.rglob("*.tmp*"))  # no temporary files left behind


@pytest.mark.slow
def test_config_yaml_is_the_resolved_config(trained):
    """config.yaml is the resolved config: it reloads to the same Config, defaults filled in."""
    from crossmodal_tf.config import config_from_run, load_config

    assert config_from_run(trained.run) == load_config(TINY)
    assert "max_pixels" in (trained.run / "config.yaml").read_text(encoding="utf-8")


@pytest.mark.slow
def test_env_and_stats(trained):
    """env.json records versions, seed and command; stats.json copies the preprocess stats."""
    env = json.loads((trained.run / "env.json").read_text(encoding="utf-8"))
    assert env["seed"] == 7 and env["versions"]["tensorflow"].startswith("2.21")
    assert "command" in env and "git_commit" in env
    stats = json.loads((trained.run / "stats.json").read_text(encoding="utf-8"))
    processed = json.loads((trained.root / "data/processed/tiny-match/stats.json").read_text(encoding="utf-8"))
    assert stats["counts"] == processed["counts"]
    assert set(stats["counts"]) == {"train", "val", "test"} and all(stats["counts"].values())
    assert "reused" not in stats


@pytest.mark.slow
def test_history_csv_and_metrics_jsonl(trained):
    """history.csv has one row per epoch (epoch, epoch_time_s, loss, val_loss, ...); metrics.jsonl the same."""
    with open(trained.run / "history.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = reader.fieldnames
    assert columns[:2] == ["epoch", "epoch_time_s"]
    assert {"loss", "val_loss", "accuracy", "auc", "val_accuracy", "val_auc"} <= set(columns)
    assert [int(r["epoch"]) for r in rows] == [1]
    assert float(rows[0]["epoch_time_s"]) > 0 and math.isfinite(float(rows[0]["loss"]))
    jsonl = [json.loads(line) for line in (trained.run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(jsonl) == len(rows)
    for row, record in zip(rows, jsonl):
        assert {k: float(v) for k, v in row.items()} == pytest.approx({k: float(v) for k, v in record.items()})


@pytest.mark.slow
@pytest.mark.parametrize("split", ["val", "test"])
def test_eval_json_is_flat_metrics(trained, split):
    """eval_<split>.json holds flat numbers for every metric, over the whole split."""
    written = trained.written[split]
    assert written == (trained.eval if split == "val" else trained.test)  # what --json printed
    assert EVAL_KEYS <= set(written)
    for key in EVAL_KEYS:
        assert isinstance(written[key], float) and math.isfinite(written[key])
    for key in EVAL_KEYS - {"loss"}:
        assert 0.0 <= written[key] <= 1.0
    stats = json.loads((trained.run / "stats.json").read_text(encoding="utf-8"))
    assert written["examples"] == stats["counts"][split]
    assert written["checkpoint"] == "best"


@pytest.mark.slow
def test_fresh_process_reads_the_run_directory(trained):
    """`cmx test` in a new process loads model.keras (safe mode) and reproduces the test metrics."""
    result = cmx("test", str(RUN), "--json", cwd=trained.root)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics.keys() == trained.test.keys()
    for key, value in trained.test.items():
        assert metrics[key] == (pytest.approx(value, abs=1e-5) if isinstance(value, float) else value), key


@pytest.mark.slow
def test_eval_last_checkpoint_and_table(trained):
    """--checkpoint last evaluates the resumable state; without --json a table is printed."""
    result = invoke("eval", str(RUN), "--split", "test", "--checkpoint", "last")
    assert "accuracy" in result.output and "test (last)" in result.output
    last = json.loads((trained.run / "eval_test.json").read_text(encoding="utf-8"))
    assert last["checkpoint"] == "last" and EVAL_KEYS <= set(last)


@pytest.mark.slow
def test_preprocess_again_reuses_and_force_redoes(trained):
    """A repeated preprocess says it reused the output; --force writes it again."""
    assert "up to date, reused" in invoke("preprocess", str(TINY)).output
    assert "written in" in invoke("preprocess", str(TINY), "--force").output


@pytest.mark.slow
def test_same_seed_and_config_give_the_same_metrics(trained):
    """Training the same config again (another run dir) gives the same history, time aside."""
    invoke("train", str(TINY), "--run-dir", "runs/again")

    def history(run: Path) -> list[dict]:
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
        return [{k: v for k, v in row.items() if k != "epoch_time_s"} for row in rows]

    assert history(trained.root / "runs/again") == history(trained.run)


def test_config_show_and_schema():
    """`cmx config show` prints loadable YAML; `cmx config schema` prints a JSON schema."""
    import yaml

    shown = yaml.safe_load(invoke("config", "show", str(TINY), "--set", "train.epochs=4").output)
    assert shown["train"]["epochs"] == 4 and shown["task"] == "match"
    schema = json.loads(invoke("config", "schema").output)
    assert "data" in schema["properties"]


# --- the error contract --------------------------------------------------------------------
@pytest.fixture(scope="module")
def bad_configs(workdir) -> dict:
    folder = workdir / "bad"
    folder.mkdir()
    broken = folder / "broken.yaml"
    broken.write_text("task: match\ntrain:\n  epochs: [1, 2\n", encoding="utf-8")
    unknown = folder / "unknown.yaml"
    unknown.write_text(f"extends: {TINY}\nmodel:\n  text:\n    unit: 3\n", encoding="utf-8")
    return {"broken": broken, "unknown": unknown}


ERROR_CASES = {
    "missing config file": (["config", "validate", "no-such.yaml"], "no-such.yaml: config file not found"),
    "broken YAML": (["preprocess", "{broken}"], "broken.yaml:4:1: invalid YAML"),
    "unknown key": (["train", "{unknown}"], "model.text.unit: unknown key; did you mean 'units'?"),
    "bad --set": (["train", str(TINY), "--set", "train.epochs"], "--set 'train.epochs': expected KEY=VALUE"),
    "bad --set value": (["config", "validate", str(TINY), "--set", "train.epochs=0"], "train.epochs"),
    "existing run dir": (["train", str(TINY)], "run directory exists; use --resume"),
    "resume with another config": (["train", str(TINY), "--resume", "--set", "model.text.units=17"],
                                   "config differs"),
    "resume and overwrite": (["train", str(TINY), "--resume", "--overwrite"], "exclude each other"),
    "missing run dir (eval)": (["eval", "runs/no-such-run"], "runs/no-such-run: run directory not found"),
    "missing run dir (test)": (["test", "runs/no-such-run"], "run directory not found"),
    "bad split": (["eval", str(RUN), "--split", "bogus"], "--split: expected one of"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_user_errors_are_one_line_exit_2(trained, bad_configs, case):
    """A user error exits 2 with exactly one stderr line 'cmx: error: ...' naming it, no traceback."""
    args, expected = ERROR_CASES[case]
    args = [a.format(**bad_configs) for a in args]
    result = cmx(*args, cwd=trained.root)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cmx: error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_debug_shows_the_traceback(workdir):
    """--debug shows the traceback of a user error instead of the one line."""
    result = cmx("--debug", "config", "validate", "no-such.yaml", cwd=workdir)
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "CmxError" in result.stderr


def test_help_version_and_config_commands_do_not_import_tensorflow(workdir):
    """`cmx --help`, `--version` and `cmx config ...` stay light: TensorFlow is never imported."""
    script = f"""
import sys
from typer.testing import CliRunner
from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError
runner = CliRunner()
for args in (["--help"], ["--version"], ["config", "validate", {str(TINY)!r}], ["config", "show", {str(TINY)!r}],
             ["config", "schema"], ["train", "--help"]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output, result.exception)
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("HEAVY", heavy)
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=TESTS.parent, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_console_script_help_and_validate(workdir):
    """The installed `cmx` prints help and validates a config with exit code 0."""
    help_result = cmx("--help", cwd=workdir)
    assert help_result.returncode == 0 and "preprocess" in help_result.stdout and "train" in help_result.stdout
    ok = cmx("config", "validate", str(TINY), cwd=workdir)
    assert ok.returncode == 0 and "ok" in ok.stdout and ok.stderr.strip() == ""


# --- pictures, report, export -------------------------------------------------------------
@pytest.mark.slow
def test_train_writes_learning_curves(trained):
    assert (trained.run / "curves.png").read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def report(trained):
    """cmx report on the tiny run: (the page's text, cmx's output)."""
    printed = invoke("report", str(RUN)).output
    return (trained.run / "report.html").read_text(encoding="utf-8"), printed


@pytest.mark.slow
def test_report_is_one_self_contained_page(report):
    """Every image is inline, nothing else is loaded, no script runs; the match sections are there."""
    import re

    page, printed = report
    assert "report.html" in printed and " MB in " in printed
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith("data:") for s in sources)
    assert "<script" not in page and len(page.encode()) < 5_000_000
    for heading in ("Run", "Config", "Learning curves", "Metrics", "Match scores", "Most confident mistakes"):
        assert f"<h2>{heading}" in page
    assert "<th>val</th><th>test</th>" in page  # eval_val.json and eval_test.json side by side


@pytest.mark.slow
def test_report_renders_in_chromium(report, trained):
    """Headless Chromium shows every image (naturalWidth > 0) and the console stays empty."""
    from browser_check import check_page, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set CMX_CHROMIUM); .ci/run installs it")
    seen = check_page(trained.run / "report.html", chromium)
    assert len(seen["images"]) >= 5  # curves, ROC, confusion matrix and the gallery
    assert [i for i in seen["images"] if not (i["complete"] and i["naturalWidth"] > 0)] == []
    assert seen["errors"] == [] and seen["console"] == []


@pytest.mark.slow
def test_export_match_scores_equal_the_run_model_in_a_fresh_process(trained):
    """The SavedModel takes raw text and PNG bytes; TensorFlow alone gives the run's model's scores."""
    import numpy as np

    from crossmodal_tf.config import config_from_run
    from crossmodal_tf.data.text import Vocabulary, tokenize
    from crossmodal_tf.run import open_run
    from fresh_process import serve_in_fresh_process

    printed = invoke("export", str(RUN), "--out", "exported/match").output
    assert "serve(text: string, image: string)" in printed
    texts = ["A small red circle, left of a square!", "a large BLUE triangle", "zebra", ""]
    pixels = np.random.default_rng(3).integers(0, 256, (len(texts), 32, 32, 3), dtype=np.uint8)
    encoded = png_bytes(pixels)
    served = serve_in_fresh_process(trained.root / "exported/match", {"text": texts, "image": encoded})

    config = config_from_run(trained.run)
    vocab = Vocabulary.load(trained.run / "vocab.txt")
    ids = [vocab.encode(tokenize(t)[: config.data.text.max_length]) for t in texts]
    tokens = np.zeros((len(ids), max(1, max(map(len, ids)))), np.int32)
    for row, one in enumerate(ids):
        tokens[row, : len(one)] = one
    model = open_run(trained.run).model()
    expected = np.asarray(model({"text": tokens, "image": pixels}, training=False))[:, 0]
    np.testing.assert_allclose(served["score"], expected, atol=1e-5)


@pytest.mark.slow
def test_export_keras_format_and_bad_format(trained):
    invoke("export", str(RUN), "--format", "keras", "--out", "exported/keras")
    assert {p.name for p in (trained.root / "exported/keras").iterdir()} >= {"model.keras", "vocab.txt", "config.yaml"}
    result = CliRunner().invoke(app, ["export", str(RUN), "--format", "onnx"])
    assert isinstance(result.exception, CmxError) and "--format" in str(result.exception)


@pytest.mark.slow
def test_runs_lists_the_run(trained):
    listed = CliRunner().invoke(app, ["runs", "runs"], env={"COLUMNS": "200"})
    assert listed.exit_code == 0 and "tiny-match" in listed.output and "accuracy" in listed.output


def _commands(group, path=()):
    """(command path, command) of every command and group of the app."""
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def test_every_command_help_has_an_example():
    import typer

    for path, _ in _commands(typer.main.get_command(app)):
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "Example:" in result.output, f"cmx {' '.join(path)} --help has no example"


def test_shell_completion_completes_commands(workdir):
    """What `cmx --install-completion` installs asks cmx itself for completions."""
    done = subprocess.run([str(CMX)], cwd=workdir, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "_CMX_COMPLETE": "complete_bash", "COMP_WORDS": "cmx rep",
                               "COMP_CWORD": "1"})
    assert done.returncode == 0 and done.stdout.split() == ["report"]
    # the script --install-completion writes; asked for by name, since --show-completion guesses the shell from
    # the parent process, which under pytest is not a shell
    script = subprocess.run([str(CMX)], cwd=workdir, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "_CMX_COMPLETE": "source_bash"})
    assert script.returncode == 0 and "_cmx_completion" in script.stdout
