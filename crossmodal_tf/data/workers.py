"""Whole parts of a preprocess pass (work units) in worker processes, results in unit order, progress as they go.

Each unit is a plain picklable value and the function that runs it is a module-level
function, so a unit runs the same in the parent (one worker) as in a worker process:
the results, gathered in unit order, do not depend on the number of workers. A
unit's CmxError (data.on_error: fail) stops that unit only; when every unit is done,
the one that came first in the source is raised (a unit may mark it with `position`),
so the error is the one a single process reading in order would meet first, whatever
the number of workers. Any other error is raised at once; leaving the with block ends
the workers at once.

Workers are forked while the process has not imported TensorFlow (`cmx preprocess`
never does), else spawned: a forked copy of TensorFlow's threads is unsafe (see
encode.py), but a spawned worker first imports Python, numpy, PIL and the config
classes again: 20,000 shapes images with 2 workers took 1.1 s more CPU than with 1
when spawned, 0.1 s when forked (forked workers start with what the parent imported).
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable

Report = Callable[[int], None]  # a unit tells how many of its records it has done, now and then


@contextmanager
def unit_runner(workers: int):
    """A function run(function, units, advance=None) → [function(unit, report) for unit in units], in `workers`
    processes (in this one for 1).

    advance(n) is called in the parent as the units report progress (report(n) in the unit).
    """
    if workers <= 1:
        yield lambda function, units, advance=None: _first_error([_run(function, unit, advance or _ignore)
                                                                  for unit in units])
        return
    context = multiprocessing.get_context(start_method())
    progress = context.Queue()
    with context.Pool(workers, initializer=_start_worker, initargs=(progress,)) as pool:
        yield partial(_run_in_pool, pool, progress)


def start_method() -> str:
    """'fork' where the platform has it and TensorFlow is not imported in this process, else 'spawn'."""
    if "tensorflow" in sys.modules or "fork" not in multiprocessing.get_all_start_methods():
        return "spawn"
    return "fork"


def _run_in_pool(pool, progress, function: Callable, units: Iterable, advance: Report | None = None) -> list:
    """Run the units one at a time per worker (chunksize 1: units are large, and a free worker takes the next)."""
    pending = pool.map_async(partial(_run_unit, function, advance is not None), list(units), chunksize=1)
    while advance is not None and not pending.ready():
        _drain(progress, advance, timeout=0.05)
    results = pending.get()  # raises a unit's unexpected error here
    _drain(progress, advance, timeout=0)  # a last report may come later: the bar is only a bar
    return _first_error(results)


@dataclass(frozen=True)
class _Failed:
    """A unit stopped by a CmxError."""

    error: Exception


def _run(function: Callable, unit: Any, report: Report):
    from crossmodal_tf.errors import CmxError

    try:
        return function(unit, report)
    except CmxError as error:
        return _Failed(error)


def _first_error(results: list) -> list:
    """The results, or the CmxError of the failed unit that came first in the source (its position, else its place
    among the units) raised."""
    failed = [(getattr(r.error, "position", i), i, r.error) for i, r in enumerate(results) if isinstance(r, _Failed)]
    if failed:
        raise min(failed, key=lambda f: f[:2])[2]
    return results


def _drain(progress, advance: Report | None, timeout: float) -> None:
    """Pass the reports waiting in the queue to advance (waiting up to timeout for the first)."""
    try:
        done = progress.get(timeout=timeout) if timeout else progress.get_nowait()
        while True:
            if advance is not None:
                advance(done)
            done = progress.get_nowait()
    except queue_module.Empty:
        pass


def _ignore(done: int) -> None:
    pass


_progress = None  # the queue each worker reports progress to, set once when it starts


def _start_worker(progress) -> None:
    global _progress
    _progress = progress


def _run_unit(function: Callable, reports: bool, unit: Any):
    return _run(function, unit, _progress.put if reports else _ignore)
