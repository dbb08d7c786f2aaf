"""Measure `cmx preprocess` at scale: images/s with one worker and with every core, and peak memory as data grows.

    .venv/bin/python benchmarks/bench_preprocess.py [--work DIR]    # prints the figures as JSON

1. Speed: the same shapes config (configs/shapes_match.yaml, match task, images drawn and
   stored at 32x32) preprocessed with data.workers=1 and with data.workers = the usable
   cores. Three rates each: over the command's wall time (with the fixed start-up,
   mostly importing TensorFlow), over the stage's own time (stats.json 'seconds':
   both passes over the data), and over pass 2 alone, where the images are drawn and
   encoded. For shapes the workers run both passes; `cmx preprocess` imports no TensorFlow.
2. Memory: peak resident memory of the preprocess at 10,000 and at 100,000 images (all
   cores). Two measures: the largest single process of the run (getrusage's
   RUSAGE_CHILDREN ru_maxrss in a wrapper process: the max over the preprocess process
   and its workers, each on its own), and the peak of their sum, sampled from /proc
   every 0.1 s. Streaming preprocessing keeps both flat as the data grows.

benchmarks/run_all.py calls measure(work_dir); nothing here writes RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = "configs/shapes_match.yaml"
IMAGE_SIZE = 32  # the demo's size; larger images only make each image dearer, not the comparison fairer
MEASURED = "peak RSS: largest single process (ru_maxrss) and the sum over the process tree (/proc, 0.1 s)"
SPEED_IMAGES = 20_000
MEMORY_IMAGES = (10_000, 100_000)

# Runs a command and reports its wall time and the largest resident set of any process
# in its tree (ru_maxrss of RUSAGE_CHILDREN: the max over every waited-for descendant).
WRAPPER = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)
print(json.dumps({"wall_s": time.perf_counter() - started,
                  "max_rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants, summed (kB, from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # ended while we looked
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid = int(entry.name)
        children.setdefault(int(fields.get("PPid", "0").strip()), []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_preprocess(work: Path, images: int, workers: int, config: str = CONFIG, sets: dict | None = None) -> dict:
    """One `cmx preprocess --force` of `images` images: times, rates and peak memory.

    By default `images` shapes images drawn at IMAGE_SIZE; with `sets` (config overrides, e.g. another
    dataset's data.path) the data is whatever config and sets name, and `images` only labels the figures.
    """
    processed = work / f"{Path(config).stem}-{images}-w{workers}"
    if sets is None:
        sets = {"data.shapes.num_images": images, "data.shapes.image_size": IMAGE_SIZE, "data.image.size": IMAGE_SIZE}
    sets = {**sets, "data.workers": workers, "data.processed": processed}
    command = [sys.executable, "-m", "crossmodal_tf.cli.main", "preprocess", config, "--force", "--quiet"]
    for key, value in sets.items():
        command += ["--set", f"{key}={value}"]
    wrapper = subprocess.Popen([sys.executable, "-c", WRAPPER, *command], cwd=ROOT, stdout=subprocess.PIPE,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    peak_tree = 0
    while wrapper.poll() is None:
        peak_tree = max(peak_tree, tree_rss_kb(wrapper.pid))
        time.sleep(0.1)
    if wrapper.returncode:
        raise RuntimeError(f"cmx preprocess failed ({wrapper.returncode}): {' '.join(command)}")
    report = json.loads(wrapper.stdout.read())
    stats = json.loads((processed / "stats.json").read_text())
    shard_bytes = sum(p.stat().st_size for p in processed.glob("*.tfrecord"))
    shutil.rmtree(processed)  # 100,000 images are about 0.7 GB of shards
    return {"images": images, "images_written": sum(stats["images"].values()), "workers": stats["workers"],
            "wall_s": round(report["wall_s"], 2),
            "stage_s": stats["seconds"], "images_per_s": round(images / report["wall_s"], 1),
            "stage_images_per_s": round(images / stats["seconds"], 1),
            "encode_s": stats["seconds_by_pass"]["encode"],
            "encode_images_per_s": round(images / stats["seconds_by_pass"]["encode"], 1),
            "peak_rss_mb_largest_process": round(report["max_rss_kb"] / 1024, 1),
            "peak_rss_mb_process_tree": round(peak_tree / 1024, 1),
            "shard_mb": round(shard_bytes / 1e6, 1), "num_shards": stats["num_shards"]}


def speed(work_dir) -> dict:
    """Preprocess images/s at 1 worker against every core (one side-by-side pair)."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    one, every = run_preprocess(work, SPEED_IMAGES, 1), run_preprocess(work, SPEED_IMAGES, usable_cores())
    return {"workers_1": one, "workers_all": every,
            "speedup_wall": round(one["wall_s"] / every["wall_s"], 2),
            "speedup_stage": round(one["stage_s"] / every["stage_s"], 2),
            "speedup_encode": round(one["encode_s"] / every["encode_s"], 2)}


def memory(work_dir) -> dict:
    """Peak resident memory of preprocess at the two MEMORY_IMAGES sizes, and their ratio."""
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    small, large = (run_preprocess(work, n, usable_cores()) for n in MEMORY_IMAGES)
    return {"small": small, "large": large,
            "ratio_largest_process": round(large["peak_rss_mb_largest_process"]
                                           / small["peak_rss_mb_largest_process"], 3),
            "ratio_process_tree": round(large["peak_rss_mb_process_tree"] / small["peak_rss_mb_process_tree"], 3)}


def measure(work_dir) -> dict:
    """Preprocess speed at 1 worker and at every core, and peak memory at 10k and 100k images."""
    started = time.perf_counter()
    return {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {usable_cores()} usable CPU cores",
        "config": f"{CONFIG}, match task, {IMAGE_SIZE}x{IMAGE_SIZE} images",
        "speed": speed(work_dir),
        "memory": memory(work_dir),
        "measured": MEASURED,
        "total_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="folder for the preprocessed output (default: a temporary one)")
    args = parser.parse_args()
    if args.work:
        print(json.dumps(measure(args.work), indent=2))
        return
    with tempfile.TemporaryDirectory(prefix="cmx-bench-preprocess-") as work:
        print(json.dumps(measure(work), indent=2))


if __name__ == "__main__":
    main()
