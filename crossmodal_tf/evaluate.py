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
    """What a task's evaluate may need beyond the model and the split: the vocabularies and the train split."""

    vocab: object
    train_dataset: Callable[[], object]
    target_vocab: object = None  # a seq2seq run's target side
    _train_counts: dict = field(default_factory=dict, repr=False)

    def train_counts(self, text_field: str = "text") -> Counter:
        """Counts of the train split's predicted tokens of a text field (computed once), for unigram baselines."""
        from crossmodal_tf.tasks.sequence import target_counts

        if text_field not in self._train_counts:
            self._train_counts[text_field] = target_counts(self.train_dataset(), text_field)
        return self._train_counts[text_field]


def run_data(run: RunDir, config, quiet: bool = True) -> dict:
    """The preprocess stats of a run's data, made again when missing; a CmxError when its vocabulary changed."""
    stats = preprocess(config, quiet=quiet)  # reuses the shards when they are up to date
    for ours in (run.vocab, run.target_vocab):
        theirs = config.processed_dir / ours.name
        if ours.is_file() != theirs.is_file() or (
                ours.is_file() and ours.read_text(encoding="utf-8") != theirs.read_text(encoding="utf-8")):
            raise CmxError(f"{config.processed_dir}: the data changed since {run.root} was trained "
                           f"(its {ours.name} differs from the run's)")
    return stats


def load_run_model(run: RunDir, config, checkpoint: str = "best"):
    """The run's model: the best one (model.keras, safe mode) or the last resumable state."""
    import keras

    import crossmodal_tf.models.layers  # noqa: F401  registers the custom layers for loading
    from crossmodal_tf.data.text import Vocabulary
    from crossmodal_tf.tasks import load_task

    if checkpoint == "best":
        if not run.model.is_file():
            raise CmxError(f"{run.root}: no model.keras yet; finish training or use --checkpoint last")
        try:
            return keras.models.load_model(run.model, compile=False, safe_mode=True)
        except ValueError as exc:
            if "safe_mode" not in str(exc):
                raise
            # a model file that carries Python code (a Lambda layer) would run it when loaded
            raise CmxError(f"{run.model}: the model holds Python code (a Lambda layer); cmx loads models in "
                           "Keras safe mode only and refuses it") from None
    from crossmodal_tf.checkpoints import restore_checkpoint

    sizes = [len(Vocabulary.load(path)) for path in (run.vocab, run.target_vocab) if path.is_file()]
    model = load_task(config.task).build_model(config, *sizes)
    if restore_checkpoint(model, run.backup) is None:
        raise CmxError(f"{run.root}: no last checkpoint (nothing in {run.backup.relative_to(run.root)})")
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

    task = load_task(config.task)

    def dataset_of(name: str):
        return make_dataset(config.processed_dir, name, stats["counts"][name], config.eval.batch_size,
                            config.data.image.size if task.USES_IMAGE else None)

    target_vocab = Vocabulary.load(run.target_vocab) if run.target_vocab.is_file() else None
    context = EvalContext(Vocabulary.load(run.vocab), lambda: dataset_of("train"), target_vocab)
    metrics = task.evaluate(model, dataset_of(split), config, context)
    metrics = {"split": split, "checkpoint": checkpoint, **metrics}
    write_json(run.eval_json(split), metrics)
    return metrics
