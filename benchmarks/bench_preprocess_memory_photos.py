"""Peak memory of `cmx preprocess` on real photos at 224 px: 500 against all 2,000 flickr8k_2k photos.

    .venv/bin/python benchmarks/bench_preprocess_memory_photos.py [--data DIR] [--work DIR] [--small N]

The shapes version of this figure is in run_all.py (10,000 against 100,000 images); this
one runs the same measurement, bench_preprocess.run_preprocess (largest process by
ru_maxrss, and the process tree's summed RSS from /proc every 0.1 s), on
configs/flickr8k_caption.yaml (the `manifest` source: captions.csv + images/) with
data.image.size=224 and every usable core. The small side is a folder in the dataset's
own format written under --work: the first N photos of captions.csv (copied) and their
captions. Streaming preprocessing keeps the peak flat as the photos grow (target: ratio
≤ 1.2). Writes its section of benchmarks/RESULTS.md between the
`preprocess_memory_photos` markers.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_preprocess import MEASURED, run_preprocess, usable_cores  # noqa: E402  (benchmarks/ is not a package)
from results_file import replace_section  # noqa: E402

CONFIG = "configs/flickr8k_caption.yaml"
DATA = ROOT.parent / "shared" / "datasets" / "flickr8k_2k"  # where the config's data.path points
SIZE = 224
TARGET = 1.2


def subset(data: Path, out: Path, count: int) -> Path:
    """A copy of the first `count` photos of data/captions.csv (in file order) and all their captions, same format."""
    with open(data / "captions.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))  # csv, not split(","): some captions contain commas
    keep = set(list(dict.fromkeys(row["image"] for row in rows))[:count])
    if out.exists():
        shutil.rmtree(out)
    (out / "images").mkdir(parents=True)
    with open(out / "captions.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "caption"])
        writer.writeheader()
        writer.writerows({"image": r["image"], "caption": r["caption"]} for r in rows if r["image"] in keep)
    for name in keep:
        shutil.copy2(data / name, out / name)
    return out


def uptime() -> str:
    """The `uptime` line: the load on this shared machine when the figure was measured."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()


def measure(data: Path, work: Path, small_count: int) -> dict:
    """Preprocess peak RSS at 224 px on `small_count` photos and on every photo of data, side by side."""
    work.mkdir(parents=True, exist_ok=True)
    full_count = len(list((data / "images").iterdir()))
    small_data = subset(data, work / f"flickr8k_{small_count}", small_count)
    load_before = uptime()
    sides = {}
    for label, folder, count in (("small", small_data, small_count), ("large", data, full_count)):
        sides[label] = run_preprocess(work, count, usable_cores(), CONFIG,
                                      {"data.path": folder, "data.image.size": SIZE})
    small, large = sides["small"], sides["large"]
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "load_before": load_before, "load_after": uptime(),
            "small": small, "large": large,
            "ratio_largest_process": round(large["peak_rss_mb_largest_process"]
                                           / small["peak_rss_mb_largest_process"], 3),
            "ratio_process_tree": round(large["peak_rss_mb_process_tree"] / small["peak_rss_mb_process_tree"], 3)}


def render(r: dict, command: str) -> str:
    """The RESULTS.md section of one run."""
    small, large = r["small"], r["large"]
    held = large["images"] * SIZE * SIZE * 3 / 2**20  # every decoded photo at once, as uint8

    def verdict(ratio: float) -> str:
        return "meets" if ratio <= TARGET else "**misses**"

    return "\n".join([
        f"## Peak memory of preprocess on real photos, flickr8k_2k at {SIZE} px "
        "(`benchmarks/bench_preprocess_memory_photos.py`)",
        "",
        f"Produced by `{command}` on {r['date']} UTC; `uptime` before: `{r['load_before']}`, after: "
        f"`{r['load_after']}` (2 shared cores, a CI run going; load moves the time, not the memory). "
        f"`cmx preprocess {CONFIG} --set data.image.size={SIZE}` with data.workers={large['workers']}, the "
        f"{small['images']:,}-photo side a copy of the first {small['images']:,} photos of captions.csv "
        "with their captions. Target: flat, ratio ≤ 1.2.",
        "",
        "| peak RSS of preprocess | all photos | subset | ratio | target |",
        "|---|---|---|---|---|",
        f"| largest process (ru_maxrss) | {large['images']:,} photos: {large['peak_rss_mb_largest_process']:.0f} MB "
        f"| {small['images']:,} photos: {small['peak_rss_mb_largest_process']:.0f} MB "
        f"| **{r['ratio_largest_process']:.3f}** | ≤ {TARGET}: {verdict(r['ratio_largest_process'])} |",
        f"| whole process tree (/proc, 0.1 s) | {large['peak_rss_mb_process_tree']:.0f} MB "
        f"| {small['peak_rss_mb_process_tree']:.0f} MB | **{r['ratio_process_tree']:.3f}** "
        f"| ≤ {TARGET}: {verdict(r['ratio_process_tree'])} |",
        "",
        f"- Photos written to shards: {large['images_written']:,} and {small['images_written']:,}; shards "
        f"{large['shard_mb']:.0f} MB and {small['shard_mb']:.0f} MB; wall time {large['wall_s']:.0f} s and "
        f"{small['wall_s']:.0f} s.",
        f"- For scale: holding all {large['images']:,} decoded {SIZE}×{SIZE} photos at once would take "
        f"{held:.0f} MB as uint8 ({held * 4:.0f} MB as float32), so a preprocess that kept them would show here.",
        f"- The stored photos are 128×128 (see the dataset's SOURCE.md), upscaled to {SIZE} px by preprocess.",
        f"- {MEASURED}.",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA), help="the flickr8k_2k folder (captions.csv + images/)")
    parser.add_argument("--work", help="folder for the subset and the preprocessed output (default: a temporary one)")
    parser.add_argument("--small", type=int, default=500, help="photos on the small side (default 500)")
    args = parser.parse_args()
    data = Path(args.data)
    if not (data / "captions.csv").is_file():
        print(f"error: {data / 'captions.csv'} not found; pass --data with the flickr8k_2k folder", file=sys.stderr)
        sys.exit(2)
    with tempfile.TemporaryDirectory(prefix="cmx-bench-photos-") as scratch:
        results = measure(data, Path(args.work or scratch), args.small)
    print(json.dumps(results, indent=2))
    section = render(results, " ".join(["python benchmarks/bench_preprocess_memory_photos.py", *sys.argv[1:]]))
    replace_section("preprocess_memory_photos", section)
    print(section)


if __name__ == "__main__":
    main()
