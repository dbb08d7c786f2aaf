"""Shared test helpers: the tiny config, loaded the way users load configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of test output

try:  # property tests draw the same examples on every run, so CI's verdict does not depend on luck
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("repeatable", derandomize=True)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
except ImportError:
    pass

TESTS = Path(__file__).resolve().parent
TINY_CONFIG = TESTS / "configs" / "tiny_match.yaml"


def load_tiny(root: Path, *sets: str):
    """tests/configs/tiny_match.yaml with its data and runs under `root`, plus `--set` overrides."""
    from crossmodal_tf.config import load_config

    root = Path(root)
    paths = [f"data.path={root / 'raw'}", f"data.processed={root / 'processed'}", f"output.dir={root / 'runs'}"]
    return load_config(TINY_CONFIG, [*paths, *sets])


@pytest.fixture(scope="session")
def tiny_loader():
    """load_tiny, for module-scoped fixtures that make their own folder."""
    return load_tiny


@pytest.fixture
def tiny_config(tmp_path):
    """A factory: tiny_config(*sets) → Config whose data and runs live in this test's tmp_path."""
    return lambda *sets: load_tiny(tmp_path, *sets)
