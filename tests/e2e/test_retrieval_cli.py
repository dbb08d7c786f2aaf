"""End to end for the retrieval task: train the tiny config, `cmx test` writes recall keys, `cmx search` both ways."""

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

from cli_runner import invoke, png_bytes
from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError

# nearly every test uses `runs`, which trains a retrieval run
pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
CMX = Path(sys.executable).parent / "cmx"
RECALL_KEYS = [f"{d}_{m}" for d in ("t2i", "i2t") for m in ("r1", "r5", "r10", "median_rank")]


def search(run, *args: str) -> dict:
    """cmx search with --output; the JSON it wrote."""
    invoke("search", str(run), *args, "--output", "found.json")
    return json.loads(Path("found.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny retrieval run (one epoch) and its test metrics, once for the module; the tests run in its folder."""
    root = tmp_path_factory.mktemp("retrieval")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        invoke("train", str(TESTS / "configs" / "tiny_retrieval.yaml"), "--quiet")
        tested = json.loads(invoke("test", "runs/tiny-retrieval", "--json").output)
        picture = root / "red.png"
        Image.fromarray(np.full((40, 40, 3), (215, 40, 40), np.uint8)).save(picture)
        (root / "broken.png").write_bytes(b"not a png")
        yield types.SimpleNamespace(root=root, run=root / "runs/tiny-retrieval", tested=tested, picture=picture)


def test_test_writes_recall_and_median_ranks(runs):
    metrics = runs.tested
    for key in RECALL_KEYS:
        assert key in metrics
    for direction in ("t2i", "i2t"):
        assert 0 <= metrics[f"{direction}_r1"] <= metrics[f"{direction}_r5"] <= metrics[f"{direction}_r10"] <= 1
        assert metrics[f"{direction}_median_rank"] >= 1
    assert metrics["images"] > 0 and metrics["captions"] >= metrics["images"]
    written = json.loads((runs.run / "eval_test.json").read_text(encoding="utf-8"))
    assert all(written[k] == metrics[k] for k in RECALL_KEYS)


def test_search_by_text_ranks_images_best_first(runs):
    found = search(runs.run, "--query", "a small red circle", "--top-k", "3")
    assert found["query"] == "a small red circle" and found["split"] == "test"
    results = found["results"]
    assert [r["rank"] for r in results] == [1, 2, 3]
    assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
    assert all(r["key"].startswith("shapes-") and r["caption"] for r in results)
    assert all(-1.0001 <= r["score"] <= 1.0001 for r in results)  # cosine similarities


def test_search_by_image_ranks_captions_and_prints_a_table(runs):
    found = search(runs.run, "--image", str(runs.picture), "--top-k", "4")
    assert len(found["results"]) == 4 and all(isinstance(r["caption"], str) for r in found["results"])
    table = invoke("search", str(runs.run), "--image", str(runs.picture), "--top-k", "2").stdout
    assert "rank" in table and "caption" in table and found["results"][0]["caption"][:20] in table


def test_top_k_beyond_the_index_returns_everything(runs):
    found = search(runs.run, "--query", "a square", "--top-k", "100000")
    assert len(found["results"]) == runs.tested["images"]


def test_index_is_reused_and_rebuilt_when_the_model_changes(runs):
    import keras

    from crossmodal_tf.stages.train import save_model

    search(runs.run, "--query", "a blue square")  # builds the index if an earlier test has not
    before = search(runs.run, "--query", "a blue square")
    assert before["index"]["built"] is False
    model = keras.models.load_model(runs.run / "model.keras", compile=False, safe_mode=True)
    projection = model.get_layer("image_projection")
    projection.kernel.assign(np.random.default_rng(0).normal(size=projection.kernel.shape))
    save_model(model, runs.run / "model.keras")
    after = search(runs.run, "--query", "a blue square")
    assert after["index"]["built"] is True
    assert [r["score"] for r in after["results"]] != [r["score"] for r in before["results"]]
    assert search(runs.run, "--query", "a blue square")["index"]["built"] is False


def test_index_is_rebuilt_when_the_preprocessed_data_changes(runs):
    search(runs.run, "--query", "a blue square")
    described = runs.run / "index" / "test.json"
    index = json.loads(described.read_text(encoding="utf-8"))
    index["source"]["data_fingerprint"] = "an earlier preprocess"
    described.write_text(json.dumps(index), encoding="utf-8")
    assert search(runs.run, "--query", "a blue square")["index"]["built"] is True


def test_stale_preprocessed_data_is_refused_and_left_as_it_is(runs):
    """Opening a run never preprocesses: data made with other settings is one line naming the command."""
    stats_path = runs.root / "data/processed/tiny-retrieval/stats.json"
    original = stats_path.read_text(encoding="utf-8")
    stats_path.write_text(json.dumps({**json.loads(original), "fingerprint": "made elsewhere"}), encoding="utf-8")
    try:
        result = CliRunner().invoke(app, ["search", str(runs.run), "--query", "a blue square"])
        assert isinstance(result.exception, CmxError)  # main() prints it as one line and exits 2
        assert str(result.exception) == (
            f"data/processed/tiny-retrieval: preprocessed with other data settings (or by another cmx) than "
            f"{runs.run} was trained on; make it again with: cmx preprocess {runs.run / 'config.yaml'}")
        assert json.loads(stats_path.read_text(encoding="utf-8"))["fingerprint"] == "made elsewhere"
    finally:
        stats_path.write_text(original, encoding="utf-8")


def test_an_unreadable_index_is_rebuilt(runs):
    search(runs.run, "--query", "a blue square")
    (runs.run / "index" / "test.npz").write_bytes(b"not an npz file")
    assert search(runs.run, "--query", "a blue square")["index"]["built"] is True


@pytest.mark.parametrize("args, message", [
    (["--query", "zebra giraffe"], "--query 'zebra giraffe': none of its words is in the run's vocabulary"),
    (["--query", "?!"], "--query '?!': no words to search for"),
    (["--query", "a circle", "--image", "red.png"], "give either --query TEXT or --image PATH"),
    ([], "give either --query TEXT or --image PATH"),
    (["--image", "missing.png"], "--image missing.png: image not found"),
    (["--image", "broken.png"], "--image broken.png: unreadable image"),
    (["--query", "a circle", "--top-k", "0"], "--top-k: expected 1 or more"),
    (["--query", "a circle", "--split", "dev"], "--split: expected one of train, val, test"),
])
def test_bad_arguments_are_user_errors(runs, args, message):
    result = CliRunner().invoke(app, ["search", str(runs.run), *args])
    assert isinstance(result.exception, CmxError), result.output
    assert message in str(result.exception)


def test_unknown_words_warn_when_others_are_known(runs):
    result = CliRunner().invoke(app, ["search", str(runs.run), "--query", "a zebra circle"])
    assert result.exit_code == 0, result.output
    assert "zebra" in result.stderr and "<unk>" in result.stderr


def test_user_errors_exit_2_with_one_line(runs):
    result = subprocess.run([str(CMX), "search", str(runs.run), "--query", "zebra"], cwd=runs.root,
                            capture_output=True, text=True, timeout=180, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 2
    assert result.stderr.strip() == ("cmx: error: --query 'zebra': none of its words is in the run's vocabulary")


def test_search_refuses_runs_of_other_tasks(tmp_path):
    caption_run = tmp_path / "caption-run"
    caption_run.mkdir()
    (caption_run / "config.yaml").write_text("task: caption\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["search", str(caption_run), "--query", "a circle"])
    assert isinstance(result.exception, CmxError)
    assert "task caption has no embedding index; cmx search needs a run of task retrieval" in str(result.exception)


def test_report_shows_queries_with_their_top_images(runs):
    invoke("report", str(runs.run))
    page = (runs.run / "report.html").read_text(encoding="utf-8")
    assert "<h2>Text → image search (test split" in page
    assert "<th>query</th><th>top 5 images</th>" in page
    assert page.count('class="card"') >= 5  # at least one strip of five images


def test_exported_dual_encoder_equals_the_run_model_in_a_fresh_process(runs):
    """Raw text and PNG bytes in, TensorFlow alone: the run's embeddings and their similarities."""
    from crossmodal_tf.config import config_from_run
    from crossmodal_tf.data.text import Vocabulary, tokenize
    from crossmodal_tf.run import open_run
    from crossmodal_tf.tasks.retrieval import build_encoders
    from fresh_process import serve_in_fresh_process

    invoke("export", str(runs.run), "--out", "exported/retrieval")
    texts = ["a small red circle above a large blue square", "There is a GREEN triangle!"]
    pixels = np.random.default_rng(5).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    encoded = png_bytes(pixels)
    served = serve_in_fresh_process(runs.root / "exported/retrieval", {"text": texts, "image": encoded})

    config = config_from_run(runs.run)
    vocab = Vocabulary.load(runs.run / "vocab.txt")
    encoders = build_encoders(open_run(runs.run).model())
    ids = [vocab.encode(tokenize(t, config.data.text.level)) for t in texts]
    width = max(len(i) for i in ids)
    text_vectors = encoders["text"](np.array([i + [0] * (width - len(i)) for i in ids], np.int32)).numpy()
    image_vectors = encoders["image"](pixels).numpy()
    np.testing.assert_allclose(served["text_embedding"], text_vectors, atol=1e-5)
    np.testing.assert_allclose(served["image_embedding"], image_vectors, atol=1e-5)
    np.testing.assert_allclose(served["similarity"], text_vectors @ image_vectors.T, atol=1e-5)
