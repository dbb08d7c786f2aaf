"""Every registered data source has what preprocess calls, with the arguments it passes."""

from __future__ import annotations

import inspect

import pytest

from crossmodal_tf.data.sources import SOURCE_GIVES, SOURCE_READS, SOURCES, load_source


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_a_source_takes_what_preprocess_passes_and_is_in_every_table(name):
    source = load_source(name)
    # preprocess calls read_records(data_config, seed, skips, needs) positionally
    parameters = list(inspect.signature(source.read_records).parameters)
    assert parameters[:4] == ["data_config", "seed", "skips", "needs"]
    assert callable(source.fingerprint)
    assert name in SOURCE_READS and name in SOURCE_GIVES
