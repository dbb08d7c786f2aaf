"""The bad-input battery: every case exits with code 2 and one line naming the problem and its place.

Each case runs the real console entry point (crossmodal_tf.cli.main.main) in this process and
checks: exit code 2, exactly one line on stderr that starts with "cmx: error:" and
names the place (file:line, dotted key, row or option), no traceback, and nothing
half-written (no processed folder, no run directory, no temporary files). A case that
points tiny_match.yaml at another source by --set also expects the one warning line
naming the shapes keys it ignores.
docs/RELIABILITY.md lists the cases; keep both in step.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

import crossmodal_tf.cli.main
import crossmodal_tf.cli.native_logs

TESTS = Path(__file__).resolve().parents[1]
TINY = TESTS / "configs" / "tiny_match.yaml"
# the warning of tiny_match.yaml pointed at a manifest folder by --set: its shapes keys are dropped
SHAPES_KEYS_IGNORED = "written for source shapes that source manifest does not read: data.shapes"


class NoFilter:
    """Stands in for the native-log filter, which redirects fd 2 and would hide stderr from capsys."""

    def close(self):
        pass


@pytest.fixture
def run_cmx(monkeypatch, capsys):
    """run_cmx(*args) → (exit code, stdout, stderr) of `cmx args` through the console entry point."""
    # main() imports the filter from its module when it runs, so that module's name is the one to replace
    monkeypatch.setattr(crossmodal_tf.cli.native_logs, "NativeLogFilter", NoFilter)

    def run(*args: str):
        monkeypatch.setattr("sys.argv", ["cmx", *args])
        with pytest.raises(SystemExit) as exited:
            crossmodal_tf.cli.main.main()
        out, err = capsys.readouterr()
        return exited.value.code, out, err

    return run


def assert_user_error(result, *expected: str, warning: str | None = None) -> None:
    """Exit 2, one error line holding every expected text, no traceback; before it, the one warning if given."""
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = err.strip().splitlines()
    if warning is not None:
        assert len(lines) == 2 and lines[0].startswith("cmx: warning: ") and warning in lines[0], err
        lines = lines[1:]
    assert len(lines) == 1 and lines[0].startswith("cmx: error: "), err
    assert "Traceback" not in err + out
    for text in expected:
        assert text in lines[0], (text, lines[0])


def nothing_written(root: Path, before: set[str]) -> None:
    after = {str(p.relative_to(root)) for p in root.rglob("*")}
    new = sorted(after - before)
    assert not [p for p in new if "processed" in p or p.startswith("runs") or ".tmp" in p or "lock" in p], new


# --- configs -------------------------------------------------------------------------------------
CONFIG_CASES = {
    "unknown key": ("task: match\nmodel:\n  text:\n    unit: 3\n", [], ["bad.yaml:4", "model.text.unit", "units"]),
    "wrong type": ("task: match\ntrain:\n  epochs: many\n", [], ["bad.yaml:3", "train.epochs"]),
    "zero epochs": ("task: match\ntrain: {epochs: 0}\n", [], ["train.epochs", "greater than or equal to 1"]),
    "split too large": ("task: match\ndata: {split: {val: 1.5}}\n", [], ["data.split.val"]),
    "no training data left": ("task: match\ndata: {split: {val: 0.5, test: 0.5}}\n", [], ["data.split", "below 1"]),
    "missing task": ("seed: 3\n", [], ["task", "required"]),
    "unknown task": ("task: dance\n", [], ["bad.yaml:1", "task"]),
    "unknown source": ("task: match\ndata: {source: s3}\n", [], ["data.source"]),
    "negative learning rate": ("task: match\ntrain: {optimizer: {learning_rate: -1}}\n", [],
                               ["train.optimizer.learning_rate"]),
    "bad strategy literal": ("task: lm\nsample: {strategy: nucleus}\n", [], ["sample.strategy"]),
    "name leaving output dir": ("task: match\nname: ../escape\n", [], ["name"]),
    "bidirectional decoder": ("task: caption\nmodel: {text: {bidirectional: true}}\n", [],
                              ["model.text.bidirectional"]),
    "seq2seq without translations": ("task: seq2seq\ndata: {source: manifest}\n", [], ["data.source",
                                                                                       "needs translations"]),
    "match on sentence pairs": ("task: match\ndata: {source: parallel}\n", [], ["data.source", "needs images"]),
    "invalid YAML": ("task: [match\n", [], ["bad.yaml", "invalid YAML"]),
    "python object tag": ("task: !!python/object/apply:os.system ['echo hacked']\n", [], ["bad.yaml"]),
    "custom tag": ("task: !match\n", [], ["bad.yaml"]),
    "list instead of mapping": ("- task\n- match\n", [], ["bad.yaml"]),
    "empty file": ("", [], ["bad.yaml"]),
    "missing extends": ("extends: nowhere.yaml\ntask: match\n", [], ["extends", "not found"]),
    "bad --set syntax": ("task: match\n", ["--set", "train.epochs"], ["--set", "expected KEY=VALUE"]),
    "--set unknown key": ("task: match\n", ["--set", "train.epoch=3"], ["train.epoch"]),
    "--set wrong type": ("task: match\n", ["--set", "train.batch_size=big"], ["train.batch_size"]),
    "key the task does not read": ("task: match\nmodel:\n  attention: luong\n", [],
                                   ["bad.yaml:3", "model.attention", "task match does not read", "seq2seq"]),
    "--set key the task does not read": ("task: caption\n", ["--set", "model.fusion.type=film"],
                                         ["--set model.fusion.type", "task caption does not read", "match"]),
    "key the source does not read": ("task: match\ndata:\n  source: manifest\n  shapes: {num_images: 9}\n", [],
                                     ["bad.yaml:4", "data.shapes", "source manifest does not read", "shapes"]),
    "subword key at level word": ("task: match\ndata:\n  text: {level: word, vocab_size: 300}\n", [],
                                  ["bad.yaml:3", "data.text.vocab_size", "read with level subword only"]),
    "word key at level subword": ("task: lm\ndata:\n  text: {level: subword, max_size: 300}\n", [],
                                  ["bad.yaml:3", "data.text.max_size", "not read with level subword"]),
    "misspelt monitor": ("task: match\ntrain:\n  checkpoint: {monitor: val_acc}\n", [],
                         ["bad.yaml:3", "train.checkpoint.monitor", "'val_acc'", "val_accuracy"]),
}


@pytest.mark.parametrize("text, sets, expected", list(CONFIG_CASES.values()), ids=list(CONFIG_CASES))
def test_bad_config(run_cmx, tmp_path, monkeypatch, text, sets, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(text, encoding="utf-8")
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    assert_user_error(run_cmx("train", "bad.yaml", *sets), *expected)
    nothing_written(tmp_path, before)
    assert not (Path("/tmp") / "hacked").exists()


def test_circular_extends(run_cmx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("extends: b.yaml\ntask: match\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    assert_user_error(run_cmx("config", "validate", "a.yaml"), "circular extends")


def test_missing_config_file_and_non_utf8_config(run_cmx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_user_error(run_cmx("train", "nope.yaml"), "nope.yaml")
    (tmp_path / "latin1.yaml").write_bytes("task: match\nname: caf\xe9\n".encode("latin-1"))
    assert_user_error(run_cmx("config", "validate", "latin1.yaml"), "latin1.yaml")


# --- data ------------------------------------------------------------------------------------------
def good_images(folder: Path, count: int = 6) -> list[str]:
    rows = []
    for i in range(count):
        Image.new("RGB", (12, 12), (40 * i % 255, 90, 160)).save(folder / f"ok{i}.png")
        rows.append(f"ok{i}.png,a picture number {i}")
    return rows


def bomb(path: Path) -> None:
    """A PNG that claims 30000 x 30000 pixels (900 M) in a file of a few kB."""
    Image.new("1", (30000, 30000)).save(path, optimize=True)


def data_case(folder: Path, name: str) -> tuple[str, list[str]]:
    """Set up one bad-data case in a manifest folder; returns (the bad row, what the error must name)."""
    outside = folder.parent / "outside.png"
    Image.new("RGB", (8, 8)).save(outside)
    if name == "missing image":
        return "gone.png,a picture that is not there", ["captions.csv:8", "image not found"]
    if name == "zero-byte image":
        (folder / "empty.png").write_bytes(b"")
        return "empty.png,an empty file", ["captions.csv:8", "empty"]
    if name == "truncated image":
        Image.new("RGB", (64, 64), (1, 2, 3)).save(folder / "full.png")
        data = (folder / "full.png").read_bytes()
        (folder / "cut.png").write_bytes(data[: len(data) // 2])
        return "cut.png,half a picture", ["captions.csv:8", "unreadable image"]
    if name == "corrupt image":
        (folder / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
        return "junk.png,noise", ["captions.csv:8", "unreadable image"]
    if name == "not an image":
        (folder / "notes.png").write_text("just some text")
        return "notes.png,text in disguise", ["captions.csv:8", "unreadable image"]
    if name == "decompression bomb":
        bomb(folder / "bomb.png")
        return "bomb.png,a huge picture", ["captions.csv:8", "max_pixels"]
    if name == "path with ..":
        return "../outside.png,outside", ["captions.csv:8", "leaves the dataset folder"]
    if name == "absolute path":
        return f"{outside},outside by absolute path", ["captions.csv:8", "leaves the dataset folder"]
    if name == "symlink out of the folder":
        (folder / "link.png").symlink_to(outside)
        return "link.png,a link", ["captions.csv:8", "leaves the dataset folder"]
    if name == "empty caption":
        return "ok0.png,   ", ["captions.csv:8", "no text"]
    if name == "bad label":
        return "ok0.png,a picture,maybe", ["captions.csv:8", "label must be 0 or 1"]
    if name == "duplicate row":
        return "ok1.png,a picture number 1", ["captions.csv:8", "duplicate row"]
    raise AssertionError(name)


DATA_CASES = ["missing image", "zero-byte image", "truncated image", "corrupt image", "not an image",
              "decompression bomb", "path with ..", "absolute path", "symlink out of the folder", "empty caption",
              "bad label", "duplicate row"]


@pytest.mark.parametrize("case", DATA_CASES)
def test_bad_manifest_row_is_fatal_under_on_error_fail(run_cmx, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    rows = good_images(folder)
    bad, expected = data_case(folder, case)
    header = "image,caption,label" if case == "bad label" else "image,caption"
    rows = [r + (",1" if case == "bad label" else "") for r in rows]
    (folder / "captions.csv").write_text("\n".join([header, *rows, bad]) + "\n", encoding="utf-8")
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    result = run_cmx("preprocess", str(TINY), "--set", "data.source=manifest", "--set", f"data.path={folder}",
                     "--set", "data.on_error=fail", "--set", "data.processed=processed")
    assert_user_error(result, *expected, warning=SHAPES_KEYS_IGNORED)
    nothing_written(tmp_path, before)


def test_a_manifest_row_that_is_not_utf8_names_its_line(run_cmx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    rows = good_images(folder)
    text = ("\n".join(["image,caption", *rows]) + "\n").encode() + "ok0.png,caf\xe9\n".encode("latin-1")
    (folder / "captions.csv").write_bytes(text)
    result = run_cmx("preprocess", str(TINY), "--set", "data.source=manifest", "--set", f"data.path={folder}",
                     "--set", "data.on_error=fail", "--set", "data.processed=processed")
    assert_user_error(result, "captions.csv:8", "not UTF-8", warning=SHAPES_KEYS_IGNORED)


@pytest.mark.parametrize("content, expected", [
    ("go\t走\nno target\n", ["pairs.tsv:2", "no target"]),
    ("go\t走\n\t空\n", ["pairs.tsv:2", "empty sentence"]),
    ("go\t走\n".encode() + "bye\t再见\n".encode("gb18030"), ["pairs.tsv:2", "not UTF-8"]),
], ids=["missing target", "empty sentence", "mixed encodings"])
def test_bad_parallel_row_is_fatal_under_on_error_fail(run_cmx, tmp_path, monkeypatch, content, expected):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "pairs.tsv"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_cmx("preprocess", str(TINY), "--set", "task=seq2seq", "--set", "data.source=parallel",
                     "--set", f"data.path={path}", "--set", "data.on_error=fail", "--set", "data.processed=processed")
    assert_user_error(result, *expected, warning="that task seq2seq and source parallel do not read: data.shapes")
    assert not (tmp_path / "processed").exists()


# --- subword vocabularies ---------------------------------------------------------------------------
SUBWORD_PAIRS = "".join(f"number {i} is {c}\t第{i}号是{z}色的\n" for i, (c, z) in
                        zip(range(80), [("red", "红"), ("blue", "蓝"), ("green", "绿")] * 27))
SUBWORD_SIDES = "{level: subword, max_length: 16, vocab_size: %d}"


def _subword_translation(tmp_path: Path, vocab_size: int) -> list[str]:
    """`cmx preprocess` arguments: tiny_match.yaml as seq2seq on SUBWORD_PAIRS, both sides subword."""
    (tmp_path / "pairs.tsv").write_text(SUBWORD_PAIRS, encoding="utf-8")
    return ["preprocess", str(TINY), "--set", "task=seq2seq", "--set", "data.source=parallel",
            "--set", f"data.path={tmp_path / 'pairs.tsv'}", "--set", "data.processed=processed",
            "--set", f"data.text={SUBWORD_SIDES % vocab_size}", "--set", f"data.target_text={SUBWORD_SIDES % 282}"]


def test_a_subword_vocab_size_the_training_text_cannot_fill(run_cmx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    assert_user_error(run_cmx(*_subword_translation(tmp_path, 5000)), "data.text.vocab_size", "5000", "set at most",
                      warning="that task seq2seq and source parallel do not read: data.shapes")
    nothing_written(tmp_path, before | {"pairs.tsv"})


@pytest.mark.parametrize("command, damage, named", [
    (["sample", "{run}", "--text", "number 3 is red"], "missing", "spm.model: the SentencePiece model"),
    (["eval", "{run}"], "corrupt", "target_spm.model: not a SentencePiece model"),
], ids=["missing model at sample", "corrupt model at eval"])
def test_a_missing_or_corrupt_sentencepiece_model_in_the_run(run_cmx, tmp_path, monkeypatch, command, damage, named):
    from crossmodal_tf.config import load_config
    from crossmodal_tf.preprocessing import preprocess
    from crossmodal_tf.run_dir import RunDir
    from crossmodal_tf.stages.train import _write_run_files

    monkeypatch.chdir(tmp_path)
    args = _subword_translation(tmp_path, 282)
    config = load_config(args[1], [a for a in args[2:] if a != "--set"], warn=lambda line: None)
    run = RunDir(tmp_path / "run")
    _write_run_files(config, run, preprocess(config), overwrite=False, command=None)  # what train writes first
    if damage == "missing":
        run.subword_model.unlink()
    else:
        run.target_subword_model.write_bytes(b"not a model")
    assert_user_error(run_cmx(*[a.format(run=run.root) for a in command]), f"{run.root}/{named}")


def test_a_run_whose_preprocessed_data_is_gone_or_replaced(run_cmx, tmp_path, monkeypatch):
    """Opening a run never writes: eval names the command that makes the run's data again, and that command does."""
    import shutil

    from crossmodal_tf.config import load_config
    from crossmodal_tf.preprocessing import preprocess
    from crossmodal_tf.run import open_run
    from crossmodal_tf.run_dir import RunDir
    from crossmodal_tf.stages.train import _write_run_files

    monkeypatch.chdir(tmp_path)
    config = load_config(TINY, [])
    run = RunDir(tmp_path / "run")
    made = preprocess(config)
    _write_run_files(config, run, made, overwrite=False, command=None)  # what train writes first
    shutil.rmtree(config.processed_dir)
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    rebuild = f"cmx preprocess {run.config}"
    assert_user_error(run_cmx("eval", str(run.root)), f"{config.processed_dir}: no preprocessed data for",
                      rebuild)
    nothing_written(tmp_path, before)
    assert not config.processed_dir.exists()

    assert run_cmx(*rebuild.split()[1:])[0] == 0
    assert open_run(run.root).stats["fingerprint"] == made["fingerprint"]
    # the same folder made again for another seed's data: refused as well, not silently made back
    preprocess(load_config(TINY, ["seed=8"]))
    assert_user_error(run_cmx("test", str(run.root)), f"{config.processed_dir}: preprocessed with other data settings",
                      rebuild)


def test_missing_manifest_folder_and_captions_file(run_cmx, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = ["preprocess", str(TINY), "--set", "data.source=manifest", "--set", "data.processed=processed"]
    assert_user_error(run_cmx(*base, "--set", "data.path=nowhere"), "data.path", "not found",
                      warning=SHAPES_KEYS_IGNORED)
    (tmp_path / "empty").mkdir()
    assert_user_error(run_cmx(*base, "--set", "data.path=empty"), "data.path", "captions.jsonl",
                      warning=SHAPES_KEYS_IGNORED)
    (tmp_path / "headless").mkdir()
    (tmp_path / "headless" / "captions.csv").write_text("file,caption\na.png,x\n")
    assert_user_error(run_cmx(*base, "--set", "data.path=headless"), "captions.csv:1", "'image' column",
                      warning=SHAPES_KEYS_IGNORED)


def test_odd_but_valid_images_are_converted_not_rejected(run_cmx, tmp_path, monkeypatch):
    """Grayscale, palette, alpha and CMYK images and a very long caption all preprocess (nothing skipped)."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("L", (9, 9), 120).save(folder / "gray.png")
    Image.new("P", (9, 9), 3).save(folder / "palette.png")
    Image.new("RGBA", (9, 9), (200, 0, 0, 90)).save(folder / "alpha.png")
    Image.new("CMYK", (9, 9), (0, 200, 200, 0)).save(folder / "cmyk.jpg")
    Image.new("RGB", (9, 9), (9, 9, 9)).save(folder / "plain.png")
    long_caption = " ".join(f"word{i}" for i in range(500))
    rows = ["gray.png,grey", "palette.png,palette", "alpha.png,alpha", "cmyk.jpg,cmyk", f"plain.png,{long_caption}"]
    (folder / "captions.csv").write_text("\n".join(["image,caption", *rows]) + "\n")
    code, out, err = run_cmx("preprocess", str(TINY), "--set", "data.source=manifest", "--set", f"data.path={folder}",
                             "--set", "data.on_error=fail", "--set", "data.processed=processed",
                             "--set", "data.split={val: 0.0, test: 0.0}")
    assert code == 0, err
    assert "skipped 0" in out.replace("\n", " ")


# --- command-line misuse -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def match_run(tmp_path_factory):
    """A finished tiny match run (one epoch) to misuse."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("misuse")
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = CliRunner().invoke(crossmodal_tf.cli.main.app, ["train", str(TINY), "--quiet"])
        assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return root / "runs" / "tiny-match"


MISUSE = {
    "missing run directory": (["eval", "{missing}"], ["run directory not found"]),
    "not a run directory": (["test", "{plain}"], ["not a run directory"]),
    "wrong split": (["eval", "{run}", "--split", "holdout"], ["--split", "holdout"]),
    "wrong checkpoint": (["eval", "{run}", "--checkpoint", "middle"], ["--checkpoint", "middle"]),
    "sample on a match run": (["sample", "{run}"], ["task match does not generate text"]),
    "train on an existing run": (["train", str(TINY), "--run-dir", "{run}"], ["use --resume", "--overwrite"]),
    "resume and overwrite": (["train", str(TINY), "--run-dir", "{run}", "--resume", "--overwrite"],
                             ["--resume and --overwrite"]),
    "resume of nothing": (["train", str(TINY), "--run-dir", "{missing}", "--resume"], ["nothing to resume"]),
    "resume with another config": (["train", str(TINY), "--run-dir", "{run}", "--resume", "--set", "seed=99"],
                                   ["differs from the run's config.yaml"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("args, expected", list(MISUSE.values()), ids=list(MISUSE))
def test_command_misuse(run_cmx, match_run, tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain").mkdir()
    paths = {"run": str(match_run), "missing": str(tmp_path / "no-such-run"), "plain": str(tmp_path / "plain")}
    before = {str(p.relative_to(match_run)) for p in match_run.rglob("*")}
    assert_user_error(run_cmx(*[a.format(**paths) for a in args]), *expected)
    assert {str(p.relative_to(match_run)) for p in match_run.rglob("*")} == before  # the run is untouched
    assert not (tmp_path / "no-such-run").exists()


# --- the multi-worker cluster ----------------------------------------------------------------------
TF_CONFIG_CASES = {
    "no TF_CONFIG": (None, ["train.strategy", "TF_CONFIG"]),
    "not JSON": ("{cluster: ", ["TF_CONFIG", "not valid JSON"]),
    "no cluster": ('{"task": {"type": "worker", "index": 0}}', ["TF_CONFIG", '"cluster"']),
    "task of no job": ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", "index": 0}}',
                       ["TF_CONFIG", '"task"', "worker"]),
    "index out of range": ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 3}}',
                           ["TF_CONFIG", "index 3"]),
}


@pytest.mark.parametrize("value, expected", list(TF_CONFIG_CASES.values()), ids=list(TF_CONFIG_CASES))
def test_bad_tf_config(run_cmx, tmp_path, monkeypatch, value, expected):
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    before = {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")}
    assert_user_error(run_cmx("train", str(TINY), "--set", "train.strategy=multi_worker"), *expected)
    nothing_written(tmp_path, before)
