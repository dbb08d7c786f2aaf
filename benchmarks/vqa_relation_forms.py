"""Accuracy of a shapes vqa run on each form of relation question, train images beside held-out ones.

    .venv/bin/python benchmarks/vqa_relation_forms.py RUN_DIR [--images 6000] [--checkpoint best|last]

`cmx test` reports one accuracy for the relation type, which mixes three forms of very
different difficulty: "what is left of the X?" (with two objects, the other one's
shape), "where is the X relative to the Y?" (the place) and the yes/no "is the X left
of the Y?", whose answer depends on the relation word, the named object and its place
together. This scores each form on the questions of the first --images shapes images
(the run's config draws the same scenes), split into the run's train images and its
held-out (val and test) images, so memorised relations show as a gap. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def form_of(answer: str) -> str:
    """The relation question's form, read off its answer: yes/no, where (a place) or what (a shape)."""
    from crossmodal_tf.data.sources.shapes import RELATIONS

    return "yes/no" if answer in ("yes", "no") else "where" if answer in RELATIONS else "what"


def relation_questions(config, images: int):
    """(record, question, held out?) for every relation question of the first `images` shapes images."""
    from crossmodal_tf.preprocessing import split_of
    from crossmodal_tf.data.sources.shapes import make_record

    shapes, split = config.data.shapes, config.data.split
    for index in range(images):
        record = make_record(index, config.seed, shapes.image_size, shapes.two_object_fraction)
        held_out = split_of(record.key, config.seed, split.val, split.test) != "train"
        for question in record.questions:
            if question.type == "relation":
                yield record, question, held_out


def score(run_dir: str, images: int, checkpoint: str) -> dict:
    """Accuracy and question count per (form, train or held-out)."""
    import numpy as np

    from crossmodal_tf.data.text import encode_prompt
    from crossmodal_tf.run import open_run

    run = open_run(run_dir)
    config, model = run.config, run.model(checkpoint)
    rows = list(relation_questions(config, images))
    ids = [encode_prompt(q.question, run.vocab, config.data.text)[0][: config.data.text.max_length] for _, q, _ in rows]
    tokens = np.array([x + [0] * (max(map(len, ids)) - len(x)) for x in ids], np.int32)
    inputs = {"text": tokens, "image": np.stack([np.asarray(r.load_image()) for r, _, _ in rows])}
    predicted = model.predict(inputs, batch_size=256, verbose=0).argmax(axis=1)
    answers = run.answers.answers
    right = defaultdict(list)
    for (_, question, held_out), guess in zip(rows, predicted):
        right[form_of(question.answer), "held_out" if held_out else "train"].append(answers[guess] == question.answer)
    return {"run": run_dir, "checkpoint": checkpoint,
            **{f"{form} {part}": {"accuracy": round(float(np.mean(hits)), 3), "questions": len(hits)}
               for (form, part), hits in sorted(right.items())}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    args = parser.parse_args()
    print(json.dumps(score(args.run_dir, args.images, args.checkpoint), indent=2))


if __name__ == "__main__":
    main()
