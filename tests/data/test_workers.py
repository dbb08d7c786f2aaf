"""The unit runner hands each unit's result over as it arrives, and preprocess merges each pass-1 block before the
next arrives: the parent holds a few blocks' results at a time, not all of them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crossmodal_tf.data.workers import unit_runner
from crossmodal_tf.errors import CmxError

WAIT_S = 10  # long enough for a loaded machine; a runner that gathers every result first makes each unit wait it out


def wait_for_the_one_before(unit: tuple[Path, int], report) -> tuple[int, bool]:
    """Unit i (after the first): (i, whether the caller had received unit i - 1's result within WAIT_S)."""
    folder, i = unit
    deadline = time.monotonic() + WAIT_S
    while i and not (folder / str(i - 1)).exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return i, i == 0 or (folder / str(i - 1)).exists()


def meet_the_other(unit: tuple[Path, int], report) -> bool:
    """Mark this unit as started, then whether the other unit (0 or 1) started within WAIT_S."""
    folder, i = unit
    (folder / f"started-{i}").touch()
    deadline = time.monotonic() + WAIT_S
    while not (folder / f"started-{1 - i}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    return (folder / f"started-{1 - i}").exists()


def fail_some(unit: tuple[int, int | None], report) -> int:
    """The unit's number, or a CmxError placed at `position` in the source."""
    i, position = unit
    if position is not None:
        error = CmxError(f"unit {i} failed")
        error.position = position
        raise error
    return i


@pytest.mark.parametrize("workers", [1, 2])
def test_each_result_is_handed_over_before_the_next_unit_needs_it(tmp_path, workers):
    """Every unit after the first waits until the caller has received the result of the unit before it: it finishes
    only if the runner hands results over as they come, in unit order."""
    received = []
    with unit_runner(workers) as run:
        for i, saw_the_one_before in run(wait_for_the_one_before, [(tmp_path, i) for i in range(4)]):
            (tmp_path / str(i)).touch()
            received.append((i, saw_the_one_before))
    assert received == [(0, True), (1, True), (2, True), (3, True)]


def test_two_workers_run_two_units_at_once(tmp_path):
    """Handing results over one by one does not serialise the workers: each of two units waits for the other to
    start, which only works if both run at the same time."""
    with unit_runner(2) as run:
        assert list(run(meet_the_other, [(tmp_path, 0), (tmp_path, 1)])) == [True, True]


@pytest.mark.parametrize("workers", [1, 2])
def test_no_result_after_a_failed_unit_and_the_first_error_in_the_source_is_raised(workers):
    """Units 2 and 4 fail, unit 4 earlier in the source (position 3 against 9): the results of units 0 and 1 are
    handed over, none after, and unit 4's error is raised once every unit is done."""
    received = []
    with unit_runner(workers) as run, pytest.raises(CmxError, match="unit 4 failed"):
        for result in run(fail_some, [(0, None), (1, None), (2, 9), (3, None), (4, 3), (5, None)]):
            received.append(result)
    assert received == [0, 1]


def test_preprocess_merges_each_pass_1_block_before_the_next_is_scanned(tiny_config, monkeypatch):
    """With one worker (units run as the caller asks for them), pass 1's blocks of a random-access source alternate
    scan, merge, scan, merge: no block's result waits for the others."""
    import crossmodal_tf.preprocessing as module

    events = []
    scan_unit, merge = module._scan_unit, module.TextScan.merge

    def logged_scan(unit, report=None):
        events.append(("scan", unit[2]))
        return scan_unit(unit, report)

    def logged_merge(self, other):
        events.append(("merge", sum(other.images.values())))
        return merge(self, other)

    monkeypatch.setattr(module, "MIN_SCAN_BLOCK", 15)
    monkeypatch.setattr(module, "_scan_unit", logged_scan)
    monkeypatch.setattr(module.TextScan, "merge", logged_merge)
    stats = module.preprocess(tiny_config("data.shapes.num_images=50", "data.workers=1"))
    assert sum(stats["images"].values()) == 50
    assert events == [("scan", 0), ("merge", 15), ("scan", 15), ("merge", 15), ("scan", 30), ("merge", 15),
                      ("scan", 45), ("merge", 5)]
