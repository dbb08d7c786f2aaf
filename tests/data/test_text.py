"""Text: normalisation, tokenizers and the vocabulary every split is encoded with."""

from __future__ import annotations

from collections import Counter

import pytest

from crossmodal_tf.data.text import (END, PAD, RESERVED, START, UNK, Vocabulary, detokenize, normalize,
                                     tokenize)


@pytest.mark.parametrize("raw, expected", [
    ("A Red  Circle!", "a red circle"),
    ("  a\tblue\nsquare.  ", "a blue square"),
    ("red,circle;left-of", "red circle left of"),
    ("ＡＢＣ　ｄｅｆ", "abc def"),             # NFKC folds full-width letters and spaces
    ("zero\u200bwidth\x07bell", "zerowidthbell"),  # control/format characters are dropped
    ("一个红色的圆形。", "一个红色的圆形"),          # CJK kept, CJK punctuation dropped
    ("", ""),
])
def test_normalize(raw, expected):
    """Captions are NFKC-normalised, lowercased, stripped of punctuation and extra spaces."""
    assert normalize(raw) == expected


def test_normalize_can_keep_case():
    """lowercase=False keeps the case."""
    assert normalize("A Red Circle", lowercase=False) == "A Red Circle"


def test_word_tokenize():
    """Word level splits on whitespace after normalisation."""
    assert tokenize("There is a RED circle, left of a square.") == \
        ["there", "is", "a", "red", "circle", "left", "of", "a", "square"]


def test_char_tokenize_drops_spaces():
    """Character level yields every non-space character, CJK included."""
    assert tokenize("Ab c!", level="char") == ["a", "b", "c"]
    assert tokenize("红色 圆形", level="char") == ["红", "色", "圆", "形"]


def test_detokenize_inverts_tokenize_on_clean_text():
    """Joining tokens gives back normalised text for both levels."""
    text = "a small red circle"
    assert detokenize(tokenize(text)) == text
    assert detokenize(tokenize("红色的圆形", level="char"), level="char") == "红色的圆形"


def counts(**kw) -> Counter:
    return Counter(kw)


def test_build_reserves_ids_0_to_3():
    """<pad>=0 (masking), <unk>=1, <start>=2, <end>=3, then the tokens."""
    vocab = Vocabulary.build(counts(red=2, circle=1))
    assert vocab.tokens[:4] == [PAD, UNK, START, END]
    assert [vocab.index[t] for t in RESERVED] == [0, 1, 2, 3]
    assert len(vocab) == 6


def test_build_orders_by_frequency_then_alphabetically():
    """Most frequent first; ties broken alphabetically."""
    vocab = Vocabulary.build(counts(b=3, a=3, d=5, c=1))
    assert vocab.tokens[4:] == ["d", "a", "b", "c"]


def test_build_is_deterministic_whatever_the_insertion_order():
    """Two builds from the same counts in different orders give the same ids."""
    words = {f"w{i}": i % 3 + 1 for i in range(30)}
    forward = Vocabulary.build(Counter(words))
    backward = Vocabulary.build(Counter(dict(reversed(list(words.items())))))
    assert forward.tokens == backward.tokens


def test_build_min_freq():
    """Tokens rarer than min_freq are left out (they encode as <unk>)."""
    vocab = Vocabulary.build(counts(often=3, twice=2, once=1), min_freq=2)
    assert vocab.tokens[4:] == ["often", "twice"]
    assert vocab.encode(["once"]) == [1]


def test_build_max_size_counts_reserved_tokens():
    """max_size is the size of the whole vocabulary, reserved tokens included; the rarest are cut."""
    vocab = Vocabulary.build(counts(a=5, b=4, c=3, d=2), max_size=6)
    assert len(vocab) == 6
    assert vocab.tokens[4:] == ["a", "b"]


def test_build_ignores_reserved_tokens_in_the_text():
    """A literal '<unk>' in the counts does not get a second id."""
    vocab = Vocabulary.build(Counter({UNK: 9, "x": 1}))
    assert vocab.tokens == [*RESERVED, "x"]


def test_encode_unknown_and_framing():
    """Unknown tokens map to <unk>; <start>/<end> frame the ids on request."""
    vocab = Vocabulary.build(counts(red=2, circle=1))
    red, circle = vocab.index["red"], vocab.index["circle"]
    assert vocab.encode(["red", "blue", "circle"]) == [red, 1, circle]
    assert vocab.encode(["red"], add_start=True, add_end=True) == [2, red, 3]


def test_decode_drops_padding_and_stops_at_end():
    """Decoding skips <pad>/<start>, keeps <unk>, stops at <end> unless asked not to."""
    vocab = Vocabulary.build(counts(red=2, circle=1))
    red, circle = vocab.index["red"], vocab.index["circle"]
    assert vocab.decode([2, red, 1, circle, 3, red, 0, 0]) == ["red", UNK, "circle"]
    assert vocab.decode([red, 3, circle], stop_at_end=False) == ["red", END, "circle"]
    assert vocab.decode([red, 999, -5]) == ["red", UNK, UNK]  # ids outside the vocabulary


def test_encode_decode_round_trip():
    """Known tokens survive encode → decode."""
    tokens = tokenize("a small red circle to the left of a large blue square")
    vocab = Vocabulary.build(Counter(tokens))
    assert vocab.decode(vocab.encode(tokens, add_start=True, add_end=True)) == tokens


def test_save_load_round_trip(tmp_path):
    """A saved vocabulary (vocab.txt, one token a line) loads with the same ids, CJK included."""
    vocab = Vocabulary.build(Counter({"red": 3, "圆": 2, "circle": 2, "ä": 1}))
    path = tmp_path / "vocab.txt"
    vocab.save(path)
    loaded = Vocabulary.load(path)
    assert loaded.tokens == vocab.tokens
    assert loaded.index == vocab.index
    assert path.read_text(encoding="utf-8").splitlines()[:4] == list(RESERVED)


def test_vocabulary_must_start_with_reserved_tokens():
    """A token list without the reserved prefix (e.g. a foreign vocab.txt) is refused."""
    with pytest.raises(ValueError):
        Vocabulary(["red", "circle"])


def test_ascii_fast_path_matches_the_unicode_rules():
    """ASCII text (the fast path) normalises as the general NFKC + control-character path does."""
    for code in range(128):
        text = f"A{chr(code)}b  c"
        # one non-ASCII word sends the same text down the general path; the two must agree
        assert normalize(text) + " é" == normalize(text + " é"), code
