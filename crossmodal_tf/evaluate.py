"""The eval and test stages: a run directory's model on one split → eval_<split>.json."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from crossmodal_tf.config import config_from_run
from crossmodal_tf.data.preprocess import preprocess
from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir, write_json

SPLITS = ("train", "val", "test")
CHECKPOINTS = ("best", "last")


@dataclass
class EvalContext:
    """What a task's evaluate may need beyond the model and the split: the vocabulary and the train split."""

    vocab: object
    train_dataset: Callable[[], object]
    _train_counts: Counter | None = field(default=None, repr=False)

    def train_counts(self) -> Counter:
        """Counts of the train split's target tokens (computed once), for unigram baselines."""
        from crossmodal_tf.tasks.sequence import target_counts

        if self._train_counts is None:
            self._train_counts = target_counts(self.train_dataset())
        return self._train_counts


def run_data(run: RunDir, config, quiet: bool = True) -> dict:
    """The preprocess stats of a run's data, made again when missing; a CmxError when its vocabulary changed."""
    stats = preprocess(config, quiet=quiet)  # reuses the shards when they are up to date
    vocab = (config.processed_dir / "vocab.txt").read_text(encoding="utf-8")
    if not run.vocab.is_file() or vocab != run.vocab.read_text(encoding="utf-8"):
        raise CmxError(f"{config.processed_dir}: the data changed since {run.root} was trained "
                       "(its vocabulary differs from the run's vocab.txt)")
    return stats


def load_run_model(run: RunDir, config, checkpoint: str = "best"):
    """The run's model: the best one (model.keras, safe mode) or the last resumable state."""
    import keras

    import crossmodal_tf.models.layers  # noqa: F401  registers the custom layers for loading
    from crossmodal_tf.tasks import load_task

    if checkpoint == "best":
        if not run.model.is_file():
            raise CmxError(f"{run.root}: no model.keras yet; finish training or use --checkpoint last")
        return keras.models.load_model(run.model, compile=False, safe_mode=True)
    if not run.last_weights.is_file():
        raise CmxError(f"{run.root}: no last checkpoint ({run.last_weights.relative_to(run.root)} is missing)")
    vocab_size = len(run.vocab.read_text(encoding="utf-8").rstrip("\n").split("\n"))
    model = load_task(config.task).build_model(config, vocab_size)
    model.load_weights(run.last_weights)
    return model


def evaluate_run(run_dir: str | Path, split: str = "val", checkpoint: str = "best", quiet: bool = True) -> dict:
    """Evaluate a run's model on a split; writes and returns the flat metrics dict."""
    if split not in SPLITS:
        raise CmxError(f"--split: expected one of {', '.join(SPLITS)}, found {split!r}")
    if checkpoint not in CHECKPOINTS:
        raise CmxError(f"--checkpoint: expected one of {', '.join(CHECKPOINTS)}, found {checkpoint!r}")
    run = RunDir(Path(run_dir)).require()
    config = config_from_run(run.root)
    stats = run_data(run, config, quiet)
    if not stats["counts"].get(split):
        raise CmxError(f"{run.root}: the {split} split is empty (data.split.{split} is 0?)")

    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.data.text import Vocabulary
    from crossmodal_tf.tasks import load_task

    model = load_run_model(run, config, checkpoint)

    def dataset_of(name: str):
        return make_dataset(config.processed_dir, name, stats["counts"][name], config.eval.batch_size,
                            config.data.image.size)

    context = EvalContext(Vocabulary.load(run.vocab), lambda: dataset_of("train"))
    metrics = load_task(config.task).evaluate(model, dataset_of(split), config, context)
    metrics = {"split": split, "checkpoint": checkpoint, **metrics}
    write_json(run.eval_json(split), metrics)
    return metrics
