"""`cmx sample` and the exported SavedModel answer the same about the same photo files (issue 23, point 5).

A tiny vqa run is trained once; its answers to questions about EXIF-turned, transparent,
palette, CMYK and greyscale photos come from `cmx sample --image` and from the export in a
fresh process that has only TensorFlow; an image claiming too many pixels is refused by both.
"""

from __future__ import annotations

import json
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli_runner import invoke
from crossmodal_tf.cli.main import app
from crossmodal_tf.errors import CmxError
from fresh_process import serve_in_fresh_process

TESTS = Path(__file__).resolve().parents[1]
QUESTION = "what colour is the circle?"


@pytest.fixture(scope="module")
def vqa(tmp_path_factory, photo_writer):
    root = tmp_path_factory.mktemp("export-photos")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        invoke("train", str(TESTS / "configs" / "tiny_vqa.yaml"), "--quiet", "--set", "data.image.resize=pad")
        invoke("export", "runs/tiny-vqa", "--out", "exported")
        yield types.SimpleNamespace(root=root, run=root / "runs/tiny-vqa", exported=root / "exported",
                                    photos=photo_writer(root / "photos"))


@pytest.mark.slow
def test_sample_and_export_give_the_same_answers_for_the_same_photos(vqa):
    names = sorted(vqa.photos)
    paths = [str(vqa.photos[n]) for n in names]
    invoke("sample", str(vqa.run), *[a for p in paths for a in ("--image", p)], "--question", QUESTION,
           "-o", str(vqa.root / "sampled.jsonl"))
    sampled = [json.loads(line) for line in (vqa.root / "sampled.jsonl").read_text(encoding="utf-8").splitlines()]
    served = serve_in_fresh_process(vqa.exported, {"text": [QUESTION] * len(paths),
                                                   "image": [Path(p).read_bytes() for p in paths]})
    assert [r["input"] for r in sampled] == paths
    assert served["answer"] == [r["answer"] for r in sampled]
    for name, record, probability in zip(names, sampled, served["probability"]):
        assert probability == pytest.approx(record["probability"], abs=1e-5), name


@pytest.mark.slow
def test_an_image_claiming_too_many_pixels_is_refused_by_sample_and_by_the_export(vqa):
    import io
    import struct
    import zlib

    from PIL import Image

    # a 4 x 4 PNG whose header (checksum fixed) claims 8000 x 6000: 48 million pixels, above the default 40 million
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = b"IHDR" + struct.pack(">II", 8000, 6000) + bytes(data[24:29])
    data[12:29], data[29:33] = header, struct.pack(">I", zlib.crc32(header))
    bomb = vqa.root / "bomb.png"
    bomb.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["sample", str(vqa.run), "--image", str(bomb), "--question", QUESTION])
    # in-process the CmxError reaches the runner; the console script prints it as one line, exit 2 (test_bad_input)
    assert isinstance(result.exception, CmxError)
    assert "bomb.png: image has 8000x6000 pixels, above data.image.max_pixels=40000000" in str(result.exception)
    with pytest.raises(AssertionError, match="more pixels than data.image.max_pixels=40000000; refused before"):
        serve_in_fresh_process(vqa.exported, {"text": [QUESTION], "image": [bytes(data)]})
