"""The search index file and the top-K of a query, without a model."""

import numpy as np

from crossmodal_tf.retrieval_scores import top_matches
from crossmodal_tf.stages.search import SearchIndex


def test_top_matches_are_the_best_scores_best_first():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]], np.float32)
    best, scores = top_matches(gallery, np.array([0.8, 0.6], np.float32), 3)
    assert best.tolist() == [2, 0, 1]
    assert np.allclose(scores, [0.96, 0.8, 0.6])
    assert top_matches(gallery, np.array([1.0, 0.0], np.float32), 10)[0].tolist() == [0, 2, 1, 3]


def test_index_round_trips_through_its_file(tmp_path):
    index = SearchIndex(np.array(["img-1", "img-2"]), np.eye(2, dtype=np.float32),
                        np.array(["a red circle", "a blue square", "a blue square above it"]),
                        np.ones((3, 2), np.float32) / np.sqrt(2), np.array([0, 1]))
    index.save(tmp_path / "test.npz")
    loaded = SearchIndex.load(tmp_path / "test.npz")
    for name in SearchIndex.__dataclass_fields__:
        assert np.array_equal(getattr(loaded, name), getattr(index, name))
    assert loaded.captions[2] == "a blue square above it"
    assert not list(tmp_path.glob(".*tmp*"))

