"""What the end-to-end modules share: running a cmx command in this process, and encoding test images."""

from __future__ import annotations

import io

from typer.testing import CliRunner

from crossmodal_tf.cli.main import app


def invoke(*args: str):
    """Run a cmx command in-process; fail with its output when it does not exit 0."""
    result = CliRunner().invoke(app, list(args))
    if result.exit_code != 0:
        raise AssertionError(f"cmx {' '.join(args)} exited {result.exit_code}: {result.output}\n"
                             f"{result.exception!r}") from result.exception
    return result


def png_bytes(pixels) -> list[bytes]:
    """uint8 images (n, h, w, 3) as PNG files' bytes, the raw input an exported model takes."""
    from PIL import Image

    encoded = []
    for picture in pixels:
        buffer = io.BytesIO()
        Image.fromarray(picture).save(buffer, format="PNG")
        encoded.append(buffer.getvalue())
    return encoded
