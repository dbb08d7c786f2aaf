"""Images: bounded decoding, conversion to RGB and resizing to uint8 arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from crossmodal_tf.errors import CmxError


class BadImage(CmxError):
    """An image that cannot be used: missing, unreadable, too large or corrupt."""


def open_image(path: Path, max_pixels: int):
    """Open an image file, refusing it before decoding when it has more than max_pixels."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise BadImage("image not found")
    if path.stat().st_size == 0:
        raise BadImage("image file is empty")
    try:
        try:
            image = Image.open(path)
        except Image.DecompressionBombError:
            # Pillow refuses images of over twice its own limit already when reading the header
            raise BadImage(f"image is a decompression bomb (more pixels than Pillow allows), above "
                           f"data.image.max_pixels={max_pixels}") from None
        width, height = image.size  # read from the header; pixels are not decoded yet
        if width * height > max_pixels:
            raise BadImage(f"image has {width}x{height} pixels, above data.image.max_pixels={max_pixels}")
        image.load()
    except BadImage:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImage(f"unreadable image ({type(exc).__name__}: {exc})") from None
    return image


def to_rgb(image):
    """Any Pillow mode (greyscale, 16-bit greyscale, palette, CMYK, with or without alpha) as RGB; transparent
    pixels become white rather than black.

    Any mode with a transparency entry (a PNG's tRNS on a palette, grey or RGB image) counts as
    transparent, and 16-bit greyscale keeps its high byte (Pillow's own conversion clips it
    to white): both as libpng, and so the exported model (serving/image_ops.py), reads them.
    """
    from PIL import Image

    if image.mode.startswith("I;16"):
        image = Image.fromarray((np.asarray(image).astype(np.uint16) >> 8).astype(np.uint8), "L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


# EXIF orientation → the Pillow transpose that shows the photo upright (as ImageOps.exif_transpose)
_TURNS = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE", 6: "ROTATE_270",
          7: "TRANSVERSE", 8: "ROTATE_90"}


def upright(image):
    """The image turned as its EXIF orientation says (phone photos are stored sideways and tagged).

    The tag is read from the EXIF block only (JPEG APP1, PNG eXIf, WebP EXIF), not from XMP
    as ImageOps.exif_transpose also does: the exported model reads the same block in the graph
    (serving/image_header.py), so both turn the same photos.
    """
    from PIL import Image

    exif = image.info.get("exif")
    if not exif:
        return image
    try:
        tags = Image.Exif()
        tags.load(exif if isinstance(exif, bytes) else bytes(exif))
        turn = _TURNS.get(tags.get(0x0112, 1))
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, IndexError):  # damaged: keep the pixels as stored
        return image
    return image.transpose(getattr(Image.Transpose, turn)) if turn else image


def bilinear(rgb, width: int, height: int, box=None):
    """rgb resized to (width, height) from box (left, top, right, bottom) with Pillow's bilinear filter, one axis
    per call: across, then down.

    One call per axis because Pillow (13) chooses the order of its two passes, and what it keeps
    between them, by itself; one axis at a time is plain 8-bit fixed-point arithmetic that the
    exported model repeats bit for bit (serving/pillow_resize.py).
    """
    from PIL import Image

    left, top, right, bottom = box or (0, 0, *rgb.size)
    across = rgb.resize((width, rgb.height), Image.Resampling.BILINEAR, box=(left, 0, right, rgb.height))
    return across.resize((width, height), Image.Resampling.BILINEAR, box=(0, top, width, bottom))


def _padded(rgb, size: int):
    """The whole picture in the middle of a black square, sized and placed as ImageOps.pad does."""
    from PIL import Image

    width, height = rgb.size
    if width > height:
        width, height = size, round(height / width * size)
    elif width < height:
        width, height = round(width / height * size), size
    else:
        width = height = size
    square = Image.new("RGB", (size, size), (0, 0, 0))
    if width and height:  # a picture too thin to keep a pixel stays all background
        square.paste(bilinear(rgb, width, height), (round((size - width) * 0.5), round((size - height) * 0.5)))
    return square


def image_to_array(image, size: int, resize: str = "squash") -> np.ndarray:
    """An RGB uint8 array of shape (size, size, 3), upright; scaling to [0, 1] happens in the model.

    resize (data.image.resize) says how another aspect ratio becomes a square: squash
    stretches the whole picture, crop keeps its centre square, pad fits it whole inside
    a black square.
    """
    rgb = to_rgb(upright(image))
    width, height = rgb.size
    if (width, height) == (size, size):
        return np.asarray(rgb, dtype=np.uint8)
    if resize == "crop":
        side = min(width, height)
        left, top = (width - side) * 0.5, (height - side) * 0.5
        rgb = bilinear(rgb, size, size, (left, top, left + side, top + side))
    elif resize == "pad":
        rgb = _padded(rgb, size)
    else:
        rgb = bilinear(rgb, size, size)
    return np.asarray(rgb, dtype=np.uint8)


def load_image_batch(paths: list[str], size: int, max_pixels: int, option: str = "--image",
                     resize: str = "squash") -> np.ndarray:
    """The images at paths as a uint8 batch (size x size); a missing or unreadable one is a CmxError naming it."""
    arrays = []
    for path in paths:
        try:
            arrays.append(image_to_array(open_image(Path(path), max_pixels), size, resize))
        except BadImage as exc:
            raise CmxError(f"{option} {path}: {exc}") from None
    return np.stack(arrays)
