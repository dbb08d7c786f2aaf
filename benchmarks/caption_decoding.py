"""Caption decodings of one trained run compared on one split, scored against the captions as written.

    PYTHONPATH=. python benchmarks/caption_decoding.py RUN_DIR [--split val] [--only N ...] [--examples 6]
        [--json OUT]

For each decoding (greedy as `cmx test` decoded before issue 23: <unk> allowed, no ban; then
without <unk>; with no_repeat_ngram_size 2, 3 or 4; beam search 3 with a trigram ban) it prints
BLEU-1…4, CIDEr-D and the unique-caption share of the split's distinct images (tasks/caption.py's
score_captions: raw references, both sides normalised alike, a generated <unk> matching nothing),
with the share of captions holding <unk> and the share repeating a trigram, and a few captions.
Also the old references' figure (read back from the ids) for the first decoding, to show what the
scoring change alone does. Choose the defaults on val; read test once for the chosen one.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def decodings(max_length: int) -> dict:
    """name → (DecodeSettings, whether <unk> may be written)."""
    from crossmodal_tf.decoding import DecodeSettings

    greedy = DecodeSettings("greedy", max_length=max_length)
    beam = DecodeSettings("beam", beam_width=3, length_penalty=0.6, max_length=max_length)
    return {
        "greedy, <unk> allowed, no ban (before issue 23)": (greedy, True),
        "greedy, no <unk>": (greedy, False),
        "greedy, no <unk>, no_repeat_ngram_size 2": (replace(greedy, no_repeat_ngram_size=2), False),
        "greedy, no <unk>, no_repeat_ngram_size 3": (replace(greedy, no_repeat_ngram_size=3), False),
        "greedy, no <unk>, no_repeat_ngram_size 4": (replace(greedy, no_repeat_ngram_size=4), False),
        "beam 3 (alpha 0.6), no <unk>, no_repeat_ngram_size 3": (replace(beam, no_repeat_ngram_size=3), False),
    }


def repeats_a_trigram(text: str) -> bool:
    words = text.split()
    grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
    return len(set(grams)) < len(grams)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--split", default="val")
    parser.add_argument("--examples", type=int, default=6, help="captions shown per decoding")
    parser.add_argument("--only", type=int, action="append", help="decode only the N-th decoding (0: the one "
                        "before issue 23), repeatable; default: all")
    parser.add_argument("--json", help="write the figures here as JSON too")
    args = parser.parse_args()

    from crossmodal_tf.data.text import UNK
    from crossmodal_tf.decoding import make_decoder
    from crossmodal_tf.run import open_run
    from crossmodal_tf.tasks import caption, sequence
    from crossmodal_tf.text_scores import NO_MATCH, caption_scores

    run = open_run(args.run_dir)
    run.require_split(args.split)
    config, level = run.config, run.config.data.text.level
    dataset = run.dataset(args.split)
    keys, images, references = caption.images_with_references(dataset)
    model = run.model()
    gen = caption.generator(model, config)
    figures = {"run": str(args.run_dir), "split": args.split, "images": len(keys), "decodings": {}}
    chosen = list(decodings(config.data.text.max_length + 1).items())
    for name, (settings, unknown) in [chosen[i] for i in args.only] if args.only else chosen:
        decoder = make_decoder(gen, run.vocab, unknown=unknown)
        decoded = caption.describe(gen, decoder, run.vocab, images, settings, config.eval.batch_size)
        shown = sequence.texts(decoded.tokens[:, 0], run.vocab, level)
        scored = sequence.texts(decoded.tokens[:, 0], run.vocab, level, unknown=NO_MATCH)
        scores = caption.score_captions(scored, references, level)
        scores["with_unk"] = sum(UNK in t.split() for t in shown) / len(shown)
        scores["repeats_a_trigram"] = sum(map(repeats_a_trigram, shown)) / len(shown)
        scores["examples"] = [[keys[i], shown[i]] for i in range(min(args.examples, len(keys)))]
        figures["decodings"][name] = scores
        if unknown and not figures.get("old_references"):
            # the scoring before issue 23: references read back from the shards' ids, outputs as they are
            by_key: dict[str, list[str]] = {}
            for batch in dataset:
                for key, text in zip(batch["key"].numpy(), batch["text"].numpy()):
                    by_key.setdefault(key.decode(), []).extend(sequence.texts(text[None], run.vocab, level))
            figures["old_references"] = {"decoding": name,
                                         **caption_scores(shown, [by_key[k] for k in keys], level)}
        print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items() if isinstance(v, float)),
              flush=True)
    print(json.dumps(figures, indent=1, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
