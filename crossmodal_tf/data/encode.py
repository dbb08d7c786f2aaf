"""Pass 2's per-image work: pixels, token ids and serialised examples, in-process or in worker processes.

For a source without random access, the parent reads records and draws each image's
examples, which needs state (the source, the caption pools). What needs none —
decoding or drawing the image, tokenizing, encoding, serialising — is an EncodeJob
that any process can run (a random-access source's workers run them on their own
records: preprocess._shard_unit). Workers are spawned when TensorFlow is imported in
the parent (it may run threads there, and a forked copy of those is unsafe), else
forked (workers.start_method). Results come back in job order, so the shards are the
same bytes whatever the number of workers.
"""

from __future__ import annotations

import os
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from typing import Any, Callable, Iterable, Iterator

from crossmodal_tf.data.copy_ids import source_copy_ids, target_copy_ids
from crossmodal_tf.data.images import BadImage, image_to_array
from crossmodal_tf.data.shards import serialize_example
from crossmodal_tf.data.text import Vocabulary

MAX_AUTO_WORKERS = 8
AUTO_POOL_MIN_IMAGES = 2000  # below this, starting processes costs more than it saves
CHUNK = 16  # jobs per message to a worker: fewer, larger messages


@dataclass(frozen=True)
class EncodeJob:
    """One image's examples to encode: (caption, label, kind index, translation or None) each.

    A vqa example's label is its answer id, and in place of a translation it has the ids of every
    annotator's answer (a tuple), or None.

    load_image is the record's (a picklable callable), or None when the task stores no pixels;
    split says where the parent writes the results; novel, that the image shows a held-out combination.
    """

    split: str
    key: str
    place: str
    load_image: Callable[[], Any] | None
    examples: tuple[tuple[str, int, int, str | tuple[int, ...] | None], ...]
    novel: bool = False


@dataclass(frozen=True)
class Encoded:
    """A job's serialised examples and their token counts, or the reason its image is unusable."""

    serialized: tuple[bytes, ...] = ()
    lengths: tuple[int, ...] = ()
    bad_image: str | None = None


@dataclass(frozen=True)
class TextSide:
    """How one side's texts become ids: tokenizer settings and the vocabulary (plain values, cheap to pickle)."""

    vocab: Vocabulary
    level: str
    lowercase: bool
    max_length: int

    def tokens(self, text: str) -> list[str]:
        return self.vocab.tokenize(text, self.level, self.lowercase)[: self.max_length]


@dataclass(frozen=True)
class Encoder:
    """Runs EncodeJobs: the settings every image of one preprocess run is encoded with."""

    text: TextSide
    frame: bool  # <start>/<end> around every text (generative tasks)
    image_size: int
    target: TextSide | None = None  # translation pairs: the target side, always framed
    copy: bool = False  # model.copy: also the extended ids of copy attention (data/copy_ids.py)
    resize: str = "squash"  # data.image.resize
    raw_text: bool = False  # Task.raw_references: each example's text as written, too

    def __call__(self, job: EncodeJob) -> Encoded:
        pixels = None
        if job.load_image is not None:
            try:
                pixels = image_to_array(job.load_image(), self.image_size, self.resize)
            except BadImage as exc:
                return Encoded(bad_image=str(exc))
        serialized, lengths = [], []
        for caption, label, kind, translation in job.examples:
            ids = self.text.tokens(caption)
            lengths.append(len(ids))
            encoded = self.text.vocab.encode(ids, add_start=self.frame, add_end=self.frame)
            if isinstance(translation, tuple):  # ids already: a vqa example's annotator answers
                target_ids = list(translation)
            else:
                target_ids = (self.target.vocab.encode(self.target.tokens(translation), True, True)
                              if self.target is not None else None)
            copy = self._copy_ids(ids, translation) if self.copy else None
            # a translation pair keeps its raw texts too: the references test outputs are scored against
            texts = (caption, translation) if self.target is not None and isinstance(translation, str) else None
            raw = caption if self.raw_text else None
            serialized.append(serialize_example(pixels, encoded, label, kind, job.key, target_ids, copy, texts, raw))
        return Encoded(tuple(serialized), tuple(lengths))

    def _copy_ids(self, source_tokens: list[str], translation: str) -> tuple:
        vocab = self.target.vocab
        source, oov = source_copy_ids(source_tokens, vocab)
        return source, target_copy_ids(self.target.tokens(translation), vocab, oov), oov


def resolve_workers(setting: int | str, num_images: int) -> int:
    """Processes to encode with: the configured number, or for 'auto' one per usable core (at most 8),
    and 1 (in-process) when the dataset is too small to pay for starting workers."""
    if setting != "auto":
        return int(setting)
    if num_images < AUTO_POOL_MIN_IMAGES:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, MAX_AUTO_WORKERS))


@contextmanager
def encoding(encoder: Encoder, workers: int):
    """A function from EncodeJobs to (job, Encoded) pairs, in job order, running in `workers` processes.

    The pool lives as long as the with block, so an error (or ^C) in the parent
    ends the workers at once.
    """
    if workers <= 1:
        yield lambda jobs: ((job, encoder(job)) for job in jobs)
        return
    import multiprocessing

    from crossmodal_tf.data.workers import start_method

    with multiprocessing.get_context(start_method()).Pool(workers, initializer=_start_worker, initargs=(encoder,)) as pool:
        yield lambda jobs: _ordered(pool, jobs, window=CHUNK * workers * 4)


def _ordered(pool, jobs: Iterable[EncodeJob], window: int) -> Iterator[tuple[EncodeJob, Encoded]]:
    """Results in job order, with at most two windows of jobs in flight (memory stays bounded).

    While the parent writes one window's results and prepares the next, the
    workers encode the window after it: neither side waits for long.
    """
    jobs = iter(jobs)
    pending: deque = deque()
    while True:
        batch = list(islice(jobs, window))
        if batch:
            pending.append((batch, pool.map_async(_run_in_worker, batch, chunksize=CHUNK)))
        if not pending:
            return
        if batch and len(pending) < 2:
            continue  # fill the second window before waiting on the first
        done, results = pending.popleft()
        yield from zip(done, results.get())


_worker_encoder: Encoder | None = None  # one per worker process, set once when it starts


def _start_worker(encoder: Encoder) -> None:
    # The vocabularies travel once per worker here, not with every job.
    global _worker_encoder
    _worker_encoder = encoder


def _run_in_worker(job: EncodeJob) -> Encoded:
    return _worker_encoder(job)
