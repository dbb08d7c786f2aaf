"""Atomic writes: a file or a folder appears whole under its name, or not at all.

Everything is first written under a hidden temporary name beside the target
(`.<name>.tmp-…`), flushed to disk, and then renamed into place; a rename within
one folder is atomic, so a kill at any moment leaves either the old content or
the new, never half of it. On an error the temporary is removed. A folder that
already exists is first moved aside (`.<name>.old-<pid>`) and deleted after the
new one is in place. remove_leftovers cleans up what a killed process left.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FILE_MODE = 0o644  # mkstemp makes files only their owner can read; ours are ordinary files


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write bytes to path via a temporary file in the same folder and a rename."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path, text: str) -> None:
    """Write text to path (UTF-8) via a temporary file in the same folder and a rename."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextmanager
def atomic_file(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside path; when the block succeeds it is synced and renamed to path.

    For writers that want a file name (keras model.save, np.savez): suffix ends the
    temporary name, since some writers choose the format by it (".keras", ".npz",
    ".weights.h5"). The file exists (empty) when the block starts. When the block
    raises, the temporary file is removed and path is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-", suffix=suffix)
    tmp = Path(name)
    try:
        os.close(fd)
        yield tmp
        os.chmod(tmp, FILE_MODE)  # after the writer: one that recreates the file would lose an earlier chmod
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside target; when the block succeeds it replaces target.

    Every file in it is synced before the rename. An existing target is swapped
    out whole, so readers see the old folder or the new one, never a mix. When the
    block raises, the temporary folder is removed and target is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)  # left by an earlier process that had the same pid
    tmp.mkdir()
    try:
        yield tmp
        _fsync_tree(tmp)
        _swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_leftovers(folder: Path) -> None:
    """Delete the temporary and moved-aside files and folders that interrupted atomic writes left in folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for pattern in (".*.tmp-*", ".*.old-*"):
        for path in folder.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _swap_into_place(new: Path, target: Path) -> None:
    """Rename new to target, moving an existing target aside first and deleting it afterwards."""
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's content to disk (a folder's: its list of names)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Flush every file and folder under folder, and folder itself, to disk."""
    for root, _, files in os.walk(folder):
        for name in files:
            _fsync(Path(root) / name)
        _fsync(Path(root))
