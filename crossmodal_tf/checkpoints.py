"""Resumable training state: atomic checkpoints of everything a resumed run needs to continue exactly.

A checkpoint is a folder `checkpoints/last/step-NNNNNNNNN/` holding the model's and
the optimizer's variables (`state.weights.h5`: Keras saves the optimizer with the
model), the states of the model's random seed generators (`seeds.npz`: dropout
masks; Keras does not save them) and `meta.json` (epochs done, steps done in the
current epoch, global step, seconds of training so far). It is written into a
temporary folder that is renamed into place only when complete, so a kill at any
moment leaves either the whole new checkpoint or none of it. The two newest are kept: when the newest cannot be read
(a damaged disk, a truncated file), restore falls back to the one before, with a
warning.

Keras's BackupAndRestore is not used because it writes its files in place (a kill
during the write leaves a damaged file as the only copy), does not save the seed
generators, and cannot say how far into an epoch a checkpoint was taken.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from crossmodal_tf.atomic import atomic_directory, atomic_file, remove_leftovers

KEEP = 2
_PREFIX = "step-"


@dataclass(frozen=True)
class TrainingPosition:
    """Where a checkpoint was taken: whole epochs done, batches done in the next epoch, optimizer steps in all,
    and the wall-clock seconds of training that got there (over every resume; train.time_budget_minutes)."""

    epochs_done: int = 0
    steps_in_epoch: int = 0
    global_step: int = 0
    train_seconds: float = 0.0


def seed_states(model: keras.Model) -> list:
    """The state variables of the model's seed generators (dropout and other random layers), in a fixed order."""
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def list_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in a folder, newest first."""
    if not Path(folder).is_dir():
        return []
    return sorted((p for p in Path(folder).iterdir() if p.is_dir() and p.name.startswith(_PREFIX)), reverse=True)


def save_checkpoint(model: keras.Model, folder: Path, position: TrainingPosition) -> Path:
    """Write a complete checkpoint atomically (temporary folder, then rename) and drop all but the newest KEEP."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PREFIX}{position.global_step:09d}"
    # replaces a checkpoint of the same step (an epoch end right after a step checkpoint)
    with atomic_directory(final) as tmp:
        model.save_weights(tmp / "state.weights.h5")
        np.savez(tmp / "seeds.npz", *[np.asarray(v) for v in seed_states(model)])
        meta = {"epochs_done": position.epochs_done, "steps_in_epoch": position.steps_in_epoch,
                "global_step": position.global_step, "train_seconds": round(position.train_seconds, 3)}
        (tmp / "meta.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    for old in list_checkpoints(folder)[KEEP:]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def save_weights_atomically(model: keras.Model, path: Path) -> None:
    """model.save_weights to path through a temporary file and a rename, so a kill never leaves half a file."""
    with atomic_file(path, suffix=".weights.h5") as tmp:  # keras picks the format by the suffix
        model.save_weights(tmp)


class BestWeights(keras.callbacks.Callback):
    """Keeps the weights of the best epoch so far (by monitor), written atomically.

    Keras's ModelCheckpoint writes in place, so a kill during its write would leave a
    damaged best.weights.h5 that the end of training then loads.
    """

    def __init__(self, path: Path, monitor: str, mode: str, best: float | None = None):
        super().__init__()
        self.path, self.monitor, self.mode, self.best = Path(path), monitor, mode, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(float(value)):
            return
        value = float(value)
        if self.best is None or (value > self.best if self.mode == "max" else value < self.best):
            self.best = value
            save_weights_atomically(self.model, self.path)


def _load(model: keras.Model, checkpoint: Path) -> TrainingPosition:
    meta = json.loads((checkpoint / "meta.json").read_text(encoding="utf-8"))
    # train_seconds is absent from checkpoints written before the key existed: count their time as 0
    position = TrainingPosition(int(meta["epochs_done"]), int(meta["steps_in_epoch"]), int(meta["global_step"]),
                                float(meta.get("train_seconds", 0.0)))
    with np.load(checkpoint / "seeds.npz") as seeds:
        values = [seeds[f"arr_{i}"] for i in range(len(seeds.files))]
    states = seed_states(model)
    if len(values) != len(states):
        raise ValueError(f"{len(values)} seed generator states saved, the model has {len(states)}")
    model.load_weights(checkpoint / "state.weights.h5")
    for variable, value in zip(states, values):
        variable.assign(value)
    return position


def restore_checkpoint(model: keras.Model, folder: Path, warn=print) -> TrainingPosition | None:
    """Load the newest readable checkpoint into model (and its built optimizer); None when there is none.

    A checkpoint that fails to load is reported through warn and the previous one
    is tried; temporary folders of interrupted writes are removed.
    """
    folder = Path(folder)
    remove_leftovers(folder)
    checkpoints = list_checkpoints(folder)
    for index, checkpoint in enumerate(checkpoints):
        try:
            return _load(model, checkpoint)
        except Exception as exc:  # noqa: BLE001  any damage (truncated h5, bad JSON, missing file) means: try older
            older = checkpoints[index + 1].name if index + 1 < len(checkpoints) else None
            warn(f"cmx: warning: checkpoint {checkpoint} is damaged ({type(exc).__name__}: {exc}); "
                 + (f"falling back to {older}" if older else "no older checkpoint left"))
    if checkpoints:
        from crossmodal_tf.errors import CmxError

        raise CmxError(f"{folder}: no checkpoint could be read; start again with --overwrite")
    return None


def weights_are_finite(model: keras.Model) -> bool:
    """Whether every trainable weight is a finite number (no NaN or infinity)."""
    return all(np.isfinite(np.asarray(v)).all() for v in model.trainable_variables)


class TrainingCheckpoint(keras.callbacks.Callback):
    """Saves a checkpoint after every epoch and, with every_steps, every that many batches within an epoch.

    The optimizer's step counter is the measure of progress, not a count of batch
    callbacks: Ctrl-C can land after a step has updated the weights but before its
    callbacks ran, and the checkpoint must describe the weights it holds.

    An epoch that ends before its steps_per_epoch batches (train.time_budget_minutes
    stopped it) is checkpointed as the partial epoch it is, so --resume finishes its
    remaining batches as after Ctrl-C. The checkpoint also holds the seconds of
    training so far (train_seconds): the time of earlier runs plus this one's since its
    fit began; time after the newest checkpoint of a killed run is not counted.
    """

    def __init__(self, folder: Path, start: TrainingPosition, every_steps: int | None = None,
                 steps_per_epoch: int | None = None):
        super().__init__()
        self.folder = Path(folder)
        self.every_steps = every_steps
        self.steps_per_epoch = steps_per_epoch
        self.epochs_done = start.epochs_done
        self.epoch_start_step = start.global_step - start.steps_in_epoch
        self.last_saved_step = start.global_step
        self.seconds_before = start.train_seconds
        self.clock_started: float | None = None

    def on_train_begin(self, logs=None):
        if self.clock_started is None:  # a resumed partial epoch is fit on its own first: one clock for both fits
            self.clock_started = time.perf_counter()

    def train_seconds(self) -> float:
        """Wall-clock seconds of training so far, earlier runs of a resumed run included."""
        now = time.perf_counter()
        return self.seconds_before + (now - self.clock_started if self.clock_started is not None else 0.0)

    def on_epoch_begin(self, epoch, logs=None):
        if epoch > self.epochs_done:  # a new epoch; a resumed partial epoch keeps its start
            self.epochs_done, self.epoch_start_step = epoch, self._global_step()

    def on_train_batch_end(self, batch, logs=None):
        if self.every_steps and self._global_step() - self.last_saved_step >= self.every_steps:
            self.save()

    def on_epoch_end(self, epoch, logs=None):
        step = self._global_step()
        if self.steps_per_epoch and step - self.epoch_start_step < self.steps_per_epoch:
            self.save()  # stopped within the epoch: position() says how far it got
            return
        self.epochs_done, self.epoch_start_step = epoch + 1, step
        self.save()

    def _global_step(self) -> int:
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))  # a MirroredVariable has no __int__

    def position(self) -> TrainingPosition:
        """Where training stands now."""
        step = self._global_step()
        return TrainingPosition(self.epochs_done, step - self.epoch_start_step, step, self.train_seconds())

    def save(self) -> Path | None:
        """Checkpoint the current state now (also used when training is interrupted); None when not saved.

        Weights that are no longer finite (the loss diverged) are never saved, so the
        last good checkpoint stays the newest.
        """
        position = self.position()
        self.last_saved_step = position.global_step
        if not weights_are_finite(self.model):
            return None
        return save_checkpoint(self.model, self.folder, position)
