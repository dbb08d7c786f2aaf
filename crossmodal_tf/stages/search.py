"""The search stage: a retrieval run's embedding index of a split, and queries against it.

The index (RUN_DIR/index/<split>.npz) holds the unit embeddings of the split's
distinct images and captions; <split>.json beside it records what it was built
from (a hash of model.keras and the preprocess fingerprint), and a mismatch
rebuilds it. A query is one embedding and one matrix-vector product with the
index, then a partial sort for the top K.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from crossmodal_tf.atomic import atomic_file
from crossmodal_tf.data.images import load_image_batch
from crossmodal_tf.preprocessing import read_stats
from crossmodal_tf.data.text import encode_prompt
from crossmodal_tf.errors import CmxError
from crossmodal_tf.retrieval_scores import top_matches
from crossmodal_tf.run import SPLITS, Run, open_run
from crossmodal_tf.run_dir import write_json
from crossmodal_tf.tasks import TASKS, load_task

INDEX_FORMAT = 1


@dataclass
class SearchIndex:
    """A split's distinct images and captions with their unit embeddings."""

    keys: np.ndarray  # (images,) image keys
    image_embeddings: np.ndarray  # (images, dim)
    captions: np.ndarray  # (captions,) caption texts as the model reads them
    text_embeddings: np.ndarray  # (captions, dim)
    image_caption: np.ndarray  # (images,) index of one caption of each image, to show beside it

    def save(self, path: Path) -> None:
        """Write the index as .npz atomically (a temporary file and a rename)."""
        with atomic_file(path, suffix=".npz") as tmp:  # np.savez would append .npz to any other name
            np.savez(tmp, **self.__dict__)

    @classmethod
    def load(cls, path: Path) -> "SearchIndex":
        """An index written by save (plain arrays, no pickled objects)."""
        with np.load(path, allow_pickle=False) as arrays:
            return cls(**{name: arrays[name] for name in cls.__dataclass_fields__})


def index_paths(run: Run, split: str) -> tuple[Path, Path]:
    """The index file of a split and the JSON describing what it was built from."""
    return run.paths.index / f"{split}.npz", run.paths.index / f"{split}.json"


def index_source(run: Run, split: str) -> dict:
    """What an index of this run and split is built from now: a change in any of it makes an index stale."""
    stats = read_stats(run.config.processed_dir) or {}
    model = run.paths.model
    digest = hashlib.sha256(model.read_bytes()).hexdigest() if model.is_file() else None
    return {"format": INDEX_FORMAT, "split": split, "model_sha256": digest, "data_fingerprint": stats.get("fingerprint")}


def build_index(run: Run, split: str, encoders) -> SearchIndex:
    """Embed the split's distinct images and captions with a run's encoders."""
    from crossmodal_tf.tasks.retrieval import embed_split

    if not run.count(split):
        raise CmxError(f"{run.root}: the {split} split is empty (data.split.{split} is 0?); pick another --split")
    embedded = embed_split(encoders, run.dataset(split))
    first_caption = {}
    for caption, image in embedded.pairs:
        first_caption.setdefault(int(image), int(caption))
    captions = [run.vocab.detokenize(run.vocab.decode(ids), run.config.data.text.level) for ids in embedded.captions]
    return SearchIndex(np.array(embedded.keys, dtype=str), embedded.image_embeddings, np.array(captions, dtype=str),
                       embedded.text_embeddings, np.array([first_caption[i] for i in range(len(embedded.keys))]))


def open_index(run: Run, split: str, encoders) -> tuple[SearchIndex, bool]:
    """The split's index, built (and saved) when missing or stale; returns (index, whether it was built)."""
    path, described = index_paths(run, split)
    source = index_source(run, split)
    if path.is_file() and described.is_file():
        try:
            if json.loads(described.read_text(encoding="utf-8")).get("source") == source:
                return SearchIndex.load(path), False
        except (ValueError, OSError, KeyError, zipfile.BadZipFile):
            pass  # an unreadable index is rebuilt like a stale one
    index = build_index(run, split, encoders)
    path.parent.mkdir(parents=True, exist_ok=True)
    index.save(path)
    # the description is written last and from the state after building (which may have preprocessed again)
    write_json(described, {"source": index_source(run, split), "images": len(index.keys),
                           "captions": len(index.captions)})
    return index, True


def query_ids(query: str, vocab, text_cfg, warn) -> list[int]:
    """A query's token ids; a CmxError when none of its words is known, a warning for the unknown ones."""
    ids, _, unknown = encode_prompt(query, vocab, text_cfg)
    if not ids:
        raise CmxError(f"--query {query!r}: no words to search for")
    if len(unknown) == len(ids):
        raise CmxError(f"--query {query!r}: none of its words is in the run's vocabulary")
    if unknown:
        warn(f"cmx: warning: --query {query!r}: not in the vocabulary, read as <unk>: {', '.join(unknown)}")
    return ids[: text_cfg.max_length]


class Searcher:
    """Queries against one loaded index with a run's encoders: text → images and image → captions."""

    def __init__(self, index: SearchIndex, encoders: dict):
        self.index, self.encoders = index, encoders

    def by_text(self, ids: list[int], top_k: int) -> list[dict]:
        """The images closest to a caption (token ids): rank, score, image key and one of its captions."""
        vector = self.encoders["text"](np.array([ids], np.int32)).numpy()[0]
        best, scores = top_matches(self.index.image_embeddings, vector, top_k)
        return [{"rank": rank, "score": round(float(score), 4), "key": str(self.index.keys[i]),
                 "caption": str(self.index.captions[self.index.image_caption[i]])}
                for rank, (i, score) in enumerate(zip(best, scores), 1)]

    def by_image(self, pixels: np.ndarray, top_k: int) -> list[dict]:
        """The captions closest to an image (uint8, size x size x 3): rank, score, caption."""
        vector = self.encoders["image"](pixels[None]).numpy()[0]
        best, scores = top_matches(self.index.text_embeddings, vector, top_k)
        return [{"rank": rank, "score": round(float(score), 4), "caption": str(self.index.captions[i])}
                for rank, (i, score) in enumerate(zip(best, scores), 1)]


def load_searcher(run: Run, split: str) -> tuple[Searcher, bool]:
    """A Searcher over the run's index of a split (built when missing or stale), and whether it was built."""
    from crossmodal_tf.tasks.retrieval import build_encoders

    encoders = build_encoders(run.model())
    index, built = open_index(run, split, encoders)
    return Searcher(index, encoders), built


def search_run(run_dir: str | Path, query: str | None = None, image: str | None = None, split: str = "test",
               top_k: int = 5, output: str | Path | None = None, warn=print) -> dict:
    """Search a retrieval run's index of a split with a text (→ images) or an image (→ captions).

    Returns {run, split, query or image, index (path, built), results}; results are
    dicts with rank and score (cosine similarity) and the image key and one of its
    captions, or the caption. With output, the same is written there as JSON.
    """
    if (query is None) == (image is None):
        raise CmxError("cmx search: give either --query TEXT or --image PATH (one of them)")
    if top_k < 1:
        raise CmxError(f"--top-k: expected 1 or more, found {top_k}")
    run = open_run(run_dir)
    if not run.task.search_inputs:
        takers = " or ".join(name for name in TASKS if load_task(name).search_inputs)
        raise CmxError(f"{run.root}: task {run.config.task} has no embedding index; cmx search needs a run of "
                       f"task {takers}")
    if split not in SPLITS:
        raise CmxError(f"--split: expected one of {', '.join(SPLITS)}, found {split!r}")
    text_cfg, image_cfg = run.config.data.text, run.config.data.image
    if query is not None:
        ids = query_ids(query, run.vocab, text_cfg, warn)
    else:
        pixels = load_image_batch([image], image_cfg.size, image_cfg.max_pixels, resize=image_cfg.resize)[0]
    searcher, built = load_searcher(run, split)
    results = searcher.by_text(ids, top_k) if query is not None else searcher.by_image(pixels, top_k)
    found = {"run": str(run.root), "split": split, **({"query": query} if query is not None else {"image": image}),
             "index": {"path": str(index_paths(run, split)[0]), "built": built}, "results": results}
    if output:
        write_json(Path(output), found)
    return found
