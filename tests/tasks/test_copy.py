"""Copy attention (model.copy): extended ids, the mixed distribution, and a word outside every vocabulary copied."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.copy_ids import extended_texts, source_copy_ids, target_copy_ids
from crossmodal_tf.data.text import Vocabulary

TARGET = Vocabulary(["<pad>", "<unk>", "<start>", "<end>", "note", "for"])  # 6 ids


def test_source_words_outside_the_target_vocabulary_get_ids_after_it_in_order_of_first_use():
    ids, oov = source_copy_ids("send a note for zed and zed ann".split(), TARGET)
    assert oov == ["send", "a", "zed", "and", "ann"]
    assert ids == [6, 7, 4, 5, 8, 9, 8, 10]


def test_a_target_word_the_source_has_is_copied_and_one_it_lacks_stays_unknown():
    _, oov = source_copy_ids(["zed", "note"], TARGET)
    assert target_copy_ids(["note", "for", "zed", "bob"], TARGET, oov) == [2, 4, 5, 6, 1, 3]
    assert extended_texts([[4, 5, 6, 3, 6]], TARGET, [oov], "word") == ["note for zed"]


def test_the_extended_distribution_sums_to_one_and_copies_by_the_attention_weights():
    import tensorflow as tf

    from crossmodal_tf.models.copy import CopyMix

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(2, 3, 6)), tf.float32)
    weights = tf.nn.softmax(tf.constant(rng.normal(size=(2, 3, 4)), tf.float32))
    gate = tf.constant(rng.uniform(size=(2, 3, 1)), tf.float32)
    ids = tf.constant([[6, 4, 7, 6], [5, 5, 0, 0]], tf.int32)  # row 2: two padded positions
    weights *= tf.constant([[1, 1, 1, 1], [1, 1, 0, 0]], tf.float32)[:, None]  # attention gives padding nothing
    weights /= tf.reduce_sum(weights, -1, keepdims=True)
    probs = np.exp(CopyMix(extra=4)([logits, weights, gate, ids]).numpy())
    assert probs.shape == (2, 3, 10)
    np.testing.assert_allclose(probs.sum(-1), 1.0, atol=1e-5)
    generated, copied = gate.numpy() * tf.nn.softmax(logits).numpy(), (1 - gate.numpy()) * weights.numpy()
    np.testing.assert_allclose(probs[0, :, 6], copied[0, :, 0] + copied[0, :, 3], atol=1e-6)  # one word, twice
    np.testing.assert_allclose(probs[0, :, 4], generated[0, :, 4] + copied[0, :, 1], atol=1e-6)
    assert probs[1, :, 6:].max() < 1e-9  # row 2's source has no word outside the vocabulary


def test_copy_is_refused_for_a_task_that_cannot_copy_and_without_attention(tmp_path):
    from crossmodal_tf.config import load_config
    from crossmodal_tf.errors import CmxError

    assert validate_config({"task": "seq2seq", "model": {"copy": True}}).model.copy
    with pytest.raises(CmxError, match="model.copy: .*set model.attention"):
        validate_config({"task": "summarize", "data": {"source": "parallel"},
                         "model": {"copy": True, "attention": "none"}})
    with pytest.raises(CmxError, match="model.copy: .*subword"):
        validate_config({"task": "seq2seq", "data": {"text": {"level": "subword"}}, "model": {"copy": True}})
    path = tmp_path / "caption.yaml"
    path.write_text("task: caption\nmodel: {copy: true}\n", encoding="utf-8")
    with pytest.raises(CmxError, match="model.copy") as refused:
        load_config(path)
    assert "\n" not in str(refused.value)
