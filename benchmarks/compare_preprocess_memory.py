"""Peak memory of preprocess at 10,000 and 100,000 shapes images for two checkouts, alternated in one run.

    .venv/bin/python benchmarks/compare_preprocess_memory.py --before DIR --after DIR --work DIR

Each checkout is measured by its own benchmarks/bench_preprocess.run_preprocess (which runs
`cmx preprocess` from that checkout's root) with 2 workers, in the order before 10k, after 10k,
before 100k, after 100k, so both sides meet the same machine; a "before" is typically
`git archive COMMIT | tar -x -C DIR`. Prints one JSON row per preprocess, then the 100k/10k ratios.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import time
from pathlib import Path

SIZES = (10_000, 100_000)
WORKERS = 2


def bench_of(root: Path):
    """The bench_preprocess module of a checkout, loaded from its own file."""
    spec = importlib.util.spec_from_file_location(f"bench_preprocess_{abs(hash(root))}",
                                                  root / "benchmarks" / "bench_preprocess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def stamp(label: str) -> None:
    """Print the UTC time and the load averages (memory does not move with the load; times do)."""
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(label, time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), uptime, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="root of the checkout measured first")
    parser.add_argument("--after", type=Path, required=True, help="root of the checkout measured second")
    parser.add_argument("--work", type=Path, required=True, help="folder for the preprocessed output")
    args = parser.parse_args()
    sides = {"before": args.before.resolve(), "after": args.after.resolve()}
    stamp("start")
    rows = {}
    for images in SIZES:
        for side, root in sides.items():
            rows[side, images] = bench_of(root).run_preprocess(args.work / side, images, WORKERS)
            print(side, json.dumps(rows[side, images]), flush=True)
    for side in sides:
        small, large = rows[side, SIZES[0]], rows[side, SIZES[1]]
        print(side, json.dumps({measure: round(large[measure] / small[measure], 3) for measure in
                                ("peak_rss_mb_largest_process", "peak_rss_mb_process_tree")}), flush=True)
    stamp("end")


if __name__ == "__main__":
    main()
