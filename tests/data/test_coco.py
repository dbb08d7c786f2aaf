"""The coco source: COCO caption JSON and Karpathy split JSON, on small files written here."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.records import SkipLog
from crossmodal_tf.data.sources.coco import predefined_splits, read_records
from crossmodal_tf.errors import CmxError


def data_config(path, **coco):
    return validate_config({"task": "caption", "data": {"source": "coco", "path": str(path), "coco": coco}}).data


def picture(path, colour=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (12, 8), colour).save(path)


def coco_folder(root, annotations=None, images=None):
    """COCO's layout: annotations/captions_train2014.json and train2014/ with two pictures."""
    picture(root / "train2014" / "a.jpg")
    picture(root / "train2014" / "b.jpg", (30, 30, 200))
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    data = {"images": images or [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
            "annotations": annotations if annotations is not None else [
                {"id": 10, "image_id": 1, "caption": "A red  square ."},
                {"id": 11, "image_id": 1, "caption": "something red"},
                {"id": 12, "image_id": 2, "caption": "a blue square"},
                {"id": 12, "image_id": 2, "caption": "the same id again"},
                {"id": 13, "image_id": 99, "caption": "an image that is not listed"}]}
    (root / "annotations" / "captions_train2014.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def test_coco_captions_group_by_image_and_bad_annotations_are_counted(tmp_path):
    skips = SkipLog("skip")
    records = list(read_records(data_config(coco_folder(tmp_path)), 0, skips))
    assert [r.captions for r in records] == [("A red square .", "something red"), ("a blue square",)]
    assert {r.split for r in records} == {"train"}
    assert records[0].load_image().size == (12, 8)  # found in train2014/, COCO's own layout
    assert skips.count == 2 and set(skips.reasons) == {"annotation id 12 repeated",
                                                      "caption for image id 99, which 'images' does not list"}


@pytest.mark.parametrize("case, message", [
    ("no_annotations", "captions_train2014.json: no annotations"),
    ("duplicate_image", r"images\[1\]: image id 1 is listed twice"),
    ("bad_json", "captions_train2014.json:1: not valid JSON"),
])
def test_broken_coco_files_are_one_error_naming_the_file(tmp_path, case, message):
    if case == "no_annotations":
        coco_folder(tmp_path, annotations=[])
    elif case == "duplicate_image":
        coco_folder(tmp_path, images=[{"id": 1, "file_name": "a.jpg"}, {"id": 1, "file_name": "b.jpg"}])
    else:
        coco_folder(tmp_path)
        (tmp_path / "annotations" / "captions_train2014.json").write_text("{\"images\": [", encoding="utf-8")
    with pytest.raises(CmxError, match=message):
        list(read_records(data_config(tmp_path), 0, SkipLog("skip")))


def test_karpathy_splits_are_kept_and_restval_is_training_data(tmp_path):
    for name in ("a", "b", "c"):
        picture(tmp_path / "images" / f"{name}.jpg")
    sentences = [{"raw": "a dog runs", "tokens": ["a", "dog", "runs"]}, {"raw": "a dog"}]
    (tmp_path / "dataset_flickr8k.json").write_text(json.dumps({"images": [
        {"filename": "a.jpg", "imgid": 0, "split": "restval", "sentences": sentences},
        {"filename": "b.jpg", "imgid": 1, "split": "test", "sentences": sentences},
        {"filename": "c.jpg", "imgid": 2, "split": "val", "sentences": []},
        {"filename": "d.jpg", "imgid": 3, "split": "dev", "sentences": sentences}]}), encoding="utf-8")
    skips = SkipLog("skip")
    records = list(read_records(data_config(tmp_path), 0, skips))
    assert [(r.split, r.captions) for r in records] == [("train", ("a dog runs", "a dog")),
                                                       ("test", ("a dog runs", "a dog"))]
    assert skips.count == 2  # no sentences; an unknown split
    assert predefined_splits(data_config(tmp_path)) == {"train", "test"}


def test_a_folder_without_caption_files_names_both_forms(tmp_path):
    with pytest.raises(CmxError, match="neither annotations/captions_.*json \\(COCO\\) nor dataset_.*json"):
        list(read_records(data_config(tmp_path), 0))
