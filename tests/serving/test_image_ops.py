"""The exported model's in-graph decoding gives the pixels `cmx` gives (data.images.load_image_batch), bit for bit.

Same photo files on both paths: EXIF-turned JPEGs and PNGs, transparency, palette, CMYK,
greyscale of every depth, WebP, BMP, GIF; every resize policy; images claiming more
pixels than data.image.max_pixels refused by both before decoding.
"""

from __future__ import annotations

import io
import struct
import types
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from crossmodal_tf.data.images import load_image_batch
from crossmodal_tf.errors import CmxError
from crossmodal_tf.serving.image_ops import decode_images

POLICIES = ("squash", "crop", "pad")


def _image_cfg(size: int, resize: str = "squash", max_pixels: int = 10**6):
    return types.SimpleNamespace(size=size, resize=resize, max_pixels=max_pixels)


_TRACED = {}


def _graph_decode(image_cfg):
    """decode_images as the SavedModel runs it: inside a tf.function (traced once per setting; tracing is the slow
    part)."""
    key = (image_cfg.size, image_cfg.resize, image_cfg.max_pixels)
    if key not in _TRACED:
        _TRACED[key] = tf.function(lambda encoded: decode_images(encoded, image_cfg))
    return _TRACED[key]


def _both(paths, image_cfg):
    """(cmx's pixels, the export's pixels) for the same files."""
    cmx = load_image_batch([str(p) for p in paths], image_cfg.size, image_cfg.max_pixels, resize=image_cfg.resize)
    graph = _graph_decode(image_cfg)(tf.constant([p.read_bytes() for p in paths])).numpy()
    return cmx, graph


@pytest.fixture(scope="module")
def photos(tmp_path_factory, photo_writer):
    return photo_writer(tmp_path_factory.mktemp("photos"))


@pytest.mark.parametrize("policy", POLICIES)
def test_every_photo_gives_cmx_pixels_exactly(photos, policy):
    names = sorted(photos)
    cmx, graph = _both([photos[n] for n in names], _image_cfg(16, policy))
    different = [n for n, a, b in zip(names, cmx, graph) if not np.array_equal(a, b)]
    assert different == []


@pytest.mark.slow
def test_the_photos_exercise_what_they_claim(photos):
    """Turning, transparency and 16-bit greyscale visibly change the pixels, so the equality above means something."""
    stored = np.asarray(Image.open(photos["exif6.jpg"]).convert("RGB"))
    cmx, graph = _both([photos["exif6.jpg"], photos["rgba.png"], photos["grey16.png"]], _image_cfg(37, "pad"))
    turned = np.asarray(Image.fromarray(stored).transpose(Image.Transpose.ROTATE_270).resize((23, 37)))
    assert cmx[0].shape == (37, 37, 3) and abs(int(cmx[0][:, 7:30].mean()) - int(turned.mean())) < 20
    assert (cmx[0][:, :7] == 0).all() and (cmx[0][:, 30:] == 0).all()  # upright: a tall picture, bars at the sides
    assert (cmx[1][7:30, 25:] == 255).all()  # transparent → white, as the export too
    assert cmx[2].mean() > 20 and cmx[2].max() < 255  # 16-bit grey keeps its shades (not clipped to white)
    np.testing.assert_array_equal(cmx, graph)


def test_all_eight_exif_orientations(tmp_path):
    stored = Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 14, 3), dtype=np.uint8))
    paths = []
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        paths.append(tmp_path / f"o{orientation}.jpg")
        stored.save(paths[-1], exif=exif, quality=95)
    cmx, graph = _both(paths, _image_cfg(16, "pad"))
    np.testing.assert_array_equal(cmx, graph)
    assert len({c.tobytes() for c in cmx}) == 8  # each orientation turns the picture its own way


@pytest.mark.slow
def test_resizes_equal_pillow_for_many_shapes(tmp_path):
    """Wide, tall, odd differences (fractional crop boxes), up- and downscaling, too thin to pad."""
    rng = np.random.default_rng(1)
    shapes = [(7, 5), (40, 20), (41, 20), (20, 41), (3, 100), (100, 3), (64, 48), (48, 64), (13, 12), (1, 1),
              (500, 1), (16, 16), (90, 91)]
    paths = []
    for width, height in shapes:
        paths.append(tmp_path / f"{width}x{height}.png")
        Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(paths[-1])
    for policy in POLICIES:
        cmx, graph = _both(paths, _image_cfg(16, policy))
        np.testing.assert_array_equal(cmx, graph, err_msg=policy)


@pytest.mark.slow
def test_alpha_onto_white_for_every_value_pair(tmp_path):
    """Every (colour, alpha) pair: Pillow's integer alpha_composite, not a float blend that rounds differently."""
    colour, alpha = np.meshgrid(np.arange(256), np.arange(256))
    rgba = np.stack([colour, colour, 255 - colour, alpha], -1).astype(np.uint8)
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    cmx, graph = _both([path], _image_cfg(256))
    np.testing.assert_array_equal(cmx, graph)
    assert (cmx[0][0] == 255).all() and np.array_equal(cmx[0][255], rgba[255, :, :3])  # clear → white; opaque kept


@pytest.mark.slow
def test_decode_inside_tf_data(photos):
    names = sorted(photos)
    image_cfg = _image_cfg(16, "crop")
    dataset = tf.data.Dataset.from_tensor_slices([photos[n].read_bytes() for n in names]).batch(4)
    graph = np.concatenate([b.numpy() for b in dataset.map(lambda batch: decode_images(batch, image_cfg))])
    cmx = load_image_batch([str(photos[n]) for n in names], 16, 10**6, resize="crop")
    np.testing.assert_array_equal(graph, cmx)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid-looking PNG whose header (with a correct checksum) claims width x height pixels."""
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (9, 9, 9)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", width, height) + bytes(data[24:29])
    data[12:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(header))
    return bytes(data)


def _jpeg_claiming(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 9, 9)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    frame = data.index(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize("name, encoded", [("bomb.png", _png_claiming(5000, 4000)),
                                           ("bomb.jpg", _jpeg_claiming(5000, 4000))])
def test_an_image_claiming_too_many_pixels_is_refused_by_both_before_decoding(tmp_path, name, encoded):
    path = tmp_path / name
    path.write_bytes(encoded)
    with pytest.raises(CmxError, match=r"5000x4000 pixels, above data.image.max_pixels=1000000"):
        load_image_batch([str(path)], 16, 10**6)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"more pixels than data.image.max_pixels=1000000; refused before decoding"):
        _graph_decode(_image_cfg(16))(tf.constant([encoded]))


@pytest.mark.slow
def test_the_limit_is_the_same_on_both_sides(tmp_path):
    """10 x 10 = 100 pixels: allowed at max_pixels 100, refused at 99, by both."""
    path = tmp_path / "ten.png"
    Image.new("RGB", (10, 10), (1, 2, 3)).save(path)
    cmx, graph = _both([path], _image_cfg(16, max_pixels=100))
    np.testing.assert_array_equal(cmx, graph)
    with pytest.raises(CmxError, match="max_pixels=99"):
        load_image_batch([str(path)], 16, 99)
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_pixels=99"):
        _graph_decode(_image_cfg(16, max_pixels=99))(tf.constant([path.read_bytes()]))


def test_formats_the_graph_cannot_read_faithfully_are_refused(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6)).save(buffer, format="TIFF")
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a JPEG, PNG, GIF, BMP or WebP image"):
        _graph_decode(_image_cfg(16))(tf.constant([buffer.getvalue()]))
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6), (200, 10, 10)).convert("P").save(buffer, format="BMP")
    with pytest.raises(tf.errors.InvalidArgumentError, match="palette .* BMP images are not supported"):
        _graph_decode(_image_cfg(16))(tf.constant([buffer.getvalue()]))
