"""The evaluate stage's seen and novel subsets: the task's own evaluate on each, with known values."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from crossmodal_tf.preprocessing import NOVEL_KEYS, preprocess
from crossmodal_tf.stages.evaluate import subset_metrics
from crossmodal_tf.run import Run
from crossmodal_tf.run_dir import RunDir


def even_key_says_match(key: bytes) -> int:
    """The fixed model: an image whose number is even matches every caption, an odd one none."""
    return int(int(key.decode().split("-")[1]) % 2 == 0)


def evaluate_fixed_model(run, model, dataset) -> dict:
    """A task's evaluate over parsed batches: accuracy of the fixed model, and how many examples it saw."""
    right = total = 0
    for batch in dataset:
        predicted = np.array([model(key) for key in batch["key"].numpy()])
        right += int((predicted == batch["label"].numpy()[:, 0]).sum())
        total += len(predicted)
    return {"accuracy": right / total, "examples": total}


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_loader):
    """A run over the tiny shapes data (red triangles held out, the default) whose task is evaluate_fixed_model."""
    root = tmp_path_factory.mktemp("subsets")
    config = tiny_loader(root, "data.shapes.num_images=60")
    opened = Run(RunDir(root / "run"), config)
    opened._stats = preprocess(config)
    opened.task = SimpleNamespace(evaluate=evaluate_fixed_model, uses_image=True, target_text=False,
                                  raw_references=False)
    return opened


def test_seen_and_novel_metrics_are_the_task_s_on_each_subset(run):
    novel = set((run.config.processed_dir / NOVEL_KEYS).read_text().split())
    rows = [(key.decode(), int(label[0])) for batch in run.dataset("test")
            for key, label in zip(batch["key"].numpy(), batch["label"].numpy())]
    expected = {}
    for subset, chosen in (("seen", [r for r in rows if r[0] not in novel]), ("novel", [r for r in rows if r[0] in novel])):
        assert chosen  # the fixed case holds both
        right = sum(even_key_says_match(key.encode()) == label for key, label in chosen)
        expected |= {f"{subset}/accuracy": right / len(chosen), f"{subset}/examples": len(chosen)}
    assert subset_metrics(run, even_key_says_match, "test") == pytest.approx(expected)
    assert expected["seen/examples"] + expected["novel/examples"] == len(rows) == run.count("test")


def test_a_split_without_novel_images_has_no_subsets(run):
    assert subset_metrics(run, even_key_says_match, "val") == {}
    run_without = Run(run.paths, run.config)
    run_without._stats = {k: v for k, v in run.stats.items() if k != "novel_images"}  # a folder from before
    assert subset_metrics(run_without, even_key_says_match, "test") == {}
