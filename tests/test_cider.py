"""CIDEr-D on captions whose score is worked out by hand."""

from __future__ import annotations

import math

import pytest

from crossmodal_tf.text_scores import caption_scores, cider_d


def test_a_small_set_scores_what_counting_by_hand_gives():
    # Two photos. "a" is in both photos' references, so its idf is log 2 − log 2 = 0; every other
    # n-gram is in one photo's references only and weighs w = log 2. With weights (0, w, ...):
    # photo 1, "a dog" against "a dog runs": orders 1 and 2 have cosine w²/(w·√2·w) = 1/√2, a length
    # gap of 1 word (penalty e^(−1/72)), orders 3 and 4 nothing; against "a dog": cosine 1 for orders
    # 1 and 2. Mean over 4 orders and 2 references, × 10: 10·(2 + 2c)/8 with c = e^(−1/72)/√2.
    # Photo 2, "a cat" against "a cat sits" alone: 10·2c/4. The corpus score is their mean.
    c = math.exp(-1 / 72) / math.sqrt(2)
    expected = (10 * (2 + 2 * c) / 8 + 10 * 2 * c / 4) / 2
    score = cider_d(["a dog", "a cat"], [["a dog runs", "a dog"], ["a cat sits"]])
    assert score == pytest.approx(expected, rel=1e-12)
    assert score == pytest.approx(3.865077, abs=1e-6)


def test_the_length_penalty_has_sigma_six():
    # each hypothesis equal to its one reference: cosine 1 for orders 1 and 2, no 3- or 4-grams
    refs = [["x y"], ["p q"]]
    same = cider_d(["x y", "p q"], refs)
    assert same == pytest.approx(10 * 2 / 4)   # orders 1 and 2 match exactly, 3 and 4 are empty
    # padding both hypotheses with 6 words no reference has: Δ = 6 gives the factor e^(−36/72) and
    # the new n-grams lengthen the hypothesis vectors (weight log 2 each, as their df counts as 1)
    padded = cider_d(["x y z z z z z z", "p q z z z z z z"], refs)
    assert padded < same * math.exp(-0.5) + 1e-12


def test_repeating_a_matched_word_is_clipped_not_rewarded():
    refs = [["a dog runs"], ["a cat sits"]]
    once = cider_d(["dog", "cat"], refs)
    repeated = cider_d(["dog dog dog", "cat cat cat"], refs)
    assert repeated < once


def test_a_caption_given_to_every_photo_scores_zero_when_every_photo_has_its_words():
    refs = [["a man in a red shirt"], ["a man in a park"], ["a man in a boat"]]
    assert cider_d(["a man in a"] * 3, refs) == 0.0
    assert cider_d(["a man in a red shirt", "a man in a park", "a man in a boat"], refs) > 1.0


def test_characters_are_scored_one_by_one_and_mismatched_lists_are_refused():
    assert cider_d(["ab", "cd"], [["ab"], ["cd"]], level="char") == pytest.approx(10 * 2 / 4)
    with pytest.raises(ValueError, match="2 hypotheses but 1"):
        cider_d(["a", "b"], [["a"]])
    assert cider_d([], []) == 0.0


def test_caption_scores_report_cider_d_beside_bleu():
    scores = caption_scores(["a dog", "a cat"], [["a dog runs", "a dog"], ["a cat sits"]])
    assert set(scores) == {"bleu1", "bleu2", "bleu3", "bleu4", "cider_d"}
    assert scores["cider_d"] == pytest.approx(3.865077, abs=1e-6)
