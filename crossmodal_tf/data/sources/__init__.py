"""Data sources: each module yields Records and nothing else.

A source module provides `read_records(data_config, seed, skips)` and
`fingerprint(data_config)`; its records' load_image must pickle (see Record). Adding a source is one module plus one line here;
modules are named, not imported, so the config layer stays light.
"""

import importlib

SOURCES = {
    "shapes": "crossmodal_tf.data.sources.shapes",
    "manifest": "crossmodal_tf.data.sources.manifest",
    "parallel": "crossmodal_tf.data.sources.parallel",
}


def load_source(name: str):
    """The source module registered under `name`."""
    return importlib.import_module(SOURCES[name])
