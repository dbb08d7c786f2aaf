"""The train stage: config → (preprocessing.py, unless its output is up to date) → strategy scope → model.fit with
callbacks → run directory."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from crossmodal_tf.atomic import atomic_file, write_text_atomic
from crossmodal_tf.config import Config, config_from_run, dump_config, load_config
from crossmodal_tf.preprocessing import preprocess, read_stats, readers_lock
from crossmodal_tf.errors import CmxError
from crossmodal_tf.locks import exclusive_lock, shared_lock
from crossmodal_tf.figures import write_curves
from crossmodal_tf.run_dir import RunDir, write_json
from crossmodal_tf.tasks.base import monitor_mode
from crossmodal_tf.training_data import make_training_batches, make_validation_batches

def _without_epochs(config: Config) -> dict:
    """The config without the keys --resume may change: train.epochs and train.time_budget_minutes."""
    data = config.to_dict()
    data["train"].pop("epochs")
    data["train"].pop("time_budget_minutes", None)
    return data


def _check_run_dir(run: RunDir, config: Config, *, resume: bool, overwrite: bool) -> None:
    """Refuse to clobber an existing run silently; on --resume the config must be the run's."""
    exists = run.has_contents()
    if resume and overwrite:
        raise CmxError("--resume and --overwrite exclude each other")
    if resume:
        if not run.config.is_file():
            raise CmxError(f"{run.root}: nothing to resume (no config.yaml); start without --resume")
        if _without_epochs(config_from_run(run.root)) != _without_epochs(config):
            raise CmxError(f"{run.root}: the config differs from the run's config.yaml (only train.epochs and "
                           "train.time_budget_minutes may change on --resume); resume with the same config and --set "
                           "values, or use --overwrite")
    elif exists and not overwrite:
        raise CmxError(f"{run.root}: run directory exists; use --resume to continue it or --overwrite to replace it")
    elif exists and not run.config.is_file():
        raise CmxError(f"{run.root}: not a run directory (no config.yaml); --overwrite only replaces runs")


def build_optimizer(cfg, total_steps: int, steps_per_epoch: int = 1):
    """The Keras optimizer of train.optimizer; total_steps sizes a decaying schedule (and its warm-up)."""
    import keras

    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    learning_rate = cfg.learning_rate
    if cfg.schedule == "cosine":
        warmup = min(int(round(cfg.warmup_epochs * steps_per_epoch)), max(0, total_steps - 1))
        if warmup:
            learning_rate = keras.optimizers.schedules.CosineDecay(0.0, decay_steps=max(1, total_steps - warmup),
                                                                   warmup_target=cfg.learning_rate,
                                                                   warmup_steps=warmup)
        else:
            learning_rate = keras.optimizers.schedules.CosineDecay(cfg.learning_rate,
                                                                   decay_steps=max(1, total_steps))
    kwargs = {"learning_rate": learning_rate}
    if cfg.clipnorm:
        kwargs["clipnorm"] = cfg.clipnorm
    return classes[cfg.name](**kwargs)


def _callbacks(config: Config, run: RunDir, *, steps: int, progress: str, has_val: bool, checkpoint,
               warn=print) -> list:
    """The callbacks of model.fit (NaN guard, best weights, history, checkpoints, TensorBoard, …), in order."""
    import keras

    from crossmodal_tf.callbacks import HistoryWriter, ResumedEarlyStopping, RichProgress, TimeBudget
    from crossmodal_tf.checkpoints import BestWeights

    train = config.train
    for key, monitor in (("train.checkpoint.monitor", train.checkpoint.monitor),
                         ("train.early_stopping.monitor", train.early_stopping.monitor)):
        if monitor.startswith("val_") and not has_val:
            raise CmxError(f"{key}: '{monitor}' needs a validation split, but data.split.val leaves it empty")
    mode = monitor_mode(train.checkpoint.monitor)
    done = [r for r in run.read_history() if r["epoch"] <= checkpoint.epochs_done]
    previous = [r[train.checkpoint.monitor] for r in done if train.checkpoint.monitor in r]
    best_so_far = (max if mode == "max" else min)(previous) if previous else None
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        BestWeights(run.best_weights, train.checkpoint.monitor, mode, best_so_far),
        HistoryWriter(run),
        checkpoint,  # after HistoryWriter: a checkpoint never claims an epoch that history.csv lacks
        keras.callbacks.TensorBoard(str(run.tensorboard), write_graph=False, profile_batch=train.profile_batches or 0),
    ]
    if train.early_stopping.patience:
        callbacks.append(ResumedEarlyStopping(done, monitor=train.early_stopping.monitor,
                                              mode=monitor_mode(train.early_stopping.monitor),
                                              patience=train.early_stopping.patience))
    if train.time_budget_minutes:
        callbacks.append(TimeBudget(train.time_budget_minutes, checkpoint.train_seconds, log=warn))
    if progress != "none":
        callbacks.append(RichProgress(train.epochs, steps, bar=progress == "bar"))
    return callbacks


class TrainingInterrupted(Exception):
    """Training stopped by Ctrl-C; the state was checkpointed (saved is None when the weights were not finite)."""

    def __init__(self, run_root: Path, position, saved: Path | None):
        super().__init__(f"{run_root}: interrupted in epoch {position.epochs_done + 1} after "
                         f"{position.steps_in_epoch} batches")
        self.run_root, self.position, self.saved = run_root, position, saved


def save_model(model, path: Path) -> None:
    """Save in the native Keras format via a temporary file, so a crash never leaves half a model."""
    with atomic_file(path, suffix=".keras") as tmp:  # keras picks the format by the suffix
        model.save(tmp)


def train(config: Config, run_dir: str | Path | None = None, *, resume: bool = False, overwrite: bool = False,
          progress: str = "lines", command: list[str] | None = None, warn=print) -> dict:
    """Train the config's task into a run directory; returns a summary of the run.

    Preprocess runs first when its output is not up to date. On resume, training
    continues exactly where the newest checkpoint in checkpoints/last left it (the
    same batches, optimizer state and dropout masks as an uninterrupted run).
    progress is "bar" (a live progress bar and a line per epoch), "lines" (a line per
    epoch) or "none". Ctrl-C saves a checkpoint and raises TrainingInterrupted.
    """
    import keras

    from crossmodal_tf.distribute import WorkerLost, make_strategy, read_cluster

    run = RunDir(Path(run_dir) if run_dir else config.run_dir)
    cluster = read_cluster(config.train.strategy)
    chief = cluster is None or cluster.is_chief
    if chief:
        _check_run_dir(run, config, resume=resume, overwrite=overwrite)
    strategy = make_strategy(config.train.strategy, cluster)  # first: multi_worker must precede other TF ops
    stats = preprocess(config, quiet=progress != "bar")
    stats.pop("reused", None)
    policy = keras.mixed_precision.global_policy()
    try:
        if not chief:
            return _train_as_worker(config, run, stats, resume=resume, strategy=strategy, warn=warn)
        with exclusive_lock(run.lock, str(run.root)), shared_lock(readers_lock(config.processed_dir)):
            # again: another process may have written either meanwhile
            _check_run_dir(run, config, resume=resume, overwrite=overwrite)
            if (read_stats(config.processed_dir) or {}).get("fingerprint") != stats.get("fingerprint"):
                raise CmxError(f"{config.processed_dir}: another process rewrote it for other data just now; "
                               "set data.processed to a folder of this config's own")
            return _train_locked(config, run, stats, resume=resume, overwrite=overwrite, progress=progress,
                                 command=command, warn=warn, strategy=strategy)
    except WorkerLost as exc:
        raise WorkerLost(f"{run.root}: {cluster.name if cluster else 'worker'}: {exc}") from None
    finally:
        keras.mixed_precision.set_global_policy(policy)  # train.precision is this run's, not the process's


def _train_as_worker(config: Config, run: RunDir, stats: dict, *, resume: bool, strategy, warn) -> dict:
    """A non-chief worker of a multi-worker run: trains in step with the chief, writing only to a temporary folder.

    Every worker saves its checkpoints (saving may take part in collectives), but only
    the chief's land in the run directory. On --resume the worker starts from a copy
    of the chief's history and checkpoints, so it restores the same state and makes
    the same early-stopping decisions; that needs the run directory on storage every
    worker sees.
    """
    import tempfile

    from crossmodal_tf.checkpoints import list_checkpoints

    scratch = RunDir(Path(tempfile.mkdtemp(prefix="cmx-worker-")))
    try:
        if resume:
            if not list_checkpoints(run.backup):
                raise CmxError(f"{run.root}: this worker sees no checkpoint to resume from; with --resume the run "
                               "directory must be on storage that every worker shares")
            for path in (run.config, run.history, run.metrics):
                if path.is_file():
                    shutil.copyfile(path, scratch.root / path.name)
            shutil.copytree(run.backup, scratch.backup)
        summary = _train_locked(config, scratch, stats, resume=resume, overwrite=False, progress="none", command=None,
                                warn=warn, strategy=strategy, chief=False)
        return {**summary, "run_dir": str(run.root)}
    finally:
        shutil.rmtree(scratch.root, ignore_errors=True)


def _train_locked(config: Config, run: RunDir, stats: dict, *, resume: bool, overwrite: bool, progress: str,
                  command: list[str] | None, warn, strategy, chief: bool = True) -> dict:
    """Train into run (held by this process, or a worker's scratch copy of it); returns the summary of the run."""
    from crossmodal_tf.checkpoints import TrainingCheckpoint
    from crossmodal_tf.data.augment import augmenting, check_flip
    from crossmodal_tf.distribute import prepare_model
    from crossmodal_tf.tasks import load_task, task_reads_key

    task = load_task(config.task)
    augment = config.data.image.augment if task.uses_image else None
    if augment and augment.on:
        check_flip(augment, config.processed_dir / "vocab.txt")
    _write_run_files(config, run, stats, overwrite=overwrite, command=command)
    jit = _seed_and_set_precision(config)
    counts = stats["counts"]
    pick = None
    if task_reads_key(task.name, "train.negatives"):  # each epoch its own pick of the examples, or all of them (None)
        from crossmodal_tf.data.epoch_pick import plan_epoch_pick

        pick = plan_epoch_pick(config.train.negatives, stats.get("examples_by_kind", {}).get("train", {}))
    steps = math.ceil((pick.size if pick else counts["train"]) / config.train.batch_size)
    model, fitted = _compiled_model(config, task, stats, strategy, steps=steps, jit=jit)

    size = config.data.image.size if task.uses_image else None
    arrange = val_arrange = None  # the task's own
    if fitted is not model:  # a frozen backbone: fit the layers after it on its cached features
        from crossmodal_tf.models.feature_cache import FeatureCache

        size, arrange = None, FeatureCache(config, model, stats, log=warn).arrange(task.arrange)
        val_arrange = arrange
    elif augment and augment.on:
        if config.model.image.backbone != "conv" and config.model.image.trainable is False:
            warn("cmx: data.image.augment is on, so the frozen backbone's features are not cached: it runs on "
                 "every training step")
        arrange = augmenting(task.arrange, augment, config.seed)
    start = _restore_position(fitted, run, strategy, resume=resume, warn=warn)
    has_val = counts["val"] > 0
    val_ds = make_validation_batches(config, task, strategy, count=counts["val"], size=size,
                                     arrange=val_arrange) if has_val else None
    checkpoint = TrainingCheckpoint(run.backup, start, config.train.checkpoint_every_steps, steps)
    callbacks = _callbacks(config, run, steps=steps, progress=progress, has_val=has_val, checkpoint=checkpoint,
                           warn=warn)
    prepare_model(fitted, strategy, lambda: make_training_batches(config, task, None, count=counts["train"], size=size,
                                                                  first_epoch=0, last_epoch=1, skip=0, arrange=arrange,
                                                                  pick=pick))

    def fit(first_epoch: int, last_epoch: int, skip: int = 0, steps_per_epoch: int = steps):
        if steps_per_epoch == 0:  # every batch of the epoch was trained before the checkpoint, but not its end
            end_epoch_without_steps(fitted, first_epoch, val_ds, callbacks)
            return
        dataset = make_training_batches(config, task, strategy, count=counts["train"], size=size,
                                        first_epoch=first_epoch, last_epoch=last_epoch, skip=skip, arrange=arrange,
                                        pick=pick)
        fitted.fit(dataset, validation_data=val_ds, initial_epoch=first_epoch, epochs=last_epoch,
                   steps_per_epoch=steps_per_epoch, callbacks=callbacks, shuffle=False, verbose=0)  # shuffled by epoch

    budget = config.train.time_budget_minutes
    if budget and start.train_seconds >= budget * 60:
        # resumed with the budget already spent: a fit would still run one batch before stopping
        warn(f"cmx: train.time_budget_minutes: the run has had its {budget:g} min ({start.train_seconds:.0f} s of "
             "training); nothing more is trained (resume with a larger budget to continue)")
    else:
        _fit_from(start, fit, model=fitted, steps=steps, epochs=config.train.epochs, callbacks=callbacks,
                  checkpoint=checkpoint, strategy=strategy, run_root=run.root)
    return _finish(config, run, model, stats, chief=chief, fitted=fitted)


def _write_run_files(config: Config, run: RunDir, stats: dict, *, overwrite: bool, command: list[str] | None) -> None:
    """Write what a run directory holds before training: config.yaml, stats.json, the vocabularies, env.json."""
    from crossmodal_tf.environment import describe_environment
    from crossmodal_tf.tasks import load_task, task_reads_key

    env = describe_environment(config.seed, command)
    image = config.model.image
    if image.weights and load_task(config.task).uses_image:
        from crossmodal_tf.models.backbones import check_weights_file, weights_sha256

        # checked before anything is written; the hash says which weights the run started from
        env["image_weights"] = {"backbone": image.backbone, "path": image.weights,
                                "sha256": weights_sha256(check_weights_file(image.backbone, image.weights))}
    if overwrite:
        run.clear()
    run.root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run.config, dump_config(config))  # on --resume, records a changed train.epochs
    write_json(run.stats, stats)
    shutil.copyfile(config.processed_dir / "vocab.txt", run.vocab)
    for optional in run.vocabularies[1:]:
        if (config.processed_dir / optional.name).is_file():
            shutil.copyfile(config.processed_dir / optional.name, optional)
    write_json(run.env, env)


def _seed_and_set_precision(config: Config) -> bool:
    """Seed every generator and set the precision policy of train.precision; returns whether to jit-compile.

    Deterministic ops are asked for only without jit: XLA needs them off (see seed_everything).
    """
    import keras

    from crossmodal_tf.distribute import gpu_count
    from crossmodal_tf.environment import seed_everything

    train_cfg = config.train
    jit = gpu_count() > 0 if train_cfg.jit_compile == "auto" else train_cfg.jit_compile
    seed_everything(config.seed, deterministic=not jit)
    keras.mixed_precision.set_global_policy(train_cfg.precision)
    return jit


def _compiled_model(config: Config, task, stats: dict, strategy, *, steps: int, jit: bool):
    """(the task's model, the model fit trains) built in the strategy's scope, the second compiled.

    They are the same model, unless the image features are cached (a frozen backbone on
    one machine): then fit trains a model from the backbone's output that shares the
    full model's layers after it. steps is the number of batches per epoch.
    """
    from crossmodal_tf.models.feature_cache import cache_applies, features_trainer
    from crossmodal_tf.distribute import is_multi_worker

    train_cfg = config.train
    with strategy.scope():
        model = task.build_model(config, *task.vocab_sizes(stats))
        cached = cache_applies(config, task) and not is_multi_worker(strategy)
        fitted = features_trainer(model) if cached else model
        fitted.compile(optimizer=build_optimizer(train_cfg.optimizer, steps * train_cfg.epochs, steps),
                       loss=task.loss(train_cfg), metrics=task.train_metrics(), jit_compile=jit)
    return model, fitted


def end_epoch_without_steps(model, epoch: int, val_ds, callbacks: list) -> None:
    """Run an epoch's end (validation, then the callbacks' epoch end) for an epoch whose batches are all trained.

    A checkpoint written after an epoch's last batch but before its end (killed or
    Ctrl-C during its validation) resumes here: model.fit cannot run an epoch of zero
    batches (it trains one more step, and the resumed run no longer matches).
    """
    import keras

    hooks = keras.callbacks.CallbackList(callbacks, model=model, epochs=epoch + 1, steps=0, verbose=0)
    hooks.on_train_begin()
    hooks.on_epoch_begin(epoch)
    logs = {}
    if val_ds is not None:
        logs = {f"val_{name}": value for name, value in model.evaluate(val_ds, verbose=0, return_dict=True).items()}
    hooks.on_epoch_end(epoch, logs)
    hooks.on_train_end()


def _restore_position(model, run: RunDir, strategy, *, resume: bool, warn):
    """Where training starts: on resume, the newest readable checkpoint loaded into model; else the beginning."""
    from crossmodal_tf.checkpoints import TrainingPosition, restore_checkpoint

    start = TrainingPosition()
    if resume:
        with strategy.scope():  # the optimizer's slots are distributed variables, like the weights
            model.optimizer.build(model.trainable_variables)  # so that restoring fills the optimizer's state too
        start = restore_checkpoint(model, run.backup, warn=warn) or start
    return start


def _fit_from(start, fit, *, model, steps: int, epochs: int, callbacks: list, checkpoint, strategy,
              run_root: Path) -> None:
    """Call fit for the epochs left after start; Ctrl-C checkpoints and raises TrainingInterrupted.

    fit(first_epoch, last_epoch, skip, steps_per_epoch) runs model.fit over those
    epochs with callbacks (the list this function appends its stopper to).
    """
    from crossmodal_tf.callbacks import StopBetweenSteps
    from crossmodal_tf.distribute import WorkerLost, is_multi_worker, is_peer_failure

    stopper = StopBetweenSteps()
    callbacks.append(stopper)  # last: the other callbacks have seen the step before it stops
    stopper.install()
    try:
        first = start.epochs_done
        if start.steps_in_epoch and first < epochs:
            # a checkpoint taken within an epoch: finish that epoch's remaining batches on their own first
            fit(first, first + 1, skip=start.steps_in_epoch, steps_per_epoch=steps - start.steps_in_epoch)
            first += 1
        if first < epochs and not model.stop_training:
            fit(first, epochs)
        if stopper.requested:  # Ctrl-C during the last validation: training is over, but say so all the same
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        saved = checkpoint.save()
        raise TrainingInterrupted(run_root, checkpoint.position(), saved) from None
    except Exception as exc:
        if is_multi_worker(strategy) and is_peer_failure(exc):
            raise WorkerLost(f"training stopped in epoch {checkpoint.position().epochs_done + 1}: another worker "
                             f"of the cluster failed ({str(exc).strip().splitlines()[0]}); start every worker "
                             "again with --resume") from None
        raise
    finally:
        stopper.restore()


def _finish(config: Config, run: RunDir, model, stats: dict, *, chief: bool, fitted=None) -> dict:
    """Save the best epoch's model (and, on the chief, the learning curves); returns the summary of the run.

    fitted is the model fit trained, when it is not model itself (cached features): the
    best weights are its own, and loading them sets the layers the two share.
    """
    history = run.read_history()
    _refuse_diverged(run, history)
    if run.best_weights.is_file():
        (fitted or model).load_weights(run.best_weights)
    if fitted is not None and fitted is not model:
        from crossmodal_tf.tasks import load_task

        # the features trainer added nodes to the shared layers, and Keras then cannot serialise the
        # full model's graph: save a fresh build of it holding the same weights
        task = load_task(config.task)
        weights, model = model.get_weights(), task.build_model(config, *task.vocab_sizes(stats))
        model.set_weights(weights)
    save_model(model, run.model)
    if chief:
        write_curves(run.root)
    monitor = config.train.checkpoint.monitor
    values = [r[monitor] for r in history if monitor in r]
    best = (max if monitor_mode(monitor) == "max" else min)(values) if values else None
    return {"run_dir": str(run.root), "epochs": len(history), "monitor": monitor, "best": best,
            "examples": stats["counts"]}


def _refuse_diverged(run: RunDir, history: list[dict]) -> None:
    """A CmxError when the last epoch's figures are NaN or infinite (TerminateOnNaN stopped training)."""
    from crossmodal_tf.checkpoints import list_checkpoints

    if history and not all(math.isfinite(v) for v in history[-1].values() if isinstance(v, float)):
        kept = list_checkpoints(run.backup)
        raise CmxError(f"{run.root}: training stopped: the loss became NaN or infinite in epoch "
                       f"{history[-1]['epoch']}; "
                       + (f"the last good checkpoint is {kept[0].relative_to(run.root)}; " if kept else "")
                       + "lower train.optimizer.learning_rate or set train.optimizer.clipnorm")


def train_from_file(path: str, overrides: list[str], **kwargs) -> dict:
    """Load a config file with overrides and train it (the `cmx train` entry point)."""
    return train(load_config(path, overrides, warn=kwargs.get("warn", print)), **kwargs)
