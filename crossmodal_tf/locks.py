"""Advisory file locks: one `cmx train` per run directory, one preprocess per output folder, and no
preprocess rewriting a folder that a training is reading.

The locks are fcntl.flock locks on a small file, so the operating system releases
them when their process dies, however it dies (kill -9 included): a lock whose
process is gone is free again. The file records the pid of its holder, for the
message to whoever finds it taken, and is deleted on release. Deleting a lock file
races with a process that opened it just before; so after taking the lock, a process
checks that the path still names the file it locked, and starts over when it does
not. POSIX only; on file systems without flock (some network mounts) the lock is a
no-op.
"""

from __future__ import annotations

import errno
import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

from crossmodal_tf.errors import CmxError

_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)


def _still_there(path: Path, handle) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _take(path: Path, what: str, wait: bool):
    """An open handle of path holding its lock (or no lock where the file system has none)."""
    while True:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise CmxError(f"{what}: in use by another cmx process (pid {holder}); wait for it to finish "
                           "or stop it") from None
        except OSError as exc:
            if exc.errno not in _NO_FLOCK:
                handle.close()
                raise
            return handle  # no flock on this file system: run unlocked rather than not at all
        if _still_there(path, handle):
            return handle
        handle.close()  # its holder deleted it on release while we waited: lock the new file instead


@contextmanager
def exclusive_lock(path: Path, what: str, wait: bool = False):
    """Hold an exclusive lock on path for the with-block; the lock file is gone afterwards.

    Without wait, a lock held by another process is a CmxError naming its pid and
    `what` it guards; with wait, block until it is free.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _take(path, what, wait)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        if _still_there(path, handle):
            path.unlink()  # while still locked, so that nobody can be holding the file we delete
        handle.close()  # closing releases the lock


@contextmanager
def shared_lock(path: Path):
    """Hold a shared lock on path for the with-block: any number of holders, none while someone holds it whole.

    For readers that outlive a quick check, such as a training reading its preprocessed
    folder for hours. The last holder deletes the file (it can tell: only then does its
    shared lock become exclusive without waiting), so nothing is left beside the folder.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        handle = open(path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_SH)
        except OSError as exc:
            if exc.errno not in _NO_FLOCK:
                handle.close()
                raise
            break  # no flock on this file system: read unlocked rather than not at all
        if _still_there(path, handle):
            break
        handle.close()  # the last holder deleted it while we waited: lock the new file instead
    try:
        yield
    finally:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if _still_there(path, handle):
                path.unlink()
        except OSError:
            pass  # other readers still hold it (or no flock): they delete it
        handle.close()  # closing releases the lock


def unread(path: Path, what: str) -> None:
    """Raise CmxError when a shared_lock on path is held (someone reads `what`); return at once otherwise.

    Creates nothing: with no file there is no reader, and a reader that starts later
    checks what it locked (train re-reads the fingerprint under its lock).
    """
    try:
        handle = open(path, "r", encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CmxError(f"{what}: a running cmx train reads it, and this config needs other data there; "
                           "set data.processed to another folder, or wait for that training to finish") from None
        except OSError as exc:
            if exc.errno not in _NO_FLOCK:
                raise
