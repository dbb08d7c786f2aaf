"""Pretrained image backbones from keras.applications, their weights read from a local file, their preprocessing
in the graph.

`model.image.backbone` names one of BACKBONES (or `conv`, the from-scratch branch in
branches.py). The backbone is built with weights=None at the configured input size and
its weights are loaded from `model.image.weights`: nothing is ever downloaded, so a run
is the same offline and online, and the weights a run used are the file whose SHA-256
env.json records. The backbone's own input preprocessing (keras.applications'
preprocess_input) is layers of the model, so the model, its exports included, keeps
taking raw uint8 pixels.
"""

from __future__ import annotations

import difflib
import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

from crossmodal_tf.errors import CmxError

CONV = "conv"  # the from-scratch branch of models/branches.py
FEATURES_LAYER = "image_features"  # the backbone's output in the model: what the feature cache stores


@dataclass(frozen=True)
class Backbone:
    """One keras.applications network: its constructor's name and how its inputs are prepared.

    preprocess: 'tf' scales pixels to [-1, 1]; 'caffe' flips RGB to BGR and subtracts
    ImageNet's channel means; 'inside' means the network scales its inputs itself
    (include_preprocessing), so it gets the pixels as floats. min_size: the smallest
    input side keras.applications builds it at.
    """

    constructor: str
    preprocess: str
    min_size: int = 32
    options: tuple = ()


BACKBONES = {
    "mobilenet_v2": Backbone("MobileNetV2", "tf"),
    "mobilenet_v3_small": Backbone("MobileNetV3Small", "inside", options=(("include_preprocessing", True),)),
    "efficientnet_b0": Backbone("EfficientNetB0", "inside"),
    "resnet50": Backbone("ResNet50", "caffe"),
}
BACKBONE_NAMES = (CONV, *BACKBONES)

CAFFE_MEANS_BGR = (103.939, 116.779, 123.68)  # keras.applications.imagenet_utils, mode 'caffe'
WEIGHT_SUFFIXES = (".weights.h5", ".h5", ".keras")


def check_backbone_name(name: str) -> str:
    """The name when it is `conv` or a backbone of BACKBONES; else a ValueError naming the closest ones."""
    if name in BACKBONE_NAMES:
        return name
    close = difflib.get_close_matches(name, BACKBONE_NAMES, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise ValueError(f"unknown backbone {name!r}; {hint}choose one of {', '.join(BACKBONE_NAMES)}")


def weights_sha256(path: str | Path) -> str:
    """The SHA-256 of a weights file, read in blocks (env.json records it beside the path)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _how_to_get(name: str) -> str:
    constructor = BACKBONES[name].constructor
    return (f"it is read from disk, never downloaded: on a machine with internet, save "
            f"keras.applications.{constructor}(include_top=False, weights='imagenet').save_weights('x.weights.h5') "
            f"(or copy Keras's own no-top .h5 from ~/.keras/models/) and give that path, or set "
            f"model.image.weights: null to start from random weights")


def check_weights_file(name: str, path: str | None) -> Path | None:
    """The weights file as a Path, or None; a CmxError when it is missing, has an unknown suffix or is unreadable.

    Readability is checked before Keras sees the file, so a truncated download is
    told apart from weights that belong to another network.
    """
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise CmxError(f"model.image.weights: {file} not found; {_how_to_get(name)}")
    if not file.name.endswith(WEIGHT_SUFFIXES):
        raise CmxError(f"model.image.weights: {file}: expected a {', '.join(WEIGHT_SUFFIXES)} file")
    if file.name.endswith(".keras"):
        import zipfile

        try:
            with zipfile.ZipFile(file) as archive:
                broken = archive.testzip()
        except (zipfile.BadZipFile, OSError) as exc:
            raise CmxError(f"model.image.weights: {file}: not a readable .keras archive (truncated or corrupt? "
                           f"{exc})") from None
        if broken:
            raise CmxError(f"model.image.weights: {file}: the .keras archive's {broken} is corrupt")
        return file
    import h5py

    try:
        with h5py.File(file, "r"):
            pass
    except OSError as exc:
        raise CmxError(f"model.image.weights: {file}: not a readable HDF5 weights file (truncated or corrupt? "
                       f"{str(exc).splitlines()[0]})") from None
    return file


def make_backbone(name: str, size: int, *, pooled: bool, model_name: str):
    """The keras.applications network `name` without its top, random weights, for size × size inputs.

    pooled adds global average pooling (a feature vector); otherwise the output is the
    last feature map (H × W positions).
    """
    import keras

    spec = BACKBONES[name]
    if size < spec.min_size:
        raise CmxError(f"data.image.size: backbone {name} needs images of at least {spec.min_size} pixels, "
                       f"found {size}")
    constructor = getattr(keras.applications, spec.constructor)
    with warnings.catch_warnings():
        # keras.applications warns that sizes other than its weights' default change nothing for weights=None
        warnings.simplefilter("ignore", UserWarning)
        return constructor(include_top=False, weights=None, input_shape=(size, size, 3),
                           pooling="avg" if pooled else None, name=model_name, **dict(spec.options))


def load_backbone_weights(backbone, name: str, file: Path) -> None:
    """Load a weights file into the backbone; a CmxError when they belong to another network or input shape."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            backbone.load_weights(str(file))
        except (ValueError, KeyError, OSError) as exc:
            raise CmxError(f"model.image.weights: {file}: these weights do not fit backbone {name} "
                           f"({_gist(str(exc)) or type(exc).__name__})") from None
    # Keras only warns about variables a .keras or .weights.h5 file has no values for; that is a mismatch too
    skipped = [str(w.message) for w in caught if any(s in str(w.message) for s in ("could not be loaded", "Skipping"))]
    if skipped:
        raise CmxError(f"model.image.weights: {file}: these weights do not fit backbone {name} ({_gist(skipped[0])})")


def _gist(message: str) -> str:
    """A Keras loading message on one line: its first two lines (the second names the failing variable)."""
    return " ".join(line.strip() for line in message.strip().splitlines()[:2])[:400]


def set_trainable(backbone, name: str, trainable: bool | int) -> None:
    """false freezes the backbone, true trains all of it, N trains its last N layers only."""
    if isinstance(trainable, bool):
        backbone.trainable = trainable
        return
    if trainable > len(backbone.layers):
        raise CmxError(f"model.image.trainable: {trainable} layers asked to train, but backbone {name} has "
                       f"{len(backbone.layers)}")
    backbone.trainable = True
    for layer in backbone.layers[: len(backbone.layers) - trainable]:
        layer.trainable = False


def preprocessed(spec: Backbone, images, name: str):
    """The uint8 images as the backbone expects them (keras.applications' preprocess_input, as layers)."""
    import numpy as np
    from keras import layers

    if spec.preprocess == "tf":
        return layers.Rescaling(1.0 / 127.5, offset=-1.0, name=f"{name}_preprocess")(images)
    x = layers.Rescaling(1.0, name=f"{name}_to_float")(images)
    if spec.preprocess == "inside":
        return x
    # caffe: a fixed Dense layer does the RGB → BGR swap and the mean subtraction, so the model
    # needs no custom layer to load (export and fresh processes import only Keras)
    to_bgr = layers.Dense(3, trainable=False, name=f"{name}_preprocess")
    x = to_bgr(x)
    to_bgr.set_weights([np.eye(3, dtype="float32")[::-1], -np.asarray(CAFFE_MEANS_BGR, dtype="float32")])
    return x


def build_backbone_branch(cfg, images, name: str = "image", grid: bool = False, condition=None):
    """uint8 pixels → the backbone's preprocessing → the backbone (frozen, partly or fully trainable) → features.

    cfg is the model.image section. The output passes a layer named FEATURES_LAYER
    (the feature cache's cut point): the pooled vector, or with grid the last feature
    map, (batch, h, w, channels) positions for attention. The backbone always runs in
    inference mode, so its batch-norm statistics stay the pretrained ones even while
    its layers are fine-tuned (the usual transfer-learning recipe).
    """
    from keras import layers

    if condition is not None:
        raise CmxError(f"model.fusion: FiLM modulates the conv branch's blocks; backbone {cfg.backbone} has none "
                       "(use fusion concat, concat_product or attention)")
    size = images.shape[1]
    file = check_weights_file(cfg.backbone, cfg.weights)
    backbone = make_backbone(cfg.backbone, size, pooled=not grid, model_name=f"{name}_backbone")
    if file is not None:
        load_backbone_weights(backbone, cfg.backbone, file)
    set_trainable(backbone, cfg.backbone, cfg.trainable)
    x = backbone(preprocessed(BACKBONES[cfg.backbone], images, name), training=False)
    x = layers.Identity(name=FEATURES_LAYER if name == "image" else f"{name}_features")(x)
    if cfg.dropout and not grid:
        x = layers.Dropout(cfg.dropout, name=f"{name}_dropout")(x)
    return x
