"""Check crossmodal_tf's CIDEr-D against pycocoevalcap's scorer on real Flickr8k captions.

    .venv/bin/python benchmarks/check_cider.py [--captions ../shared/datasets/flickr8k_2k/captions.csv]
        [--pycocoevalcap DIR] [--photos 300]

pycocoevalcap is not a dependency (its wheel is ~100 MB of Java tools); install it anywhere,
e.g. `pip install --no-deps --target /tmp/pyco pycocoevalcap`, and pass that folder. Each
photo's first caption (and shuffled, constant and truncated captions) is scored against its
other four, by both scorers; prints both values and their difference per case.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys


def main() -> None:
    """Print ours, pycocoevalcap's and the difference for four kinds of hypotheses."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", default="../shared/datasets/flickr8k_2k/captions.csv")
    parser.add_argument("--pycocoevalcap", help="a folder holding the pycocoevalcap package")
    parser.add_argument("--photos", type=int, default=300)
    args = parser.parse_args()
    if args.pycocoevalcap:
        sys.path.insert(0, args.pycocoevalcap)
    from pycocoevalcap.cider.cider import Cider

    from crossmodal_tf.text_scores import cider_d

    by_photo: dict[str, list[str]] = {}
    with open(args.captions, newline="") as handle:
        for row in csv.DictReader(handle):
            words = row["caption"].lower().replace(".", " ").replace(",", " ").split()
            by_photo.setdefault(row["image"], []).append(" ".join(words))
    keys = sorted(by_photo)[: args.photos]
    refs = [by_photo[k][1:] for k in keys]
    rng = random.Random(0)
    cases = {"own first caption": [by_photo[k][0] for k in keys],
             "another photo's caption": [by_photo[rng.choice(keys)][0] for _ in keys],
             "one generic caption": ["a man in a"] * len(keys),
             "first five words": [" ".join(by_photo[k][0].split()[:5]) for k in keys]}
    for name, hyps in cases.items():
        ours = cider_d(hyps, refs)
        theirs, _ = Cider().compute_score(dict(enumerate(refs)), {i: [h] for i, h in enumerate(hyps)})
        print(f"{name:24s} ours {ours:.6f}  pycocoevalcap {theirs:.6f}  difference {abs(ours - theirs):.1e}")


if __name__ == "__main__":
    main()
