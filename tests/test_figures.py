"""Report figures and page pieces: PNG bytes, the ROC computation, the learning-curve groups, escaping."""

from __future__ import annotations

import numpy as np
import pytest

from crossmodal_tf import figures
from crossmodal_tf.report_page import Section, card, example, render, table

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


def _photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A photo-like uint8 image: smooth colour gradients under sensor-like noise (every pixel differs)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([150 + 80 * np.sin(3 * x + 1), 110 + 60 * np.cos(4 * y), 90 + 50 * np.sin(2 * (x + y))], -1)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def _decoded(picture) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(picture.data)).convert("RGB"))


def test_a_small_drawing_is_lossless_png_shown_enlarged_with_sharp_pixels():
    """A 32 px shapes-like drawing (pixel noise included, as the shapes source draws it: JPEG would be the
    smaller file) stays PNG, pixel for pixel, and the page enlarges it to 96 px."""
    drawing = np.full((32, 32, 3), 232, np.int16)
    drawing[8:20, 10:24] = (200, 30, 30)
    drawing = np.clip(drawing + np.random.default_rng(1).integers(-10, 11, drawing.shape), 0, 255).astype(np.uint8)
    picture = figures.example_image(drawing)
    assert picture.mime == "image/png" and picture.data.startswith(PNG_MAGIC) and not picture.photo
    np.testing.assert_array_equal(_decoded(picture), drawing)
    html = example(picture, "d")
    assert 'class="example"' in html and 'src="data:image/png;base64,' in html


def test_a_photo_is_jpeg_at_its_size_with_its_colours():
    """A 128 px photo becomes a JPEG several times smaller than its PNG, the same size, colours kept."""
    from io import BytesIO

    from PIL import Image

    photo = _photo(128, 128)
    picture = figures.example_image(photo)
    assert picture.mime == "image/jpeg" and picture.photo and picture.data.startswith(b"\xff\xd8")
    buffer = BytesIO()
    Image.fromarray(photo).save(buffer, format="PNG", optimize=True)
    assert len(picture.data) * 3 < len(buffer.getvalue())
    decoded = _decoded(picture)
    assert decoded.shape == photo.shape
    np.testing.assert_allclose(decoded.reshape(-1, 3).mean(0), photo.reshape(-1, 3).mean(0), atol=2)  # RGB, not BGR
    assert np.abs(decoded.astype(int) - photo).mean() < 10
    html = example(picture, "p")
    assert 'class="photo"' in html and 'src="data:image/jpeg;base64,' in html


def test_a_large_photo_is_shrunk_keeping_its_aspect():
    picture = figures.example_image(_photo(300, 200))
    assert _decoded(picture).shape == (figures.EXAMPLE_SIDE, round(figures.EXAMPLE_SIDE * 200 / 300), 3)
    assert _decoded(figures.example_image(_photo(300, 200), max_side=64)).shape[:2] == (64, 43)


def test_page_escapes_text_and_inlines_images():
    page = render("<run>", "sub", [Section("s", table(["a"], [["<b>x</b>"]])
                                           + card(figures.example_image(np.zeros((4, 4, 3), np.uint8)), "i", ["<i>"]))])
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page and "&lt;i&gt;" in page
    assert 'src="data:image/png;base64,' in page and "<script" not in page
