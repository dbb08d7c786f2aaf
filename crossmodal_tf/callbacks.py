"""Keras callbacks that Keras lacks: the per-epoch history files, resumable early stopping, a rich progress display."""

from __future__ import annotations

import math
import time

import keras

from crossmodal_tf.run_dir import RunDir


class HistoryWriter(keras.callbacks.Callback):
    """Writes history.csv and metrics.jsonl after every epoch, with the epoch's wall time.

    Written here rather than with CSVLogger because the contract needs the epoch time
    and a JSONL twin, and because on --resume rows from epochs that are replayed must
    be replaced, not appended a second time.
    """

    def __init__(self, run: RunDir):
        super().__init__()
        self.run = run
        self.rows = run.read_history()
        self.started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, "epoch_time_s": round(time.perf_counter() - self.started, 3)}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        self.run.write_history(self.rows)


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """keras EarlyStopping that, on a resumed run, first replays the epochs already in the history.

    Keras resets its patience count at the start of every fit, so a run resumed
    after a kill would stop later than the uninterrupted run; replaying the logged
    epochs through Keras's own logic gives it back the count it had.
    """

    def __init__(self, replay: list[dict], **kwargs):
        super().__init__(**kwargs)
        self.replay = replay
        self.counting = False

    def on_train_begin(self, logs=None):
        if self.counting:  # a second fit of the same run (after a resumed partial epoch) keeps the count
            return
        super().on_train_begin(logs)
        for row in self.replay:
            super().on_epoch_end(row["epoch"] - 1, row)
        self.model.stop_training = False
        self.counting = True


class StopBetweenSteps(keras.callbacks.Callback):
    """Turns Ctrl-C into a stop between two training steps, where the state is consistent to checkpoint.

    Python's own KeyboardInterrupt can land inside TensorFlow, where the tf.data
    iterator may report it as the end of the data, and Keras then carries on as if
    the epoch had ended. Instead, SIGINT only sets a flag here, and the next batch end
    raises KeyboardInterrupt. A second Ctrl-C interrupts at once.
    """

    def __init__(self):
        super().__init__()
        self.requested = False
        self._previous = None

    def install(self) -> None:
        """Take over SIGINT (main thread only; elsewhere Ctrl-C keeps Python's behaviour)."""
        import signal
        import threading

        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)

    def restore(self) -> None:
        """Give SIGINT back to whoever had it."""
        import signal

        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _on_sigint(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def on_train_batch_end(self, batch, logs=None):
        if self.requested:
            raise KeyboardInterrupt


class RichProgress(keras.callbacks.Callback):
    """A progress bar per epoch with the running loss (when bar is set), and one line per finished epoch."""

    def __init__(self, epochs: int, steps_per_epoch: int, bar: bool = True, console=None):
        super().__init__()
        from rich.console import Console

        self.epochs, self.steps, self.bar = epochs, steps_per_epoch, bar
        self.console = console or Console()
        self.progress = None
        self.task = None

    def on_train_begin(self, logs=None):
        if not self.bar:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                 console=self.console, transient=True)
        self.progress.start()

    def on_epoch_begin(self, epoch, logs=None):
        if self.progress is None:
            return
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch + 1}/{self.epochs}", total=self.steps, info="")

    def on_train_batch_end(self, batch, logs=None):
        if self.progress is None:
            return
        loss = (logs or {}).get("loss")
        info = f"loss {float(loss):.4f}" if loss is not None and math.isfinite(float(loss)) else ""
        self.progress.update(self.task, completed=min(batch + 1, self.steps), info=info)

    def on_epoch_end(self, epoch, logs=None):
        shown = "  ".join(f"{k} {float(v):.4f}" for k, v in (logs or {}).items() if k != "learning_rate")
        self.console.print(f"epoch {epoch + 1}/{self.epochs}  {shown}", highlight=False, soft_wrap=True)

    def on_train_end(self, logs=None):
        if self.progress is not None:
            self.progress.stop()


class TimeBudget(keras.callbacks.Callback):
    """Stops training once train.time_budget_minutes of wall-clock time is spent (checked after every batch).

    The stop is Keras's own (model.stop_training): the cut epoch is validated and ends
    as any epoch does, so the best weights, history.csv and a checkpoint are written
    and training finishes like an early stop. spent() gives the seconds of training the
    run has had so far, resumes included (TrainingCheckpoint.train_seconds), so a
    resumed run only gets what is left of the budget.
    """

    def __init__(self, minutes: float, spent, log=print):
        super().__init__()
        self.seconds, self.spent, self.log = minutes * 60.0, spent, log
        self.stopped = False

    def exhausted(self) -> bool:
        """Whether the budget is spent."""
        return self.spent() >= self.seconds

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not self.stopped and self.exhausted():
            self.stopped = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped:
            self.log(f"cmx: train.time_budget_minutes: {self.seconds / 60:g} min spent ({self.spent():.0f} s of "
                     f"training): stopped in epoch {self.epoch + 1}, as an early stop")
