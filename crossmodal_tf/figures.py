"""Figures of a run as PNG bytes (matplotlib, Agg backend): learning curves, ROC curve, confusion matrix; and
example images (drawings or photos) encoded for a report page."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodal_tf.atomic import write_bytes_atomic
from crossmodal_tf.run_dir import RunDir

DPI = 80  # small enough that a report with every figure stays well under a megabyte
EXAMPLE_SIDE = 160  # example images (photos) larger than this are shrunk for the report
SMALL_SIDE = 96  # example images smaller than this are enlarged to 96 px by the page (report_page.py, img.example)
JPEG_QUALITY = 85  # photos in a report: no visible loss at thumbnail size


def _pyplot():
    # Agg renders to memory without a display; selecting it here keeps `import crossmodal_tf` free of matplotlib
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def curve_groups(history: list[dict]) -> dict[str, list[str]]:
    """The history's metric names grouped by what they measure: {"loss": ["loss", "val_loss"], ...}."""
    groups: dict[str, list[str]] = {}
    for key in sorted({k for row in history for k in row} - {"epoch", "epoch_time_s", "learning_rate"}):
        groups.setdefault(key.removeprefix("val_"), []).append(key)
    return {name: sorted(keys, key=lambda k: k.startswith("val_")) for name, keys in groups.items()}


def learning_curves(history: list[dict]) -> bytes:
    """One panel per metric (train and val lines) over the epochs, as PNG bytes."""
    plt = _pyplot()
    groups = curve_groups(history)
    figure, axes = plt.subplots(1, max(1, len(groups)), figsize=(4 * max(1, len(groups)), 3), squeeze=False)
    epochs = [row["epoch"] for row in history]
    for axis, (name, keys) in zip(axes[0], groups.items()):
        for key in keys:
            values = [row.get(key, np.nan) for row in history]
            axis.plot(epochs, values, marker="o", markersize=3, label="val" if key.startswith("val_") else "train")
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    return _png(figure)


def write_curves(run_dir: str | Path) -> Path | None:
    """Write RUN_DIR/curves.png from the run's history; None (nothing written) when no epoch finished."""
    run = RunDir(Path(run_dir))
    history = run.read_history()
    if not history:
        return None
    write_bytes_atomic(run.curves, learning_curves(history))
    return run.curves


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(false positive rates, true positive rates, area) of scores against 0/1 labels, one point per distinct score.

    The area is the exact ROC AUC: the share of (positive, negative) pairs the scores put in the right order, a
    tie counting one half. Tied scores make one point, not one per row, so the curve does not depend on the
    order of the rows (one point per row drew tied pairs as a staircase in whatever order they came).
    """
    scores, labels = np.asarray(scores), np.asarray(labels)
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last_of_each_score = np.append(np.flatnonzero(np.diff(scores)), len(scores) - 1)
    true_positives = np.concatenate([[0], np.cumsum(labels)[last_of_each_score]])
    false_positives = np.concatenate([[0], np.cumsum(1 - labels)[last_of_each_score]])
    tpr = true_positives / max(1, labels.sum())
    fpr = false_positives / max(1, (1 - labels).sum())
    return fpr, tpr, float(np.trapezoid(tpr, fpr))


def roc_figure(labels: np.ndarray, scores: np.ndarray) -> bytes:
    """The ROC curve of match scores, its area in the legend, as PNG bytes."""
    plt = _pyplot()
    fpr, tpr, area = roc_curve(labels, scores)
    figure, axis = plt.subplots(figsize=(4, 4))
    axis.plot(fpr, tpr, label=f"AUC {area:.3f}")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    axis.set_xlabel("false positive rate")
    axis.set_ylabel("true positive rate")
    axis.set_title("ROC")
    axis.legend(loc="lower right")
    return _png(figure)


def confusion_figure(labels: np.ndarray, predictions: np.ndarray, names=("no match", "match")) -> bytes:
    """The 2x2 confusion matrix (rows: truth, columns: prediction) with counts in the cells, as PNG bytes."""
    plt = _pyplot()
    matrix = np.zeros((2, 2), int)
    np.add.at(matrix, (labels.astype(int), predictions.astype(int)), 1)
    figure, axis = plt.subplots(figsize=(4, 3.5))
    axis.imshow(matrix, cmap="Blues")
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        axis.text(column, row, str(count), ha="center", va="center", color=colour)
    axis.set_xticks([0, 1], names)
    axis.set_yticks([0, 1], names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title("confusion matrix")
    return _png(figure)


@dataclass(frozen=True)
class ExampleImage:
    """An example image encoded for a report page: its bytes and their MIME type (image/png or image/jpeg)."""

    data: bytes
    mime: str

    @property
    def photo(self) -> bool:
        """True for a JPEG: a photo, shown smooth at its own size rather than enlarged with sharp pixels."""
        return self.mime == "image/jpeg"


def example_image(pixels: np.ndarray, max_side: int = EXAMPLE_SIDE) -> ExampleImage:
    """A uint8 RGB array as a report shows it: lossless PNG when small, else JPEG shrunk to max_side at most.

    Small images (the 32-64 px shapes drawings, or any run at such a size) are enlarged by the page, where
    every pixel must stay exact. Larger ones are photos: JPEG is a fraction of PNG's size (a 128 px Flickr
    photo: 5-7 kB against 21-34 kB), which keeps a page of 30 photos far below the report's size budget.
    The size decides, not the smaller file: the shapes drawings carry pixel noise, so JPEG is smaller there too.
    """
    from PIL import Image

    image = Image.fromarray(np.asarray(pixels, np.uint8))
    small = max(image.size) < SMALL_SIDE
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    if small:
        image.save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return ExampleImage(buffer.getvalue(), "image/png" if small else "image/jpeg")
