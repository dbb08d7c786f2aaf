"""A subword vocabulary's effect on wmt_en_zh: the share of val tokens that are <unk>, word/char against subword.

    .venv/bin/python benchmarks/bench_subword.py [--data ../shared/datasets/wmt_en_zh] [--work DIR] [--write]

No training: each variant is `cmx preprocess` of the same data (the library function,
so the vocabularies are built exactly as for training, from the train split only), and
the val split's shards are read back and counted (the variants are compared on val, drawn
from train.tsv by key hash and unseen by every vocabulary; test is left alone). Both sides: the English source and
the Chinese target (its <start>/<end> framing not counted). Variants:

- word/char as configs/translate_parallel.yaml sets them (English words, Chinese
  characters, min_freq 2, max_size 20,000 / 6,000): the baseline;
- word/char keeping every train token (min_freq 1, no size cap): the best a word or
  character vocabulary of this train split can do;
- subword as configs/translate_parallel_subword.yaml (SentencePiece unigram, 8,000
  pieces a side), and the same with model_type bpe.

Every variant's max_length is raised to 1,000 so no sentence is cut and all val tokens
count; tokens per sentence and the share of val sentences longer than the config's
max_length are reported beside. Byte pieces (subword's spelling of characters its model
does not cover) are counted too, as what takes the place of <unk>. For subword variants
the round trip is checked on the val split's raw sentences (as the shards store them): every
sentence, cut into pieces, encoded,
decoded and joined, must read as its normalised text (what outputs are scored against).
--write puts the Markdown section into benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORD_CONFIG, SUBWORD_CONFIG = "configs/translate_parallel.yaml", "configs/translate_parallel_subword.yaml"
UNCUT = 1000  # max_length while counting: every token of the counted split counts
# the variants are compared on val (drawn from train.tsv by key hash, so no vocabulary saw it); test is left
# for the models trained on the chosen vocabulary
SPLIT = "val"
SIDES = {"text": ("English", "text"), "target_text": ("Chinese", "target")}  # config side → (language, shard field)
BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")
VARIANTS = {  # name → (config, --set overrides)
    "word/char (translate_parallel.yaml)": (WORD_CONFIG, []),
    "word/char, every train token": (WORD_CONFIG, [f"data.{side}.{key}={value}" for side in SIDES
                                                   for key, value in (("min_freq", 1), ("max_size", 10**6))]),
    "subword unigram 8000 (translate_parallel_subword.yaml)": (SUBWORD_CONFIG, []),
    "subword bpe 8000": (SUBWORD_CONFIG, [f"data.{side}.model_type=bpe" for side in SIDES]),
}


def count_side(config, processed: Path, side: str, stats: dict, split: str = SPLIT) -> dict:
    """<unk> and byte-piece shares of one side's tokens in a split, tokens per sentence, sentences past
    max_length."""
    import numpy as np

    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.data.text import END, START, UNK, Vocabulary

    field = SIDES[side][1]
    vocab = Vocabulary.load(processed / ("vocab.txt" if side == "text" else "target_vocab.txt"))
    unk, framing = vocab.index[UNK], [vocab.index[START], vocab.index[END]]
    byte_ids = [i for i, token in enumerate(vocab.tokens) if BYTE_PIECE.fullmatch(token)]
    limit = getattr(config.data, side).max_length
    lengths, unks, bytes_ = [], 0, 0
    for batch in make_dataset(processed, split, stats["counts"][split], 512, None):
        rows = np.asarray(batch[field])
        for row in rows:
            ids = row[(row > 0) & ~np.isin(row, framing)]
            lengths.append(len(ids))
            unks += int((ids == unk).sum())
            bytes_ += int(np.isin(ids, byte_ids).sum())
    tokens = sum(lengths)
    return {"vocab_size": len(vocab), "tokens": tokens, "unk": unks, "unk_share": unks / tokens,
            "byte_pieces": bytes_, "byte_share": bytes_ / tokens, "tokens_per_sentence": tokens / len(lengths),
            "max_length": limit, "longer_than_max_length": sum(n > limit for n in lengths) / len(lengths)}


def raw_sentences(processed: Path, side: str, stats: dict, split: str = SPLIT) -> list[str]:
    """A split's raw sentences of one side, as its shards store them (distinct, in shard order)."""
    from crossmodal_tf.data.pipeline import make_dataset

    field = "source_text" if side == "text" else "target_text"
    texts = [t.decode() for batch in make_dataset(processed, split, stats["counts"][split], 512, None, raw_text=True)
             for t in batch[field].numpy()]
    return list(dict.fromkeys(texts))


def round_trip(config, processed: Path, side: str, stats: dict) -> str:
    """'k/n': a split's sentences of a subword side whose pieces join back into their normalised text (— for
    others)."""
    from crossmodal_tf.data.subword import MODEL_FILES, SubwordVocabulary
    from crossmodal_tf.data.text import normalize

    cfg = getattr(config.data, side)
    if cfg.level != "subword":
        return "—"
    vocab = SubwordVocabulary.read(processed / MODEL_FILES[side],
                                   processed / ("vocab.txt" if side == "text" else "target_vocab.txt"))
    sentences = raw_sentences(processed, side, stats)
    exact = sum(vocab.detokenize(vocab.decode(vocab.encode(vocab.tokenize(text, cfg.level, cfg.lowercase))))
                == normalize(text, cfg.lowercase) for text in sentences)
    return f"{exact:,}/{len(sentences):,}"


def measure(data: Path, work: Path) -> dict:
    """Preprocess every variant of wmt_en_zh under work and count its val tokens."""
    from crossmodal_tf.config import load_config
    from crossmodal_tf.preprocessing import preprocess

    results = {}
    for name, (path, sets) in VARIANTS.items():
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        base = [f"data.path={data}", f"data.processed={work / slug}"]
        config = load_config(ROOT / path, [*base, *sets])  # the config's max_length, reported beside
        uncut = load_config(ROOT / path, [*base, *sets, *(f"data.{s}.max_length={UNCUT}" for s in SIDES)])
        started = time.perf_counter()
        stats = preprocess(uncut, force=True)
        seconds = time.perf_counter() - started
        results[name] = {"config": path, "set": sets, "preprocess_s": round(seconds, 1),
                         **{side: {**count_side(config, uncut.processed_dir, side, stats),
                                   "round_trip": round_trip(config, uncut.processed_dir, side, stats)}
                            for side in SIDES}}
    return results


def markdown(results: dict, command: str, data: Path) -> str:
    """The RESULTS.md section."""
    lines = [
        f"## Subword vocabularies: <unk> share of wmt_en_zh {SPLIT} tokens (target: 0 with subword)",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPU cores. Command:",
        "",
        f"    {command}",
        "",
        f"No training: `cmx preprocess` of {data.name} per variant, vocabularies from the train split only, then "
        f"the {SPLIT} shards counted (the variants are compared on {SPLIT}; test is left alone). Sentences are not "
        f"cut (max_length {UNCUT} while counting), so every {SPLIT} token counts; the last column is the share of "
        f"{SPLIT} sentences longer than the config's own max_length. Byte pieces: characters the SentencePiece "
        f"model does not cover, spelled as their UTF-8 bytes instead of <unk>. Round trip: distinct raw {SPLIT} "
        "sentences that, cut into pieces, encoded, decoded and joined, read exactly as their normalised text. "
        "Preprocess time includes SentencePiece's training.",
        "",
        f"| variant | side | vocabulary | {SPLIT} tokens | <unk> | <unk> share | byte pieces | tokens / sentence "
        "| past max_length | round trip exact | preprocess s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for side, (language, _) in SIDES.items():
            r = result[side]
            lines.append(f"| {name} | {language} | {r['vocab_size']:,} | {r['tokens']:,} | {r['unk']:,} "
                         f"| {r['unk_share']:.2%} | {r['byte_share']:.2%} | {r['tokens_per_sentence']:.1f} "
                         f"| {r['longer_than_max_length']:.1%} (> {r['max_length']}) | {r['round_trip']} "
                         f"| {result['preprocess_s']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "wmt_en_zh")
    parser.add_argument("--work", type=Path, default=None, help="where the preprocessed variants go (default: temp)")
    parser.add_argument("--write", action="store_true", help="write the section into benchmarks/RESULTS.md")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-subword-"))
    results = measure(args.data.resolve(), work.resolve())
    print(json.dumps(results, indent=2))
    section = markdown(results, "python " + " ".join(sys.argv), args.data)
    print(section)
    if args.write:
        from results_file import replace_section

        replace_section("subword", section)


if __name__ == "__main__":
    main()
