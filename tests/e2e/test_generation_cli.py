"""End to end for the generative tasks: train tiny caption and lm runs, then eval, test and `cmx sample`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli_runner import invoke
from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError

# every test uses `runs`, which trains a caption and an lm run
pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
CMX = Path(sys.executable).parent / "cmx"


def cmx(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(CMX), *args], cwd=cwd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "COLUMNS": "100"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny caption and lm runs (one epoch each) and the test split's metrics, once for the module."""
    root = tmp_path_factory.mktemp("generation")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for name in ("caption", "lm"):
            invoke("train", str(TESTS / "configs" / f"tiny_{name}.yaml"), "--quiet")
        tested = {name: json.loads(invoke("test", f"runs/tiny-{name}", "--json").output) for name in ("caption", "lm")}
        picture = root / "red.png"
        Image.fromarray(np.full((40, 40, 3), (215, 40, 40), np.uint8)).save(picture)
        (root / "broken.png").write_bytes(b"not a png")
        yield types.SimpleNamespace(root=root, caption=root / "runs/tiny-caption", lm=root / "runs/tiny-lm",
                                    tested=tested, picture=picture)


def test_caption_test_metrics(runs):
    metrics = runs.tested["caption"]
    for key in ("loss", "perplexity", "token_accuracy", "unigram_perplexity", "bleu1", "bleu2", "bleu3", "bleu4",
                "cider_d"):
        assert key in metrics
    assert all(0 <= metrics[f"bleu{n}"] <= 1 for n in range(1, 5))
    assert 0 <= metrics["cider_d"] <= 10
    assert metrics["bleu1"] >= metrics["bleu4"]
    assert metrics["perplexity"] == pytest.approx(np.exp(metrics["loss"]), rel=1e-6)
    assert metrics["images"] > 0
    assert json.loads((runs.caption / "eval_test.json").read_text())["bleu4"] == metrics["bleu4"]


def test_lm_test_metrics(runs):
    metrics = runs.tested["lm"]
    assert {"loss", "perplexity", "token_accuracy", "unigram_perplexity"} <= set(metrics)
    assert "bleu4" not in metrics
    assert metrics["perplexity"] > 1


def test_sample_images_to_jsonl_repeats_with_a_seed(runs):
    out = []
    for name in ("a.jsonl", "b.jsonl"):
        invoke("sample", str(runs.caption), "--image", str(runs.picture), "--image", str(runs.picture),
               "--strategy", "top_k", "--top-k", "3", "--num-samples", "3", "--seed", "5", "--output", name)
        out.append([json.loads(line) for line in (runs.root / name).read_text().splitlines()])
    assert out[0] == out[1]
    assert len(out[0]) == 6
    for record in out[0]:
        assert record["input"] == str(runs.picture) and isinstance(record["text"], str)
        assert record["log_prob"] <= 0


def test_sample_beam_returns_the_best_beams_first(runs):
    invoke("sample", str(runs.caption), "--image", str(runs.picture), "--strategy", "beam", "--beam-width", "3",
           "--num-samples", "3", "--length-penalty", "0", "--output", "beams.jsonl")
    records = [json.loads(line) for line in (runs.root / "beams.jsonl").read_text().splitlines()]
    scores = [r["log_prob"] for r in records]
    assert scores == sorted(scores, reverse=True)
    assert len({r["text"] for r in records}) == 3


def test_sample_without_images_uses_test_images_with_references(runs):
    result = invoke("sample", str(runs.caption), "--strategy", "greedy", "--num-samples", "1")
    assert "test image" in result.output and "references" in result.output


def test_sample_lm_prompt_with_an_unknown_word_warns(runs):
    result = CliRunner().invoke(app, ["sample", str(runs.lm), "--prompt", "a zebra", "--strategy", "greedy",
                                      "--num-samples", "1", "--max-length", "5"])
    assert result.exit_code == 0, result.output
    assert "zebra" in result.stderr and "<unk>" in result.stderr
    assert "a <unk>" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--image", "missing.png"], "--image missing.png: image not found"),
    (["--image", "broken.png"], "--image broken.png: unreadable image"),
    (["--strategy", "nucleus"], "--strategy: Input should be"),
    (["--top-p", "1.5"], "--top-p:"),
    (["--strategy", "top_k", "--top-k", "0"], "--top-k: the top_k strategy needs"),
    (["--strategy", "beam", "--beam-width", "2", "--num-samples", "3"], "--num-samples: beam search returns at most"),
])
def test_sample_bad_arguments_are_user_errors(runs, args, message):
    """Each is a CmxError, which the console script prints as one line with exit code 2 (checked below)."""
    result = CliRunner().invoke(app, ["sample", str(runs.caption), *args])
    assert isinstance(result.exception, CmxError), result.output
    assert message in str(result.exception)


def test_sample_user_errors_exit_2_with_one_line(runs):
    result = cmx("sample", str(runs.caption), "--image", "missing.png", cwd=runs.root)
    assert result.returncode == 2
    assert result.stderr.strip() == "cmx: error: --image missing.png: image not found"


def test_sample_refuses_runs_that_do_not_generate(runs, tmp_path):
    result = CliRunner().invoke(app, ["sample", str(runs.lm), "--image", str(runs.picture)])
    assert isinstance(result.exception, CmxError) and "--image: task lm takes no image" in str(result.exception)
    match_run = tmp_path / "match-run"
    match_run.mkdir()
    (match_run / "config.yaml").write_text("task: match\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["sample", str(match_run)])
    assert isinstance(result.exception, CmxError)
    assert "task match does not generate text" in str(result.exception)


# --- report and export ---------------------------------------------------------------------
def test_reports_show_generated_texts(runs):
    """The caption report puts greedy captions and samples at two temperatures beside the references."""
    from browser_check import check_page, find_chromium

    invoke("report", str(runs.caption))
    invoke("report", str(runs.lm))
    caption = (runs.caption / "report.html").read_text(encoding="utf-8")
    lm = (runs.lm / "report.html").read_text(encoding="utf-8")
    assert "<h2>Captions (test split)" in caption
    assert all(f"<th>{column}</th>" in caption for column in ("greedy", "sample, T=0.5", "sample, T=1.0",
                                                                "references"))
    assert "<h2>Generated texts" in lm and "sample, T=1.0" in lm
    chromium = find_chromium()
    if chromium:  # the match report's test skips with the reason when there is none
        seen = check_page(runs.caption / "report.html", chromium)
        assert all(i["naturalWidth"] > 0 for i in seen["images"]) and not seen["errors"] and not seen["console"]


def _greedy_samples(*args: str) -> list[str]:
    invoke("sample", *args, "--strategy", "greedy", "--num-samples", "1", "--output", "greedy.jsonl")
    return [json.loads(line)["text"] for line in Path("greedy.jsonl").read_text(encoding="utf-8").splitlines()]


def test_exported_captioner_equals_cmx_sample_greedy(runs):
    """Encoded PNGs in, in a process with TensorFlow alone: the captions of `cmx sample --strategy greedy`, with
    the run's bans (tiny_caption.yaml: no word twice, which a one-epoch captioner breaks when not banned)."""
    from fresh_process import serve_in_fresh_process

    invoke("export", str(runs.caption), "--out", "exported/caption")
    rng = np.random.default_rng(5)
    paths = []
    for n in range(3):  # at the run's image size, so no resizing method can differ
        path = runs.root / f"export-{n}.png"
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    served = serve_in_fresh_process(runs.root / "exported/caption", {"image": [p.read_bytes() for p in paths]})
    expected = _greedy_samples(str(runs.caption), *(arg for p in paths for arg in ("--image", str(p))))
    assert served["text"] == expected
    assert all(len(set(text.split())) == len(text.split()) for text in served["text"])


def test_exported_language_model_equals_cmx_sample_greedy(runs):
    """Prompt strings in (unknown words read as <unk>): the continuations of `cmx sample --strategy greedy`."""
    from fresh_process import serve_in_fresh_process

    invoke("export", str(runs.lm), "--out", "exported/lm")
    prompts = ["", "a small red", "A zebra, LEFT of"]
    served = serve_in_fresh_process(runs.root / "exported/lm", {"prompt": prompts})
    assert served["text"] == _greedy_samples(str(runs.lm), *(arg for p in prompts for arg in ("--prompt", p)))
