"""Shared test helpers: the tiny config, loaded the way users load configs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of test output

try:  # property tests draw the same examples on every run, so CI's verdict does not depend on luck
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("repeatable", derandomize=True)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))
except ImportError:
    pass

TESTS = Path(__file__).resolve().parent
TINY_CONFIG = TESTS / "configs" / "tiny_match.yaml"


def _shared_parameters(item) -> str:
    """The parameters of the module- or session-scoped fixtures an item uses, as "/name=index/…" (no "]": xdist
    reads an id whose last "]" follows its "@" as one without a group)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return ""
    definitions = item._fixtureinfo.name2fixturedefs
    shared = [f"{name}={callspec.indices[name]}" for name in sorted(callspec.params)
              if name in definitions and definitions[name][-1].scope in ("module", "package", "session")]
    return "".join(f"/{part}" for part in shared)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs one worker per core, --dist loadgroup), keep each module's tests on
    one worker, so a module-scoped fixture (a trained run) is built once; a module whose shared fixture is
    parametrized (the task contract's runs) is split by that fixture's parameter, one group per run. A module
    that sets SPREAD_OVER_WORKERS = True gets a group per test function (its module fixtures are built on every
    worker that needs them).

    The group goes into each test's id as "@group", which is what loadgroup reads. pytest-xdist 3.8 writes it to
    `item._nodeid`, which pytest 9.2 no longer reads (it keeps the id in `item._id`), so it is written here."""
    if not hasattr(config, "workerinput"):  # only an xdist worker reports the ids the scheduler groups
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        group = item.module.__name__ + _shared_parameters(item)
        if getattr(item.module, "SPREAD_OVER_WORKERS", False):  # long, independent tests: a group per function
            group += f"/{item.originalname}"
        if "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{group}")


def load_tiny(root: Path, *sets: str):
    """tests/configs/tiny_match.yaml with its data and runs under `root`, plus `--set` overrides."""
    from crossmodal_tf.config import load_config

    root = Path(root)
    paths = [f"data.path={root / 'raw'}", f"data.processed={root / 'processed'}", f"output.dir={root / 'runs'}"]
    return load_config(TINY_CONFIG, [*paths, *sets])


@pytest.fixture(scope="session")
def tiny_loader():
    """load_tiny, for module-scoped fixtures that make their own folder."""
    return load_tiny


@pytest.fixture
def tiny_config(tmp_path):
    """A factory: tiny_config(*sets) → Config whose data and runs live in this test's tmp_path."""
    return lambda *sets: load_tiny(tmp_path, *sets)


def write_photos(folder: Path) -> dict:
    """Small photo files as they come from phones and editors, written to folder: name → path.

    JPEGs stored sideways with EXIF orientation 3, 6 and 8 (and a PNG with 6), an RGBA PNG
    with transparent and half-transparent pixels, palette PNGs with and without a transparent
    entry, CMYK and greyscale JPEGs, greyscale PNGs (8-bit, with alpha, 1-bit, 16-bit), an RGB
    PNG with a transparent colour, and a WebP, BMP and GIF. Landscape, odd sizes, so turning
    and every resize policy matter.
    """
    import numpy as np
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rows, cols = np.mgrid[0:23, 0:37]
    noise = np.random.default_rng(5).integers(0, 60, (23, 37, 3))
    pixels = np.stack([cols * 6, rows * 10, (cols * rows) % 200], -1) + noise
    pixels[2:8, 3:12] = (250, 30, 30)  # a red block near the top left: upside down or turned, it moves
    photo = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    alpha = np.full((23, 37), 255, np.uint8)
    alpha[:, 25:] = 0
    alpha[15:, :10] = 128
    rgba = photo.copy()
    rgba.putalpha(Image.fromarray(alpha))
    files = {}

    def save(name, image, **options):
        files[name] = folder / name
        image.save(files[name], **options)

    for orientation in (3, 6, 8):
        exif = Image.Exif()
        exif[0x0112] = orientation
        save(f"exif{orientation}.jpg", photo, exif=exif, quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("exif6.png", photo, exif=exif)
    save("rgba.png", rgba)
    save("palette.png", photo.convert("P", palette=Image.Palette.ADAPTIVE, colors=40))
    save("palette_transparent.png", rgba.convert("P"))
    save("cmyk.jpg", photo.convert("CMYK"), quality=90)
    save("grey.jpg", photo.convert("L"), quality=90)
    save("grey.png", photo.convert("L"))
    save("grey_alpha.png", rgba.convert("LA"))
    save("bilevel.png", photo.convert("1"))
    save("grey16.png", Image.fromarray((np.asarray(photo.convert("L")).astype(np.uint16) * 257 + 100)))
    save("rgb_transparent_colour.png", photo, transparency=tuple(int(v) for v in pixels[3, 5].clip(0, 255)))
    save("photo.webp", rgba, lossless=True)
    save("photo.bmp", photo)
    save("photo.gif", photo)
    return files


@pytest.fixture(scope="session")
def photo_writer():
    """write_photos, for fixtures of any scope: photo_writer(folder) → {name: path}."""
    return write_photos
