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
    """Any Pillow mode (greyscale, palette, CMYK, with or without alpha) as RGB; transparent pixels become white
    rather than black."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def upright(image):
    """The image turned as its EXIF orientation says (phone photos are stored sideways and tagged)."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError):  # a damaged EXIF block: keep the pixels as stored
        return image


def image_to_array(image, size: int, resize: str = "squash") -> np.ndarray:
    """An RGB uint8 array of shape (size, size, 3), upright; scaling to [0, 1] happens in the model.

    resize (data.image.resize) says how another aspect ratio becomes a square: squash
    stretches the whole picture, crop keeps its centre square, pad fits it whole inside
    a black square.
    """
    from PIL import Image, ImageOps

    rgb = to_rgb(upright(image))
    if rgb.size == (size, size):
        return np.asarray(rgb, dtype=np.uint8)
    if resize == "crop":
        rgb = ImageOps.fit(rgb, (size, size), Image.Resampling.BILINEAR)
    elif resize == "pad":
        rgb = ImageOps.pad(rgb, (size, size), Image.Resampling.BILINEAR, color=(0, 0, 0))
    else:
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
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
