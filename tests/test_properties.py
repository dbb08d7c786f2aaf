"""Property-based tests (hypothesis): --set parsing, config merging, tokenizer round trips, splits, manifest fuzz."""

from __future__ import annotations

import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crossmodal_tf.config.loading import _merge, apply_override, parse_override
from crossmodal_tf.preprocessing import split_of
from crossmodal_tf.data.records import SkipLog
from crossmodal_tf.data.sources import manifest
from crossmodal_tf.data.text import RESERVED, Vocabulary, detokenize, normalize, tokenize
from crossmodal_tf.errors import CmxError

KEY = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(lambda k: k.strip("_"))
SCALAR = st.one_of(st.integers(-10**6, 10**6), st.booleans(), st.text(string.ascii_letters, min_size=1,
                                                                      max_size=10).filter(
    lambda t: t.lower() not in ("yes", "no", "on", "off", "true", "false", "null", "y", "n", "nan", "inf")))
NESTED = st.recursive(st.dictionaries(KEY, SCALAR, max_size=3),
                      lambda inner: st.dictionaries(KEY, st.one_of(SCALAR, inner), max_size=3), max_leaves=10)


@given(st.lists(KEY, min_size=1, max_size=4), SCALAR)
def test_set_round_trips_a_dotted_key_and_a_scalar(parts, value):
    text = f"{'.'.join(parts)}={value}"
    parsed_parts, parsed_value = parse_override(text)
    assert parsed_parts == parts
    assert parsed_value == value


@given(st.text(max_size=30))
def test_set_parsing_never_fails_with_anything_but_a_user_error(text):
    try:
        parse_override(text)
    except CmxError:
        pass


@given(NESTED, st.lists(KEY, min_size=1, max_size=3), SCALAR)
def test_applied_override_is_read_back_or_refused(data, parts, value):
    try:
        apply_override(data, parts, value)
    except CmxError as exc:
        assert "not a section" in str(exc)
        return
    node = data
    for part in parts:
        node = node[part]
    assert node == value


@given(NESTED, NESTED)
def test_merge_keeps_every_override_and_every_untouched_base_key(base, override):
    merged = _merge(base, override)

    def check(merged, base, override):
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                check(merged[key], base[key], value)
            else:
                assert merged[key] == value
        for key, value in base.items():
            if key not in override:
                assert merged[key] == value

    check(merged, base, override)
    assert _merge(merged, override) == merged  # applying the same override again changes nothing


WORDS = st.lists(st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=8), min_size=1, max_size=12)


@given(WORDS)
def test_word_tokens_round_trip_through_the_vocabulary(words):
    vocab = Vocabulary([*RESERVED, *sorted(set(words))])
    text = " ".join(words)
    ids = vocab.encode(tokenize(text), add_start=True, add_end=True)
    assert detokenize(vocab.decode(ids)) == normalize(text)


@given(st.text(alphabet=st.characters(whitelist_categories=("Lo",)), min_size=1, max_size=20))
def test_character_tokens_round_trip(text):
    tokens = tokenize(text, "char")
    vocab = Vocabulary([*RESERVED, *sorted(set(tokens))])
    assert detokenize(vocab.decode(vocab.encode(tokens)), "char") == normalize(text).replace(" ", "")


@given(st.text(max_size=40))
def test_unknown_tokens_become_unk_and_never_fail(text):
    vocab = Vocabulary([*RESERVED, "a"])
    ids = vocab.encode(tokenize(text))
    assert all(i in (1, 4) for i in ids)


@given(st.text(min_size=1, max_size=30), st.integers(0, 2**31), st.floats(0, 0.45), st.floats(0, 0.45))
def test_splits_are_deterministic_and_follow_the_fractions(key, seed, val, test):
    first = split_of(key, seed, val, test)
    assert first == split_of(key, seed, val, test)
    assert first in ("train", "val", "test")
    if val == 0 and test == 0:
        assert first == "train"


def test_split_fractions_hold_over_many_keys():
    splits = [split_of(f"image-{i}", 7, 0.1, 0.2) for i in range(20000)]
    assert splits.count("val") / len(splits) == pytest.approx(0.1, abs=0.01)
    assert splits.count("test") / len(splits) == pytest.approx(0.2, abs=0.01)


ROW_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                      st.lists(st.integers(), max_size=2))
ROW = st.one_of(st.dictionaries(st.sampled_from(["image", "text", "caption", "label", "other"]), ROW_VALUE),
                st.text(max_size=30), st.binary(max_size=30))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(ROW, max_size=6), st.sampled_from(["captions.jsonl", "captions.csv"]), st.booleans())
@example([{"image": "\r0"}], "captions.csv", False)  # found by this test: a bare carriage return in a CSV field
def test_random_manifest_rows_raise_nothing_but_user_errors(tmp_path, rows, name, fail):
    """Whatever the rows hold, reading them yields Records or raises CmxError, never anything else."""
    import json

    from PIL import Image

    from crossmodal_tf.config import validate_config

    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    for old in folder.iterdir():
        old.unlink()
    Image.new("RGB", (4, 4)).save(folder / "a.png")
    lines = []
    for row in rows:
        if isinstance(row, dict):
            lines.append(json.dumps(row).encode() if name.endswith(".jsonl")
                         else ",".join(str(v) for v in row.values()).encode())
        else:
            lines.append(row.encode("utf-8", "surrogatepass") if isinstance(row, str) else row)
    header = b"" if name.endswith(".jsonl") else b"image,caption,label\n"
    (folder / name).write_bytes(header + b"\n".join(lines) + b"\n")
    data = validate_config({"task": "match", "data": {"source": "manifest", "path": str(folder),
                                                      "on_error": "fail" if fail else "skip"}}).data
    try:
        for record in manifest.read_records(data, 0, SkipLog(data.on_error)):
            assert record.captions and Path(record.place.split(":")[0]).name == name
    except CmxError:
        pass
