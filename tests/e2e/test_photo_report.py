"""cmx report on runs trained on photos (a manifest folder the test writes): each photo is on the page as
itself, a JPEG at the model's image size in the right colours, beside its generated caption and references
(caption) or its question, predicted and true answer (vqa)."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli_runner import invoke

pytestmark = pytest.mark.slow  # trains two tiny runs

TESTS = Path(__file__).resolve().parents[1]
COLOURS = {"red": (205, 40, 40), "green": (40, 170, 60), "blue": (40, 60, 205), "yellow": (225, 205, 40)}
SIZE = 96  # the runs' data.image.size (from 96 px on, a report shows photos as JPEG); the photos are
# 48x80, so preprocessing squashes them to it
IMG = re.compile(r'<img class="(\w+)" alt="[^"]*" src="data:(image/\w+);base64,([^"]+)">')


def _photo(colour: tuple, rng) -> Image.Image:
    """A photo-like 48x80 image of one dominant colour: a gradient, then noise on every pixel."""
    x = np.linspace(-25, 25, 80)[None, :, None]
    pixels = np.asarray(colour, float) + x + rng.normal(0, 14, (48, 80, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _colour_of(encoded: str) -> str:
    """The named colour nearest to an inline image's mean colour (red and blue swapped would show here)."""
    mean = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB")).reshape(-1, 3).mean(0)
    return min(COLOURS, key=lambda name: np.abs(mean - COLOURS[name]).sum())


def _size_of(encoded: str) -> tuple:
    return Image.open(io.BytesIO(base64.b64decode(encoded))).size


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """A folder of 40 photos with captions.csv and qa.jsonl; tiny caption and vqa runs on it, and their reports."""
    root = tmp_path_factory.mktemp("photo-report")
    photos, rng = root / "photos", np.random.default_rng(0)
    (photos / "img").mkdir(parents=True)
    captions, questions = [], []
    for n in range(40):
        name = list(COLOURS)[n % len(COLOURS)]
        _photo(COLOURS[name], rng).save(photos / f"img/{n}.jpg", quality=92)
        captions += [(f"img/{n}.jpg", f"a {name} photo"), (f"img/{n}.jpg", f"something {name} in the picture")]
        questions += [{"image": f"img/{n}.jpg", "question": "what colour is the photo?", "answer": name},
                      {"image": f"img/{n}.jpg", "question": "what is in the photo?", "answer": "noise"}]
    with open(photos / "captions.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("image", "caption"), *captions])
    (photos / "qa.jsonl").write_text("".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8")
    sets = ["--set", "data.source=manifest", "--set", f"data.path={photos}", "--set", f"data.image.size={SIZE}"]
    pages = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        for task in ("caption", "vqa"):
            invoke("train", str(TESTS / "configs" / f"tiny_{task}.yaml"), "--quiet", *sets,
                   "--set", f"data.processed=processed/{task}", "--run-dir", f"runs/{task}")
            invoke("report", f"runs/{task}")
            pages[task] = (root / f"runs/{task}/report.html").read_text(encoding="utf-8")
    yield types.SimpleNamespace(root=root, **pages)


def _section(page: str, heading: str) -> str:
    start = page.index(f"<h2>{heading}")
    return page[start:page.index("</section>", start)]


def test_caption_report_shows_each_photo_beside_its_caption_and_references(reports):
    rows = re.findall(r"<tr>(.*?)</tr>", _section(reports.caption, "Captions (test split)"), re.S)[1:]  # 1: header
    assert rows
    for row in rows:
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        found = IMG.fullmatch(cells[0])
        assert found, cells[0]
        css, mime, encoded = found.groups()
        assert (css, mime) == ("photo", "image/jpeg") and _size_of(encoded) == (SIZE, SIZE)
        assert len(cells) == 5  # the greedy caption and two samples (a one-epoch model may say nothing) between
        colour = _colour_of(encoded)
        # the references under the photo are its own: they name the colour the pixels show
        assert sorted(cells[4].split("<br>")) == [f"a {colour} photo", f"something {colour} in the picture"]
    assert len(reports.caption.encode()) < 5_000_000


def test_vqa_report_shows_each_photo_with_its_question_and_answers(reports):
    """One card per test photo (each has two questions), its question, the model's answer and the photo's truth."""
    cards = re.findall(r'<div class="card">(.*?)</div></div>', _section(reports.vqa, "Answers"), re.S)
    assert len(cards) > 1
    photos = []
    for one in cards:
        found = IMG.match(one)
        assert found and found.group(1, 2) == ("photo", "image/jpeg") and _size_of(found.group(3)) == (SIZE, SIZE)
        photos.append(found.group(3))
        question, answer, truth = re.findall(r"<div>(.*?)</div>", one[found.end():] + "</div>")
        assert answer.startswith("answer: ")
        colour = _colour_of(found.group(3))
        # the question as the model read it (punctuation dropped), and the truth of this photo
        assert (question, truth) in {("what colour is the photo", f"truth: {colour}"),
                                     ("what is in the photo", "truth: noise")}
    assert len(set(photos)) == len(photos)  # twelve questions about a few photos would show less


def test_photo_reports_render_in_chromium(reports):
    from browser_check import check_page, find_chromium

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set CMX_CHROMIUM); .ci/run installs it")
    for task in ("caption", "vqa"):
        seen = check_page(reports.root / f"runs/{task}/report.html", chromium)
        assert [i for i in seen["images"] if not (i["complete"] and i["naturalWidth"] > 0)] == []
        assert seen["errors"] == [] and seen["console"] == []
