"""The batches `cmx train` fits on: shards → tf.data, per worker when a multi-worker strategy trains."""

from __future__ import annotations

from crossmodal_tf.config import Config


def make_training_batches(config: Config, task, strategy, *, count: int, size: int | None, first_epoch: int,
                           last_epoch: int, skip: int, arrange=None, pick=None):
    """The training batches of epochs first_epoch … last_epoch-1 less skip; per worker on a multi-worker strategy.

    strategy None gives the local dataset (its element_spec is what prepare_model needs).
    arrange replaces the task's (cached image features: models/feature_cache.py). pick
    (data.epoch_pick.EpochPick) makes each epoch its own pick of the examples; count is
    then the number stored, not the epoch's.
    """
    from crossmodal_tf.data.pipeline import make_training_dataset
    from crossmodal_tf.distribute import is_multi_worker

    train_cfg = config.train
    kwargs = dict(seed=config.seed, shuffle_buffer=train_cfg.shuffle_buffer, first_epoch=first_epoch,
                  epochs=last_epoch, skip_batches=skip, arrange=arrange or task.arrange,
                  length_window=train_cfg.length_window, cache=config.data.cache, pick=pick)
    if strategy is None or not is_multi_worker(strategy):
        return make_training_dataset(config.processed_dir, "train", count, train_cfg.batch_size, size, **kwargs)

    def worker_batches(context):
        return make_training_dataset(config.processed_dir, "train", count,
                                     context.get_per_replica_batch_size(train_cfg.batch_size), size,
                                     worker=(context.input_pipeline_id, context.num_input_pipelines), **kwargs)

    return strategy.distribute_datasets_from_function(worker_batches)


def make_validation_batches(config: Config, task, strategy, *, count: int, size: int | None, arrange=None):
    """The validation batches, texts of like length together; on a multi-worker strategy every worker evaluates all.

    Keras averages the workers' metric values, so workers that each saw a different
    part would give an AUC that is no one's; the whole split on each gives exactly the
    single-process figures, and the same early-stopping decision on every worker.
    """
    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.distribute import is_multi_worker

    def batches(context=None):
        return make_dataset(config.processed_dir, "val", count, config.eval.batch_size, size,
                            arrange=arrange or task.arrange, cache=config.data.cache,
                            length_window=config.train.length_window)

    return strategy.distribute_datasets_from_function(batches) if is_multi_worker(strategy) else batches()
