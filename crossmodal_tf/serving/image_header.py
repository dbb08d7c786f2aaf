"""What an encoded image's header says, read with TensorFlow string ops: its format, its size, its EXIF orientation.

A SavedModel cannot call Pillow, so the facts data/images.py gets from Pillow's header
parsing (the size checked against data.image.max_pixels before any pixel is decoded, and
the EXIF orientation tag) are read here from the bytes themselves. Every reader returns a
neutral value (0 pixels, orientation 1) for bytes it does not understand; the decoder then
gives its own error, and a damaged EXIF block leaves the pixels as stored, as
data.images.upright does.
"""

from __future__ import annotations

import tensorflow as tf

JPEG, PNG, GIF, BMP, WEBP, UNKNOWN = range(6)
ORIENTATION_TAG = 0x0112
_EXIF_PREFIX = b"Exif\x00\x00"


def substring(data, pos, n):
    """Up to n bytes of data from pos; empty past the end (tf.strings.substr raises there, and a header's
    offsets come from the file, so they may point anywhere)."""
    length = tf.cast(tf.strings.length(data), tf.int64)
    start = tf.clip_by_value(tf.cast(pos, tf.int64), 0, length)
    size = tf.clip_by_value(tf.cast(n, tf.int64), 0, length - start)
    return tf.strings.substr(data, tf.cast(start, tf.int32), tf.cast(size, tf.int32))


def read_bytes(data, pos, n: int):
    """n bytes of data from pos as int64 (zeros past the end, so a truncated header reads as zeros, not an error)."""
    raw = tf.io.decode_raw(substring(data, pos, n), tf.uint8)
    return tf.pad(tf.cast(raw, tf.int64), [[0, n - tf.shape(raw)[0]]])


def read_uint(data, pos, n: int, little_endian):
    """The n-byte unsigned integer at pos, in the byte order little_endian (a bool tensor or Python bool) says."""
    values = read_bytes(data, pos, n)
    weights = [256 ** i for i in range(n)]
    if isinstance(little_endian, bool):  # known when the graph is built: half the ops (tracing time adds up)
        return tf.reduce_sum(values * tf.constant(weights if little_endian else weights[::-1], tf.int64))
    return tf.where(little_endian, tf.reduce_sum(values * tf.constant(weights, tf.int64)),
                    tf.reduce_sum(values * tf.constant(weights[::-1], tf.int64)))


def image_format(data):
    """Which format the magic bytes name (JPEG, PNG, GIF, BMP, WEBP or UNKNOWN), as tf.decode_image sniffs them."""
    checks = [(JPEG, 0, b"\xff\xd8\xff"), (PNG, 0, b"\x89PNG\r\n\x1a\n"), (GIF, 0, b"GIF8"), (BMP, 0, b"BM")]
    found = tf.constant(UNKNOWN)
    for code, pos, magic in reversed(checks):
        found = tf.where(tf.equal(substring(data, pos, len(magic)), magic), code, found)
    webp = tf.logical_and(tf.equal(substring(data, 0, 4), b"RIFF"), tf.equal(substring(data, 8, 4), b"WEBP"))
    return tf.where(webp, WEBP, found)


def _webp_size(data):
    chunk = substring(data, 12, 4)
    vp8x = (read_uint(data, 24, 3, True) + 1, read_uint(data, 27, 3, True) + 1)
    vp8 = (read_uint(data, 26, 2, True) % 16384, read_uint(data, 28, 2, True) % 16384)
    bits = read_uint(data, 21, 4, True)
    vp8l = (bits % 16384 + 1, bits // 16384 % 16384 + 1)
    sizes = [(b"VP8X", vp8x), (b"VP8 ", vp8), (b"VP8L", vp8l)]
    width, height = tf.constant(0, tf.int64), tf.constant(0, tf.int64)
    for name, (w, h) in sizes:
        width, height = tf.where(tf.equal(chunk, name), w, width), tf.where(tf.equal(chunk, name), h, height)
    return width, height


def pixel_count(data, fmt):
    """Width × height as the header declares it (0 for an unknown format), without decoding any pixel."""
    bmp_height = read_uint(data, 22, 4, True)
    bmp_height = tf.where(bmp_height >= 2 ** 31, 2 ** 32 - bmp_height, bmp_height)  # negative: rows stored top-down
    webp_width, webp_height = _webp_size(data)
    counts = tf.stack([tf.constant(0, tf.int64),  # JPEG: below, its header is not at a fixed place
                       read_uint(data, 16, 4, False) * read_uint(data, 20, 4, False),
                       read_uint(data, 6, 2, True) * read_uint(data, 8, 2, True),
                       read_uint(data, 18, 4, True) * bmp_height,
                       webp_width * webp_height,
                       tf.constant(0, tf.int64)])

    def jpeg():
        shape = tf.image.extract_jpeg_shape(data, output_type=tf.int64)
        return shape[0] * shape[1]

    return tf.cond(tf.equal(fmt, JPEG), jpeg, lambda: counts[fmt])


def _walk(data, start, step):
    """(start, length) of the EXIF block found by walking chunks from start; step(pos) gives
    (data start, data length, next pos, found?, stop?) for the chunk at pos. (-1, 0) when there is none."""
    def body(pos, found_at, found_len, done):
        begin, size, following, found, stop = step(pos)
        found_at = tf.where(found, begin, found_at)
        found_len = tf.where(found, size, found_len)
        return following, found_at, found_len, tf.logical_or(stop, following <= pos)

    length = tf.cast(tf.strings.length(data), tf.int64)
    _, found_at, found_len, _ = tf.while_loop(
        lambda pos, found_at, found_len, done: tf.logical_and(tf.logical_not(done), pos + 4 <= length), body,
        (tf.cast(start, tf.int64), tf.constant(-1, tf.int64), tf.constant(0, tf.int64), tf.constant(False)))
    return found_at, found_len


def _jpeg_exif(data):
    def step(pos):
        # markers may be preceded by 0xFF fill bytes; markers without a length carry no data
        marker = read_uint(data, pos + 1, 1, False)
        fill = tf.equal(marker, 0xFF)
        standalone = tf.logical_or(tf.logical_or(tf.equal(marker, 0xD8), tf.equal(marker, 0x01)),
                                   tf.logical_and(marker >= 0xD0, marker <= 0xD7))
        size = read_uint(data, pos + 2, 2, False)
        following = tf.where(fill, pos + 1, tf.where(standalone, pos + 2, pos + 2 + size))
        exif = tf.logical_and(tf.equal(marker, 0xE1),
                              tf.equal(substring(data, pos + 4, 6), _EXIF_PREFIX))
        stop = tf.logical_or(tf.logical_or(tf.equal(marker, 0xDA), tf.equal(marker, 0xD9)),
                             tf.not_equal(read_uint(data, pos, 1, False), 0xFF))
        # Pillow keeps the first Exif segment (later ones only extend it), so the walk ends at it
        return pos + 4, size - 2, following, exif, tf.logical_or(stop, exif)

    return _walk(data, 2, step)


def _png_exif(data):
    def step(pos):
        size = read_uint(data, pos, 4, False)
        kind = substring(data, pos + 4, 4)
        # Pillow keeps the last eXIf chunk it reads, before or after the pixel data
        return pos + 8, size, pos + 12 + size, tf.equal(kind, b"eXIf"), tf.equal(kind, b"IEND")

    return _walk(data, 8, step)


def _webp_exif(data):
    def step(pos):
        size = read_uint(data, pos + 4, 4, True)
        exif = tf.equal(substring(data, pos, 4), b"EXIF")
        return pos + 8, size, pos + 8 + size + size % 2, exif, exif  # libwebp gives the first EXIF chunk

    return _walk(data, 12, step)


def _orientation_in_tiff(tiff):
    """The orientation tag of IFD0 of a TIFF-structured EXIF block, 1 when absent or unreadable."""
    order = substring(tiff, 0, 4)
    little = tf.equal(order, b"II*\x00")
    valid = tf.logical_or(little, tf.equal(order, b"MM\x00*"))
    ifd = read_uint(tiff, 4, 4, little)
    count = read_uint(tiff, ifd, 2, little)
    available = tf.maximum(tf.cast(tf.strings.length(tiff), tf.int64) - ifd - 2, 0) // 12
    count = tf.minimum(count, available)  # Pillow keeps the entries read before a truncation
    raw = tf.io.decode_raw(substring(tiff, ifd + 2, 12 * count), tf.uint8)
    entries = tf.reshape(tf.cast(raw, tf.int64), [-1, 12])
    powers = tf.constant([1, 256, 65536, 16777216], tf.int64)

    def field(start, n):
        part = entries[:, start:start + n]
        return tf.where(little, tf.reduce_sum(part * powers[:n], axis=1),
                        tf.reduce_sum(part * powers[:n][::-1], axis=1))

    tags, kinds, counts = field(0, 2), field(2, 2), field(4, 4)
    # SHORT values sit in the first two bytes of the value field, LONG in all four; other types are not
    # an orientation Pillow would turn by
    value = tf.where(tf.equal(kinds, 3), field(8, 2), tf.where(tf.equal(kinds, 4), field(8, 4), 0))
    usable = tf.logical_and(tf.equal(tags, ORIENTATION_TAG),
                            tf.logical_or(tf.logical_and(tf.equal(kinds, 3), counts <= 2),
                                          tf.logical_and(tf.equal(kinds, 4), tf.equal(counts, 1))))
    matches = tf.boolean_mask(value, usable)
    found = tf.concat([tf.constant([1], tf.int64), matches], 0)[-1]  # the last entry wins, as in Pillow's dict
    return tf.where(tf.logical_and(valid, tf.logical_and(found >= 1, found <= 8)), found, 1)


def exif_orientation(data, fmt):
    """The EXIF orientation (1-8) of a JPEG, PNG or WebP, 1 when the image has none.

    Read from the EXIF block only (JPEG APP1, PNG eXIf, WebP EXIF), as data.images.upright
    does, so both paths turn the same photos.
    """
    none = (tf.constant(-1, tf.int64), tf.constant(0, tf.int64))
    branches = {JPEG: lambda: _jpeg_exif(data), PNG: lambda: _png_exif(data), WEBP: lambda: _webp_exif(data)}
    start, size = tf.switch_case(fmt, [branches.get(code, lambda: none) for code in range(6)])
    block = substring(data, start, size)
    block = tf.where(tf.equal(substring(block, 0, 6), _EXIF_PREFIX), substring(block, 6, tf.strings.length(block)),
                     block)
    return tf.where(start >= 0, _orientation_in_tiff(block), tf.constant(1, tf.int64))
