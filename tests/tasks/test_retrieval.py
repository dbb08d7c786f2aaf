"""The retrieval task's examples and model: every matching caption is a positive; embeddings are unit vectors."""

import random

import numpy as np

from crossmodal_tf.config import Config
from crossmodal_tf.data.records import Record
from crossmodal_tf.data.sources.shapes import hard_negative, make_record
from crossmodal_tf.tasks import retrieval


def test_every_caption_is_a_positive_and_labelled_mismatches_are_left_out():
    data = Config.model_validate({"task": "retrieval"}).data
    record = make_record(3, seed=0, image_size=32)
    examples = retrieval.make_examples(record, random.Random(0), None, data, hard_negative)
    assert sorted(examples) == sorted((c, 1, "positive") for c in record.captions)
    labelled = Record("img", ("a dog", "a cat"), lambda: None, labels=(1, 0))
    assert retrieval.make_examples(labelled, random.Random(0), None, data, None) == [("a dog", 1, "positive")]


def test_model_embeds_both_inputs_as_unit_vectors_and_scores_a_batch():
    config = Config.model_validate({"task": "retrieval", "data": {"image": {"size": 16}},
                                    "model": {"text": {"units": 8, "embedding_dim": 4},
                                              "image": {"filters": [4]}, "embedding": {"dim": 6}}})
    model = retrieval.build_model(config, vocab_size=20)
    encoders = retrieval.build_encoders(model)
    texts = np.array([[4, 5, 6], [7, 8, 0]], np.int32)
    images = np.random.default_rng(0).integers(0, 255, (3, 16, 16, 3)).astype(np.uint8)
    assert np.allclose(np.linalg.norm(encoders["text"](texts).numpy(), axis=1), 1, atol=1e-5)
    assert encoders["image"](images).numpy().shape == (3, 6)
    logits = model({"text": texts[:, :2], "image": images[:2]}).numpy()
    assert logits.shape == (2, 2) and np.all(np.abs(logits) <= 1 / 0.07 + 1e-3)
    assert abs(retrieval.temperature(model) - 0.07) < 1e-6
