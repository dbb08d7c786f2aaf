"""Each epoch's own pick of the match examples (train.negatives, data.negatives.train_ratio): the plan's arithmetic,
the stored pool, and the tf.data epochs it makes."""

from __future__ import annotations

from collections import Counter

import pytest

from crossmodal_tf.config.sections import EpochNegativesConfig
from crossmodal_tf.data.epoch_pick import plan_epoch_pick
from crossmodal_tf.data.pairs import EXAMPLE_KINDS
from crossmodal_tf.preprocessing import preprocess

KIND = {name: index for index, name in enumerate(EXAMPLE_KINDS)}
POOL = {"positive": 100, "random_negative": 100, "hard_negative": 100}


def test_no_hard_fraction_means_no_pick():
    assert plan_epoch_pick(EpochNegativesConfig(), POOL) is None


def test_each_epoch_keeps_every_positive_and_its_share_of_hard_negatives():
    pick = plan_epoch_pick(EpochNegativesConfig(hard_fraction=[0.0, 0.25, 1.0]), POOL)
    assert pick.size == 200  # 100 positives + 1 negative per positive
    assert pick.keep_row(0)[KIND["positive"]] == 1.0
    assert (pick.keep_row(0)[KIND["random_negative"]], pick.keep_row(0)[KIND["hard_negative"]]) == (1.0, 0.0)
    assert (pick.keep_row(1)[KIND["random_negative"]], pick.keep_row(1)[KIND["hard_negative"]]) == (0.75, 0.25)
    assert pick.keep_row(2) == pick.keep_row(9)  # the last value holds for the later epochs
    assert (pick.keep_row(9)[KIND["random_negative"]], pick.keep_row(9)[KIND["hard_negative"]]) == (0.0, 1.0)


def test_a_pool_short_of_a_kind_keeps_all_of_it_and_the_share_asked_for():
    pool = {"positive": 100, "random_negative": 150, "hard_negative": 40}
    pick = plan_epoch_pick(EpochNegativesConfig(hard_fraction=[0.8], per_positive=1.5), pool)
    assert pick.size == 250
    # 150 negatives wanted, 120 of them hard, but only 40 stored: all of those, and no more random ones than 30
    assert pick.keep_row(0)[KIND["hard_negative"]] == 1.0
    assert pick.keep_row(0)[KIND["random_negative"]] == pytest.approx(30 / 150)
    manifest = {"positive": 100, "random_negative": 100}  # a source without hard negatives
    assert plan_epoch_pick(EpochNegativesConfig(hard_fraction=[0.5]), manifest).keep_row(0)[
        KIND["random_negative"]] == 0.5


@pytest.fixture(scope="module")
def pooled(tmp_path_factory, tiny_loader):
    """The tiny config with two stored negatives per train positive (epochs: half a negative per positive, random
    ones, then hard ones), preprocessed, and the same without the pool."""
    sets = ["data.shapes.num_images=60", "data.negatives.positives_per_image=1"]
    root = tmp_path_factory.mktemp("pool")
    plain = tiny_loader(root / "plain", *sets)
    config = tiny_loader(root / "pooled", *sets, "data.negatives.train_ratio=2",
                         "train.negatives.hard_fraction=[0,1]", "train.negatives.per_positive=0.5")
    return config, preprocess(config), preprocess(plain)


def test_train_ratio_stores_more_negatives_in_the_train_split_only(pooled):
    _, stats, plain = pooled
    kinds, plain_kinds = stats["examples_by_kind"], plain["examples_by_kind"]
    positives = kinds["train"]["positive"]
    assert kinds["train"]["random_negative"] + kinds["train"]["hard_negative"] == 2 * positives
    for split in ("val", "test"):  # evaluated on exactly the examples of the config without the pool
        assert kinds[split] == plain_kinds[split]
    assert stats["fingerprint"] != plain["fingerprint"]


@pytest.mark.slow  # builds and reads the tf.data pipeline six times: about 7-12 s
def test_epochs_follow_the_curriculum_have_one_size_and_resume_exactly(pooled):
    from crossmodal_tf.data.pipeline import make_training_dataset

    config, stats, _ = pooled
    pick = plan_epoch_pick(config.train.negatives, stats["examples_by_kind"]["train"])
    steps = -(-pick.size // 8)

    def batches(first_epoch=0, skip=0):
        dataset = make_training_dataset(config.processed_dir, "train", stats["counts"]["train"], 8,
                                        config.data.image.size, seed=3, shuffle_buffer=50, first_epoch=first_epoch,
                                        epochs=3, skip_batches=skip, pick=pick)
        return [[(key, int(kind)) for key, kind in zip(b["key"].numpy(), b["kind"].numpy())] for b in dataset]

    stream = batches()
    assert len(stream) == 3 * steps
    epochs = [sum(stream[e * steps:(e + 1) * steps], []) for e in range(3)]
    assert [len(epoch) for epoch in epochs] == [pick.size] * 3
    first = Counter(EXAMPLE_KINDS[kind] for _, kind in epochs[0])
    later = Counter(EXAMPLE_KINDS[kind] for _, kind in epochs[1] + epochs[2])
    assert first["hard_negative"] == 0 and first["random_negative"] > 0  # random negatives only, then hard ones
    assert later["random_negative"] == 0 and later["hard_negative"] > 0
    assert epochs[1] != epochs[2]  # each epoch its own draw and order
    assert batches() == stream  # a function of (seed, epoch) alone
    assert batches(first_epoch=1, skip=3) == stream[steps + 3:]  # what a run resumed there sees
    # a worker of a multi-worker run picks from its share: its first batches are epoch 1's, random negatives only
    share = make_training_dataset(config.processed_dir, "train", stats["counts"]["train"], 8, config.data.image.size,
                                  seed=3, shuffle_buffer=50, first_epoch=0, epochs=3, pick=pick, worker=(0, 2))
    kinds = [EXAMPLE_KINDS[int(k)] for batch in share.take(steps // 3) for k in batch["kind"].numpy()]
    assert "hard_negative" not in kinds and "random_negative" in kinds
