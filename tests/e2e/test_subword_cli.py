"""End to end with subword vocabularies: a tiny translation run whose both sides are SentencePiece pieces."""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from cli_runner import invoke
from crossmodal_tf.data.subword import SubwordVocabulary

pytestmark = pytest.mark.slow  # trains a run

TESTS = Path(__file__).resolve().parents[1]
PAIRS = "".join(f"number {i} is {c}\t第{i}号是{z}色的\n" for i, (c, z) in
                zip(range(80), [("red", "红"), ("blue", "蓝"), ("green", "绿")] * 27))
SIDE = "{level: subword, max_length: 16, vocab_size: 282}"
SENTENCES = ["number 7 is red", "Number 12 is GREEN!", "purple zebra", ""]  # p, z: byte pieces at most


@pytest.fixture(scope="module", params=["tiny_seq2seq.yaml", "tiny_seq2seq_transformer.yaml"])
def run(request, tmp_path_factory):
    """A tiny seq2seq run (LSTM or Transformer) on PAIRS with subword source and target, and greedy samples of
    SENTENCES.

    Trained for 30 epochs (3 batches each), not one: the export decodes without XLA and cmx sample with it,
    and a model that has learnt nothing has near-ties that the two break differently.
    """
    root = tmp_path_factory.mktemp("subword")
    (root / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        invoke("train", str(TESTS / "configs" / request.param), "--quiet", "--set", "name=tiny-subword", "--set", "data.source=parallel",
               "--set", f"data.path={root / 'pairs.tsv'}", "--set", "data.processed=data/processed/tiny-subword",
               "--set", f"data.text={SIDE}", "--set", f"data.target_text={SIDE}", "--set", "train.epochs=30",
               "--set", "train.optimizer.learning_rate=0.01")
        args = [arg for s in SENTENCES[:3] for arg in ("--text", s)]
        invoke("sample", "runs/tiny-subword", *args, "--strategy", "greedy", "--num-samples", "1",
               "--output", "greedy.jsonl")
        samples = [json.loads(line) for line in (root / "greedy.jsonl").read_text(encoding="utf-8").splitlines()]
        yield types.SimpleNamespace(root=root, path=root / "runs/tiny-subword", samples=samples)


def test_the_run_holds_the_sentencepiece_models_it_was_preprocessed_with(run):
    processed = run.root / "data/processed/tiny-subword"
    for name in ("spm.model", "target_spm.model", "vocab.txt", "target_vocab.txt"):
        assert (run.path / name).read_bytes() == (processed / name).read_bytes()
    assert "vocab_size: 282" in (run.path / "config.yaml").read_text(encoding="utf-8")


def test_outputs_are_plain_text_not_pieces(run):
    tested = json.loads(invoke("test", str(run.path), "--json").output)
    assert 0 <= tested["bleu"] <= 100 and tested["sentences"] > 0
    assert [s["input"] for s in run.samples] == SENTENCES[:3]
    for sample in run.samples:
        assert "▁" not in sample["text"] and "<0x" not in sample["text"] and "<unk>" not in sample["text"]


def test_the_export_takes_raw_strings_and_returns_cmx_samples_greedy_text(run):
    """In a process with TensorFlow and tensorflow_text alone: the model's bytes are in the graph."""
    from fresh_process import serve_in_fresh_process

    invoke("export", str(run.path), "--out", str(run.root / "exported"))
    served = serve_in_fresh_process(run.root / "exported", {"text": SENTENCES}, imports=("tensorflow_text",))
    assert served["text"][:3] == [s["text"] for s in run.samples]
    vocab = SubwordVocabulary.read(run.path / "target_spm.model", run.path / "target_vocab.txt")
    assert served["text"] == [vocab.detokenize(vocab.decode(tokens)) for tokens in served["tokens"]]


def test_an_lm_export_joins_the_prompt_and_its_continuation_as_one_text(tmp_path, monkeypatch):
    """A subword lm's served text is the prompt's pieces and the generated ones, joined by SentencePiece."""
    from fresh_process import serve_in_fresh_process

    monkeypatch.chdir(tmp_path)
    (tmp_path / "pairs.tsv").write_text(PAIRS, encoding="utf-8")
    invoke("train", str(TESTS / "configs" / "tiny_lm.yaml"), "--quiet", "--set", "data.source=parallel",
           "--set", f"data.path={tmp_path / 'pairs.tsv'}", "--set", f"data.text={SIDE}")
    invoke("export", "runs/tiny-lm", "--out", "exported")
    prompts = ["Number 4", "zebra", ""]
    served = serve_in_fresh_process(tmp_path / "exported", {"prompt": prompts}, imports=("tensorflow_text",))
    vocab = SubwordVocabulary.read(tmp_path / "runs/tiny-lm/spm.model", tmp_path / "runs/tiny-lm/vocab.txt")
    assert served["text"] == [vocab.detokenize(vocab.tokenize(prompt) + vocab.decode(tokens))
                              for prompt, tokens in zip(prompts, served["tokens"])]
    assert served["text"][0].startswith("number 4") and served["text"][1].startswith("zebra")
