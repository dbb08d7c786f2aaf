"""Ranks, recall@K and median rank from hand-made similarity matrices, including shared captions."""

import numpy as np
import pytest

from crossmodal_tf import retrieval_scores
from crossmodal_tf.retrieval_scores import first_hit_ranks, ranks_of, recall_scores


def test_rank_is_that_of_the_best_relevant_item():
    similarity = np.array([[0.9, 0.5, 0.1],
                           [0.9, 0.5, 0.1],
                           [0.2, 0.3, 0.8]])
    relevant = np.eye(3, dtype=bool)
    assert first_hit_ranks(similarity, relevant).tolist() == [1, 2, 1]


def test_a_shared_caption_counts_any_of_its_images_as_a_hit():
    # caption 0 ("a small red circle") describes images 1 and 2; image 0 is the top match but not relevant
    similarity = np.array([[0.9, 0.2, 0.7, 0.1]])
    only_image_1 = np.array([[False, True, False, False]])
    images_1_and_2 = np.array([[False, True, True, False]])
    assert first_hit_ranks(similarity, only_image_1).tolist() == [3]
    assert first_hit_ranks(similarity, images_1_and_2).tolist() == [2]


def test_ties_count_against_the_query_and_no_relevant_item_is_never_a_hit():
    constant = np.zeros((2, 4))
    relevant = np.array([[True, False, False, False], [False, False, False, False]])
    assert first_hit_ranks(constant, relevant).tolist() == [4, 5]


def test_recall_and_median_rank():
    scores = recall_scores(np.array([1, 2, 6, 11, 3]), "t2i")
    assert scores == {"t2i_r1": 0.2, "t2i_r5": 0.6, "t2i_r10": 0.8, "t2i_median_rank": 3.0}
    assert recall_scores(np.array([], int), "i2t") == {}


def test_ranks_of_chunks_rows_and_reads_pairs_both_ways(monkeypatch):
    monkeypatch.setattr(retrieval_scores, "ROWS_PER_CHUNK", 2)  # several chunks for 5 queries
    rng = np.random.default_rng(0)
    texts, images = rng.normal(size=(5, 4)), rng.normal(size=(3, 4))
    pairs = np.array([[0, 0], [1, 0], [2, 1], [3, 2], [4, 2], [4, 1]])  # (caption, image); caption 4 has two images
    relevant = np.zeros((5, 3), bool)
    relevant[pairs[:, 0], pairs[:, 1]] = True
    similarity = texts @ images.T
    assert ranks_of(texts, images, pairs).tolist() == first_hit_ranks(similarity, relevant).tolist()
    assert ranks_of(images, texts, pairs[:, ::-1]).tolist() == first_hit_ranks(similarity.T, relevant.T).tolist()


@pytest.mark.parametrize("k", [1, 5, 10])
def test_recall_never_falls_as_k_grows(k):
    ranks = np.arange(1, 21)
    assert recall_scores(ranks, "x")[f"x_r{k}"] == pytest.approx(k / 20)
