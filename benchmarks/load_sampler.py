"""The machine's 1-minute load average, sampled in the background while a benchmark runs its work."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

LOAD_EVERY_S = 15


@contextmanager
def sampled_load(every_s: float = LOAD_EVERY_S):
    """Yield a list that fills with the 1-minute load average every `every_s` seconds until the block ends."""
    loads: list[float] = []
    stop = threading.Event()

    def watch():
        while not stop.wait(every_s):
            loads.append(os.getloadavg()[0])

    threading.Thread(target=watch, daemon=True).start()
    try:
        yield loads
    finally:
        stop.set()


def load_range(loads: list[float]) -> list[float]:
    """[lowest, highest] of the samples, [0, 0] when there were none."""
    return [min(loads, default=0.0), max(loads, default=0.0)]
