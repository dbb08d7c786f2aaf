"""Where a shapes vqa run's attention hops look on yes/no relation questions, beside uniform attention.

    .venv/bin/python benchmarks/vqa_attention_check.py RUN_DIR [--images 1000] [--checkpoint best|last]

For the yes/no relation questions ("is the red circle left of the blue square?") of the
first --images shapes images (all splits: the run's config draws the same scenes), it
reports per hop the share of attention weight on an object (grid cells whose centre lies
within the object's radius + 0.08 of its centre), for the object a hop weighs most and for
the other one, next to the share a uniform attention would give (the baseline); how often
the two hops' expected positions are nearest to the same object; and the accuracy on these
questions, split into train and held-out images. Prints JSON. A relation question needs the
two objects' positions compared, which an attention that does not single out objects cannot
supply.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # vqa_relation_forms, beside this file

NEAR = 0.08  # margin around an object's radius, as a fraction of the image side


def yes_no_relations(config, images: int):
    """(record, question, held out?) for every yes/no relation question of the first `images` shapes images."""
    from vqa_relation_forms import form_of, relation_questions

    return [row for row in relation_questions(config, images) if form_of(row[1].answer) == "yes/no"]


def check(run_dir: str, images: int, checkpoint: str) -> dict:
    """The figures described in the module docstring."""
    import keras
    import numpy as np

    from crossmodal_tf.data.text import encode_prompt
    from crossmodal_tf.run import open_run

    run = open_run(run_dir)
    config, model = run.config, run.model(checkpoint)
    attention = model.get_layer("fusion_attention")
    rows = list(yes_no_relations(config, images))
    ids = [encode_prompt(q.question, run.vocab, config.data.text)[0][: config.data.text.max_length] for _, q, _ in rows]
    tokens = np.array([x + [0] * (max(map(len, ids)) - len(x)) for x in ids], np.int32)
    inputs = {"text": tokens, "image": np.stack([np.asarray(r.load_image()) for r, _, _ in rows])}
    attended_inputs = keras.Model(model.inputs, attention.input).predict(inputs, batch_size=256, verbose=0)
    masks = [None, None, tokens != 0] if len(attended_inputs) == 3 else None
    _, weights = attention.attend(attended_inputs, masks)
    weights = [np.asarray(w) for w in weights]
    predicted = model.predict(inputs, batch_size=256, verbose=0).argmax(axis=1)
    answers = run.answers.answers
    height, width = attended_inputs[0].shape[1:3]
    ys, xs = np.meshgrid((np.arange(height) + 0.5) / height, (np.arange(width) + 0.5) / width, indexing="ij")
    xs, ys = xs.ravel(), ys.ravel()
    on_most, on_other, uniform, same = np.zeros(len(weights)), np.zeros(len(weights)), 0.0, 0
    right = {True: [], False: []}
    for k, (record, question, held_out) in enumerate(rows):
        objects = record.scene.objects
        regions = [np.hypot(xs - o.x, ys - o.y) < o.radius + NEAR for o in objects]
        uniform += float(np.mean([region.mean() for region in regions]))
        nearest = []
        for hop, weight in enumerate(weights):
            mass = sorted(float(weight[k][region].sum()) for region in regions)
            on_most[hop] += mass[-1]
            on_other[hop] += mass[0]
            at = (weight[k] @ xs, weight[k] @ ys)
            nearest.append(int(np.argmin([np.hypot(at[0] - o.x, at[1] - o.y) for o in objects])))
        same += len(set(nearest)) == 1
        right[held_out].append(answers[predicted[k]] == question.answer)
    n = len(rows)
    return {"run": run_dir, "checkpoint": checkpoint, "questions": n,
            "weight_on_object_most_weighed": [round(m / n, 3) for m in on_most],
            "weight_on_the_other_object": [round(m / n, 3) for m in on_other],
            "uniform_weight_on_one_object": round(uniform / n, 3),
            "hops_nearest_the_same_object": round(same / n, 3),
            "accuracy_train_images": round(float(np.mean(right[False])), 3),
            "accuracy_held_out_images": round(float(np.mean(right[True])), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    args = parser.parse_args()
    print(json.dumps(check(args.run_dir, args.images, args.checkpoint), indent=2))


if __name__ == "__main__":
    main()
