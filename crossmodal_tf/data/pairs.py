"""Match examples: each image's positive captions plus random and hard negatives."""

from __future__ import annotations

import random
from typing import Callable

from crossmodal_tf.data.records import Record
from crossmodal_tf.data.text import normalize

EXAMPLE_KINDS = ("positive", "random_negative", "hard_negative", "labelled")  # stored as their index


class CaptionPool:
    """A bounded, uniform sample of (canonical, caption) pairs of one split (reservoir sampling).

    Random negatives are drawn from it; its size is fixed so memory does not grow
    with the number of records.
    """

    def __init__(self, size: int, rng: random.Random):
        self.size, self.rng, self.seen = size, rng, 0
        self.items: list[tuple[str, str]] = []

    def add(self, canonical: str, caption: str) -> None:
        self.seen += 1
        if len(self.items) < self.size:
            self.items.append((canonical, caption))
        else:
            slot = self.rng.randrange(self.seen)
            if slot < self.size:
                self.items[slot] = (canonical, caption)

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
            examples.append((hard_negative(record, rng), 0, "hard_negative"))
            continue
        caption = pool.draw_other(record, rng)
        if caption is not None:
            examples.append((caption, 0, "random_negative"))
    return examples
