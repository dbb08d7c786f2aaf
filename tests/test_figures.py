"""Report figures and page pieces: PNG bytes, the ROC computation, the learning-curve groups, escaping."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf import figures
from crossmodal_tf.report.page import Section, card, render, table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_roc_curve_matches_the_pairwise_definition():
    """The area equals P(score of a positive > score of a negative), the definition of ROC AUC."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300).astype(float)
    scores = rng.random(300) + 0.3 * labels
    _, _, area = figures.roc_curve(labels, scores)
    positives, negatives = scores[labels == 1], scores[labels == 0]
    pairwise = (positives[:, None] > negatives[None, :]).mean()
    assert area == pytest.approx(pairwise, abs=1e-9)


def test_curve_groups_pair_train_and_val():
    history = [{"epoch": 1, "epoch_time_s": 2.0, "loss": 1.0, "val_loss": 1.2, "auc": 0.6, "val_auc": 0.5}]
    assert figures.curve_groups(history) == {"auc": ["auc", "val_auc"], "loss": ["loss", "val_loss"]}


def test_figures_are_png():
    labels = np.array([0, 1, 1, 0, 1], float)
    scores = np.array([0.2, 0.9, 0.4, 0.7, 0.8])
    history = [{"epoch": e, "loss": 1 / e, "val_loss": 1.1 / e} for e in (1, 2, 3)]
    for png in (figures.learning_curves(history), figures.roc_figure(labels, scores),
                figures.confusion_figure(labels, scores >= 0.5)):
        assert png.startswith(PNG_MAGIC)


def test_image_png_is_downscaled():
    from io import BytesIO

    from PIL import Image

    png = figures.image_png(np.zeros((300, 200, 3), np.uint8), max_side=64)
    assert max(Image.open(BytesIO(png)).size) == 64


def test_page_escapes_text_and_inlines_images():
    page = render("<run>", "sub", [Section("s", table(["a"], [["<b>x</b>"]])
                                           + card(figures.image_png(np.zeros((4, 4, 3), np.uint8)), "i", ["<i>"]))])
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page and "&lt;i&gt;" in page
    assert 'src="data:image/png;base64,' in page and "<script" not in page
