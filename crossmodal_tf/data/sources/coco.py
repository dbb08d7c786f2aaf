"""The `coco` source: captions in the two JSON forms most captioning datasets are shared in.

data.path is a folder holding either
- COCO caption files, `annotations/captions_<split><year>.json` (`images`: id and
  file_name; `annotations`: image_id and caption), the images of each file in
  `<split><year>/` beside `annotations/` (COCO's own layout) or in `images/`; or
- one Karpathy split file, `dataset_*.json` (`images`: filename, optional filepath,
  split train | val | test | restval, sentences with `raw`), the images in
  `<filepath>/`, `images/` or the folder itself.
data.coco.images names the image folder (relative to data.path) instead of those guesses.
Karpathy's splits are kept (restval is training data); a COCO file's split comes from
its name (train/val/test), and preprocess draws the splits a dataset lacks from train.

A problem with one image or caption (a caption for an image the file does not list,
a repeated annotation id, an empty caption) is skipped and counted; a file that is no
such JSON, has no annotations, or lists one image id twice is one error naming it.
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import partial
from pathlib import Path
from typing import Iterator

from crossmodal_tf.data.images import open_image
from crossmodal_tf.data.records import SPLIT_NAMES, Record, SkipLog
from crossmodal_tf.errors import CmxError

READS = ("data.path", "data.coco")  # the config keys this source reads beyond those every source reads
GIVES = ("images",)  # what its records carry beyond texts

KARPATHY_SPLITS = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def caption_files(folder: Path) -> tuple[str, list[Path]]:
    """('coco', the annotations/captions_*.json files) or ('karpathy', [the dataset_*.json file]); else a CmxError."""
    if not folder.is_dir():
        raise CmxError(f"data.path: coco folder {folder} not found")
    coco = sorted((folder / "annotations").glob("captions_*.json"))
    if coco:
        return "coco", coco
    karpathy = sorted(folder.glob("dataset_*.json"))
    if len(karpathy) > 1:
        raise CmxError(f"data.path: {folder} holds {len(karpathy)} Karpathy split files "
                       f"({', '.join(p.name for p in karpathy)}); keep one")
    if karpathy:
        return "karpathy", karpathy
    raise CmxError(f"data.path: {folder} holds neither annotations/captions_*.json (COCO) nor dataset_*.json "
                   "(Karpathy splits)")


def _load(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CmxError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CmxError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise CmxError(f"{path}: expected a JSON object with an 'images' list")
    return data


def _split_of_name(path: Path) -> str | None:
    """train, val or test from a COCO file name (captions_val2014.json → val); None when it names none."""
    match = re.match(r"captions_([a-z]+)", path.stem)
    name = match.group(1) if match else ""
    return next((split for split in SPLIT_NAMES if name.startswith(split)), None)


def _image_folder(folder: Path, configured: str | None, candidates: list[str]) -> Path:
    """The configured image folder, else the first candidate that exists (the folder itself at last)."""
    if configured:
        return folder / configured
    return next((folder / c for c in candidates if c and (folder / c).is_dir()), folder)


def _record(folder: Path, image_path: Path, captions: list[str], place: str, split: str | None,
            max_pixels: int, skips: SkipLog) -> Record | None:
    root = folder.resolve()
    target = image_path.resolve()
    if not target.is_relative_to(root):
        skips.add(place, f"image path {str(image_path)!r} leaves the dataset folder")
        return None
    key = hashlib.sha1(str(target.relative_to(root)).encode()).hexdigest()[:16]
    return Record(key=key, captions=tuple(captions), load_image=partial(open_image, target, max_pixels),
                  canonical=f"coco:{key}", place=place, split=split)


def _coco_records(path: Path, folder: Path, data_config, skips: SkipLog) -> Iterator[Record]:
    data = _load(path)
    annotations = data.get("annotations")
    if not isinstance(annotations, list) or not annotations:
        raise CmxError(f"{path}: no annotations (a COCO caption file lists its captions under 'annotations')")
    split = _split_of_name(path)
    images_dir = _image_folder(folder, data_config.coco.images, [path.stem.removeprefix("captions_"), "images"])
    images = {}
    for index, image in enumerate(data["images"]):
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            skips.add(f"{path}: images[{index}]", "image entry without 'id' and 'file_name'")
            continue
        if image["id"] in images:
            raise CmxError(f"{path}: images[{index}]: image id {image['id']!r} is listed twice")
        images[image["id"]] = (image["file_name"], [])
    seen_ids = set()
    for index, note in enumerate(annotations):
        place = f"{path}: annotations[{index}]"
        if not isinstance(note, dict) or not isinstance(note.get("caption"), str) or not note["caption"].strip():
            skips.add(place, "annotation without a caption")
            continue
        if note.get("id") is not None:
            if note["id"] in seen_ids:
                skips.add(place, f"annotation id {note['id']!r} repeated")
                continue
            seen_ids.add(note["id"])
        if note.get("image_id") not in images:
            skips.add(place, f"caption for image id {note.get('image_id')!r}, which 'images' does not list")
            continue
        images[note["image_id"]][1].append(" ".join(note["caption"].split()))
    for image_id, (file_name, captions) in images.items():
        if captions:
            record = _record(folder, images_dir / file_name, captions, f"{path}: image id {image_id}", split,
                             data_config.image.max_pixels, skips)
            if record is not None:
                yield record


def _karpathy_records(path: Path, folder: Path, data_config, skips: SkipLog) -> Iterator[Record]:
    data = _load(path)
    if not data["images"]:
        raise CmxError(f"{path}: no images")
    seen = set()
    for index, image in enumerate(data["images"]):
        place = f"{path}: images[{index}]"
        if not isinstance(image, dict) or not isinstance(image.get("filename"), str):
            skips.add(place, "image entry without a 'filename'")
            continue
        name = (image.get("filepath") or "", image["filename"])
        ident = image.get("imgid", name)
        if ident in seen:
            raise CmxError(f"{place}: image {ident!r} is listed twice")
        seen.add(ident)
        split = KARPATHY_SPLITS.get(image.get("split"))
        if split is None:
            skips.add(place, f"unknown split {image.get('split')!r} (expected train, restval, val or test)")
            continue
        captions = [" ".join(s["raw"].split()) for s in image.get("sentences") or []
                    if isinstance(s, dict) and isinstance(s.get("raw"), str) and s["raw"].strip()]
        if not captions:
            skips.add(place, "image without sentences")
            continue
        images_dir = _image_folder(folder, data_config.coco.images, [name[0], "images"])
        record = _record(folder, images_dir / name[1], captions, place, split, data_config.image.max_pixels, skips)
        if record is not None:
            yield record


def read_records(data_config, seed: int, skips: SkipLog | None = None, needs=None) -> Iterator[Record]:
    """One Record per image with captions, file by file, in file order (needs is not read: images and captions
    are all a caption file gives)."""
    skips = skips or SkipLog(data_config.on_error)
    folder = Path(data_config.path)
    kind, files = caption_files(folder)
    for path in files:
        yield from (_coco_records if kind == "coco" else _karpathy_records)(path, folder, data_config, skips)


def predefined_splits(data_config) -> set[str]:
    """The splits the files name: Karpathy's per image, COCO's by file name."""
    return {record.split for record in read_records(data_config, 0, SkipLog("skip")) if record.split}


def fingerprint(data_config) -> str:
    """Changes when a caption file or any image in the folder changes (size or time)."""
    folder = Path(data_config.path)
    caption_files(folder)
    digest = hashlib.sha256(str(data_config.coco.images).encode())
    for item in sorted(folder.rglob("*")):
        if item.is_file():
            stat = item.stat()
            digest.update(f"{item.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()
