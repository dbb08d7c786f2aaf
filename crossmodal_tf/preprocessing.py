"""Preprocessing: source → split → vocabulary → encoded TFRecord shards + stats.json; the preprocess and the
train stages both call preprocess().

Two streaming passes over the source: the first reads only text (split assignment,
train-split token counts, a bounded pool of captions for negatives); the second
decodes images and writes examples. Memory stays flat in the number of records.
Output appears atomically: everything is written to a temporary folder that is
renamed into place at the end, so an interrupted run leaves the old output intact.

A random-access source (shapes) is read in parts by the workers in both passes: in
pass 1 each scans a fixed block of records and the parent adds up their counts and
pools; in pass 2 each makes whole records (drawing examples, pixels, serialising) and
writes its own shard files. The parts do not depend on the number of workers and the
merges not on their order, so the bytes are the same for any number. Other sources are
read by the parent, which hands each image to the workers to encode and writes the shards.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from crossmodal_tf.atomic import atomic_directory
from crossmodal_tf.data.answers import ANNOTATOR_UNKNOWN, Answers, normalize_answer
from crossmodal_tf.config import Config
from crossmodal_tf.data.encode import EncodeJob, Encoder, TextSide, encoding, resolve_workers
from crossmodal_tf.data.pairs import EXAMPLE_KINDS, CaptionPool
from crossmodal_tf.data.records import SkipLog
from crossmodal_tf.data.shards import SPLITS, auto_shard_count
from crossmodal_tf.data.sources import is_random_access, load_source, source_reads_key
from crossmodal_tf.data.subword import MODEL_FILES, train_subword
from crossmodal_tf.data.text import Vocabulary, normalize, tokenize
from crossmodal_tf.data.workers import unit_runner
from crossmodal_tf.errors import CmxError
from crossmodal_tf.locks import exclusive_lock, unread

NOVEL_KEYS = "novel_keys.txt"  # the keys of the images that show a held-out combination (Record.novel), sorted
FORMAT_VERSION = 4  # 4: shards by position (i mod num_shards, one count for all splits), pools by hash
# The version of a Task.raw_references task's stored texts as written (stats.json's raw_references): a run's
# data without it, or with an older one, is refused (Run.stats) rather than scored against ids read back.
RAW_REFERENCES = 1
POOL_SIZE = 5000
EXAMPLE_TEXT_BYTES = 200  # an example's size less its pixels: token ids, key, label, kind, protobuf framing
# Records whose examples are counted after pass 1, with its final caption pools, to size the shards
# (the same records as when the pools filled up as pass 1 went, and then the first ones were left out).
SAMPLE_FROM, SAMPLE_SIZE = 100, 200
# Pass 1 of a random-access source in SCAN_PARTS blocks of at least MIN_SCAN_BLOCK records: a function of the
# source's size alone, not of the workers. Enough parts to keep the workers evenly busy, few enough that a source
# read whole by every part (a manifest's text) is not read too often.
SCAN_PARTS, MIN_SCAN_BLOCK = 16, 1000


def split_of(key: str, seed: int, val: float, test: float) -> str:
    """Deterministic split of an image from a hash of its key: no image lands in two splits."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test:
        return "test"
    if position < test + val:
        return "val"
    return "train"


def source_splits(source, data_config) -> frozenset[str]:
    """The splits a source predefines for this data (its `predefined_splits`), or none."""
    given = getattr(source, "predefined_splits", None)
    return frozenset(given(data_config)) if given else frozenset()


def record_split(record, seed: int, split_cfg, given: frozenset[str] = frozenset()) -> str:
    """The split of a record: its predefined split when it has one, else a hash of its key (split_of).

    `given` is the set of splits the source predefines (source_splits). A split the
    source does not give is drawn from its train records by key hash, with that
    split's data.split fraction: a dataset with only train and test (DAQUAR) gets
    its val from train, one with only train gets both. The source tells up front
    (it must be known in pass 1, before the train vocabulary is counted, so it
    cannot be observed from the records as they stream by).
    """
    if record.split is None:
        return split_of(record.key, seed, split_cfg.val, split_cfg.test)
    if record.split == "train" and given != {"train", "val", "test"}:
        return split_of(record.key, seed, 0.0 if "val" in given else split_cfg.val,
                        0.0 if "test" in given else split_cfg.test)
    return record.split


def fingerprint(config: Config) -> str:
    """Hash of everything that decides the preprocessed output."""
    from crossmodal_tf.tasks import load_task, task_reads_key

    source = load_source(config.data.source)
    # how the work is done (processes, caching, error policy) does not change what is written, nor does a
    # data.path the source never reads (shapes generates its images)
    ignored = {"processed", "on_error", "workers", "cache"}
    if not task_reads_key(config.task, "data.answers"):
        ignored.add("answers")  # so that adding the section left the other tasks' fingerprints as they were
    if not source_reads_key(config.data.source, "data.path"):
        ignored.add("path")
    if not source_reads_key(config.data.source, "data.coco"):
        ignored.add("coco")  # as for answers: adding the section left the other sources' fingerprints as they were
    # to_dict, not model_dump: it leaves out the subword keys of other levels, so their fingerprints stay
    data = {key: value for key, value in config.to_dict()["data"].items() if key not in ignored}
    data["image"].pop("augment", None)  # done while training, not in the shards
    for key in ("train_ratio", "train_hard_weights"):
        if key in data.get("negatives", {}) and data["negatives"][key] is None:
            del data["negatives"][key]  # unset: folders written before the key existed stay up to date
    if not data["shapes"]["held_out"] or not source_reads_key(config.data.source, "data.shapes"):
        del data["shapes"]["held_out"]  # none held out, or another source: folders written before the key stay up to date
    if data["image"].get("resize") == "squash":
        del data["image"]["resize"]  # the default: folders written before the key existed stay up to date
    relevant = {
        "format": FORMAT_VERSION,
        "task": config.task,
        "seed": config.seed,
        "data": data,
        "source": source.fingerprint(config.data),
    }
    if copies(config):
        relevant["copy"] = True  # the key is absent otherwise, so the other runs' fingerprints stay as they were
    if load_task(config.task).answers:
        # 2: annotators' answers outside the vocabulary stored as ANNOTATOR_UNKNOWN, no longer as 0 (padding)
        relevant["annotator_ids"] = 2
    if load_task(config.task).raw_references:
        relevant["raw_references"] = RAW_REFERENCES  # as copy: only these tasks' folders are made again
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def readers_lock(processed: Path) -> Path:
    """The file beside a preprocessed folder that its readers hold shared (locks.shared_lock) while they read it."""
    processed = Path(processed)
    return processed.parent / f".{processed.name}.readers"


def read_stats(processed: Path) -> dict | None:
    """The stats.json of a preprocessed folder, or None when there is none."""
    path = Path(processed) / "stats.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def preprocess(config: Config, force: bool = False, quiet: bool = True) -> dict:
    """Run the stage unless its output is up to date; returns the stats (with 'reused').

    Two processes preprocessing into the same folder take turns (a lock beside it):
    the second waits, then finds the first one's output up to date and reuses it. A
    folder that a training is reading (readers_lock) is never rewritten: replacing its
    shards under the training would crash it mid-epoch.
    """
    out = config.processed_dir
    print_ = fingerprint(config)
    stats = read_stats(out)
    if stats and stats.get("fingerprint") == print_ and not force:
        return {**stats, "reused": True}
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out.parent / f".{out.name}.lock", str(out), wait=True):
        stats = read_stats(out)
        if stats and stats.get("fingerprint") == print_ and not force:
            return {**stats, "reused": True}
        unread(readers_lock(out), str(out))
        with atomic_directory(out) as tmp:
            stats = _write_processed(config, tmp, print_=print_, quiet=quiet)
    return {**stats, "reused": False}


@dataclass
class TextScan:
    """What pass 1 learns: train-split token counts (both sides; for a subword side its normalised texts instead),
    images and captions per split, caption pools, and examples per caption in a sample of records (for sizing
    shards); for a task with answers, the train split's answer counts and the question types of every split.

    A part of the source scanned on its own gives one; merge adds another part's, which follows it in the source."""

    tokens: Counter
    target_tokens: Counter
    images: Counter
    captions: Counter
    pools: dict
    examples_per_caption: float = 1.0
    answers: Counter = field(default_factory=Counter)
    question_types: set = field(default_factory=set)
    texts: list = field(default_factory=list)  # a subword side's train texts, which its SentencePiece model learns
    target_texts: list = field(default_factory=list)
    sample: list = field(default_factory=list)  # (index, split, record) of the records that size the shards

    def merge(self, other: "TextScan") -> None:
        for mine, theirs in ((self.tokens, other.tokens), (self.target_tokens, other.target_tokens),
                             (self.images, other.images), (self.captions, other.captions),
                             (self.answers, other.answers)):
            mine.update(theirs)
        for split, pool in other.pools.items():
            self.pools[split].merge(pool)
        self.question_types |= other.question_types
        self.texts += other.texts
        self.target_texts += other.target_texts
        self.sample += other.sample


def _empty_scan(seed: int) -> TextScan:
    pools = {s: CaptionPool(POOL_SIZE, f"{seed}:pool:{s}") for s in SPLITS}
    return TextScan(Counter(), Counter(), Counter(), Counter(), pools)


def _scan_text(config: Config, source, task, given: frozenset[str], records: Iterable[tuple[int, object]]) -> TextScan:
    """Pass 1 over (index, record) pairs: split counts, train-split token counts (source and target side), caption
    pools per split, and the records at SAMPLE_FROM… kept to size the shards."""
    data, text, target_text = config.data, config.data.text, config.data.target_text
    with_targets = task.target_text
    scan = _empty_scan(config.seed)
    for index, record in records:
        split = record_split(record, config.seed, data.split, given)
        scan.images[split] += 1
        scan.captions[split] += len(record.captions)
        if SAMPLE_FROM <= index < SAMPLE_FROM + SAMPLE_SIZE:
            scan.sample.append((index, split, record))
        for position, caption in enumerate(record.captions):
            scan.pools[split].add(record.key, position, record.canonical, caption)
        if split == "train":
            _scan_vocab_texts(scan, record, task, text, target_text if with_targets else None)
        if task.answers:
            _scan_questions(scan, record, split, text)
    return scan


def _scan_unit(unit: tuple, report=None) -> tuple[TextScan, SkipLog]:
    """Pass 1 over records start…stop of a random-access source, in a worker: its scan and the rows it skipped."""
    from crossmodal_tf.tasks import load_task, task_reads_key

    config, given, start, stop = unit
    source, task = load_source(config.data.source), load_task(config.task)
    skips = SkipLog(config.data.on_error)
    records = source.records_at(config.data, config.seed, range(start, stop), skips, task.source_needs())
    return _scan_text(config, source, task, given, records), skips


def _scan_source(config: Config, source, task, given: frozenset[str], run,
                 total: int | None) -> tuple[TextScan, SkipLog]:
    """Pass 1 over the whole source: by the workers in fixed blocks when it is random-access (its `total` records),
    else here."""
    if total is None:
        skips = SkipLog(config.data.on_error)
        records = enumerate(source.read_records(config.data, config.seed, skips, task.source_needs()))
        scan = _scan_text(config, source, task, given, records)
    else:
        block = max(MIN_SCAN_BLOCK, -(-total // SCAN_PARTS))
        parts = run(_scan_unit, [(config, given, start, min(start + block, total)) for start in range(0, total, block)])
        scan, skips = _empty_scan(config.seed), SkipLog(config.data.on_error)
        # each block merged as it arrives, in the source's order (the texts and skipped rows stay in it), so the
        # parent holds a few blocks' pools at a time, not every block's
        for part, part_skips in parts:
            scan.merge(part)
            skips = _merge_skips(skips, part_skips)
    _estimate_examples_per_caption(config, source, task, scan)
    return scan, skips


def _estimate_examples_per_caption(config: Config, source, task, scan: TextScan) -> None:
    """Examples per caption in the sample of records, drawn from the final pools (a throwaway draw: pass 2 draws
    every image's examples again with its own rng)."""
    hard_negative = getattr(source, "hard_negative", None)
    examples = captions = 0
    for index, split, record in scan.sample:
        examples += len(task.make_examples(record, random.Random(index), scan.pools[split],
                                           split_data_config(config.data, split), hard_negative))
        captions += len(record.captions)
    if captions:
        scan.examples_per_caption = examples / captions
    scan.sample = []


def _scan_vocab_texts(scan: TextScan, record, task, text, target_text) -> None:
    """Count a train record's source-side tokens (its captions, or what task.vocab_texts says; none for a task with
    answers, which reads questions) and target-side tokens (its translation), cut at each side's max_length."""
    if task.vocab_texts is not None:
        sources, targets = task.vocab_texts(record)
    else:
        sources = () if task.answers else record.captions
        targets = (record.translation,) if record.translation else ()
    for source in sources:
        _count_text(scan.tokens, scan.texts, source, text)
    if target_text is not None:
        for target in targets:
            _count_text(scan.target_tokens, scan.target_texts, target, target_text)


def _count_text(counts: Counter, texts: list, text: str, cfg) -> None:
    """Count a train text's tokens, cut at max_length; at level subword keep its normalised text for the model."""
    if cfg.level == "subword":
        texts.append(normalize(text, cfg.lowercase))
    else:
        counts.update(tokenize(text, cfg.level, cfg.lowercase)[: cfg.max_length])


def _scan_questions(scan: TextScan, record, split: str, text) -> None:
    """Count a record's question tokens and answers (train split only); note its question types (every split)."""
    for question in record.questions:
        scan.question_types.add(question_type(question.type))
        if split == "train":
            _count_text(scan.tokens, scan.texts, question.question, text)
            scan.answers[normalize_answer(question.answer)] += 1


def question_type(name: str) -> str:
    """A question's type as examples are counted by it: its own, or 'other' when the data gives none."""
    return name or "other"


def shard_count(config: Config, scan: TextScan, uses_image: bool) -> int:
    """Shards of every split: data.num_shards, or for 'auto' about SHARD_BYTES each for the largest split,
    estimated from pass 1.

    One count for all splits: a worker writes shard k of every split (the images at positions
    k mod the count), so the smaller splits get as many, smaller, files. Examples are estimated
    as captions x the examples per caption of a sample of records (a task may store one example
    per caption, or fewer, or add negatives).
    """
    if config.data.num_shards != "auto":
        return config.data.num_shards
    example_bytes = EXAMPLE_TEXT_BYTES + (config.data.image.size ** 2 * 3 if uses_image else 0)
    return max(auto_shard_count(round(scan.captions[s] * scan.examples_per_caption * example_bytes)) for s in SPLITS)


def _encoder(config: Config, task, vocab: Vocabulary, target_vocab: Vocabulary | None) -> Encoder:
    """The settings every image of this run is encoded with."""
    def side(vocab, cfg):
        return TextSide(vocab, cfg.level, cfg.lowercase, cfg.max_length)

    data = config.data
    target = side(target_vocab, data.target_text) if target_vocab is not None else None
    return Encoder(side(vocab, data.text), task.frame_text, data.image.size, target, copy=copies(config),
                   resize=data.image.resize, raw_text=task.raw_references)


def copies(config: Config) -> bool:
    """Whether the shards hold copy attention's extended ids: model.copy, for a task that reads it."""
    from crossmodal_tf.tasks import load_task, task_reads_key

    return config.model.copy and task_reads_key(config.task, "model.copy")


@dataclass(frozen=True)
class ExampleIds:
    """How make_examples' labels and kinds become the stored ints: as they are, and kinds by EXAMPLE_KINDS;
    or, for a task with answers, answers by the answer vocabulary and question types by their sorted list."""

    kinds: tuple[str, ...] = EXAMPLE_KINDS
    answers: Answers | None = None

    def row(self, text: str, label, kind: str, target=None) -> tuple:
        if self.answers is None:
            return text, label, self.kinds.index(kind), target
        # a vqa example: label is the answer, target every annotator's answer (or none), both stored as ids
        ids = tuple(self.answers.id(a) or ANNOTATOR_UNKNOWN for a in target) if target else None
        return text, self.answers.id(label), self.kinds.index(question_type(kind)), ids


def split_data_config(data, split: str):
    """The data config a split's examples are drawn with: data itself, but in the train split with
    data.negatives.train_ratio negatives per positive when it is set (a pool each epoch picks from)."""
    train_ratio = data.negatives.train_ratio
    if split != "train" or train_ratio is None:
        return data
    return data.model_copy(update={"negatives": data.negatives.model_copy(update={"ratio": train_ratio})})


def _job(config: Config, task, record, split: str, pools: dict, ids: ExampleIds, hard_negative) -> EncodeJob:
    """A record as pass 2's EncodeJob: its examples drawn with the image's own rng, so in any process, in any order."""
    rng = random.Random(f"{config.seed}:examples:{record.key}")
    weights = config.data.negatives.train_hard_weights
    if split == "train" and weights is not None and hard_negative is not None:
        hard_negative = functools.partial(hard_negative, weights=weights)
    examples = task.make_examples(record, rng, pools[split], split_data_config(config.data, split), hard_negative)
    rng.shuffle(examples)
    rows = tuple(ids.row(caption, label, kind, target[0] if target else None)
                 for caption, label, kind, *target in examples)
    return EncodeJob(split, record.key, record.place, record.load_image if task.uses_image else None, rows,
                     record.novel)


def _jobs(config: Config, source, task, pools: dict, given: frozenset[str],
          ids: ExampleIds = ExampleIds()) -> Iterator[EncodeJob]:
    """Pass 2's records as EncodeJobs, read here (a source without random access)."""
    hard_negative = getattr(source, "hard_negative", None)
    for record in source.read_records(config.data, config.seed, SkipLog("skip"), task.source_needs()):
        yield _job(config, task, record, record_split(record, config.seed, config.data.split, given), pools, ids,
                   hard_negative)


@dataclass
class EncodePass:
    """What pass 2 wrote: examples and images per split, examples by kind, text lengths, the images it skipped and
    the keys of the novel ones it wrote.

    A part of the source encoded on its own gives one; merge adds the next part's."""

    counts: Counter
    images: Counter
    kinds: dict
    lengths: Counter
    skips: SkipLog
    novel: list = field(default_factory=list)  # (split, key)

    @classmethod
    def empty(cls, on_error: str) -> "EncodePass":
        return cls(Counter(), Counter(), {s: Counter() for s in SPLITS}, Counter(), SkipLog(on_error))

    def add(self, position: int, job: EncodeJob, encoded, writers: dict, kinds: tuple[str, ...]) -> None:
        """Count an encoded image and write its examples (to the shard of its position), or count it skipped."""
        if encoded.bad_image is not None:
            self.skips.add(job.place, encoded.bad_image)
            return
        self.images[job.split] += 1
        for serialized in encoded.serialized:
            writers[job.split].write(serialized, position)
        self.counts[job.split] += len(encoded.serialized)
        self.lengths.update(encoded.lengths)
        self.kinds[job.split].update(kinds[row[2]] for row in job.examples)
        if job.novel:
            self.novel.append((job.split, job.key))

    def merge(self, other: "EncodePass") -> None:
        self.counts.update(other.counts)
        self.images.update(other.images)
        for split in SPLITS:
            self.kinds[split].update(other.kinds[split])
        self.lengths.update(other.lengths)
        self.skips = _merge_skips(self.skips, other.skips)
        self.novel += other.novel


@dataclass(frozen=True)
class ShardContext:
    """What a pass-2 worker needs besides its shard number: the same for every shard of the run."""

    config: Config
    given: frozenset
    pools: dict
    ids: ExampleIds
    encoder: Encoder
    out: Path
    num_shards: int
    total: int  # records in the source


REPORT_EVERY = 50  # images between a worker's progress reports


def _shard_unit(unit: tuple, report) -> EncodePass:
    """Pass 2 for shard k of a random-access source, in a worker: make the images at positions k, k + num_shards, …,
    draw their examples, encode them and write shard k of every split."""
    from crossmodal_tf.data.shards import ShardWriter
    from crossmodal_tf.tasks import load_task, task_reads_key

    context, shard = unit
    config = context.config
    source, task = load_source(config.data.source), load_task(config.task)
    hard_negative = getattr(source, "hard_negative", None)
    positions = range(shard, context.total, context.num_shards)
    writers = {s: ShardWriter(context.out, s, context.num_shards, only=(shard,)) for s in SPLITS}
    written, done, index = EncodePass.empty(config.data.on_error), 0, shard
    try:
        for done, (index, record) in enumerate(source.records_at(config.data, config.seed, positions,
                                                                 SkipLog("skip"), task.source_needs()), 1):
            split = record_split(record, config.seed, config.data.split, context.given)
            job = _job(config, task, record, split, context.pools, context.ids, hard_negative)
            written.add(index, job, context.encoder(job), writers, context.ids.kinds)
            if done % REPORT_EVERY == 0:
                report(REPORT_EVERY)
        report(done % REPORT_EVERY)
    except CmxError as error:  # data.on_error: fail; the parent raises the error met first in the source
        error.position = index
        raise
    finally:
        for writer in writers.values():
            writer.close()
    return written


def _write_processed(config: Config, out: Path, *, print_: str, quiet: bool) -> dict:
    """Write the preprocessed output (vocabularies, shards, stats.json) into the empty folder out; returns the stats."""
    from crossmodal_tf.tasks import load_task, task_reads_key

    data = config.data
    source = load_source(data.source)
    task = load_task(config.task)
    started = time.time()
    given = source_splits(source, data)
    # a random-access source's size is known up front, so the workers can start before pass 1 and do both passes
    total = source.num_records(data) if is_random_access(source) else None
    parts = total is not None
    workers = resolve_workers(data.workers, total) if parts else 1
    with unit_runner(workers) as run:
        scan, scan_skips = _scan_source(config, source, task, given, run, total)
        scanned = time.time()
        _refuse_no_training_images(scan, scan_skips)
        vocab, target_vocab = _write_vocabularies(config, task, scan, out)
        ids = ExampleIds()
        if task.answers:
            ids = ExampleIds(tuple(sorted(scan.question_types)), Answers.build(scan.answers, data.answers.min_count))
            ids.answers.save(out / "answer_vocab.txt")
        num_shards = shard_count(config, scan, task.uses_image)
        encoder = _encoder(config, task, vocab, target_vocab)
        if parts:
            context = ShardContext(config, given, scan.pools, ids, encoder, out, num_shards, total)
            written = _encode_parts(run, context, sum(scan.images.values()), quiet)
    if not parts:
        workers = resolve_workers(data.workers, sum(scan.images.values()))
        written = _encode_pass(config, source, task, scan, out, encoder=encoder, given=given,
                               num_shards=num_shards, workers=workers, quiet=quiet, ids=ids)
    stats = {
        "counts": {s: written.counts[s] for s in SPLITS},
        "images": {s: written.images[s] for s in SPLITS},
        "examples_by_kind": {s: dict(written.kinds[s]) for s in SPLITS},
        "vocab_size": len(vocab),
        **({"target_vocab_size": len(target_vocab)} if target_vocab is not None else {}),
        **({"answer_vocab_size": len(ids.answers), "question_types": list(ids.kinds)} if ids.answers else {}),
        "train_tokens": sum(scan.tokens.values()),
        "caption_length_histogram": {str(k): written.lengths[k] for k in sorted(written.lengths)},
        "skipped": _merge_skips(scan_skips, written.skips).to_dict(),
        **_novelty(config, written, out),
        "task": config.task,
        **({"copy": True} if copies(config) else {}),
        **({"raw_references": RAW_REFERENCES} if task.raw_references else {}),
        "source": data.source,
        "image_size": data.image.size,
        "num_shards": {s: num_shards for s in SPLITS},
        "workers": workers,
        "fingerprint": print_,
        "seconds": round(time.time() - started, 2),
        # pass 1 reads text (in the workers for a random-access source); pass 2 encodes the images in the workers
        "seconds_by_pass": {"scan": round(scanned - started, 2), "encode": round(time.time() - scanned, 2)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats


def _novelty(config: Config, written: EncodePass, out: Path) -> dict:
    """For a source that can hold combinations out (shapes), write NOVEL_KEYS and return the stats that say what was
    held out and how many images of each split are novel; for another source, nothing."""
    if not source_reads_key(config.data.source, "data.shapes"):
        return {}
    (out / NOVEL_KEYS).write_text("".join(f"{key}\n" for key in sorted(k for _, k in written.novel)),
                                  encoding="utf-8")
    novel_images = Counter(split for split, _ in written.novel)
    return {"held_out": list(config.data.shapes.held_out), "novel_images": {s: novel_images[s] for s in SPLITS}}


def _refuse_no_training_images(scan: TextScan, skips: SkipLog) -> None:
    """A CmxError when pass 1 found no training image, naming the first row it skipped."""
    images = scan.images
    if not images.get("train"):
        raise CmxError(f"data: the dataset is empty after filtering: no training images "
                       f"({sum(images.values())} images in all, {skips.count} rows skipped"
                       + (f"; first: {skips.examples[0]['place']}: {skips.examples[0]['reason']}"
                          if skips.examples else "") + ")")


def _write_vocabularies(config: Config, task, scan: TextScan, out: Path) -> tuple[Vocabulary, Vocabulary | None]:
    """Build and save vocab.txt (and target_vocab.txt for a task with TARGET_TEXT) from the train split's texts."""
    vocab = _side_vocabulary(config, "text", scan.tokens, scan.texts, out)
    vocab.save(out / "vocab.txt")
    target_vocab = None
    if task.target_text:
        target_vocab = _side_vocabulary(config, "target_text", scan.target_tokens, scan.target_texts, out)
        target_vocab.save(out / "target_vocab.txt")
    return vocab, target_vocab


def _side_vocabulary(config: Config, side: str, counts: Counter, texts: list, out: Path) -> Vocabulary:
    """A text side's vocabulary: its most frequent train tokens, or at level subword a SentencePiece model of its
    train texts, saved beside the vocabulary (MODEL_FILES); then counts holds the texts' pieces."""
    cfg = getattr(config.data, side)
    if cfg.level != "subword":
        return Vocabulary.build(counts, cfg.min_freq, cfg.max_size)
    vocab = train_subword(texts, cfg, config.seed, f"data.{side}")
    (out / MODEL_FILES[side]).write_bytes(vocab.model)
    for text in texts:
        counts.update(vocab.tokenize(text, cfg.level, cfg.lowercase)[: cfg.max_length])
    return vocab


def _encode_parts(run, context: ShardContext, total: int, quiet: bool) -> EncodePass:
    """Pass 2 of a random-access source: every shard made and written whole by a worker; their counts added up."""
    from rich.progress import Progress

    with Progress(disable=quiet, transient=True) as progress:
        bar = progress.add_task("preprocess", total=total)
        written = EncodePass.empty(context.config.data.on_error)
        for part in run(_shard_unit, [(context, shard) for shard in range(context.num_shards)],
                        lambda done: progress.advance(bar, done)):
            written.merge(part)  # in shard order, so the first skipped images listed do not depend on the workers
    _refuse_all_skipped(written)
    return written


def _encode_pass(config: Config, source, task, scan: TextScan, out: Path, *, encoder: Encoder, given: frozenset[str],
                 num_shards: int, workers: int, quiet: bool, ids: ExampleIds = ExampleIds()) -> EncodePass:
    """Pass 2 of a source read here: decode and encode every image's examples in workers processes and write them
    to the shards."""
    from rich.progress import Progress

    from crossmodal_tf.data.shards import ShardWriter

    writers = {s: ShardWriter(out, s, num_shards) for s in SPLITS}
    written = EncodePass.empty(config.data.on_error)
    try:
        with Progress(disable=quiet, transient=True) as progress, encoding(encoder, workers) as encode:
            bar = progress.add_task("preprocess", total=sum(scan.images.values()))
            for position, (job, encoded) in enumerate(encode(_jobs(config, source, task, scan.pools, given, ids))):
                progress.advance(bar)
                written.add(position, job, encoded, writers, ids.kinds)
    finally:
        for writer in writers.values():
            writer.close()
    _refuse_all_skipped(written)
    return written


def _refuse_all_skipped(written: EncodePass) -> None:
    """A CmxError when pass 2 skipped every training image, naming the first one."""
    skips = written.skips
    if not written.images["train"]:
        raise CmxError(f"data: the dataset is empty after filtering: every training image was skipped "
                       f"(first: {skips.examples[0]['place']}: {skips.examples[0]['reason']})" if skips.examples
                       else "data: the dataset is empty after filtering")


def _merge_skips(*logs: SkipLog) -> SkipLog:
    """One SkipLog of the rows skipped in both passes (counts and reasons added, the first examples kept)."""
    merged = SkipLog()
    for log in logs:
        merged.count += log.count
        merged.reasons.update(log.reasons)
        merged.examples.extend(log.examples[: SkipLog.KEEP - len(merged.examples)])
    return merged
