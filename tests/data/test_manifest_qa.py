"""The manifest source's questions (qa.jsonl / qa.csv) and predefined splits (a `split` on any row)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.records import Question, SkipLog
from crossmodal_tf.data.sources import manifest
from crossmodal_tf.data.sources.manifest import predefined_splits, read_records
from crossmodal_tf.errors import CmxError

# the repository's parent holds shared/ (here /work; in CI the clone with shared/ beside it)
DAQUAR = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "daquar_vqa"


def make_folder(folder: Path, names=("a.png", "b.png", "c.png", "sub/d.png")) -> Path:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8), (len(name) * 20, 0, 0)).save(folder / name)
    Image.new("RGB", (8, 8)).save(folder.parent / "outside.png")
    return folder


def jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def records_of(folder: Path, on_error: str = "skip"):
    data = validate_config({"task": "match", "data": {"source": "manifest", "path": str(folder),
                                                      "on_error": on_error}}).data
    skips = SkipLog(on_error)
    return list(read_records(data, 0, skips)), skips


def by_image(records, folder: Path) -> dict:
    return {Path(r.load_image.args[0]).relative_to(folder.resolve()).as_posix(): r for r in records}


def test_qa_jsonl_rows_group_by_image_with_answers_type_and_split(tmp_path):
    """Questions of one image form one record (no captions needed), with answers, type and split as given."""
    folder = make_folder(tmp_path / "m")
    jsonl(folder / "qa.jsonl", [
        {"image": "a.png", "question": "what colour is it?", "answer": "red", "answers": ["red", "red", "dark red"],
         "type": "colour", "split": "train"},
        {"image": "b.png", "question": "how many?", "answer": 2, "split": "test"},
        {"image": "./a.png", "question": "is it square?", "answer": "yes", "split": "train"},
        {"image": "sub/d.png", "question": "what is it?", "answer": "a square"},
    ])
    records, skips = records_of(folder)
    assert skips.count == 0
    images = by_image(records, folder)
    assert list(images) == ["a.png", "b.png", "sub/d.png"]  # file order, one record per image
    a = images["a.png"]
    assert a.captions == () and a.labels is None and a.split == "train"
    assert a.questions == (Question("what colour is it?", "red", ("red", "red", "dark red"), "colour"),
                           Question("is it square?", "yes"))
    assert images["b.png"].questions == (Question("how many?", "2"),) and images["b.png"].split == "test"
    assert images["sub/d.png"].split is None
    data = validate_config({"task": "match", "data": {"source": "manifest", "path": str(folder)}}).data
    assert predefined_splits(data) == {"train", "test"}


def test_qa_csv_answers_are_pipe_separated(tmp_path):
    """In qa.csv `answers` is one `|`-separated field; blanks are dropped, quoted commas stay."""
    folder = make_folder(tmp_path / "m")
    (folder / "qa.csv").write_text(
        "image,question,answer,answers,type,split\n"
        'a.png,"what is it, then?",cup,cup|cup| mug |,object,val\n'
        "b.png,how many?,3,,count,\n", encoding="utf-8")
    records, skips = records_of(folder)
    assert skips.count == 0
    images = by_image(records, folder)
    assert images["a.png"].questions == (Question("what is it, then?", "cup", ("cup", "cup", "mug"), "object"),)
    assert images["a.png"].split == "val" and images["b.png"].split is None
    assert images["b.png"].questions == (Question("how many?", "3", (), "count"),)


def test_captions_and_questions_of_one_image_are_one_record(tmp_path):
    """captions.csv and qa.jsonl rows naming the same image join; captions keep their old behaviour."""
    folder = make_folder(tmp_path / "m")
    (folder / "captions.csv").write_text("image,caption,split\na.png,a red square,test\nb.png,a dark one,\n",
                                         encoding="utf-8")
    jsonl(folder / "qa.jsonl", [{"image": "a.png", "question": "what colour?", "answer": "red"},
                                {"image": "c.png", "question": "what?", "answer": "x", "split": "val"}])
    records, skips = records_of(folder)
    assert skips.count == 0
    images = by_image(records, folder)
    assert list(images) == ["a.png", "b.png", "c.png"]
    assert images["a.png"].captions == ("a red square",) and images["a.png"].questions == (Question("what colour?",
                                                                                                    "red"),)
    assert images["a.png"].split == "test"  # from its caption row
    assert images["b.png"].questions == () and images["b.png"].split is None
    assert images["c.png"].captions == () and images["c.png"].split == "val"


def test_bad_question_rows_are_counted_with_their_place(tmp_path):
    """Each bad QA row is skipped and named by file:line and reason; the good rows still load."""
    folder = make_folder(tmp_path / "m")
    path = jsonl(folder / "qa.jsonl", [
        {"image": "a.png", "question": "ok?", "answer": "yes", "split": "train"},     # 1
        {"image": "a.png", "answer": "yes"},                                          # 2 no question
        {"image": "a.png", "question": "   ", "answer": "yes"},                       # 3 empty question
        {"image": "a.png", "question": "what?"},                                      # 4 no answer
        {"image": "a.png", "question": "what?", "answer": "  "},                      # 5 empty answer
        {"image": "a.png", "question": "what?", "answer": "x", "split": "dev"},       # 6 unknown split
        {"image": "../outside.png", "question": "what?", "answer": "x"},              # 7 escapes
        {"image": "a.png", "question": "what?", "answer": "x", "answers": "x"},       # 8 answers not a list
        {"question": "what?", "answer": "x"},                                         # 9 no image
        {"image": "a.png", "question": "what?", "answer": "x", "split": "test"},      # 10 another split than 1
        "{broken",                                                                    # 11
        {"image": "a.png", "question": "what?", "answer": "x", "type": 3},            # 12 type not text
    ])
    records, skips = records_of(folder)
    assert [r.questions for r in records] == [(Question("ok?", "yes"),)]
    reasons = {e["place"]: e["reason"] for e in skips.examples}
    assert set(reasons) == {f"{path}:{n}" for n in range(2, 13)} and skips.count == 11
    expected = {2: "row has no question", 3: "row has no question", 4: "row has no answer", 5: "empty answer",
                6: "unknown split 'dev'", 7: "leaves the dataset folder", 8: "'answers' must be a list",
                9: "row has no 'image'", 10: f"split 'test' differs from 'train' given for this image at {path}:1",
                11: "invalid JSON", 12: "'type' must be a string"}
    for line, words in expected.items():
        assert words in reasons[f"{path}:{line}"], (line, reasons[f"{path}:{line}"])


def test_bad_caption_split_is_counted_and_fatal_under_fail(tmp_path):
    """A caption row's unknown split is skipped with its row; under data.on_error: fail it stops with file:line."""
    folder = make_folder(tmp_path / "m")
    path = folder / "captions.csv"
    path.write_text("image,caption,split\na.png,one,train\nb.png,two,holdout\n", encoding="utf-8")
    records, skips = records_of(folder)
    assert len(records) == 1 and skips.examples[0]["place"] == f"{path}:3"
    assert "unknown split 'holdout' (expected train, val or test)" in skips.examples[0]["reason"]
    with pytest.raises(CmxError, match=rf"{path}:3: unknown split 'holdout'.*on_error"):
        records_of(folder, on_error="fail")
    path.write_text("image,caption\na.png,one\n", encoding="utf-8")
    jsonl(folder / "qa.jsonl", [{"image": "a.png", "question": "q?", "answer": ""}])
    with pytest.raises(CmxError, match=r"qa\.jsonl:1: empty answer"):
        records_of(folder, on_error="fail")


def test_a_folder_needs_captions_or_questions(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CmxError, match="captions.jsonl.*qa.jsonl"):
        records_of(tmp_path / "empty")


def test_fingerprint_follows_the_qa_file(tmp_path):
    """Editing qa.jsonl changes the fingerprint (so preprocess does not reuse stale output)."""
    folder = make_folder(tmp_path / "m")
    path = jsonl(folder / "qa.jsonl", [{"image": "a.png", "question": "q?", "answer": "a"}])
    data = validate_config({"task": "match", "data": {"source": "manifest", "path": str(folder)}}).data
    before = manifest.fingerprint(data)
    jsonl(path, [{"image": "a.png", "question": "q?", "answer": "a"}, {"image": "b.png", "question": "q?",
                                                                       "answer": "b"}])
    assert manifest.fingerprint(data) != before


@pytest.mark.slow
def test_daquar_loads_as_it_is():
    """The real DAQUAR qa.jsonl ({image, question, answer, split}) loads with SOURCE.md's counts, images undecoded."""
    if not (DAQUAR / "qa.jsonl").is_file():
        pytest.skip(f"DAQUAR not found at {DAQUAR.resolve()} (shared/datasets beside the repository)")
    data = validate_config({"task": "match", "data": {"source": "manifest", "path": str(DAQUAR),
                                                      "on_error": "fail"}}).data
    records = list(read_records(data, 0, SkipLog("fail")))
    questions = Counter()
    for record in records:
        questions[record.split] += len(record.questions)
        assert record.captions == () and record.questions
    assert len(records) == 1447 and dict(questions) == {"train": 6795, "test": 5673}
    assert Counter(r.split for r in records) == {"train": 794, "test": 653}
    assert predefined_splits(data) == {"train", "test"}
    assert all(Path(r.load_image.args[0]).is_file() for r in records)
    assert records[0].load_image().size[0] == 224  # one image decoded, not all
