"""The manifest source: a folder of images with captions.csv or captions.jsonl."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.images import BadImage, image_to_array, open_image
from crossmodal_tf.preprocessing import preprocess
from crossmodal_tf.data.records import SkipLog
from crossmodal_tf.data.sources.manifest import read_records
from crossmodal_tf.errors import CmxError

RED = (200, 30, 30)


def make_images(folder: Path) -> None:
    """Small images in several Pillow modes, plus a corrupt file and one outside the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (10, 8), RED).save(folder / "red.png")
    Image.new("L", (8, 8), 100).save(folder / "gray.png")
    palette = Image.new("P", (8, 8), 1)
    palette.putpalette([0, 0, 0, 20, 180, 60] + [0] * (256 * 3 - 6))
    palette.save(folder / "pal.png")
    Image.new("RGBA", (8, 8), (0, 0, 255, 0)).save(folder / "rgba.png")  # fully transparent
    (folder / "sub").mkdir(exist_ok=True)
    Image.new("RGB", (12, 12), (10, 10, 250)).save(folder / "sub" / "blue.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"definitely not a png" * 5)
    Image.new("RGB", (8, 8), RED).save(folder.parent / "outside.png")


CSV_ROWS = """image,caption
red.png,a red square, on a grey floor, seen from above
red.png,a red block
gray.png,a grey thing
pal.png,a green palette picture
rgba.png,a see-through picture
missing.png,a missing picture
corrupt.png,a corrupt picture
../outside.png,an outside picture
sub/blue.png,a blue square in a sub folder
"""


@pytest.fixture
def manifest(tmp_path) -> Path:
    folder = tmp_path / "manifest"
    make_images(folder)
    (folder / "captions.csv").write_text(CSV_ROWS, encoding="utf-8")
    return folder


def data_config(folder: Path, **data):
    return validate_config({"task": "match", "data": {"source": "manifest", "path": str(folder), **data}}).data


def records_of(folder: Path, on_error: str = "skip"):
    skips = SkipLog(on_error)
    return list(read_records(data_config(folder, on_error=on_error), 0, skips)), skips


def test_csv_flickr8k_unquoted_commas_and_grouping(manifest):
    """Unquoted commas stay in the caption; rows naming the same image become one record."""
    records, _ = records_of(manifest)
    by_caption = {r.captions[0]: r for r in records}
    red = by_caption["a red square, on a grey floor, seen from above"]
    assert red.captions == ("a red square, on a grey floor, seen from above", "a red block")
    assert red.labels is None
    assert sum(1 for r in records if "a red block" in r.captions) == 1
    assert len({r.key for r in records}) == len(records)


def test_path_leaving_the_folder_is_skipped_with_its_row(manifest):
    """../outside.png is refused even though the file exists, and the row is named."""
    records, skips = records_of(manifest)
    assert not any("outside" in c for r in records for c in r.captions)
    assert skips.count == 1
    assert skips.examples[0]["place"] == f"{manifest / 'captions.csv'}:9"
    assert "leaves the dataset folder" in skips.examples[0]["reason"]


def test_same_image_under_two_spellings_is_one_record(tmp_path):
    """'red.png' and './red.png' name one image, so its captions stay together (one split)."""
    folder = tmp_path / "m"
    make_images(folder)
    (folder / "captions.csv").write_text("image,text\nred.png,one\n./red.png,two\n", encoding="utf-8")
    records, _ = records_of(folder)
    assert len(records) == 1 and records[0].captions == ("one", "two")


def test_keys_are_stable_across_reads(manifest):
    """An image's key (which decides its split) is the same every time the folder is read."""
    assert [r.key for r in records_of(manifest)[0]] == [r.key for r in records_of(manifest)[0]]


def test_quoted_csv_and_bom_header(tmp_path):
    """A properly quoted CSV (with a BOM, as Excel writes it) reads the same."""
    folder = tmp_path / "m"
    make_images(folder)
    (folder / "captions.csv").write_text('\ufeffImage,Caption\n"red.png","a red square, big"\n', encoding="utf-8")
    records, skips = records_of(folder)
    assert [r.captions for r in records] == [("a red square, big",)]
    assert skips.count == 0


def test_csv_without_image_column_names_the_header_line(tmp_path):
    """A CSV whose header lacks 'image' is a CmxError at file:1."""
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "captions.csv").write_text("picture,caption\nred.png,x\n", encoding="utf-8")
    with pytest.raises(CmxError, match=r"captions\.csv:1: .*'image'"):
        records_of(folder)


def test_missing_folder_and_missing_captions_file(tmp_path):
    """A missing folder, or one without captions.csv/jsonl, is a CmxError naming data.path."""
    with pytest.raises(CmxError, match="data.path"):
        records_of(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CmxError, match="captions.jsonl"):
        records_of(tmp_path / "empty")


def test_jsonl_rows_labels_and_bad_rows(tmp_path):
    """JSONL rows with text or caption and 0/1 labels; broken rows are skipped with their line."""
    folder = tmp_path / "m"
    make_images(folder)
    rows = [
        json.dumps({"image": "red.png", "text": "a red square", "label": 1}),
        json.dumps({"image": "red.png", "caption": "a blue circle", "label": 0}),
        json.dumps({"image": "gray.png", "text": "a grey thing"}),
        "{not json",
        json.dumps(["red.png", "a list"]),
        json.dumps({"image": "pal.png", "text": "   "}),
        json.dumps({"image": "pal.png", "text": "x", "label": "yes"}),
        json.dumps({"text": "no image"}),
        "",
        json.dumps({"image": "rgba.png", "text": "labelled", "label": 1}),
        json.dumps({"image": "rgba.png", "text": "not labelled"}),
    ]
    (folder / "captions.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    records, skips = records_of(folder)
    red = next(r for r in records if "a red square" in r.captions)
    assert red.captions == ("a red square", "a blue circle") and red.labels == (1, 0)
    assert any(r.captions == ("a grey thing",) and r.labels is None for r in records)
    path = folder / "captions.jsonl"
    skipped = {e["place"]: e["reason"] for e in skips.examples}
    assert set(skipped) == {f"{path}:{n}" for n in (4, 5, 6, 7, 8, 10)}
    assert "invalid JSON" in skipped[f"{path}:4"]
    assert "label must be 0 or 1" in skipped[f"{path}:7"]
    assert "some rows of this image have a label" in skipped[f"{path}:10"]
    assert len(records) == 2


def test_jsonl_is_preferred_and_on_error_fail_names_the_row(tmp_path):
    """With data.on_error: fail the first bad row raises a CmxError naming file:line."""
    folder = tmp_path / "m"
    make_images(folder)
    (folder / "captions.jsonl").write_text('{"image": "red.png", "text": "ok"}\n{broken\n', encoding="utf-8")
    with pytest.raises(CmxError, match=r"captions\.jsonl:2: invalid JSON.*on_error"):
        records_of(folder, on_error="fail")


# --- images --------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("red.png", RED),
    ("gray.png", (100, 100, 100)),
    ("pal.png", (20, 180, 60)),
    ("rgba.png", (255, 255, 255)),  # transparent pixels become white, not black
])
def test_any_mode_becomes_an_rgb_array(manifest, name, expected):
    """Grayscale, palette and RGBA images load as (size, size, 3) uint8 RGB arrays."""
    array = image_to_array(open_image(manifest / name, 10_000), 16)
    assert array.shape == (16, 16, 3) and array.dtype == np.uint8
    assert (array == np.array(expected, dtype=np.uint8)).all()


def test_half_transparent_pixels_blend_with_white(tmp_path):
    """An RGBA pixel at half alpha is blended over white."""
    Image.new("RGBA", (4, 4), (0, 0, 0, 128)).save(tmp_path / "half.png")
    value = image_to_array(open_image(tmp_path / "half.png", 100), 4)[0, 0]
    assert 120 <= int(value[0]) <= 135 and value[0] == value[1] == value[2]


def test_bad_images_raise_bad_image(manifest, tmp_path):
    """Missing, empty, corrupt and too-large images are BadImage (a CmxError), not crashes."""
    (tmp_path / "empty.png").write_bytes(b"")
    for path, words in [(manifest / "missing.png", "not found"), (tmp_path / "empty.png", "empty"),
                        (manifest / "corrupt.png", "unreadable")]:
        with pytest.raises(BadImage, match=words):
            open_image(path, 10_000)
    with pytest.raises(BadImage, match="max_pixels"):
        open_image(manifest / "red.png", 79)  # 10 x 8 = 80 pixels
    assert issubclass(BadImage, CmxError)


# --- through preprocess --------------------------------------------------------------------
def manifest_config(tiny_config, folder: Path, *sets: str):
    return tiny_config("data.source=manifest", f"data.path={folder}", "data.split.val=0", "data.split.test=0",
                       "data.image.size=16", *sets)


@pytest.mark.parametrize("workers", [1, 2])
def test_preprocess_skips_and_counts_bad_rows(tiny_config, manifest, workers):
    """Missing, corrupt and escaping images are skipped and listed in stats.json with their rows,
    whether the images are decoded in-process or in worker processes."""
    config = manifest_config(tiny_config, manifest, f"data.workers={workers}")
    stats = preprocess(config)
    written = json.loads((config.processed_dir / "stats.json").read_text(encoding="utf-8"))
    assert written["skipped"]["count"] == 3
    places = {e["place"]: e["reason"] for e in written["skipped"]["first"]}
    csv = manifest / "captions.csv"
    assert set(places) == {f"{csv}:7", f"{csv}:8", f"{csv}:9"}
    assert "not found" in places[f"{csv}:7"] and "unreadable" in places[f"{csv}:8"]
    assert written["images"]["train"] == 5  # red, gray, pal, rgba, sub/blue
    assert stats["counts"] == written["counts"]
    kinds = written["examples_by_kind"]["train"]
    assert kinds["positive"] == 6          # red has two captions, the others one
    assert "hard_negative" not in kinds    # the manifest cannot make hard negatives


def test_preprocess_with_labels_uses_them(tiny_config, tmp_path):
    """Labelled rows are written as they are (kind 'labelled'), no negatives are invented."""
    folder = tmp_path / "m"
    make_images(folder)
    rows = [{"image": "red.png", "text": "red", "label": 1}, {"image": "red.png", "text": "blue", "label": 0},
            {"image": "gray.png", "text": "grey", "label": 1}]
    (folder / "captions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    stats = preprocess(manifest_config(tiny_config, folder))
    assert stats["examples_by_kind"]["train"] == {"labelled": 3}
    assert stats["counts"]["train"] == 3


@pytest.mark.parametrize("workers", [1, 2])
def test_preprocess_on_error_fail_names_the_row_and_writes_nothing(tiny_config, manifest, workers):
    """With data.on_error: fail a bad image stops preprocess with file:line, leaving no output
    (the same message when a worker process found it)."""
    csv = manifest / "captions.csv"
    csv.write_text(CSV_ROWS.replace("../outside.png,an outside picture\n", ""), encoding="utf-8")
    config = manifest_config(tiny_config, manifest, "data.on_error=fail", f"data.workers={workers}")
    with pytest.raises(CmxError) as info:
        preprocess(config)
    assert str(info.value).startswith(f"{csv}:7: image not found")
    assert not config.processed_dir.exists()
    leftovers = [p.name for p in config.processed_dir.parent.iterdir() if config.processed_dir.name in p.name]
    assert leftovers == []  # no temporary folder left behind


def test_preprocess_on_error_fail_escaping_path(tiny_config, manifest):
    """With data.on_error: fail a path leaving the folder is fatal and names its row."""
    config = manifest_config(tiny_config, manifest, "data.on_error=fail")
    with pytest.raises(CmxError, match=rf"{manifest / 'captions.csv'}:9: .*leaves the dataset folder"):
        preprocess(config)


def test_changed_manifest_is_preprocessed_again(tiny_config, manifest):
    """Editing the captions file invalidates the preprocessed output (no stale reuse)."""
    config = manifest_config(tiny_config, manifest)
    assert preprocess(config)["reused"] is False
    assert preprocess(config)["reused"] is True
    with open(manifest / "captions.csv", "a", encoding="utf-8") as handle:
        handle.write("gray.png,another grey caption\n")
    again = preprocess(config)
    assert again["reused"] is False
    assert again["examples_by_kind"]["train"]["positive"] == 7
