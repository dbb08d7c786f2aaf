"""The preprocess stage: a config file → its preprocessed folder, made unless up to date (preprocessing.py does
the work, which the train stage also asks for before it trains)."""

from __future__ import annotations

from crossmodal_tf.config import load_config
from crossmodal_tf.preprocessing import preprocess


def preprocess_from_file(path: str, overrides: list[str], *, force: bool = False, quiet: bool = True,
                         warn=print) -> dict:
    """Load a config with overrides and preprocess its data; returns the stats, with 'reused' and 'processed'."""
    config = load_config(path, overrides, warn=warn)
    return {**preprocess(config, force=force, quiet=quiet), "processed": str(config.processed_dir)}
