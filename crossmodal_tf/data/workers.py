"""Whole parts of a preprocess pass (work units) in worker processes, results in unit order, progress as they go.

Each unit is a plain picklable value and the function that runs it is a module-level
function, so a unit runs the same in the parent (one worker) as in a worker process:
the results, in unit order, do not depend on the number of workers. They are handed
over one at a time as they arrive, for the caller to merge and drop: the parent then
holds the results of the few units the workers are ahead by, not of every unit (pass 1's
blocks each carry caption pools of up to preprocess.POOL_SIZE captions per split: gathered whole,
they grew the parent with the number of blocks). A unit's CmxError (data.on_error: fail)
stops that unit only; no result is handed over after it, and when every unit is done
the one that came first in the source is raised (a unit may mark it with `position`),
so the error is the one a single process reading in order would meet first, whatever
the number of workers. Any other error is raised when its unit's turn comes; leaving
the with block ends the workers at once.

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
from typing import Any, Callable, Iterable, Iterator

Report = Callable[[int], None]  # a unit tells how many of its records it has done, now and then


@contextmanager
def unit_runner(workers: int):
    """A function run(function, units, advance=None) → an iterator over function(unit, report) for each unit, in
    unit order, each result as soon as it and those before it are done; in `workers` processes (in this one for 1).

    advance(n) is called in the parent as the units report progress (report(n) in the unit).
    """
    if workers <= 1:
        yield lambda function, units, advance=None: _until_failed(_run(function, unit, advance or _ignore)
                                                                  for unit in units)
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


def _run_in_pool(pool, progress, function: Callable, units: Iterable, advance: Report | None = None) -> Iterator:
    """Run the units one at a time per worker (chunksize 1: units are large, and a free worker takes the next)."""
    results = pool.imap(partial(_run_unit, function, advance is not None), units, chunksize=1)
    return _until_failed(_arriving(results, progress, advance))


def _arriving(results, progress, advance: Report | None) -> Iterator:
    """The pool's results in unit order as they come, passing the progress reports to advance while waiting."""
    while True:
        try:
            result = results.next(timeout=0.05)  # raises a unit's unexpected error here
        except multiprocessing.TimeoutError:
            _drain(progress, advance)
            continue
        except StopIteration:
            break
        _drain(progress, advance)
        yield result
    _drain(progress, advance)  # a last report may come later: the bar is only a bar


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


def _until_failed(results: Iterable) -> Iterator:
    """The results up to the first failed unit; when all are done, the CmxError of the failed unit that came first in
    the source (its position, else its place among the units) raised."""
    failed = []
    for place, result in enumerate(results):
        if isinstance(result, _Failed):
            failed.append((getattr(result.error, "position", place), place, result.error))
        elif not failed:
            yield result
    if failed:
        raise min(failed, key=lambda f: f[:2])[2]


def _drain(progress, advance: Report | None) -> None:
    """Pass the reports waiting in the queue to advance."""
    try:
        while True:
            done = progress.get_nowait()
            if advance is not None:
                advance(done)
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
