"""The preprocess stage: source → split → vocabulary → encoded TFRecord shards + stats.json.

Two streaming passes over the source: the first reads only text (split assignment,
train-split token counts, a bounded pool of captions for negatives); the second
decodes images and writes examples. Memory stays flat in the number of records.
Output appears atomically: everything is written to a temporary folder that is
renamed into place at the end, so an interrupted run leaves the old output intact.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from crossmodal_tf.config import Config
from crossmodal_tf.data.encode import EncodeJob, Encoder, TextSide, encoding, resolve_workers
from crossmodal_tf.data.pairs import EXAMPLE_KINDS, CaptionPool
from crossmodal_tf.data.records import SkipLog
from crossmodal_tf.data.shards import auto_shard_count
from crossmodal_tf.data.sources import load_source, source_reads_key
from crossmodal_tf.data.text import Vocabulary, tokenize
from crossmodal_tf.errors import CmxError
from crossmodal_tf.locks import exclusive_lock

SPLITS = ("train", "val", "test")
FORMAT_VERSION = 3
POOL_SIZE = 5000
EXAMPLE_TEXT_BYTES = 200  # an example's size less its pixels: token ids, key, label, kind, protobuf framing
# Records whose examples are counted in pass 1 to size the shards: not the first ones,
# while the caption pools that random negatives come from are still nearly empty.
SAMPLE_FROM, SAMPLE_SIZE = 100, 200


def split_of(key: str, seed: int, val: float, test: float) -> str:
    """Deterministic split of an image from a hash of its key: no image lands in two splits."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    if position < test:
        return "test"
    if position < test + val:
        return "val"
    return "train"


def fingerprint(config: Config) -> str:
    """Hash of everything that decides the preprocessed output."""
    source = load_source(config.data.source)
    # how the work is done (processes, caching, error policy) does not change what is written, nor does a
    # data.path the source never reads (shapes generates its images)
    ignored = {"processed", "on_error", "workers", "cache"}
    if not source_reads_key(config.data.source, "data.path"):
        ignored.add("path")
    relevant = {
        "format": FORMAT_VERSION,
        "task": config.task,
        "seed": config.seed,
        "data": config.data.model_dump(mode="json", exclude=ignored),
        "source": source.fingerprint(config.data),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()


def read_stats(processed: Path) -> dict | None:
    """The stats.json of a preprocessed folder, or None when there is none."""
    path = Path(processed) / "stats.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def is_up_to_date(config: Config) -> bool:
    """Whether the processed folder was made from this config and this source data."""
    stats = read_stats(config.processed_dir)
    return bool(stats) and stats.get("fingerprint") == fingerprint(config)


def preprocess(config: Config, force: bool = False, quiet: bool = True) -> dict:
    """Run the stage unless its output is up to date; returns the stats (with 'reused').

    Two processes preprocessing into the same folder take turns (a lock beside it):
    the second waits, then finds the first one's output up to date and reuses it.
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
        tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            stats = _write_processed(config, tmp, print_, quiet)
            _replace_dir(tmp, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {**stats, "reused": False}


def _replace_dir(new: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{os.getpid()}"
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


@dataclass
class TextScan:
    """What pass 1 learns: train-split token counts (both sides), images and captions per split, caption pools,
    and examples per caption in a sample of records (for sizing shards)."""

    tokens: Counter
    target_tokens: Counter
    images: Counter
    captions: Counter
    pools: dict
    examples_per_caption: float = 1.0


def _scan_text(config: Config, source, task, skips: SkipLog) -> TextScan:
    """Pass 1: split counts, train-split token counts (source and target side) and a caption pool per split."""
    data, text, target_text = config.data, config.data.text, config.data.target_text
    with_targets = task.target_text
    pools = {s: CaptionPool(POOL_SIZE, random.Random(f"{config.seed}:pool:{s}")) for s in SPLITS}
    scan = TextScan(Counter(), Counter(), Counter(), Counter(), pools)
    sampled = Counter()
    for index, record in enumerate(source.read_records(data, config.seed, skips)):
        split = split_of(record.key, config.seed, data.split.val, data.split.test)
        scan.images[split] += 1
        scan.captions[split] += len(record.captions)
        if SAMPLE_FROM <= index < SAMPLE_FROM + SAMPLE_SIZE:
            # a throwaway draw: pass 2 draws every image's examples again with its own rng
            sampled["examples"] += len(task.make_examples(record, random.Random(index), pools[split], data,
                                                          getattr(source, "hard_negative", None)))
            sampled["captions"] += len(record.captions)
        for caption in record.captions:
            pools[split].add(record.canonical, caption)
            if split == "train":
                scan.tokens.update(tokenize(caption, text.level, text.lowercase)[: text.max_length])
        if with_targets and split == "train" and record.translation:
            scan.target_tokens.update(_target_tokens(record.translation, target_text))
    if sampled["captions"]:
        scan.examples_per_caption = sampled["examples"] / sampled["captions"]
    return scan


def _target_tokens(text: str, cfg) -> list[str]:
    return tokenize(text, cfg.level, cfg.lowercase)[: cfg.max_length]


def shard_counts(config: Config, scan: TextScan, uses_image: bool) -> dict[str, int]:
    """Shards per split: data.num_shards, or for 'auto' about SHARD_BYTES each, estimated from pass 1.

    Examples are estimated as captions x the examples per caption of a sample of
    records (a task may store one example per caption, or fewer, or add negatives).
    """
    if config.data.num_shards != "auto":
        return {s: config.data.num_shards for s in SPLITS}
    example_bytes = EXAMPLE_TEXT_BYTES + (config.data.image.size ** 2 * 3 if uses_image else 0)
    return {s: auto_shard_count(round(scan.captions[s] * scan.examples_per_caption * example_bytes)) for s in SPLITS}


def _encoder(config: Config, task, vocab: Vocabulary, target_vocab: Vocabulary | None) -> Encoder:
    """The settings every image of this run is encoded with."""
    def side(vocab, cfg):
        return TextSide(vocab, cfg.level, cfg.lowercase, cfg.max_length)

    data = config.data
    target = side(target_vocab, data.target_text) if target_vocab is not None else None
    return Encoder(side(vocab, data.text), task.frame_text, data.image.size, target)


def _jobs(config: Config, source, task, pools: dict) -> Iterator[EncodeJob]:
    """Pass 2's records as EncodeJobs: each image's examples are drawn here, where the caption pools are."""
    data = config.data
    hard_negative = getattr(source, "hard_negative", None)
    for record in source.read_records(data, config.seed, SkipLog("skip")):
        split = split_of(record.key, config.seed, data.split.val, data.split.test)
        rng = random.Random(f"{config.seed}:examples:{record.key}")
        examples = task.make_examples(record, rng, pools[split], data, hard_negative)
        rng.shuffle(examples)
        rows = tuple((caption, label, EXAMPLE_KINDS.index(kind), target[0] if target else None)
                     for caption, label, kind, *target in examples)
        yield EncodeJob(split, record.key, record.place, record.load_image if task.uses_image else None, rows)


def _write_processed(config: Config, out: Path, print_: str, quiet: bool) -> dict:
    from rich.progress import Progress

    from crossmodal_tf.data.shards import ShardWriter
    from crossmodal_tf.tasks import load_task

    data, text = config.data, config.data.text
    source = load_source(data.source)
    task = load_task(config.task)
    with_targets = task.target_text
    started = time.time()
    scan_skips = SkipLog(data.on_error)
    scan = _scan_text(config, source, task, scan_skips)
    scanned = time.time()
    images = scan.images
    if not images.get("train"):
        raise CmxError(f"data: the dataset is empty after filtering: no training images "
                       f"({sum(images.values())} images in all, {scan_skips.count} rows skipped"
                       + (f"; first: {scan_skips.examples[0]['place']}: {scan_skips.examples[0]['reason']}"
                          if scan_skips.examples else "") + ")")
    vocab = Vocabulary.build(scan.tokens, text.min_freq, text.max_size)
    vocab.save(out / "vocab.txt")
    target_vocab = None
    if with_targets:
        target_vocab = Vocabulary.build(scan.target_tokens, data.target_text.min_freq, data.target_text.max_size)
        target_vocab.save(out / "target_vocab.txt")

    num_shards = shard_counts(config, scan, task.uses_image)
    workers = resolve_workers(data.workers, sum(images.values()))
    writers = {s: ShardWriter(out, s, num_shards[s], config.seed) for s in SPLITS}
    skips = SkipLog(data.on_error)
    kinds = {s: Counter() for s in SPLITS}
    lengths: Counter = Counter()
    written_images = Counter()
    try:
        with Progress(disable=quiet, transient=True) as progress, \
                encoding(_encoder(config, task, vocab, target_vocab), workers) as encode:
            bar = progress.add_task("preprocess", total=sum(images.values()))
            for job, encoded in encode(_jobs(config, source, task, scan.pools)):
                progress.advance(bar)
                if encoded.bad_image is not None:
                    skips.add(job.place, encoded.bad_image)
                    continue
                written_images[job.split] += 1
                for serialized in encoded.serialized:
                    writers[job.split].write(serialized)
                lengths.update(encoded.lengths)
                kinds[job.split].update(EXAMPLE_KINDS[row[2]] for row in job.examples)
    finally:
        for writer in writers.values():
            writer.close()
    if not written_images["train"]:
        raise CmxError(f"data: the dataset is empty after filtering: every training image was skipped "
                       f"(first: {skips.examples[0]['place']}: {skips.examples[0]['reason']})" if skips.examples
                       else "data: the dataset is empty after filtering")

    all_skips = SkipLog()
    for log in (scan_skips, skips):
        all_skips.count += log.count
        all_skips.reasons.update(log.reasons)
        all_skips.examples.extend(log.examples[: SkipLog.KEEP - len(all_skips.examples)])
    stats = {
        "counts": {s: writers[s].count for s in SPLITS},
        "images": {s: written_images[s] for s in SPLITS},
        "examples_by_kind": {s: dict(kinds[s]) for s in SPLITS},
        "vocab_size": len(vocab),
        **({"target_vocab_size": len(target_vocab)} if target_vocab is not None else {}),
        "train_tokens": sum(scan.tokens.values()),
        "caption_length_histogram": {str(k): lengths[k] for k in sorted(lengths)},
        "skipped": all_skips.to_dict(),
        "task": config.task,
        "source": data.source,
        "image_size": data.image.size,
        "num_shards": num_shards,
        "workers": workers,
        "fingerprint": print_,
        "seconds": round(time.time() - started, 2),
        # pass 1 reads text in this process; pass 2 encodes the images in `workers` processes
        "seconds_by_pass": {"scan": round(scanned - started, 2), "encode": round(time.time() - scanned, 2)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats
