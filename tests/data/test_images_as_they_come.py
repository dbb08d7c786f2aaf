"""Photos as they come (data.image.resize, EXIF orientation, any colour mode) and training augmentation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from crossmodal_tf.data.images import image_to_array
from crossmodal_tf.errors import CmxError

RED, BLUE = (255, 0, 0), (0, 0, 255)


def halves(width=40, height=20):
    """A wide picture: left half red, right half blue."""
    image = Image.new("RGB", (width, height), RED)
    image.paste(Image.new("RGB", (width // 2, height), BLUE), (width // 2, 0))
    return image


def test_crop_keeps_the_centre_square_and_pad_keeps_the_whole_picture():
    crop, pad, squash = (image_to_array(halves(), 10, mode) for mode in ("crop", "pad", "squash"))
    # the centre square of a 40 x 20 picture is 10 px of red and 10 of blue; squash keeps all of both
    assert tuple(crop[5, 0]) == RED and tuple(crop[5, 9]) == BLUE
    assert tuple(squash[5, 0]) == RED and tuple(squash[5, 9]) == BLUE
    # pad: the whole picture in the middle 5 rows, black bars above and below
    assert tuple(pad[0, 5]) == (0, 0, 0) and tuple(pad[9, 5]) == (0, 0, 0)
    assert tuple(pad[5, 0]) == RED and tuple(pad[5, 9]) == BLUE


def test_exif_orientation_is_applied(tmp_path):
    """A photo stored sideways with orientation 6 (rotate 90° clockwise to view) comes out upright."""
    from crossmodal_tf.data.images import open_image

    stored = Image.new("RGB", (40, 20), RED)
    stored.paste(Image.new("RGB", (40, 10), BLUE), (0, 10))  # bottom half blue as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    stored.save(path, exif=exif, quality=95)
    pixels = image_to_array(open_image(path, 10**6), 20, "pad")
    # turned clockwise, the stored bottom (blue) becomes the left side
    assert pixels[10, 7, 2] > 200 and pixels[10, 12, 0] > 200


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16"])
def test_every_colour_mode_becomes_rgb(mode):
    image = halves().convert(mode) if mode != "I;16" else Image.new("I;16", (8, 8), 300)
    pixels = image_to_array(image, 8)
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8


def test_export_graph_resizes_like_pillow():
    """The exported model's decoder crops and pads exactly as preprocessing does (tests/export has the rest)."""
    import io
    import types

    import tensorflow as tf

    from crossmodal_tf.serving.image_ops import decode_images

    buffer = io.BytesIO()
    halves(60, 30).save(buffer, format="PNG")
    for mode in ("squash", "crop", "pad"):
        image_cfg = types.SimpleNamespace(size=12, resize=mode, max_pixels=10**6)
        graph = decode_images(tf.constant([buffer.getvalue()]), image_cfg).numpy()[0]
        np.testing.assert_array_equal(graph, image_to_array(halves(60, 30), 12, mode), err_msg=mode)


def test_flip_is_refused_when_the_texts_say_left_or_right(tmp_path):
    from crossmodal_tf.config import validate_config
    from crossmodal_tf.data.augment import check_flip

    vocab = tmp_path / "vocab.txt"
    vocab.write_text("<pad>\n<unk>\na\ncircle\nleft\nof\n", encoding="utf-8")
    augment = validate_config({"task": "caption", "data": {"image": {"augment": {"flip": True}}}}).data.image.augment
    with pytest.raises(CmxError, match="^data.image.augment.flip: the training texts say 'left'"):
        check_flip(augment, vocab)
    check_flip(augment.model_copy(update={"force_flip": True}), vocab)  # forced: allowed


def test_augmentation_keeps_shape_and_type_and_flip_only_mirrors():
    from crossmodal_tf.config import validate_config
    from crossmodal_tf.data.augment import augmenter

    images = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 3)).astype("uint8")
    augment = validate_config({"task": "caption", "data": {"image": {"augment": {"flip": True}}}}).data.image.augment
    out = np.asarray(augmenter(augment, seed=1)(images))
    assert out.shape == images.shape and out.dtype == np.uint8
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(m or k for m, k in zip(mirrored, kept)) and any(mirrored) and any(kept)
