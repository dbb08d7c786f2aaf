"""How much of a shapes test split training already holds: distinct test captions and scenes also in train.

For each default shapes config (configs/shapes_*.yaml; configs that differ only in the model share
their data and are measured once), with nothing held out (as before data.shapes.held_out) and with
the config's own held-out combinations (the default): the share of the distinct test captions
(normalised) that also occur in the train split, and the same for scenes (a scene is what its
captions describe: Record.canonical), overall and on the seen and novel test images apart. Only
texts are generated (no pixels), so it takes seconds per config.

    python benchmarks/shapes_test_overlap.py
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def overlap(config, held_out: list[str]) -> dict:
    """Shares of distinct test captions and scenes (all, seen, novel) that the train split also holds."""
    from crossmodal_tf.preprocessing import record_split
    from crossmodal_tf.data.records import SkipLog
    from crossmodal_tf.data.sources import shapes
    from crossmodal_tf.data.text import normalize

    data = config.data.model_copy(deep=True)
    data.shapes.held_out = held_out
    texts: dict[str, set] = defaultdict(set)
    scenes: dict[str, set] = defaultdict(set)
    images: dict[str, int] = defaultdict(int)
    records = shapes.records_at(data, config.seed, range(shapes.num_records(data)), SkipLog(), needs=())
    for _, record in records:
        split = record_split(record, config.seed, data.split)
        groups = [split] + ([("novel" if record.novel else "seen")] if split == "test" else [])
        for group in groups:
            images[group] += 1
            texts[group].update(normalize(c) for c in record.captions)
            scenes[group].add(record.canonical)

    def share(found: dict, group: str) -> float | None:
        return len(found[group] & found["train"]) / len(found[group]) if found[group] else None

    shares = {f"{kind}_{group}": share(found, group) for kind, found in (("captions", texts), ("scenes", scenes))
              for group in ("test", "seen", "novel")}
    return shares | {f"images_{group}": count for group, count in images.items()}


def main() -> None:
    from crossmodal_tf.config import load_config

    groups: dict[tuple, list] = {}  # configs with the same data (seed, shapes and split keys) are measured once
    for path in sorted((ROOT / "configs").glob("shapes_*.yaml")):
        config = load_config(path, warn=lambda line: None)
        data_key = (config.seed, config.data.shapes.model_dump_json(), config.data.split.model_dump_json())
        groups.setdefault(data_key, []).append((path.name, config))
    print("| configs | images | held out | test images (novel) | distinct test captions in train: all / seen / novel "
          "| distinct test scenes in train: all / seen / novel |")
    print("|---|---|---|---|---|---|")
    for named in groups.values():
        config = named[0][1]
        for held_out in ([], list(config.data.shapes.held_out)):
            result = overlap(config, held_out)

            def shown(kind: str) -> str:
                return " / ".join("–" if result[f"{kind}_{g}"] is None else f"{result[f'{kind}_{g}']:.0%}"
                                  for g in ("test", "seen", "novel"))

            print(f"| {', '.join(name for name, _ in named)} | {config.data.shapes.num_images:,} "
                  f"| {', '.join(held_out) or 'nothing'} | {result['images_test']:,} ({result.get('images_novel', 0):,}) "
                  f"| {shown('captions')} | {shown('scenes')} |", flush=True)

if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
