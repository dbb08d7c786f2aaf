"""Keep TensorFlow's native start-up log lines off the user's terminal.

TensorFlow's C++ runtime writes lines such as "I0000 ... oneDNN custom operations
are on" straight to file descriptor 2 before absl logging is configured, so
TF_CPP_MIN_LOG_LEVEL does not silence them. We route fd 2 through a pipe and drop
only lines of that shape; everything else (our messages, Python warnings,
tracebacks) passes through unchanged. `cmx --debug` leaves stderr alone.
"""

from __future__ import annotations

import os
import re
import sys
import threading

_NATIVE_LINE = re.compile(rb"^([IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [\w.]+:\d+\]|WARNING: All log messages before absl|"
                          rb"To enable the following instructions: |I0000 |W0000 |E0000 )")


class NativeLogFilter:
    """Filters fd 2 while active; `close()` restores it and flushes what is left."""

    def __init__(self):
        self.original = os.dup(2)
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self.thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self.thread.start()

    def _pump(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as source:
            for line in source:
                if not _NATIVE_LINE.match(line):
                    os.write(self.original, line)

    def close(self) -> None:
        sys.stderr.flush()
        os.dup2(self.original, 2)  # closes the pipe's last write end: the pump sees EOF
        self.thread.join(timeout=2)
        os.close(self.original)
