"""Data sources: each module yields Records and nothing else.

A source module provides `read_records(data_config, seed, skips, needs)` and
`fingerprint(data_config)`; its records' load_image must pickle (see Record). needs names what the caller reads, in
SOURCE_GIVES' words (None: all), so that a source may skip making the rest (shapes: questions and documents).
A source that also provides `num_records(data_config)` and `records_at(data_config, seed, indices, skips, needs)`
((index, record) at those positions of read_records' order) is random-access: preprocess workers then read their
own parts of it, and the parent reads no record (see is_random_access).
Adding a source is one module plus one line in each of SOURCES, SOURCE_READS and SOURCE_GIVES; modules are named,
not imported, so the config layer stays light.
"""

import importlib

SOURCES = {
    "shapes": "crossmodal_tf.data.sources.shapes",
    "manifest": "crossmodal_tf.data.sources.manifest",
    "parallel": "crossmodal_tf.data.sources.parallel",
    "coco": "crossmodal_tf.data.sources.coco",
}

# The data keys that only some sources read (every source reads the other data.* keys), and which of them each
# source reads. The config layer refuses the others; preprocess leaves them out of its fingerprint.
SOURCE_KEYS = ("data.path", "data.shapes", "data.negatives.hard_fraction", "data.negatives.train_hard_weights",
               "data.coco")
SOURCE_READS = {
    # generated, so it reads no data.path; its records carry scenes, so it can make hard negatives
    "shapes": ("data.shapes", "data.negatives.hard_fraction", "data.negatives.train_hard_weights"),
    "manifest": ("data.path",),
    "parallel": ("data.path",),
    "coco": ("data.path", "data.coco"),
}

# What each source's records carry beyond texts: images, a translation (target text) of each text, documents
# with summaries (shapes: a paragraph summed up by its captions; parallel: each pair read as document → summary),
# questions with answers (shapes: generated; manifest: qa.jsonl or qa.csv).
SOURCE_GIVES = {
    "shapes": ("images", "translations", "documents", "questions"),
    "manifest": ("images", "questions"),
    "parallel": ("translations", "documents"),
    "coco": ("images",),
}


def load_source(name: str):
    """The source module registered under `name`."""
    return importlib.import_module(SOURCES[name])


def is_random_access(source) -> bool:
    """Whether a source module can give the records at any positions (num_records and records_at)."""
    return callable(getattr(source, "num_records", None)) and callable(getattr(source, "records_at", None))


def source_reads_key(name: str, dotted: str) -> bool:
    """Whether source `name` reads a config key ("data.shapes.num_images"): all read the keys outside SOURCE_KEYS."""
    section = next((s for s in SOURCE_KEYS if dotted == s or dotted.startswith(s + ".")), None)
    return section is None or section in SOURCE_READS[name]
