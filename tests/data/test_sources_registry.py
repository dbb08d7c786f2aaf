"""Every registered data source has what preprocess calls, with the arguments it passes."""

from __future__ import annotations

import inspect

import pytest

from crossmodal_tf.data.sources import SOURCES, load_source


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_source_takes_what_preprocess_passes_and_declares_its_keys(name):
    source = load_source(name)
    # preprocess calls read_records(data_config, seed, skips, needs) positionally
    parameters = list(inspect.signature(source.read_records).parameters)
    assert parameters[:4] == ["data_config", "seed", "skips", "needs"]
    assert callable(source.fingerprint)
    # the config keys it reads beyond every source's, and what its records carry (data/sources/__init__.py)
    assert all(key.startswith("data.") for key in source.READS)
    assert set(source.GIVES) <= {"images", "translations", "documents", "questions"}
