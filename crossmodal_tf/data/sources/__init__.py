"""Data sources: each module yields Records and nothing else.

A source module provides `read_records(data_config, seed, skips, needs)` and
`fingerprint(data_config)`; its records' load_image must pickle (see Record). needs names what the caller reads, in
GIVES' words (None: all), so that a source may skip making the rest (shapes: questions and documents).
It also declares READS, the config keys it reads beyond those every source reads (a key one source declares is
refused with the others: the config layer asks source_reads_key), and GIVES, what its records carry beyond texts
(images, translations, documents, questions; a task's needs are checked against it).
A source that also provides `num_records(data_config)` and `records_at(data_config, seed, indices, skips, needs)`
((index, record) at those positions of read_records' order) is random-access: preprocess workers then read their
own parts of it, and the parent reads no record (see is_random_access).
Adding a source is one module plus one line in SOURCES; modules are named and imported when asked.
"""

import importlib

from crossmodal_tf.keys import reads_key

SOURCES = {
    "shapes": "crossmodal_tf.data.sources.shapes",
    "manifest": "crossmodal_tf.data.sources.manifest",
    "parallel": "crossmodal_tf.data.sources.parallel",
    "coco": "crossmodal_tf.data.sources.coco",
}


def load_source(name: str):
    """The source module registered under `name`."""
    return importlib.import_module(SOURCES[name])


def is_random_access(source) -> bool:
    """Whether a source module can give the records at any positions (num_records and records_at)."""
    return callable(getattr(source, "num_records", None)) and callable(getattr(source, "records_at", None))


def source_gives(name: str) -> tuple[str, ...]:
    """What source `name`'s records carry beyond texts: of images, translations, documents, questions."""
    return load_source(name).GIVES


def source_reads_key(name: str, dotted: str) -> bool:
    """Whether source `name` reads a config key ("data.shapes.num_images"): a key some source declares in its
    READS is read by those sources alone; every source reads the others."""
    return reads_key(load_source(name).READS, [load_source(other).READS for other in SOURCES], dotted)
