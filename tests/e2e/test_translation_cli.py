"""End to end for seq2seq: train tiny translation runs (shapes and a parallel TSV), test them, `cmx sample --text`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_runner import invoke
from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError

# nearly every test uses `runs`, which trains two translation runs
pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
CMX = Path(sys.executable).parent / "cmx"
CONFIG = TESTS / "configs" / "tiny_seq2seq.yaml"


def user_error(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert isinstance(result.exception, CmxError), result.output
    return str(result.exception)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny shapes translation run and one on a parallel TSV file (one epoch each), tested once."""
    root = tmp_path_factory.mktemp("translation")
    pairs = root / "cmn.txt"
    pairs.write_text("".join(f"number {i} is {'red' if i % 2 else 'blue'}\t第{i}号是{'红' if i % 2 else '蓝'}色的"
                             f"\tCC-BY 2.0 attribution #{i}\n" for i in range(80)) + "a row without target\n",
                     encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        invoke("train", str(CONFIG), "--quiet")
        invoke("train", str(CONFIG), "--quiet", "--set", "name=tiny-parallel", "--set", "data.source=parallel",
               "--set", f"data.path={pairs}", "--set", "data.processed=data/processed/tiny-parallel",
               "--set", "model.attention=bahdanau")
        tested = {name: json.loads(invoke("test", f"runs/{name}", "--json").output)
                  for name in ("tiny-translate", "tiny-parallel")}
        yield types.SimpleNamespace(root=root, shapes=root / "runs/tiny-translate", parallel=root / "runs/tiny-parallel",
                                    tested=tested)


@pytest.mark.parametrize("name", ["tiny-translate", "tiny-parallel"])
def test_translation_test_metrics(runs, name):
    metrics = runs.tested[name]
    assert {"loss", "perplexity", "token_accuracy", "unigram_perplexity", "bleu", "chrf", "sentences"} <= set(metrics)
    assert 0 <= metrics["bleu"] <= 100 and 0 <= metrics["chrf"] <= 100  # sacrebleu's scale
    assert metrics["sentences"] > 0


def test_the_run_keeps_both_vocabularies_and_the_skipped_row_is_counted(runs):
    assert (runs.parallel / "vocab.txt").is_file() and (runs.parallel / "target_vocab.txt").is_file()
    stats = json.loads((runs.parallel / "stats.json").read_text(encoding="utf-8"))
    assert stats["skipped"]["count"] == 1 and "no target" in stats["skipped"]["first"][0]["reason"]


def test_sample_text_and_input_file_repeat_with_a_seed(runs):
    (runs.root / "sentences.txt").write_text("a small red circle\n\nthere is a large blue square\n", encoding="utf-8")
    out = []
    for name in ("a.jsonl", "b.jsonl"):
        invoke("sample", str(runs.shapes), "--text", "a red circle", "--input", str(runs.root / "sentences.txt"),
               "--strategy", "sample", "--num-samples", "2", "--seed", "3", "--output", name)
        out.append([json.loads(line) for line in (runs.root / name).read_text(encoding="utf-8").splitlines()])
    assert out[0] == out[1]
    assert [r["input"] for r in out[0]] == ["a red circle"] * 2 + ["a small red circle"] * 2 + \
        ["there is a large blue square"] * 2
    assert all(" " not in r["text"] and r["log_prob"] <= 0 for r in out[0])  # characters, joined


def test_sample_beam_translates_with_best_first(runs):
    invoke("sample", str(runs.parallel), "--text", "number 3 is red", "--strategy", "beam", "--beam-width", "3",
           "--num-samples", "3", "--length-penalty", "0", "--output", "beams.jsonl")
    scores = [json.loads(line)["log_prob"] for line in (runs.root / "beams.jsonl").read_text().splitlines()]
    assert len(scores) == 3 and scores == sorted(scores, reverse=True)


def test_unknown_words_warn(runs):
    result = CliRunner().invoke(app, ["sample", str(runs.shapes), "--text", "a zebra", "--strategy", "greedy"])
    assert result.exit_code == 0, result.output
    assert "zebra" in result.stderr and "<unk>" in result.stderr


@pytest.mark.parametrize("args, message", [
    ([], "--text: task seq2seq reads texts; give --text TEXT or --input FILE"),
    (["--prompt", "a red"], "--prompt: task seq2seq takes no prompt"),
    (["--image", "x.png"], "--image: task seq2seq takes no image"),
    (["--input", "missing.txt"], "--input missing.txt: file not found"),
    (["--text", "!!!"], "no words to read"),
])
def test_sample_misuse_is_a_user_error(runs, args, message):
    assert message in user_error("sample", str(runs.shapes), *args)


def test_text_on_a_run_that_does_not_translate_is_refused(tmp_path):
    (tmp_path / "config.yaml").write_text("task: lm\n", encoding="utf-8")
    assert "--text/--input: task lm does not translate" in user_error("sample", str(tmp_path), "--text", "hello")


def test_a_non_utf8_input_file_names_its_line(runs):
    (runs.root / "bad.txt").write_bytes("fine\n".encode() + "再见\n".encode("gb18030"))
    assert "bad.txt:2: the line is not UTF-8" in user_error("sample", str(runs.shapes), "--input",
                                                             str(runs.root / "bad.txt"))


def test_user_errors_exit_2_with_one_line(runs):
    result = subprocess.run([str(CMX), "sample", str(runs.shapes), "--prompt", "x"], cwd=runs.root,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 2
    assert result.stderr.strip().startswith("cmx: error: --prompt: task seq2seq takes no prompt")


# --- report and export ---------------------------------------------------------------------
def test_report_shows_translations_with_sentence_bleu(runs):
    invoke("report", str(runs.shapes))
    page = (runs.shapes / "report.html").read_text(encoding="utf-8")
    assert "<h2>Translations (test split, greedy)" in page
    assert "<th>source</th><th>references</th><th>output</th><th>BLEU</th>" in page


def test_exported_translator_equals_cmx_sample_greedy(runs):
    """Raw sentences in, in a process with TensorFlow alone: the translations of `cmx sample --strategy greedy`."""
    from fresh_process import serve_in_fresh_process

    invoke("export", str(runs.shapes), "--out", "exported/translate")
    sentences = ["a small red circle above a large blue square", "There is a GREEN triangle.", "zebra"]
    served = serve_in_fresh_process(runs.root / "exported/translate", {"text": sentences})
    args = [arg for s in sentences for arg in ("--text", s)]
    invoke("sample", str(runs.shapes), *args, "--strategy", "greedy", "--num-samples", "1", "--output", "g.jsonl")
    expected = [json.loads(line)["text"] for line in (runs.root / "g.jsonl").read_text(encoding="utf-8").splitlines()]
    assert served["text"] == expected
