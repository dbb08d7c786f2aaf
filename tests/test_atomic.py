"""Atomic writes: whole or not at all, no temporary names left behind, ordinary permissions."""

from __future__ import annotations

import stat

import pytest

from crossmodal_tf.atomic import atomic_directory, atomic_file, remove_leftovers, write_text_atomic


class Failed(Exception):
    pass


def test_write_text_atomic_replaces_the_file_with_ordinary_permissions(tmp_path):
    """The new text replaces the old; the file is readable by all (mkstemp's default is owner-only)."""
    path = tmp_path / "sub" / "config.yaml"
    write_text_atomic(path, "old\n")
    write_text_atomic(path, "néw\n")
    assert path.read_text(encoding="utf-8") == "néw\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]


def test_atomic_file_keeps_the_old_file_when_the_writer_fails(tmp_path):
    """A writer that raises leaves the previous file and no temporary; the suffix ends the temporary name."""
    path = tmp_path / "model.keras"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(Failed), atomic_file(path, suffix=".keras") as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".model.keras.tmp-") and tmp.name.endswith(".keras")
        tmp.write_text("half", encoding="utf-8")
        raise Failed
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_atomic_directory_swaps_the_whole_folder(tmp_path):
    """A new folder replaces the old one whole: no file of the old one survives, no temporary is left."""
    target = tmp_path / "processed"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1", encoding="utf-8")
        (tmp / "b.txt").write_text("1", encoding="utf-8")
    with atomic_directory(target) as tmp:
        assert not any(tmp.iterdir())
        (tmp / "a.txt").write_text("2", encoding="utf-8")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]
    assert (target / "a.txt").read_text(encoding="utf-8") == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["processed"]


def test_atomic_directory_keeps_the_old_folder_when_the_block_fails(tmp_path):
    target = tmp_path / "processed"
    with atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("1", encoding="utf-8")
    with pytest.raises(Failed), atomic_directory(target) as tmp:
        (tmp / "a.txt").write_text("2", encoding="utf-8")
        raise Failed
    assert (target / "a.txt").read_text(encoding="utf-8") == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["processed"]


def test_remove_leftovers_deletes_only_what_interrupted_writes_left(tmp_path):
    """Temporary and moved-aside files and folders go; everything else stays."""
    (tmp_path / ".step-000000004.tmp-123").mkdir()
    (tmp_path / ".step-000000002.old-123").mkdir()
    (tmp_path / ".best.weights.h5.tmp-x1y2.weights.h5").write_bytes(b"half")
    (tmp_path / "step-000000002").mkdir()
    (tmp_path / "notes.tmp-1").write_text("mine", encoding="utf-8")
    remove_leftovers(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.tmp-1", "step-000000002"]
