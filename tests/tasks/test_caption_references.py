"""Captions are scored against what people wrote: raw references, a generated <unk> matching nothing.

By value: the old scoring (references read back from the shards' ids, where rare words are <unk>)
gave these outputs 1.0; the new one gives the exact lower figure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crossmodal_tf.data.text import UNK
from crossmodal_tf.tasks.caption import score_captions
from crossmodal_tf.text_scores import NO_MATCH, caption_scores, output_text, reference_text

NO_REPEAT = 2  # the flickr8k caption configs' sample.no_repeat_ngram_size, chosen on the val split
WORDS = [f"{a}{b}" for a in "bdfgklmnprstvz" for b in "aeiou"]  # distinct made-up words


def sacrebleu_exp(matches: list[int], totals: list[int], order: int) -> float:
    """Corpus BLEU-order without brevity penalty (outputs as long as their references), sacrebleu's 'exp'
    smoothing: the k-th order without a match counts 1 / (2**k × its total)."""
    logs, zeros = 0.0, 0
    for n in range(order):
        if matches[n]:
            logs += math.log(matches[n] / totals[n])
        else:
            zeros += 1
            logs += math.log(1 / (2 ** zeros * totals[n]))
    return math.exp(logs / order)


def test_unknown_words_in_the_references_no_longer_match_a_generated_unknown():
    # two references with words outside the vocabulary; read back from ids they were "a photo of <unk> <unk>"
    old = caption_scores(["a photo of <unk> <unk>"], [["a photo of <unk> <unk>"]])
    assert old["bleu1"] == pytest.approx(1.0) and old["bleu4"] == pytest.approx(1.0)

    scores = score_captions([f"a photo of {UNK} {UNK}".replace(UNK, NO_MATCH)],
                            [["A photo of zebras, grazing!"]], "word")
    # 5 words each: 3 of 5 unigrams, 2 of 4 bigrams, 1 of 3 trigrams, 0 of 2 four-grams match
    assert scores["bleu1"] == pytest.approx(3 / 5, abs=1e-9)
    assert scores["bleu2"] == pytest.approx(math.sqrt(3 / 5 * 2 / 4), abs=1e-9)
    assert scores["bleu3"] == pytest.approx((3 / 5 * 2 / 4 * 1 / 3) ** (1 / 3), abs=1e-9)
    assert scores["bleu4"] == pytest.approx(sacrebleu_exp([3, 2, 1, 0], [5, 4, 3, 2], 4), abs=1e-9)
    assert scores["bleu4"] == pytest.approx(0.025 ** 0.25, abs=1e-9)


def test_a_generated_unknown_scores_as_a_wrong_word_in_its_place():
    """NO_MATCH keeps its position (no n-gram is made across it) and matches nothing: exactly a word no
    reference holds. Dropping it would have matched "a dog" here."""
    references = [["A dog runs on the grass."], ["Two cats sleep on a sofa"]]
    with_unknown = score_captions([f"a {NO_MATCH} dog runs", "two cats sleep"], references, "word")
    with_a_wrong_word = score_captions(["a qqq dog runs", "two cats sleep"], references, "word")
    assert with_unknown == pytest.approx(with_a_wrong_word, abs=1e-12)
    dropped = score_captions(["a dog runs", "two cats sleep"], references, "word")
    assert dropped["bleu2"] > with_unknown["bleu2"]


def test_both_sides_are_normalised_alike():
    assert reference_text("  A Man's  DOG, jumping!\t") == "a man s dog jumping"
    assert output_text(f"a MAN {NO_MATCH}dog") == f"a man {NO_MATCH} dog"
    assert reference_text(f"a {NO_MATCH} dog") == "a dog"  # a reference can never hold the marker
    scores = score_captions(["A man's dog, jumping"], [["a man s dog jumping."]], "word")
    assert scores["bleu4"] == pytest.approx(1.0)
    assert scores["unique_caption_share"] == 1.0


def test_unique_caption_share_counts_normalised_captions():
    scores = score_captions(["a dog", "A dog.", "a cat"], [["a dog"], ["a dog"], ["a cat"]], "word")
    assert scores["unique_caption_share"] == pytest.approx(1 / 3)


# --- through preprocess: "a photo of" + five once-seen words (issue 23) ---------------------------------
@pytest.fixture
def photo_of(tiny_config, tmp_path):
    """(config, stats): 12 photos, each captioned "a photo of" + five words found nowhere else, preprocessed
    for captions with min_freq 2 (so the five words are <unk> in the shards) and max_length 8."""
    pytest.importorskip("tensorflow")
    from crossmodal_tf.preprocessing import preprocess

    folder = tmp_path / "photos"
    folder.mkdir()
    rows = ["image,caption"]
    for i in range(12):
        Image.fromarray(np.full((16, 16, 3), (20 * i, 40, 200 - 10 * i), np.uint8)).save(folder / f"p{i}.png")
        rows.append(f"p{i}.png,A photo of {' '.join(WORDS[5 * i:5 * i + 5])}.")
    (folder / "captions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = tiny_config("task=caption", "data.source=manifest", f"data.path={folder}", "data.split.val=0",
                         "data.split.test=0", "data.text.min_freq=2", "data.text.max_length=8",
                         "data.image.size=16")
    return config, preprocess(config, quiet=True)


def test_a_photo_of_five_unknown_words_no_longer_scores_one(photo_of):
    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.data.text import Vocabulary
    from crossmodal_tf.tasks import sequence
    from crossmodal_tf.tasks.caption import images_with_references

    config, stats = photo_of
    assert stats["raw_references"] == 1
    vocab = Vocabulary.load(config.processed_dir / "vocab.txt")
    dataset = make_dataset(config.processed_dir, "train", stats["counts"]["train"], 5, 16, raw_text=True)
    keys, images, references = images_with_references(dataset)
    assert len(keys) == 12 and images.shape == (12, 16, 16, 3)
    written = {f"p{i}.png": [f"A photo of {' '.join(WORDS[5 * i:5 * i + 5])}."] for i in range(12)}
    assert sorted(map(tuple, references)) == sorted(map(tuple, written.values()))

    # the model that learned to write "a photo of <unk> <unk> <unk> <unk> <unk>" for every photo
    ids = [vocab.index[w] for w in ("<start>", "a", "photo", "of")] + [vocab.index[UNK]] * 5 + [vocab.index["<end>"]]
    outputs = np.tile(np.asarray(ids[1:], np.int32), (12, 1))
    # the old scoring: references read back from the ids; every output matched its reference word for word
    old_references = [sequence.texts(batch["text"].numpy(), vocab, "word") for batch in dataset]
    old = caption_scores(sequence.texts(outputs, vocab, "word"), [[r] for rs in old_references for r in rs][:12])
    assert old_references[0][0] == "a photo of <unk> <unk> <unk> <unk> <unk>"
    assert old["bleu1"] == pytest.approx(1.0) and old["bleu4"] == pytest.approx(1.0)

    new = score_captions(sequence.texts(outputs, vocab, "word", unknown=NO_MATCH), references, "word")
    # 8 words against 8 in each of 12 photos: 3/8 unigrams, 2/7 bigrams, 1/6 trigrams, no four-gram
    assert new["bleu1"] == pytest.approx(3 / 8, abs=1e-9)
    assert new["bleu4"] == pytest.approx(sacrebleu_exp([36, 24, 12, 0], [96, 84, 72, 60], 4), abs=1e-9)
    assert new["bleu4"] < 0.2
    assert new["cider_d"] == pytest.approx(0.0, abs=1e-12)  # "a photo of" is in every photo's references
    assert new["unique_caption_share"] == 0.0


def test_captions_never_write_unknown_unless_asked():
    """With <unk> the likeliest token at every step, a caption decoder writes the next likeliest instead;
    --allow-unknown (unknown=True) gives <unk> back."""
    tf = pytest.importorskip("tensorflow")
    from crossmodal_tf.data.text import RESERVED, Vocabulary
    from crossmodal_tf.decoding import make_decoder
    from crossmodal_tf.tasks import sequence
    from crossmodal_tf.tasks.caption import TASK

    vocab = Vocabulary([*RESERVED, "a", "dog"])
    # logits: <unk> 5, "a" 3, "dog" 1, <end> 0 → greedy writes <unk> forever, or "a" without it
    table = tf.constant([[-9.0, 5.0, -9.0, 0.0, 3.0, 1.0]] * len(vocab))

    class Fixed:
        def step(self, tokens, state):
            return tf.gather(table, tokens), state

        def start(self, inputs, batch):
            return {"steps": tf.zeros([batch, 1])}

    settings = sequence.greedy(4)
    assert TASK.writes_unknown is False
    never = sequence.generate(Fixed(), make_decoder(Fixed(), vocab, False, TASK.writes_unknown), vocab,
                              None, 1, settings)
    assert sequence.texts(never.tokens[:, 0], vocab, "word") == ["a a a a"]
    allowed = sequence.generate(Fixed(), make_decoder(Fixed(), vocab, False, True), vocab, None, 1,
                                settings)
    assert sequence.texts(allowed.tokens[:, 0], vocab, "word") == ["<unk> <unk> <unk> <unk>"]
    assert sequence.texts(allowed.tokens[:, 0], vocab, "word", unknown=NO_MATCH) == [" ".join([NO_MATCH] * 4)]


def test_a_prompt_with_unknown_words_does_not_turn_on_unknown_outputs():
    """cmx sample's prompt continuations keep the caller's <unk> choice whatever the prompt holds: a prompt with a
    word outside the vocabulary once switched <unk> on (its list of unknown words was read as the flag)."""
    tf = pytest.importorskip("tensorflow")
    from types import SimpleNamespace

    from crossmodal_tf.data.text import RESERVED, Vocabulary
    from crossmodal_tf.tasks import sequence

    vocab = Vocabulary([*RESERVED, "a", "dog"])
    table = tf.constant([[-9.0, 5.0, -9.0, 0.0, 3.0, 1.0]] * len(vocab))  # <unk> likeliest, then "a"

    class Fixed:
        def step(self, tokens, state):
            return tf.gather(table, tokens), state

        def start(self, inputs, batch):
            return {"steps": tf.zeros([batch, 1])}

    text = SimpleNamespace(level="word", lowercase=True, max_length=8)
    run = SimpleNamespace(vocab=vocab, config=SimpleNamespace(data=SimpleNamespace(text=text)))
    settings = SimpleNamespace(strategy="greedy", temperature=1.0, top_k=0, top_p=1.0, beam_width=2,
                               length_penalty=0.0, max_length=3, min_length=0, no_repeat_ngram_size=0, num_samples=1)
    warnings = []
    # the prompt is shown as the model read it ("zebra" as <unk>), the continuation as decoded
    for unknown, expected in ((False, "a <unk> a a a"), (True, "a <unk> <unk> <unk> <unk>")):
        records = sequence.continue_prompts(run, Fixed(), ["a zebra"], settings, 0, warnings.append,
                                            unknown=unknown)
        assert [record["text"] for record in records] == [expected]
    assert "zebra" in warnings[0]


def test_flickr_captions_repeat_no_bigram_on_a_looping_step():
    """The flickr8k caption configs' sample section bans repeated bigrams, and cmx test decodes with it
    (sequence.greedy with the sample section): a step function that loops "a woman in a red shirt and a woman in
    a red shirt …" gives the ban's output."""
    tf = pytest.importorskip("tensorflow")
    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.text import RESERVED, Vocabulary
    from crossmodal_tf.decoding import make_decoder
    from crossmodal_tf.tasks import sequence

    config = load_config(Path(__file__).resolve().parents[2] / "configs" / "flickr8k_caption_mobilenet.yaml")
    assert config.sample.no_repeat_ngram_size == NO_REPEAT
    words = ["a", "woman", "in", "red", "shirt", "and", "blue"]
    vocab = Vocabulary([*RESERVED, *words])
    loop = {"<start>": "a", "a": "woman", "woman": "in", "in": "a", "red": "shirt", "shirt": "and", "and": "a",
            "blue": "shirt"}
    # after "in a" the likeliest is "red", after the first "a" "woman"; the runner-up is always "blue", then <end>
    logits = np.full((len(vocab), len(vocab)), -9.0, np.float32)
    for previous, following in loop.items():
        logits[vocab.index[previous], vocab.index[following]] = 4.0
        logits[vocab.index[previous], vocab.index["blue"]] = 2.0
        logits[vocab.index[previous], vocab.index["<end>"]] = 1.0
    table = tf.constant(logits)

    class Looping:  # the state is the previous two tokens, so "a" after "in" can go to "red"
        def step(self, tokens, state):
            after_in = tf.equal(state["previous"], vocab.index["in"]) & tf.equal(tokens, vocab.index["a"])
            row = tf.gather(table, tokens)
            red = tf.one_hot(vocab.index["red"], len(vocab)) * 20.0
            return tf.where(after_in[:, None], row + red, row), {"previous": tokens}

        def start(self, inputs, batch):
            return {"previous": tf.zeros([batch], tf.int32)}

    decoder = make_decoder(Looping(), vocab, jit_compile=False)
    free = sequence.generate(Looping(), decoder, vocab, None, 1, sequence.greedy(16))
    assert sequence.texts(free.tokens[:, 0], vocab, "word")[0].startswith(
        "a woman in a red shirt and a woman in a red shirt and")
    banned = sequence.generate(Looping(), decoder, vocab, None, 1, sequence.greedy(16, config.sample))
    # worked by hand: after "and a" the bigram "a woman" is banned (the runner-up "blue" instead), then
    # "shirt and" and "blue shirt"; after "blue blue" both "blue" continuations are banned, so <end>
    text = sequence.texts(banned.tokens[:, 0], vocab, "word")[0]
    assert text == "a woman in a red shirt and a blue shirt blue blue"
    bigrams = [tuple(text.split()[i:i + 2]) for i in range(len(text.split()) - 1)]
    assert len(set(bigrams)) == len(bigrams)


def test_a_folder_made_before_raw_references_is_refused_in_one_line(photo_of, tmp_path, monkeypatch, capsys):
    """A caption run whose data lacks the captions as written: cmx test exits 2 with one line naming the command
    that makes it again, and writes nothing."""
    import shutil

    import crossmodal_tf.cli.main
    import crossmodal_tf.cli.native_logs
    from crossmodal_tf.config.loading import dump_config

    config, _ = photo_of
    run = tmp_path / "runs" / "old-caption"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_config(config), encoding="utf-8")
    shutil.copy(config.processed_dir / "vocab.txt", run / "vocab.txt")
    stats_path = config.processed_dir / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    del stats["raw_references"]  # as written by cmx before this change
    stats_path.write_text(json.dumps(stats), encoding="utf-8")
    before = sorted(p.name for p in config.processed_dir.iterdir())

    class NoFilter:
        def close(self):
            pass

    monkeypatch.setattr(crossmodal_tf.cli.native_logs, "NativeLogFilter", NoFilter)
    monkeypatch.setattr("sys.argv", ["cmx", "test", str(run)])
    with pytest.raises(SystemExit) as exited:
        crossmodal_tf.cli.main.main()
    _, err = capsys.readouterr()
    assert exited.value.code == 2
    assert err.strip().splitlines() == [
        f"cmx: error: {config.processed_dir}: preprocessed by an older cmx, without the captions as written that "
        f"scores compare with; make it again with: cmx preprocess {run / 'config.yaml'}"]
    assert sorted(p.name for p in config.processed_dir.iterdir()) == before
    assert "raw_references" not in json.loads(stats_path.read_text(encoding="utf-8"))
    assert not (run / "eval_test.json").exists()
