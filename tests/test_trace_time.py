"""benchmarks/trace_time.py: a tf.profiler trace's thread time per kernel and category, behind RESULTS.md's profile."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import trace_time  # noqa: E402  (benchmarks/ is not a package)

CONV = ("StatefulPartitionedCall/gradient_tape/match_model_1/image_conv_1_1/convolution/Conv2DBackpropFilter:"
        "_MklNativeConv2DBackpropFilter")
LSTM = ("StatefulPartitionedCall/match_model_1/text_lstm_0_1/while/body/_107/match_model_1/text_lstm_0_1/while/"
        "lstm_cell_1/MatMul:_MklMatMul")
GET_NEXT = "IteratorGetNext:IteratorGetNext"


class Trace:
    """Builds an XSpace of one host plane; times are in µs."""

    def __init__(self):
        from tensorflow.tsl.profiler.protobuf import xplane_pb2

        self.space = xplane_pb2.XSpace()
        self.plane = self.space.planes.add(name="/host:CPU")
        self.ids = {}

    def _id(self, table, name):
        key = (id(table), name)
        if key not in self.ids:
            self.ids[key] = len(self.ids) + 1
            table[self.ids[key]].name = name
        return self.ids[key]

    def line(self, name):
        return self.plane.lines.add(name=name)

    def event(self, line, name, start, duration=0.0, **stats):
        event = line.events.add(metadata_id=self._id(self.plane.event_metadata, name),
                                offset_ps=int(start * 1e6), duration_ps=int(duration * 1e6))
        for key, value in stats.items():
            event.stats.add(metadata_id=self._id(self.plane.stat_metadata, key), int64_value=value)


def example_trace():
    trace = Trace()
    python = trace.line("python")
    trace.event(python, "Profiled batch", 0, 100)
    trace.event(python, "convert_to_tensor", 1, 4)          # Keras' loop: 4 µs
    trace.event(python, "multi_step_on_iterator", 10, 85)  # waiting for the step: not counted
    trace.event(python, "KernelAndDeviceFunc::Run", 11, 83)
    compute = trace.line("tf_Compute/1")
    trace.event(compute, "ExecutorState::Process", 10, 45)  # 5 µs around the kernel: charged to it
    trace.event(compute, CONV, 12, 40)                      # 40 µs, of which 10 in ParallelFor (still the kernel's)
    trace.event(compute, "ParallelFor", 20, 10)
    trace.event(compute, "ThreadpoolListener::Record", 21, _p=7)
    trace.event(compute, GET_NEXT, 55, 3)                   # the step waits for its batch
    trace.event(compute, "ExecutorState::Process", 60, 30)  # 10 µs around two kernels: charged to the first
    trace.event(compute, LSTM, 62, 12)
    trace.event(compute, LSTM.replace("MatMul:", "Tanh:").replace("_MklMatMul", "Tanh"), 75, 8)
    eigen = trace.line("tf_numa_-1_Eigen/2")
    trace.event(eigen, "ThreadpoolListener::StartRegion", 22, _c=7)  # 15 µs of the convolution's split-off work
    trace.event(eigen, "ThreadpoolListener::Record", 25, _p=8)
    trace.event(eigen, "ThreadpoolListener::StopRegion", 37)
    trace.event(eigen, "ThreadpoolListener::StartRegion", 38, _c=8)  # 2 µs split off again: still the convolution
    trace.event(eigen, "ThreadpoolListener::StopRegion", 40)
    tf_data = trace.line("tf_data_iterator_get_next/3")
    trace.event(tf_data, "IteratorGetNextOp::DoCompute", 50, 6)
    trace.event(tf_data, "Iterator::Root::Prefetch", 51, 4)
    return trace.space


def test_each_kernel_gets_its_own_time_its_regions_and_the_executor_around_it():
    times = trace_time.thread_times(example_trace())

    assert times[CONV] == pytest.approx(40 + 5 + 15 + 2)
    assert times[LSTM] == pytest.approx(12 + 10)
    assert times[trace_time.INPUT] == pytest.approx(6)  # the tf.data thread
    assert times[GET_NEXT] == pytest.approx(3)
    assert times[trace_time.KERAS_LOOP] == pytest.approx(4 + (100 - 4 - 85))
    assert trace_time.EXECUTOR not in times


def test_without_regions_a_kernel_counts_once_for_its_latency():
    times = trace_time.thread_times(example_trace(), regions=False)

    assert times[CONV] == pytest.approx(40 + 5)


def test_categories_follow_the_layer_names_and_op_types():
    categories = trace_time.category_times(trace_time.thread_times(example_trace()))

    assert categories["convolutions"] == pytest.approx(62)
    assert categories["LSTM (forward and backward loops)"] == pytest.approx(22 + 8)
    assert categories["input pipeline"] == pytest.approx(6 + 3)
    assert list(categories)[0] == "convolutions"  # largest first
    assert trace_time.category("StatefulPartitionedCall/adam/Sqrt_33:Sqrt").startswith("optimizer")
    assert trace_time.category("StatefulPartitionedCall/caption_model_1/image_bn_0_1/FusedBatchNormV3:"
                               "_MklNativeFusedBatchNormEx") == "batch normalisation"
    assert trace_time.category("StatefulPartitionedCall/match_model_1/fusion_dense_0_1/Relu:"
                               "_MklNativeFusedMatMul") == "dense layers"
    assert trace_time.category("StatefulPartitionedCall/AddN_14:AddN") == trace_time.OTHER


def test_step_seconds_are_the_profiled_batches():
    assert trace_time.step_seconds(example_trace()) == [pytest.approx(100e-6)]


@pytest.mark.slow  # trains the tiny config for two epochs
def test_train_profile_batches_writes_a_trace_of_the_model_s_kernels(tiny_config):
    """train.profile_batches traces those batches of `cmx train`; the trace holds the model's convolutions and LSTM."""
    from crossmodal_tf.stages.train import train

    summary = train(tiny_config("train.epochs=2", "train.batch_size=16", "train.profile_batches=[6, 8]"),
                    progress="none")
    space = trace_time.read_space(Path(summary["run_dir"]) / "tensorboard")
    categories = trace_time.category_times(trace_time.thread_times(space))

    assert len(trace_time.step_seconds(space)) == 3
    assert categories["convolutions"] > 0 and categories["LSTM (forward and backward loops)"] > 0
