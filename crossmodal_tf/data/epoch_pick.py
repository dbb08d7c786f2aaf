"""Each epoch's pick of the train split's stored match examples: every positive, and negatives with a hard share
that may change from epoch to epoch (train.negatives), drawn from a larger stored pool (data.negatives.train_ratio).

A curriculum ([0, 0, 0.5]: random negatives only in the first two epochs) and a share of hard negatives other
than the stored one both come from here. Which examples an epoch keeps is a function of (seed, epoch) alone, so a
run resumed mid-epoch sees the batches an uninterrupted run would have seen. On a multi-worker strategy each
worker picks from its own share of the examples the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossmodal_tf.data.pairs import EXAMPLE_KINDS

ALWAYS_KEPT = ("positive", "labelled")


@dataclass(frozen=True)
class EpochPick:
    """The examples of every epoch (size) and, per epoch, the probability of keeping a stored example of each kind
    (keep[epoch][kind index], kinds as EXAMPLE_KINDS; the last row holds for the later epochs)."""

    size: int
    keep: tuple[tuple[float, ...], ...]

    def keep_row(self, epoch: int) -> tuple[float, ...]:
        """The keep probabilities of epoch (0-based)."""
        return self.keep[min(epoch, len(self.keep) - 1)]


def plan_epoch_pick(negatives_cfg, by_kind: dict) -> EpochPick | None:
    """The pick of train.negatives (negatives_cfg) from the stored train examples counted by kind (stats.json's
    examples_by_kind["train"]); None when hard_fraction is null (every epoch trains on every stored example).

    An epoch holds every positive (and labelled row) and per_positive negatives per positive,
    hard_fraction of them hard and the rest random. When the pool holds fewer of a kind than
    that, the epoch keeps all of them and repeats some of its examples to keep its size: the
    hard share stays the one asked for (store more with data.negatives.train_ratio).
    """
    if negatives_cfg.hard_fraction is None:
        return None
    kept = sum(by_kind.get(kind, 0) for kind in ALWAYS_KEPT)
    stored = {kind: by_kind.get(kind, 0) for kind in ("random_negative", "hard_negative")}
    wanted = round(negatives_cfg.per_positive * by_kind.get("positive", 0))
    rows = []
    for fraction in negatives_cfg.hard_fraction:
        want = {"random_negative": (1 - fraction) * wanted, "hard_negative": fraction * wanted}
        chance = {kind: min(1.0, want[kind] / stored[kind]) if stored[kind] else 0.0 for kind in stored}
        rows.append(tuple(1.0 if kind in ALWAYS_KEPT else chance[kind] for kind in EXAMPLE_KINDS))
    return EpochPick(size=kept + wanted, keep=tuple(rows))


def pick_epoch(examples, pick: EpochPick, epoch, seed):
    """The epoch's examples (a tf.data.Dataset of parsed examples, in their stored order) that the pick keeps.

    epoch is a scalar tensor; seed an int64 scalar that, with each example's place in the
    stored order, seeds that example's draw: the same examples for the same (seed, epoch).
    The result is not shuffled and holds about pick.size examples; cut it to exactly that
    with .repeat().take(pick.size) after shuffling.
    """
    import tensorflow as tf

    table = tf.constant(pick.keep, tf.float32)
    row = tf.gather(table, tf.minimum(tf.cast(epoch, tf.int64), len(pick.keep) - 1))

    def kept(index, example):
        draw = tf.random.stateless_uniform([], seed=tf.stack([tf.cast(seed, tf.int64), index]))
        return draw < tf.gather(row, example["kind"])

    return examples.enumerate().filter(kept).map(lambda index, example: example)
