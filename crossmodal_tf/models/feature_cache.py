"""Cached image features: a frozen backbone's output for each image, computed once and read by every epoch after.

A frozen pretrained backbone gives the same output for an image in every epoch, and
it is nearly all of a step's work on a CPU. So when model.image.trainable is false
(and nothing changes the pixels between epochs), training runs the backbone once per
distinct image of the train and val splits, stores the features beside the shards
(`<data.processed>/features/<fingerprint>/<split>.npz`), and fits a model that starts
at the backbone's output and shares every layer after it with the full model. The
fingerprint covers the backbone, the SHA-256 of its weights file (or the seed of
random ones), the image size, the shape of the features (pooled or grid) and the
shards' own fingerprint, so a change to any of them computes the features again.
The saved model is the full one: evaluation, sampling and export still take pixels.
"""

from __future__ import annotations

import hashlib
import json
import warnings

from crossmodal_tf.atomic import atomic_file
from crossmodal_tf.models.backbones import CONV, FEATURES_LAYER, weights_sha256

BATCH = 64  # images per backbone call while filling the cache


def cache_applies(config, task) -> bool:
    """Whether training runs on cached features: a frozen pretrained backbone, its cache on, images used as
    they are (augmentation changes them every epoch)."""
    image = config.model.image
    return (task.uses_image and image.backbone != CONV and image.trainable is False and image.cache_features
            and config.model.use_image and not config.data.image.augment.on)


def features_fingerprint(config, stats: dict, feature_shape) -> str:
    """What the cached features depend on, hashed: backbone, weights, image size, feature shape, the shards."""
    image = config.model.image
    facts = {"backbone": image.backbone, "size": config.data.image.size, "shape": list(feature_shape),
             "weights": weights_sha256(image.weights) if image.weights else f"random, seed {config.seed}",
             "shards": stats.get("fingerprint")}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def features_trainer(model):
    """A model from the backbone's output (input 'image': the features) to the outputs, sharing the model's layers.

    Training it trains the full model's head: both hold the same layer objects.
    """
    import keras

    features = model.get_layer(FEATURES_LAYER).output
    inputs = {name: tensor for name, tensor in model.input.items() if name != "image"}
    with warnings.catch_warnings():
        # Keras asks dict keys to match tensor names; the features tensor is an inner one, named by Keras
        warnings.simplefilter("ignore", UserWarning)
        return keras.Model({**inputs, "image": features}, model.output, name=f"{model.name}_on_features")


class FeatureCache:
    """The cached features of the train and val splits, computed on first use; arrange() feeds them to a task."""

    def __init__(self, config, model, stats: dict, log=print):
        import keras
        import numpy as np

        features = model.get_layer(FEATURES_LAYER).output
        self.folder = config.processed_dir / "features" / features_fingerprint(config, stats, features.shape[1:])
        self.extractor = keras.Model(model.input["image"], features)
        self.keys, self.values = [], []
        for split in ("train", "val"):
            if stats["counts"].get(split):
                keys, values = self._split(config, split, stats["counts"][split], log)
                self.keys.extend(keys)
                self.values.append(values)
        self.values = np.concatenate(self.values) if self.values else np.zeros((0, *features.shape[1:]), "float32")
        log(f"cmx: image features of {len(self.keys)} images cached by the frozen {config.model.image.backbone} "
            f"in {self.folder}; training runs on them")

    def _split(self, config, split: str, count: int, log):
        """(keys, features) of one split's distinct images: read from the cache, or computed and written there."""
        import numpy as np

        path = self.folder / f"{split}.npz"
        if path.is_file():
            with np.load(path) as stored:
                return stored["keys"].tolist(), stored["features"]
        from crossmodal_tf.data.pipeline import parsed_examples

        log(f"cmx: computing the {config.model.image.backbone} features of the {split} split's images once")
        examples = parsed_examples(config.processed_dir, split, count, config.data.image.size, cache="none")
        keys, values, seen = [], [], set()
        for batch in examples.map(lambda e: (e["key"], e["image"])).batch(BATCH):
            batch_keys, images = batch[0].numpy(), batch[1].numpy()
            new = [i for i, key in enumerate(batch_keys) if key not in seen and not seen.add(key)]
            if new:
                keys.extend(batch_keys[i].decode() for i in new)
                values.append(np.asarray(self.extractor(images[new], training=False), dtype="float32"))
        values = np.concatenate(values) if values else np.zeros((0, *self.extractor.output.shape[1:]), "float32")
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, suffix=".npz") as tmp:
            np.savez(tmp, keys=np.asarray(keys), features=values)
        return keys, values

    def arrange(self, task_arrange):
        """task_arrange on a batch whose 'image' is the cached features of its images (looked up by key)."""
        import tensorflow as tf

        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(self.keys, tf.string),
                                                tf.range(len(self.keys), dtype=tf.int64)), default_value=-1)
        values = tf.constant(self.values)

        # not converted by AutoGraph, which cannot read this closure's source (and the tasks' arrange
        # functions hold no Python control flow on tensors)
        @tf.autograph.experimental.do_not_convert
        def arrange(batch):
            return task_arrange({**batch, "image": tf.gather(values, table.lookup(batch["key"]))})

        return arrange
