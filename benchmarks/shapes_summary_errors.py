"""What a shapes summarize run gets wrong: each test summary checked against the scene its paragraph describes.

    .venv/bin/python benchmarks/shapes_summary_errors.py runs/shapes-summarize [--split test]

ROUGE says how many words a summary shares with the references, not whether it is
true: "a red circle above a blue square" and "a red circle below a blue square" share
all words but one. This regenerates the run's shapes records (same seed and
data.shapes settings), finds the scene of each distinct document of the split, and
sorts the run's greedy summaries into: `right` (a caption the generator could write for
the scene, either object named first), `relation_reversed` (right but for the relation,
which points the other way) and `other_wrong` (an object's size, colour or shape, or
anything else), for one- and two-object scenes, each with its mean ROUGE-L. Prints JSON
and a few wrong summaries.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter, defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def scene_captions(scene) -> set[str]:
    """Every caption the generator could write for the scene, with either object as the first ("a")."""
    from crossmodal_tf.data.sources import shapes

    if not scene.relation:
        return {scene.caption(t) for t in shapes.ONE_OBJECT_TEMPLATES}
    swapped = shapes.Scene(scene.objects[::-1], shapes.INVERSE[scene.relation])
    return {s.caption(t) for s in (scene, swapped) for t in shapes.TWO_OBJECT_TEMPLATES}


def verdict(summary: str, scene) -> str:
    """right, relation_reversed or other_wrong."""
    from dataclasses import replace

    from crossmodal_tf.data.sources import shapes

    if summary in scene_captions(scene):
        return "right"
    if scene.relation and summary in scene_captions(replace(scene, relation=shapes.INVERSE[scene.relation])):
        return "relation_reversed"
    return "other_wrong"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", help="a run directory of task summarize on the shapes source")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()

    import numpy as np

    from crossmodal_tf.data.sources import shapes
    from crossmodal_tf.data.text import tokenize
    from crossmodal_tf.run import open_run
    from crossmodal_tf.tasks import seq2seq, sequence
    from crossmodal_tf.text_scores import summary_scores

    from crossmodal_tf.errors import CmxError

    try:
        run = open_run(args.run)
    except CmxError as exc:
        sys.exit(f"cmx: error: {exc}")
    config, cfg = run.config, run.config.data.shapes
    if config.task != "summarize" or config.data.source != "shapes":
        sys.exit(f"{args.run}: not a summarize run on the shapes source")
    text = config.data.text
    scenes = {}
    for record in shapes.read_records(config.data, config.seed, needs=("documents",)):
        scenes[" ".join(tokenize(record.document, text.level, text.lowercase)[:text.max_length])] = record.scene
    sources, references = seq2seq.sources_with_references(run.dataset(args.split), run.target_vocab,
                                                          config.data.target_text.level)
    summaries = seq2seq.greedy_translations(run, run.model(), sources)
    counts: Counter = Counter()
    rouge = defaultdict(list)
    wrong = []
    for source, refs, summary in zip(sources, references, summaries):
        document = sequence.texts(np.asarray(source)[None], run.vocab, text.level)[0]
        scene = scenes[document]
        kind = f"{len(scene.objects)}_object/{verdict(summary, scene)}"
        counts[kind] += 1
        rouge[kind].append(summary_scores([summary], [refs])["rougeL"])
        if "right" not in kind and len(wrong) < 8:
            wrong.append({"document": document, "references": refs, "summary": summary})
    print(json.dumps({"run": args.run, "split": args.split, "documents": len(summaries),
                      "counts": dict(sorted(counts.items())),
                      "mean_rougeL": {k: round(sum(v) / len(v), 3) for k, v in sorted(rouge.items())},
                      "some_wrong": wrong}, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
