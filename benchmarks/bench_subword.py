"""A subword vocabulary's effect on wmt_en_zh: the share of test tokens that are <unk>, word/char against subword.

    .venv/bin/python benchmarks/bench_subword.py [--data ../shared/datasets/wmt_en_zh] [--work DIR] [--write]

No training: each variant is `cmx preprocess` of the same data (the library function,
so the vocabularies are built exactly as for training, from the train split only), and
the test split's shards are read back and counted. Both sides: the English source and
the Chinese target (its <start>/<end> framing not counted). Variants:

- word/char as configs/translate_parallel.yaml sets them (English words, Chinese
  characters, min_freq 2, max_size 20,000 / 6,000): the baseline;
- word/char keeping every train token (min_freq 1, no size cap): the best a word or
  character vocabulary of this train split can do;
- subword as configs/translate_parallel_subword.yaml (SentencePiece unigram, 8,000
  pieces a side), and the same with model_type bpe.

Every variant's max_length is raised to 1,000 so no sentence is cut and all test tokens
count; tokens per sentence and the share of test sentences longer than the config's
max_length are reported beside. Byte pieces (subword's spelling of characters its model
does not cover) are counted too, as what takes the place of <unk>. For subword variants
the round trip is checked on the raw test file: every sentence, cut into pieces, encoded,
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
UNCUT = 1000  # max_length while counting: every test token counts
SIDES = {"text": ("English", "text"), "target_text": ("Chinese", "target")}  # config side → (language, shard field)
BYTE_PIECE = re.compile(r"<0x[0-9A-F]{2}>")
VARIANTS = {  # name → (config, --set overrides)
    "word/char (translate_parallel.yaml)": (WORD_CONFIG, []),
    "word/char, every train token": (WORD_CONFIG, [f"data.{side}.{key}={value}" for side in SIDES
                                                   for key, value in (("min_freq", 1), ("max_size", 10**6))]),
    "subword unigram 8000 (translate_parallel_subword.yaml)": (SUBWORD_CONFIG, []),
    "subword bpe 8000": (SUBWORD_CONFIG, [f"data.{side}.model_type=bpe" for side in SIDES]),
}


def count_side(config, processed: Path, side: str, stats: dict) -> dict:
    """<unk> and byte-piece shares of one side's test tokens, tokens per sentence, sentences past max_length."""
    import numpy as np

    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.data.text import END, START, UNK, Vocabulary

    field = SIDES[side][1]
    vocab = Vocabulary.load(processed / ("vocab.txt" if side == "text" else "target_vocab.txt"))
    unk, framing = vocab.index[UNK], [vocab.index[START], vocab.index[END]]
    byte_ids = [i for i, token in enumerate(vocab.tokens) if BYTE_PIECE.fullmatch(token)]
    limit = getattr(config.data, side).max_length
    lengths, unks, bytes_ = [], 0, 0
    for batch in make_dataset(processed, "test", stats["counts"]["test"], 512, None):
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


def round_trip(config, processed: Path, data: Path, side: str) -> str:
    """'k/n': test sentences of a subword side whose pieces join back into their normalised text (— for others)."""
    from crossmodal_tf.data.subword import MODEL_FILES, SubwordVocabulary
    from crossmodal_tf.data.text import normalize

    cfg = getattr(config.data, side)
    if cfg.level != "subword":
        return "—"
    vocab = SubwordVocabulary.read(processed / MODEL_FILES[side],
                                   processed / ("vocab.txt" if side == "text" else "target_vocab.txt"))
    column = list(SIDES).index(side)
    rows = [line.split("\t") for line in (data / "test.tsv").read_text(encoding="utf-8").splitlines() if line]
    exact = sum(vocab.detokenize(vocab.decode(vocab.encode(vocab.tokenize(row[column], cfg.level, cfg.lowercase))))
                == normalize(row[column], cfg.lowercase) for row in rows)
    return f"{exact:,}/{len(rows):,}"


def measure(data: Path, work: Path) -> dict:
    """Preprocess every variant of wmt_en_zh under work and count its test tokens."""
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
                                   "round_trip": round_trip(config, uncut.processed_dir, data, side)}
                            for side in SIDES}}
    return results


def markdown(results: dict, command: str, data: Path) -> str:
    """The RESULTS.md section."""
    lines = [
        "## Subword vocabularies: <unk> share of wmt_en_zh test tokens (target: 0 with subword)",
        "",
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPU cores. Command:",
        "",
        f"    {command}",
        "",
        f"No training: `cmx preprocess` of {data.name} (train 15,385 pairs, test 2,037) per variant, vocabularies "
        "from the train split only, then the test shards counted. Sentences are not cut (max_length "
        f"{UNCUT} while counting), so every test token counts; the last column is the share of test sentences "
        "longer than the config's own max_length. Byte pieces: characters the SentencePiece model does not "
        "cover, spelled as their UTF-8 bytes instead of <unk>. Round trip: raw test sentences that, cut into "
        "pieces, encoded, decoded and joined, read exactly as their normalised text. Preprocess time includes "
        "SentencePiece's training.",
        "",
        "| variant | side | vocabulary | test tokens | <unk> | <unk> share | byte pieces | tokens / sentence "
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
