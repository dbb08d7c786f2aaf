"""The parallel source: TSV and JSONL sentence pairs, their edge cases, and preprocessing them for seq2seq."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossmodal_tf.config import validate_config
from crossmodal_tf.data.records import SkipLog
from crossmodal_tf.data.sources.parallel import predefined_splits, read_records
from crossmodal_tf.errors import CmxError

TSV = ("Go.\t走。\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272 (CM) & #332082 (ZH)\n"
       "I won!\t我赢了。\n"
       "\n"
       "no target here\n"
       "\t空的\n"
       "Stop!\t\n"
       "Help me.\t帮我一下。\textra\tcolumns\n")


def data_config(path: Path, on_error: str = "skip"):
    return validate_config({"task": "seq2seq", "data": {"source": "parallel", "path": str(path),
                                                        "on_error": on_error}}).data


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_tsv_pairs_load_with_extra_columns_ignored(tmp_path):
    skips = SkipLog()
    records = list(read_records(data_config(write(tmp_path / "cmn.txt", TSV)), 0, skips))
    assert [(r.captions[0], r.translation) for r in records] == [("Go.", "走。"), ("I won!", "我赢了。"),
                                                                  ("Help me.", "帮我一下。")]
    assert skips.count == 3
    reasons = {e["place"].rsplit(":", 1)[1]: e["reason"] for e in skips.examples}
    assert "no target" in reasons["4"]
    assert "empty sentence" in reasons["5"] and "empty sentence" in reasons["6"]


def test_jsonl_pairs_and_their_bad_rows(tmp_path):
    rows = [json.dumps({"source": "a red circle", "target": "一个红色的圆形", "id": 1}, ensure_ascii=False),
            json.dumps({"source": "no target"}), "{not json", json.dumps(["a", "list"]),
            json.dumps({"source": 3, "target": "三"})]
    skips = SkipLog()
    records = list(read_records(data_config(write(tmp_path / "pairs.jsonl", "\n".join(rows) + "\n")), 0, skips))
    assert [(r.captions[0], r.translation) for r in records] == [("a red circle", "一个红色的圆形")]
    assert skips.count == 4
    assert {e["reason"].split(" (")[0] for e in skips.examples} == {
        "row has no 'target'", "invalid JSON", "row is not a JSON object", "source and target must be strings"}


def test_mixed_encodings_skip_the_lines_that_are_not_utf8(tmp_path):
    text = "hello\t你好\n".encode() + "bye\t再见\n".encode("gb18030") + "thanks\t谢谢\n".encode()
    skips = SkipLog()
    records = list(read_records(data_config(write(tmp_path / "pairs.tsv", text)), 0, skips))
    assert [r.captions[0] for r in records] == ["hello", "thanks"]
    assert skips.examples[0]["place"].endswith("pairs.tsv:2")
    assert "not UTF-8" in skips.examples[0]["reason"]


def test_on_error_fail_names_the_file_and_line(tmp_path):
    path = write(tmp_path / "pairs.tsv", "ok\t好\nbroken line\n")
    with pytest.raises(CmxError, match=r"pairs.tsv:2: row has no target"):
        list(read_records(data_config(path, "fail"), 0, SkipLog("fail")))


def test_a_folder_with_pairs_tsv_loads_and_a_missing_file_is_a_clear_error(tmp_path):
    write(tmp_path / "corpus" / "pairs.tsv", "one\t一\n")
    assert len(list(read_records(data_config(tmp_path / "corpus"), 0))) == 1
    with pytest.raises(CmxError, match="data.path: parallel file .* not found"):
        list(read_records(data_config(tmp_path / "nope.tsv"), 0))
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(CmxError, match="holds none of pairs.tsv"):
        list(read_records(data_config(tmp_path / "empty_folder"), 0))


def test_the_same_source_sentence_always_lands_in_one_split(tmp_path):
    path = write(tmp_path / "pairs.tsv", "Go.\t走。\ngo\t去。\nGo!\t走吧。\n")
    keys = {r.key for r in read_records(data_config(path), 0)}
    assert len(keys) == 1  # the normalised source is the key, so repeats cannot leak from train into test


def test_preprocess_of_a_parallel_file_writes_both_vocabularies_and_counts_skips(tmp_path, tiny_config):
    pytest.importorskip("tensorflow")
    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.preprocessing import preprocess
    from crossmodal_tf.data.text import Vocabulary

    lines = [f"number {i} is here\t第{i}号在这里" for i in range(60)] + ["missing target", "\t空"]
    path = write(tmp_path / "pairs.tsv", "\n".join(lines) + "\n")
    config = tiny_config("task=seq2seq", "data.source=parallel", f"data.path={path}")
    stats = preprocess(config)
    assert sum(stats["counts"].values()) == 60
    assert stats["skipped"]["count"] == 2
    assert stats["target_vocab_size"] == len(Vocabulary.load(config.processed_dir / "target_vocab.txt"))
    target_vocab = Vocabulary.load(config.processed_dir / "target_vocab.txt")
    assert "号" in target_vocab.index and "number" in Vocabulary.load(config.processed_dir / "vocab.txt").index
    batch = next(iter(make_dataset(config.processed_dir, "train", stats["counts"]["train"], 8, None)))
    assert "image" not in batch
    first = batch["target"].numpy()[0]
    assert first[0] == target_vocab.index["<start>"] and target_vocab.index["<end>"] in first


# --- a folder of split files ----------------------------------------------------------------
def split_folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "corpus"
    for name, text in files.items():
        write(folder / name, text)
    return folder


def test_split_files_give_each_record_its_split(tmp_path):
    """train.tsv, dev.tsv and test.tsv: records carry their file's split and place, in train, val, test order."""
    folder = split_folder(tmp_path, {"train.tsv": "one\t一\ntwo\t二\n", "dev.tsv": "three\t三\n",
                                     "test.tsv": "four\t四\nbad row\n"})
    skips = SkipLog()
    records = list(read_records(data_config(folder), 0, skips))
    assert [(r.captions[0], r.split) for r in records] == [("one", "train"), ("two", "train"), ("three", "val"),
                                                           ("four", "test")]
    assert records[2].place == f"{folder / 'dev.tsv'}:1"
    assert skips.examples[0]["place"] == f"{folder / 'test.tsv'}:2"
    assert predefined_splits(data_config(folder)) == {"train", "val", "test"}


def test_val_tsv_and_jsonl_split_files(tmp_path):
    folder = split_folder(tmp_path, {"train.jsonl": json.dumps({"source": "one", "target": "一"}) + "\n",
                                     "val.tsv": "two\t二\n"})
    records = list(read_records(data_config(folder), 0))
    assert [(r.captions[0], r.split) for r in records] == [("one", "train"), ("two", "val")]
    assert predefined_splits(data_config(folder)) == {"train", "val"}  # test is then drawn from train by hash


@pytest.mark.parametrize("files, message", [
    ({"dev.tsv": "a\tb\n", "test.tsv": "a\tb\n"}, r"train\.tsv not found \(a folder of split files needs train"),
    ({"train.tsv": "a\tb\n", "dev.tsv": "", "test.tsv": "c\td\n"}, r"dev\.tsv: the val split file holds no"),
    ({"train.tsv": "no target\n"}, r"train\.tsv: the train split file holds no sentence pairs"),
    ({"train.tsv": "a\tb\n", "dev.tsv": "a\tb\n", "val.tsv": "a\tb\n"}, r"both dev\.tsv and val\.tsv"),
    ({"train.tsv": "a\tb\n", "pairs.tsv": "a\tb\n"}, r"both pairs\.tsv and split files"),
])
def test_missing_or_empty_split_files_are_one_line_errors(tmp_path, files, message):
    folder = split_folder(tmp_path, files)
    with pytest.raises(CmxError, match=message) as info:
        list(read_records(data_config(folder), 0))
    assert "\n" not in str(info.value)


def test_preprocess_of_split_files_keeps_test_and_val_as_given(tmp_path, tiny_config):
    """Every pair of dev.tsv and test.tsv lands in its split; train.tsv's pairs all stay in train."""
    pytest.importorskip("tensorflow")
    from crossmodal_tf.preprocessing import preprocess

    def lines(name, count):
        return "".join(f"{name} sentence {i}\t{name}句子{i}\n" for i in range(count))

    folder = split_folder(tmp_path, {"train.tsv": lines("train", 30), "dev.tsv": lines("dev", 7),
                                     "test.tsv": lines("test", 5)})
    config = tiny_config("task=seq2seq", "data.source=parallel", f"data.path={folder}")
    assert preprocess(config)["counts"] == {"train": 30, "val": 7, "test": 5}
