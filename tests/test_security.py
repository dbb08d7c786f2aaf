"""Configs and models are data: safe YAML, Keras safe mode, no pickle anywhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir

PACKAGE = Path(__file__).resolve().parents[1] / "crossmodal_tf"


def test_a_model_file_with_python_code_is_refused(tmp_path):
    """A Lambda layer (arbitrary code) in model.keras is a user error, and the code never runs."""
    keras = pytest.importorskip("keras")

    from crossmodal_tf.run import open_run

    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.config.write_text("task: match\n", encoding="utf-8")
    inputs = keras.Input((2,))
    keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs)).save(run.model)
    with pytest.raises(CmxError, match="holds Python code"):
        open_run(run.root).model()


def test_nothing_is_pickled_or_loaded_unsafely():
    """No pickle, no numpy allow_pickle, no yaml.load without the safe loader in the package's source."""
    unsafe = re.compile(r"\bimport pickle\b|\bpickle\.|allow_pickle\s*=\s*True|yaml\.load\(|yaml\.unsafe_load|"
                        r"safe_mode\s*=\s*False|\beval\(|\bexec\(")
    found = [f"{path.relative_to(PACKAGE)}:{number}: {line.strip()}"
             for path in PACKAGE.rglob("*.py")
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if unsafe.search(line)]
    assert not found, found
