"""caption's evaluate hook with fixed outputs: each image's greedy caption is scored against that image's own
references, in any batching; token metrics on a fixed bigram model; the scores' plumbing by value.

The decoder is a ScriptedGenerator that writes, for an image whose first pixel is c, the caption SCRIPTS[c].
The first test takes the (keys, images, references) triple as given; the last two read the references from the
dataset's raw captions (images_with_references).
"""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
from scripted_models import VOCAB, BigramModel, ScriptedGenerator, bigram_table, fake_run, framed, ids, padded

from crossmodal_tf.tasks import caption
from crossmodal_tf.text_scores import caption_scores

SIZE = 4
SCRIPTS = {0: "a big red circle", 1: "a small blue square", 2: "a big red circle"}
# image key → (its first pixel, its references); images 0 and 2 get the same caption, each one of its references
IMAGES = {"k0": (0, ["a big red circle", "the big red circle"]), "k1": (1, ["a small blue square"]),
          "k2": (2, ["a small square is red", "a big red circle"])}


def config(batch_size: int):
    text = SimpleNamespace(level="word", max_length=6)
    bans = SimpleNamespace(min_length=0, no_repeat_ngram_size=0)  # no bans: the scripted captions as written
    return SimpleNamespace(data=SimpleNamespace(text=text), eval=SimpleNamespace(batch_size=batch_size), sample=bans)


def image(code: int) -> np.ndarray:
    pixels = np.full((SIZE, SIZE, 3), 200, np.uint8)
    pixels[0, 0, 0] = code
    return pixels


def scripted(model, config):
    """caption.generator's stand-in: the scripted captions, chosen by each image's first pixel."""
    return ScriptedGenerator({c: ids(t) for c, t in SCRIPTS.items()}, lambda inputs: inputs["image"][:, 0, 0, 0])


def batches(rows: list[tuple[str, str]], size: int) -> list[dict]:
    """Parsed batches of (image key, caption) rows."""
    import tensorflow as tf

    return [{"key": tf.constant([k.encode() for k, _ in part]),
             "image": tf.constant(np.stack([image(IMAGES[k][0]) for k, _ in part])),
             "text": tf.constant(padded([framed(t) for _, t in part])),
             "raw_text": tf.constant([t.encode() for _, t in part])}
            for part in (rows[i:i + size] for i in range(0, len(rows), size))]


ROWS = [(key, reference) for key, (_, references) in IMAGES.items() for reference in references]
TABLE = bigram_table({})  # every next token equally likely: perplexity = the vocabulary's size


@pytest.mark.parametrize("order, batch_size", [([0, 1, 2], 2), ([2, 0, 1], 1), ([1, 2, 0], 3)])
def test_each_caption_is_scored_against_its_own_images_references(monkeypatch, order, batch_size):
    keys = [list(IMAGES)[i] for i in order]
    given = (keys, np.stack([image(IMAGES[k][0]) for k in keys]), [IMAGES[k][1] for k in keys])
    monkeypatch.setattr(caption, "images_with_references", lambda *args, **kwargs: given)
    monkeypatch.setattr(caption, "generator", scripted)
    run = fake_run(config(batch_size), Counter({4: 1}), task=caption.TASK)
    results = caption.evaluate(run, BigramModel(TABLE), batches(ROWS, 2))
    # every caption is one of its own image's references, word for word: BLEU-1…4 are 1
    assert [results[f"bleu{n}"] for n in (1, 2, 3, 4)] == pytest.approx([1.0] * 4)
    hypotheses = [SCRIPTS[IMAGES[k][0]] for k in keys]
    assert results["cider_d"] == pytest.approx(caption_scores(hypotheses, given[2])["cider_d"])
    assert results["images"] == 3
    assert results["unique_caption_share"] == pytest.approx(1 / 3)  # k0 and k2 share "a big red circle"
    # the teacher-forced figures of a uniform model: perplexity is the vocabulary's size, over 5 + 5 + 5 + 6 + 5
    # targets (each reference's words and <end>)
    assert results["perplexity"] == pytest.approx(len(VOCAB), rel=1e-5) and results["tokens"] == 26


def test_a_caption_paired_with_another_images_references_scores_less():
    """The figures above are not a property of the captions alone: rotated by one image, BLEU falls."""
    hypotheses = [SCRIPTS[IMAGES[k][0]] for k in IMAGES]
    references = [IMAGES[k][1] for k in IMAGES]
    rotated = caption_scores(hypotheses[1:] + hypotheses[:1], references)
    # by hand: "a small blue square" | "a big red circle" | "a big red circle" against k0's, k1's, k2's
    # references: n-grams matched 1 + 1 + 4 of 12, 0 + 0 + 3 of 9, 2 of 6, 1 of 3; lengths as the closest
    # references' (no brevity penalty)
    assert rotated["bleu1"] == pytest.approx(6 / 12)
    assert rotated["bleu4"] == pytest.approx((6 / 12 * 3 / 9 * 2 / 6 * 1 / 3) ** 0.25)


# --- the references as images_with_references reads them: the captions as written ----------------------------
def test_images_with_references_groups_each_images_captions_in_first_seen_order():
    rows = [("k1", "a small blue square"), ("k0", "a red circle"), ("k1", "the blue square"), ("k0", "the circle")]
    keys, images, references = caption.images_with_references(batches(rows, 3))
    assert keys == ["k1", "k0"]
    assert [int(i[0, 0, 0]) for i in images] == [1, 0]
    assert references == [["a small blue square", "the blue square"], ["a red circle", "the circle"]]


def test_evaluate_pairs_captions_with_the_datasets_references(monkeypatch):
    monkeypatch.setattr(caption, "generator", scripted)
    rows = [("k1", "a small blue square"), ("k2", "a small square is red"), ("k0", "the big red circle"),
            ("k2", "a big red circle")]
    results = caption.evaluate(fake_run(config(2), Counter({4: 1}), task=caption.TASK), BigramModel(TABLE),
                               batches(rows, 3))
    # k1 and k2 written as one of their references; k0's "a big red circle" against "the big red circle" alone:
    # 1-grams 4 + 4 + 3 of 12, 2-grams 3 + 3 + 2 of 9, 3-grams 2 + 2 + 1 of 6, 4-grams 1 + 1 + 0 of 3
    assert results["bleu1"] == pytest.approx(11 / 12)
    assert results["bleu2"] == pytest.approx((11 / 12 * 8 / 9) ** 0.5)
    assert results["bleu4"] == pytest.approx((11 / 12 * 8 / 9 * 5 / 6 * 2 / 3) ** 0.25)
    assert results["images"] == 3 and results["unique_caption_share"] == pytest.approx(1 / 3)
