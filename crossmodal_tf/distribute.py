"""tf.distribute for train.strategy: picking the strategy, the TF_CONFIG cluster, and what multi-worker Keras needs.

Multi-worker training uses TensorFlow's MultiWorkerMirroredStrategy, configured by the
standard TF_CONFIG environment variable (docs/SCALING.md). Keras 3's model.fit has two
bugs with that strategy (keras-team/keras#20585): it all-reduces a whole nested data
batch to learn its shapes, and it reduces scalar metrics along an axis they do not
have. `prepare_model` and `_reduce_scalars_across_workers` work around both, in the
one place where we know it is needed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from crossmodal_tf.errors import CmxError

# How a dead peer is noticed: TensorFlow pings every worker this often and aborts the
# collectives once a peer fails three pings, so a survivor fails within about half a
# minute instead of hanging in an all-reduce. TensorFlow's own default is 30 s.
PEER_CHECK_INTERVAL_S = 5
# How long a worker waits at start-up for all the others of TF_CONFIG to come up.
CLUSTER_WAIT_S = 600


class WorkerLost(Exception):
    """A multi-worker run stopped because another worker died or never came up (not a user error)."""


@dataclass(frozen=True)
class Cluster:
    """This process's place in a multi-worker run, as TF_CONFIG describes it."""

    num_workers: int
    task_type: str
    task_id: int
    has_chief_job: bool = False

    @property
    def is_chief(self) -> bool:
        """The chief writes the run directory: the `chief` task, or worker 0 when there is none."""
        return self.task_type == "chief" or (self.task_type == "worker" and self.task_id == 0
                                             and not self.has_chief_job)

    @property
    def name(self) -> str:
        return f"{self.task_type} {self.task_id}"


def read_cluster(strategy: str, environ=os.environ) -> Cluster | None:
    """The TF_CONFIG cluster when train.strategy is multi_worker, else None; bad TF_CONFIG is a user error."""
    if strategy != "multi_worker":
        return None
    raw = environ.get("TF_CONFIG")
    if not raw:
        raise CmxError("train.strategy: multi_worker needs the TF_CONFIG environment variable on every worker "
                       "(see docs/SCALING.md)")
    try:
        spec = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CmxError(f"TF_CONFIG: not valid JSON ({exc.msg} at character {exc.pos})") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(isinstance(v, list) and v for v in cluster.values()):
        raise CmxError('TF_CONFIG: "cluster" must map job names to lists of host:port addresses')
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise CmxError(f'TF_CONFIG: "task" must name a job of the cluster ({", ".join(sorted(cluster))}) '
                       'as {"type": ..., "index": ...}')
    index = task.get("index", 0)
    if not isinstance(index, int) or not 0 <= index < len(cluster[task["type"]]):
        raise CmxError(f'TF_CONFIG: task index {index!r} is not in 0..{len(cluster[task["type"]]) - 1} '
                       f'for job "{task["type"]}"')
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    return Cluster(num_workers=workers, task_type=task["type"], task_id=index, has_chief_job="chief" in cluster)


def local_tf_configs(count: int) -> list[str]:
    """TF_CONFIG values for a cluster of `count` workers on 127.0.0.1, one per worker (index order).

    The ports are free when chosen; start the workers soon after. For trying multi_worker
    on one machine, and for the tests and benchmarks that do.
    """
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    workers = [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]
    for s in sockets:
        s.close()
    return [json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
            for i in range(count)]


def gpu_count() -> int:
    """The GPUs TensorFlow sees on this machine."""
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def make_strategy(name: str, cluster: Cluster | None = None):
    """The tf.distribute strategy for train.strategy (auto: mirrored on several GPUs, else the default).

    multi_worker must be created before any other TensorFlow op of the process runs:
    TensorFlow configures its collective ops when it starts up.
    """
    import tensorflow as tf

    if name == "multi_worker":
        return _multi_worker_strategy(cluster)
    gpus = gpu_count()
    if name == "mirrored" or (name == "auto" and gpus > 1):
        return tf.distribute.MirroredStrategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def _multi_worker_strategy(cluster: Cluster | None):
    import tensorflow as tf
    from tensorflow.python.distribute import collective_all_reduce_strategy as collective

    # Class attributes are TensorFlow's only knobs for the peer health check (see the module docstring).
    collective.CollectiveAllReduceExtended._check_health_interval = PEER_CHECK_INTERVAL_S
    collective.CollectiveAllReduceExtended._check_health_initial_timeout = CLUSTER_WAIT_S
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as exc:
        if "Timeout waiting for the cluster" not in str(exc):
            raise
        raise WorkerLost(f"{cluster.name if cluster else 'this worker'}: the other workers of TF_CONFIG did not all "
                         f"come up within {CLUSTER_WAIT_S} s; start cmx train on every worker") from None
    _reduce_scalars_across_workers()
    return strategy


def is_multi_worker(strategy) -> bool:
    """Whether the strategy spans several worker processes."""
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


def prepare_model(model, strategy, local_dataset) -> None:
    """Build a compiled model's metrics and loss from a local batch spec, so fit need not all-reduce a batch.

    Only for multi-worker strategies: Keras would otherwise reduce the first batch of
    the distributed dataset, a nested structure that the collective strategy cannot
    reduce (keras-team/keras#20585). local_dataset() gives an undistributed dataset
    of the same batches; it is only called here.
    """
    if not is_multi_worker(strategy):
        return
    with strategy.scope():
        model._symbolic_build(data_batch=local_dataset().element_spec)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _reduce_scalars_across_workers() -> None:
    """Make Keras average the per-worker metric values elementwise, not along an axis 0 that scalars lack."""
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "cmx_patched", False):
        return
    original = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            import tensorflow as tf

            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.cmx_patched = True
    trainer.reduce_per_replica = reduce_per_replica


def is_peer_failure(exc: BaseException) -> bool:
    """Whether an error from model.fit means another worker died (TensorFlow aborted the collectives)."""
    import tensorflow as tf

    return isinstance(exc, (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError)) \
        or "Collective ops is aborted" in str(exc)
