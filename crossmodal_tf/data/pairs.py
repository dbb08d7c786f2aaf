"""Match examples: each image's positive captions plus random and hard negatives."""

from __future__ import annotations

import functools
import hashlib
import heapq
import random
from typing import Callable

from crossmodal_tf.data.records import Record
from crossmodal_tf.data.text import normalize

EXAMPLE_KINDS = ("positive", "random_negative", "hard_negative", "labelled")  # stored as their index


class CaptionPool:
    """A bounded, uniform sample of (canonical, caption) pairs of one split: the `size` of them whose hashes are
    smallest (bottom-k sampling).

    Random negatives are drawn from it; its size is fixed so memory does not grow
    with the number of records. A pair's hash depends on the salt, its image's key and
    the caption's place in the record alone, so pools filled from parts of the data,
    in any order, and then merged hold the same pairs in the same order as one pool
    filled from all of it: preprocess workers each fill one for their part.
    """

    def __init__(self, size: int, salt: str):
        self.size, self.salt = size, salt
        self.heap: list[tuple[int, str, str]] = []  # (-hash, canonical, caption): the largest kept hash on top

    def add(self, key: str, position: int, canonical: str, caption: str) -> None:
        """Offer the caption at `position` of the record with `key`."""
        digest = hashlib.blake2b(f"{self.salt}:{key}:{position}".encode(), digest_size=8).digest()
        self._offer((-int.from_bytes(digest, "big"), canonical, caption))

    def _offer(self, item: tuple[int, str, str]) -> None:
        self.__dict__.pop("items", None)  # items is made again when next read
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, item)
        elif item > self.heap[0]:  # a smaller hash than the largest kept one
            heapq.heapreplace(self.heap, item)

    def merge(self, other: "CaptionPool") -> None:
        """Add another part's pool: the result is the pool of both parts' pairs."""
        for item in other.heap:
            self._offer(item)

    @functools.cached_property
    def items(self) -> list[tuple[str, str]]:
        """The kept (canonical, caption) pairs, by hash: the same list however the pool was filled."""
        return [(canonical, caption) for _, canonical, caption in sorted(self.heap, reverse=True)]

    def __len__(self) -> int:
        return len(self.heap)

    def draw_other(self, record: Record, rng: random.Random, tries: int = 50) -> str | None:
        """A caption that describes something else than `record`, or None if none is found."""
        own = {normalize(c) for c in record.captions}
        for _ in range(tries if self.items else 0):
            canonical, caption = rng.choice(self.items)
            if canonical != record.canonical and normalize(caption) not in own:
                return caption
        return None


def match_pairs(record: Record, rng: random.Random, pool: CaptionPool, negatives_config,
                hard_negative: Callable[[Record, random.Random], str] | None) -> list[tuple[str, int, str]]:
    """(caption, label, kind) examples for one image; kind is one of EXAMPLE_KINDS.

    Rows that carry their own labels are used as they are. Otherwise each image gives
    positives_per_image captions, and ratio negatives per positive, a hard_fraction of
    them with exactly one attribute changed (when the source can make such captions).
    """
    if record.labels is not None:
        return [(c, label, "labelled") for c, label in zip(record.captions, record.labels)]
    count = min(negatives_config.positives_per_image, len(record.captions))
    examples = [(c, 1, "positive") for c in rng.sample(record.captions, count)]
    wanted = negatives_config.ratio * count
    negatives = int(wanted) + (1 if rng.random() < wanted - int(wanted) else 0)
    for _ in range(negatives):
        if hard_negative is not None and rng.random() < negatives_config.hard_fraction:
            caption = hard_negative(record, rng)  # None: no change avoids a held-out combination
            if caption is not None:
                examples.append((caption, 0, "hard_negative"))
            continue
        caption = pool.draw_other(record, rng)
        if caption is not None:
            examples.append((caption, 0, "random_negative"))
    return examples
