"""One way to open a trained run: its config, task, vocabularies, stats, model and datasets.

eval, sample, search, report and export all start from `open_run(run_dir)`; what
they read is what the run directory holds (config.yaml, vocab.txt, model.keras or
the last checkpoint), and the preprocessed shards its config names. Opening a run
never writes: shards that are missing, stale or made by an older cmx are refused with
the command that makes them again.
"""

from __future__ import annotations

from collections import Counter
from functools import cached_property
from pathlib import Path

from crossmodal_tf.config import Config, config_from_run
from crossmodal_tf.data.shards import SPLITS
from crossmodal_tf.data.subword import SubwordVocabulary
from crossmodal_tf.data.text import Vocabulary
from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.tasks import Task, load_task

CHECKPOINTS = ("best", "last")


def require_checkpoint(checkpoint: str) -> str:
    """A --checkpoint value, checked: best or last."""
    if checkpoint not in CHECKPOINTS:
        raise CmxError(f"--checkpoint: expected one of {', '.join(CHECKPOINTS)}, found {checkpoint!r}")
    return checkpoint


class Run:
    """An opened run directory; the stats, the model and the datasets are made on first use."""

    def __init__(self, paths: RunDir, config: Config):
        self.paths, self.config = paths, config
        self.task: Task = load_task(config.task)
        self._stats: dict | None = None
        self._models: dict = {}
        self._train_counts: dict[str, Counter] = {}

    @property
    def root(self) -> Path:
        return self.paths.root

    def _written_file(self, path: Path) -> Path:
        """A file that training writes into the run; a CmxError when it is missing."""
        if not path.is_file():
            raise CmxError(f"{self.root}: no {path.name}; the run's training never started, or the file was removed")
        return path

    def _vocabulary(self, path: Path, model: Path, level: str) -> Vocabulary:
        """vocab.txt's tokens, or at level subword the SentencePiece model beside it (a CmxError naming a bad one)."""
        path = self._written_file(path)
        return SubwordVocabulary.read(model, path) if level == "subword" else Vocabulary.load(path)

    @cached_property
    def vocab(self) -> Vocabulary:
        """The text side's vocabulary (vocab.txt; spm.model at level subword)."""
        return self._vocabulary(self.paths.vocab, self.paths.subword_model, self.config.data.text.level)

    @cached_property
    def target_vocab(self) -> Vocabulary | None:
        """The target side's vocabulary (target_vocab.txt; target_spm.model at level subword) of a task with a target
        text, else None."""
        if not self.task.target_text:
            return None
        return self._vocabulary(self.paths.target_vocab, self.paths.target_subword_model,
                                self.config.data.target_text.level)

    @cached_property
    def answers(self):
        """The answer vocabulary (answer_vocab.txt) of a task with answers, else None."""
        from crossmodal_tf.data.answers import Answers

        return Answers.load(self._written_file(self.paths.answer_vocab)) if self.task.answers else None

    def rebuild_hint(self) -> str:
        """The command that makes this run's preprocessed data again, from the config the run was trained with."""
        return f"cmx preprocess {self.paths.root / 'config.yaml'}"

    @property
    def stats(self) -> dict:
        """The preprocess stats of the run's data, read and never made here: a CmxError naming `cmx preprocess` when
        the data is missing, was made for other settings or lacks what this cmx scores against (raw references),
        and one when its vocabulary changed."""
        if self._stats is None:
            from crossmodal_tf.preprocessing import RAW_REFERENCES, fingerprint, read_stats

            self.vocab, self.target_vocab  # noqa: B018  a missing or corrupt vocabulary is named as such, first
            processed = self.config.processed_dir
            stats = read_stats(processed)
            if stats is None:
                raise CmxError(f"{processed}: no preprocessed data for {self.root}; make it with: "
                               f"{self.rebuild_hint()}")
            if self.task.raw_references and stats.get("raw_references") != RAW_REFERENCES:
                raise CmxError(f"{processed}: preprocessed by an older cmx, without the {self.task.name}s as written "
                               f"that scores compare with; make it again with: {self.rebuild_hint()}")
            if stats.get("fingerprint") != fingerprint(self.config):
                raise CmxError(f"{processed}: preprocessed with other data settings (or by another cmx) than "
                               f"{self.root} was trained on; make it again with: {self.rebuild_hint()}")
            for ours in self.paths.vocabularies:
                theirs = processed / ours.name
                if ours.is_file() != theirs.is_file() or (ours.is_file() and ours.read_bytes() != theirs.read_bytes()):
                    raise CmxError(f"{processed}: the data changed since {self.root} was trained "
                                   f"(its {ours.name} differs from the run's)")
            self._stats = stats
        return self._stats

    def count(self, split: str) -> int:
        """Examples in a split."""
        return self.stats["counts"].get(split, 0)

    def require_split(self, split: str, option: str = "--split") -> str:
        """The split, checked: a known name (a CmxError naming option otherwise) with examples in it."""
        if split not in SPLITS:
            raise CmxError(f"{option}: expected one of {', '.join(SPLITS)}, found {split!r}")
        if not self.count(split):
            raise CmxError(f"{self.root}: the {split} split is empty (data.split.{split} is 0?)")
        return split

    def eval_split(self) -> str:
        """The split that stands for unseen data: test, or val when test is empty."""
        return "test" if self.count("test") else "val"

    def dataset(self, split: str, keys: tuple[frozenset[str], bool] | None = None):
        """A split's parsed batches (eval batch size, in file order), with the texts as written of translation
        pairs and of a Task.raw_references task's examples; keys (image keys, inside) keeps only the examples of
        those images (inside) or of the others."""
        from crossmodal_tf.data.pipeline import make_dataset

        size = self.config.data.image.size if self.task.uses_image else None
        return make_dataset(self.config.processed_dir, split, self.count(split), self.config.eval.batch_size, size,
                            raw_text=self.task.target_text or self.task.raw_references, keys=keys)

    def novel_keys(self, split: str) -> frozenset[str]:
        """The keys of the split's images that show a held-out combination (preprocess' NOVEL_KEYS); none when the
        split has none, or when the data holds nothing out (a folder written before held-out combinations
        existed held nothing out: all its images count as seen)."""
        from crossmodal_tf.preprocessing import NOVEL_KEYS

        if not self.stats.get("novel_images", {}).get(split):
            return frozenset()
        return frozenset((self.config.processed_dir / NOVEL_KEYS).read_text(encoding="utf-8").split())

    def train_counts(self, text_field: str = "text") -> Counter:
        """Counts of the train split's predicted tokens of a text field (computed once), for unigram baselines."""
        from crossmodal_tf.tasks.sequence import target_counts

        if text_field not in self._train_counts:
            self._train_counts[text_field] = target_counts(self.dataset("train"), text_field)
        return self._train_counts[text_field]

    def model(self, checkpoint: str = "best"):
        """The run's model (loaded once): the best one (model.keras, safe mode) or the last resumable state."""
        require_checkpoint(checkpoint)
        if checkpoint not in self._models:
            self._models[checkpoint] = self._load_best() if checkpoint == "best" else self._load_last()
        return self._models[checkpoint]

    def _load_best(self):
        import keras

        register_saved_layers()

        if not self.paths.model.is_file():
            raise CmxError(f"{self.root}: no model.keras yet; finish training or use --checkpoint last")
        try:
            return keras.models.load_model(self.paths.model, compile=False, safe_mode=True)
        except ValueError as exc:
            if "safe_mode" not in str(exc):
                raise
            # a model file that carries Python code (a Lambda layer) would run it when loaded
            raise CmxError(f"{self.paths.model}: the model holds Python code (a Lambda layer); cmx loads models "
                           "in Keras safe mode only and refuses it") from None

    def _load_last(self):
        from crossmodal_tf.checkpoints import restore_checkpoint
        from crossmodal_tf.models.feature_cache import cache_applies, features_trainer

        second = self.target_vocab if self.task.target_text else self.answers
        sizes = [len(self.vocab), len(second) if second is not None else None]
        model = self.task.build_model(self.config, *sizes)
        # a run on cached image features checkpointed the model from the backbone's output (feature_cache.py)
        fitted = features_trainer(model) if cache_applies(self.config, self.task) else model
        if restore_checkpoint(fitted, self.paths.backup) is None:
            raise CmxError(f"{self.root}: no last checkpoint (nothing in {self.paths.backup.relative_to(self.root)})")
        return model


def open_run(run_dir: str | Path) -> Run:
    """The run in a directory written by cmx train; a CmxError when it is not one."""
    paths = RunDir(Path(run_dir)).require()
    return Run(paths, config_from_run(paths.root))


def register_saved_layers() -> None:
    """Import every module whose Keras layers a saved cmx model may hold, so that load_model finds their classes.

    A text type's decoder layers are imported only when a model is built, so a fresh process that loads a model
    (cmx test, sample, report, export) must import them first: each text type names them in layer_modules."""
    import importlib

    import crossmodal_tf.models.copy  # noqa: F401
    import crossmodal_tf.models.layers  # noqa: F401
    from crossmodal_tf.models.text_types import TEXT_TYPES, load_text_type

    for name in TEXT_TYPES:
        for module in load_text_type(name).layer_modules:
            importlib.import_module(module)
