"""End to end for copy attention (model.copy): a made-up name that neither vocabulary has is written by
`cmx sample`, scored by `cmx test` and served by the export, in a fresh process."""

from __future__ import annotations

import json
import random

import pytest

from cli_runner import invoke
from fresh_process import serve_in_fresh_process

NAMES = "".join(chr(c) for c in range(ord("a"), ord("z") + 1))
TEMPLATES = ("please send the report to {} today", "{} wrote the minutes of the meeting",
             "the meeting with {} moved to friday", "call {} about the gas contract")


def _pairs(rng: random.Random, count: int) -> list[str]:
    """`count` document → summary rows, each with a made-up name no other row has."""
    rows = []
    for _ in range(count):
        name = "".join(rng.choice(NAMES) for _ in range(7))
        rows.append(f"{rng.choice(TEMPLATES).format(name)}\tnote for {name}\n")
    return rows


@pytest.mark.slow
def test_a_name_outside_both_vocabularies_is_copied_by_sample_and_by_the_export(tmp_path, monkeypatch):
    """Every name occurs once, so neither vocabulary (min_freq 2) has any; only copying can write it."""
    rng = random.Random(3)
    data = tmp_path / "names"
    data.mkdir()
    for split, count in (("train", 600), ("dev", 40), ("test", 40)):
        (data / f"{split}.tsv").write_text("".join(_pairs(rng, count)), encoding="utf-8")
    (tmp_path / "copy.yaml").write_text(f"""
name: copy-names
task: summarize
seed: 1
data:
  source: parallel
  path: {data}
  processed: processed
  text: {{level: word, max_length: 12, min_freq: 2, max_size: 100}}
  target_text: {{level: word, max_length: 4, min_freq: 2, max_size: 100}}
model:
  text: {{embedding_dim: 16, units: 32, layers: 1, dropout: 0.0}}
  attention: luong
  copy: true
train:
  epochs: 6
  batch_size: 16
  optimizer: {{name: adam, learning_rate: 0.01}}
  early_stopping: {{monitor: val_loss, patience: 6}}
sample: {{strategy: greedy, max_length: 5, num_samples: 1}}
""", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    invoke("train", "copy.yaml", "--quiet", "--run-dir", "run")
    assert "qzxvbnm" not in (tmp_path / "run" / "target_vocab.txt").read_text(encoding="utf-8")
    invoke("sample", "run", "--text", "call qzxvbnm about the gas contract", "-o", "sampled.jsonl")
    sampled = json.loads((tmp_path / "sampled.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert sampled["text"] == "note for qzxvbnm"
    tested = json.loads(invoke("test", "run", "--json").output)
    assert tested["rougeL"] > 0.9  # the test split's names are copied too
    invoke("export", "run", "--out", "exported")
    served = serve_in_fresh_process(tmp_path / "exported", {"text": ["please send the report to wyxkjpl today"]})
    assert served["text"] == ["note for wyxkjpl"]
