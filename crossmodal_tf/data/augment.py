"""Training-split image augmentation (data.image.augment) with Keras preprocessing layers, inside tf.data.

Only the training batches are augmented, anew each epoch; validation, test, sampling and
export see the images as they are. The layers run on the uint8 batch and give uint8
back, so the model (and its preprocessing) is the same with or without augmentation.
"""

from __future__ import annotations

from pathlib import Path

from crossmodal_tf.errors import CmxError

MIRRORED_WORDS = ("left", "right")  # words a horizontal flip turns into lies


def check_flip(cfg, vocab_path: Path) -> None:
    """Refuse a flip when the training texts name left or right (shapes relations), unless force_flip is set."""
    if not cfg.flip or cfg.force_flip or not vocab_path.is_file():
        return
    words = set(vocab_path.read_text(encoding="utf-8").split())
    named = [word for word in MIRRORED_WORDS if word in words]
    if named:
        raise CmxError(f"data.image.augment.flip: the training texts say {' and '.join(repr(w) for w in named)}, "
                       "which a mirrored image contradicts; set data.image.augment.force_flip: true to flip anyway")


def augmenter(cfg, seed: int):
    """A function from a uint8 image batch to an augmented uint8 batch (random crop and resize, flip, colour)."""
    import keras
    import tensorflow as tf
    from keras import layers

    steps = []
    if cfg.crop:
        steps += [layers.RandomZoom((-cfg.crop, 0.0), fill_mode="reflect", seed=seed),
                  layers.RandomTranslation(cfg.crop / 2, cfg.crop / 2, fill_mode="reflect", seed=seed + 1)]
    if cfg.flip:
        steps.append(layers.RandomFlip("horizontal", seed=seed + 2))
    if cfg.jitter:
        steps += [layers.RandomBrightness(cfg.jitter, value_range=(0, 255), seed=seed + 3),
                  layers.RandomContrast(cfg.jitter, value_range=(0, 255), seed=seed + 4)]
    pipeline = keras.Sequential(steps, name="augment")

    def augment(images):
        changed = pipeline(tf.cast(images, tf.float32), training=True)
        return tf.saturate_cast(tf.round(changed), tf.uint8)

    return augment


def augmenting(task_arrange, cfg, seed: int):
    """task_arrange on batches whose images are augmented first."""
    import tensorflow as tf

    augment = augmenter(cfg, seed)

    @tf.autograph.experimental.do_not_convert  # as in feature_cache.FeatureCache.arrange
    def arrange(batch):
        return task_arrange({**batch, "image": augment(batch["image"])})

    return arrange
