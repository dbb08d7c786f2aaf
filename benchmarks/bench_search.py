"""Search latency: queries against an embedding index of 10,000 shapes images, after loading.

    .venv/bin/python benchmarks/bench_search.py [--run runs/shapes-retrieval] [--images 10000] [--queries 200]

Generates --images shapes images (seed 1234, so not the run's own data), embeds them
and their distinct captions with the run's encoders (or, without a trained run, an
untrained model of configs/shapes_retrieval.yaml and a vocabulary of the generated
captions; speed does not depend on the weights), saves the index as cmx search
does and loads it back. Then times what one `cmx search` query costs once the model
and the index are loaded: tokenising and embedding the query text (or embedding a
query image), the matrix-vector product with the index and the top-5. Prints a
JSON summary and a Markdown section for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def load_encoders(run_dir: Path, records):
    """(config, vocabulary, encoders, what they are) of a trained run, or of an untrained default model."""
    from crossmodal_tf.config import load_config
    from crossmodal_tf.data.text import Vocabulary, tokenize
    from crossmodal_tf.run import open_run
    from crossmodal_tf.tasks import retrieval

    if (run_dir / "model.keras").is_file():
        run = open_run(run_dir)
        return run.config, run.vocab, retrieval.build_encoders(run.model()), str(run_dir)
    config = load_config(ROOT / "configs" / "shapes_retrieval.yaml")
    counts = Counter(t for r in records for c in r.captions for t in tokenize(c))
    vocab = Vocabulary.build(counts)
    model = retrieval.build_model(config, len(vocab))
    return config, vocab, retrieval.build_encoders(model), "untrained configs/shapes_retrieval.yaml"


def build_index(config, vocab, encoders, records):
    """A SearchIndex of the records' images and distinct captions; and the pixels, for image queries."""
    import keras
    import numpy as np

    from crossmodal_tf.data.images import image_to_array
    from crossmodal_tf.data.text import tokenize
    from crossmodal_tf.stages.search import SearchIndex

    pixels = np.stack([image_to_array(r.load_image(), config.data.image.size) for r in records])
    captions = sorted({c for r in records for c in r.captions})
    ids = [vocab.encode(tokenize(c))[: config.data.text.max_length] for c in captions]
    padded = keras.utils.pad_sequences(ids, padding="post")
    position = {c: i for i, c in enumerate(captions)}
    return SearchIndex(
        keys=np.array([r.key for r in records], dtype=str),
        image_embeddings=np.concatenate([encoders["image"](pixels[i:i + 256]).numpy()
                                         for i in range(0, len(pixels), 256)]),
        captions=np.array(captions, dtype=str),
        text_embeddings=np.concatenate([encoders["text"](padded[i:i + 256]).numpy()
                                        for i in range(0, len(padded), 256)]),
        image_caption=np.array([position[r.captions[0]] for r in records]),
    ), pixels


def median_ms(call, inputs) -> dict:
    """Median and 95th percentile milliseconds of call(x) over inputs, after one warm-up call."""
    call(inputs[0])
    times = []
    for x in inputs:
        started = time.perf_counter()
        call(x)
        times.append(1000 * (time.perf_counter() - started))
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * (len(times) - 1))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=Path("runs/shapes-retrieval"))
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()

    import random

    from crossmodal_tf.data.sources.shapes import make_record
    from crossmodal_tf.stages.search import Searcher, SearchIndex, query_ids

    records = [make_record(i, 1234, 32) for i in range(args.images)]
    config, vocab, encoders, model_name = load_encoders(args.run, records)
    started = time.perf_counter()
    index, pixels = build_index(config, vocab, encoders, records)
    build_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "test.npz"
        index.save(path)
        started = time.perf_counter()
        searcher = Searcher(SearchIndex.load(path), encoders)
        load_s = time.perf_counter() - started
        size_mb = path.stat().st_size / 2**20

    rng = random.Random(0)
    queries = [rng.choice(rng.choice(records).captions) for _ in range(args.queries)]
    images = [pixels[rng.randrange(len(pixels))] for _ in range(args.queries)]
    by_text = median_ms(lambda q: searcher.by_text(query_ids(q, vocab, config.data.text, print), args.top_k), queries)
    by_image = median_ms(lambda x: searcher.by_image(x, args.top_k), images)
    results = {"model": model_name, "images": len(index.keys), "captions": len(index.captions),
               "dim": int(index.image_embeddings.shape[1]), "index_mb": round(size_mb, 2),
               "index_build_s": round(build_s, 1), "index_load_s": round(load_s, 3),
               "query_text_to_images": by_text, "query_image_to_captions": by_image}
    print(json.dumps(results, indent=2))
    print(f"\n## Search latency: {results['images']:,} images, {results['captions']:,} distinct captions, "
          f"{results['dim']}-d embeddings ({model_name})\n")
    print("| per query, after loading | median ms | p95 ms |")
    print("|---|---|---|")
    for label, key in (("--query TEXT → top-5 images (tokenise, embed the text, index @ query, top-k)",
                        "query_text_to_images"),
                       ("--image → top-5 captions (embed the image, index @ query, top-k)", "query_image_to_captions")):
        print(f"| {label} | {results[key]['median_ms']:.2f} | {results[key]['p95_ms']:.2f} |")
    print(f"\nIndex: built in {build_s:.1f} s (embedding every image and caption), {size_mb:.1f} MB on disk, "
          f"loaded in {1000 * load_s:.0f} ms.")


if __name__ == "__main__":
    main()
