"""Where a tf.profiler trace of training steps spends its threads' time: each TensorFlow kernel's, by category.

A trace (.xplane.pb, as `tf.profiler.experimental` and Keras' TensorBoard callback
write it) holds one line of nested events per thread:
- inter-op threads (tf_Compute): the executor's `ExecutorState::Process` enclosing the
  kernels it runs, each named "op name:op type" (the op name carries the Keras layer);
- intra-op threads (Eigen): regions of work that a kernel split off, linked to the
  kernel by a producer id (a `Record` event inside the kernel, the same id on the
  region's `StartRegion`);
- tf.data threads: the iterator's stages;
- the Python thread: Keras' loop, enclosing the call of the compiled step.

Each event's own time is its duration less that of the events nested directly in it.
A kernel is charged its own time, the own time of what runs inside it (allocations,
ParallelFor), its regions on the intra-op threads and the executor's time around it
(an `ExecutorState::Process` that ran several kernels is charged to its first one);
tf.data threads and the step's wait for the next batch are the input pipeline; the
Python thread's time outside the compiled step is Keras' loop and callbacks; its time
inside is waiting, not counted. The sum is thread-busy time, not CPU time: a kernel
that splits its work waits for its regions while they run, so such kernels (large
convolutions and products) count up to twice their CPU time when both cores run them.
On shared cores a thread preempted inside a kernel also counts the wait. Read shares.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path

# (category, pattern on a kernel's "op name:op type"), first match wins. Op names hold
# the Keras layer names (models/branches.py, models/decoder.py, models/fusion.py).
CATEGORIES = (
    ("input pipeline", re.compile(r":(IteratorGetNext\w*|MultiDeviceIteratorGetNext\w*)$")),
    ("optimizer (Adam, clipping)", re.compile(r"(^|/)(adam|adamw|sgd|rmsprop)(_\d+)?/")),
    ("LSTM (forward and backward loops)", re.compile(r"_lstm_\d+")),
    ("convolutions", re.compile(r":\w*Conv2D\w*$")),
    ("batch normalisation", re.compile(r"(^|/)\w*_bn_\d+")),
    ("image branch: pooling, ReLU, positions", re.compile(r"(^|/)image_")),
    ("dense layers", re.compile(r":(\w*MatMul\w*|BiasAdd\w*)$")),
)
INPUT = CATEGORIES[0][0]
KERAS_LOOP = "Keras loop and callbacks (Python)"
EXECUTOR = "TensorFlow executor between kernels"
OTHER = "other"
KERNEL = re.compile(r"^(?!.*::)[^:]+:\w+$")  # "op name:op type", not "Class::method"
STEP_CALL = "multi_step_on_iterator"  # Keras' compiled training step (an event on the Python thread)


def category(kernel: str) -> str:
    """The category of a kernel named "op name:op type" (see CATEGORIES), OTHER when none applies."""
    for label, pattern in CATEGORIES:
        if pattern.search(kernel):
            return label
    return OTHER


class _Plane:
    """Names and stats of one XPlane's events."""

    def __init__(self, plane):
        self.plane = plane
        self.names = {key: meta.name for key, meta in plane.event_metadata.items()}
        self.stat_names = {key: meta.name for key, meta in plane.stat_metadata.items()}

    def name(self, event) -> str:
        return self.names[event.metadata_id]

    def stat(self, event, key: str):
        for stat in event.stats:
            if self.stat_names[stat.metadata_id] == key:
                return stat.int64_value or stat.uint64_value
        return None


def thread_times(space, regions: bool = True) -> collections.Counter:
    """{kernel name, or INPUT, KERAS_LOOP, EXECUTOR: µs of thread-busy time} over the host plane of an XSpace.

    regions False leaves out the intra-op threads: each kernel then counts once, for
    as long as it held its inter-op thread (its latency, waits for its regions included).
    """
    total: collections.Counter = collections.Counter()
    for plane in space.planes:
        view = _Plane(plane)
        owners: dict[int, str] = {}  # producer id → the kernel that split off that work
        split_off = []
        for line in plane.lines:
            if "Eigen" in line.name:
                split_off += _regions(view, line) if regions else []
            else:
                _charge_line(view, line, total, owners)
        # regions in time order: a region's own Records name work it splits off further
        for start, stop, consumer, records in sorted(split_off, key=lambda r: r[0]):
            owner = owners.get(consumer, OTHER)
            total[owner] += (stop - start) / 1e6
            for producer in records:
                owners[producer] = owner
    return total


def _regions(view: _Plane, line) -> list[tuple[int, int, int, list[int]]]:
    """(start ps, stop ps, consumer id, producer ids recorded inside) of each region of work on an intra-op thread."""
    regions, current = [], None
    for event in sorted(line.events, key=lambda e: e.offset_ps):
        name = view.name(event)
        if name.endswith("StartRegion"):
            current = [event.offset_ps, None, view.stat(event, "_c"), []]
        elif name.endswith("StopRegion") and current is not None:
            current[1] = event.offset_ps
            regions.append(tuple(current))
            current = None
        elif name.endswith("Record") and current is not None:
            current[3].append(view.stat(event, "_p"))
    return regions


def _charge_line(view: _Plane, line, total: collections.Counter, owners: dict[int, str]) -> None:
    """Add one inter-op, tf.data or Python thread's own times to total (see the module's docstring)."""
    tf_data = line.name.startswith("tf_data")
    python = line.name == "python"
    # stack of [end ps, name, kernel it belongs to (or None), ps of direct children, duration ps, in step call,
    # first kernel directly inside it]
    stack: list[list] = []

    def close(entry):
        _, name, kernel, children, duration, in_step = entry[:6]
        own = max(0, duration - children) / 1e6
        if tf_data:
            total[INPUT] += own
        elif kernel is not None:
            total[kernel] += own
        elif name == "ExecutorState::Process":
            # the executor's work around the kernels it ran: charged to the first of them, so that a loop
            # of many small kernels shows what running them costs; none ran: between kernels
            total[entry[6] or EXECUTOR] += own
        elif python and not in_step and name != STEP_CALL:
            total[KERAS_LOOP] += own

    for event in sorted(line.events, key=lambda e: (e.offset_ps, -e.duration_ps)):
        start = event.offset_ps
        while stack and stack[-1][0] <= start:
            close(stack.pop())
        name = view.name(event)
        parent = stack[-1] if stack else None
        is_kernel = bool(KERNEL.match(name))
        if parent is not None:
            parent[3] += event.duration_ps
            if is_kernel and parent[6] is None:
                parent[6] = name
        kernel = name if is_kernel else parent[2] if parent is not None else None
        in_step = parent is not None and (parent[5] or parent[1] == STEP_CALL)
        if name.endswith("Record"):
            owners[view.stat(event, "_p")] = kernel or (INPUT if tf_data else OTHER)
        stack.append([start + event.duration_ps, name, kernel, 0, event.duration_ps, in_step, None])
    while stack:
        close(stack.pop())


def read_space(logdir: str | Path):
    """The newest .xplane.pb under logdir as an XSpace."""
    # the trace's protobuf ships with TensorFlow; no profiler plugin is needed to read it
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    files = sorted(Path(logdir).rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f"{logdir}: no .xplane.pb trace")
    space = xplane_pb2.XSpace()
    space.ParseFromString(files[-1].read_bytes())
    return space


def step_seconds(space, marker: str = "Profiled batch") -> list[float]:
    """Wall seconds of each traced training step (Keras' TensorBoard callback marks each with an event)."""
    return [event.duration_ps / 1e12 for plane in space.planes for line in plane.lines for event in line.events
            if plane.event_metadata[event.metadata_id].name == marker]


def category_times(times: collections.Counter) -> dict[str, float]:
    """{category: µs} from thread_times' {kernel or category: µs}, largest first."""
    sums: collections.Counter = collections.Counter()
    for name, us in times.items():
        sums[category(name) if KERNEL.match(name) else name] += us
    return dict(sums.most_common())
