"""Preprocess images/s with two workers against one, beside the machine's own parallel ceiling, until steady.

    .venv/bin/python benchmarks/bench_preprocess_speed.py [--work DIR] [--quick] [--wait-quiet SECONDS]

Each repeat measures, side by side: the ceiling (two processes of pure Python arithmetic
against one: run_all.parallel_ceiling) and `cmx preprocess` of the same shapes config
with data.workers=1 and with every core (bench_preprocess.speed: wall time with start-up,
the stage alone, pass 2 alone). Repeats go on until two agree within 10 % on the wall-time
speedup (run_all.steady, at most four). The machine's load (`uptime`) is noted before and
after, since other processes on a shared machine take cores from the two-worker side;
--wait-quiet waits up to that long for the 1-minute load average to fall below 1.5 first.

On a loaded machine the wall times say little, so one more pair is measured by CPU time,
which other processes change much less (they still share caches and clock): the preprocess stage run in this process with 1 and
with 2 workers, its own CPU seconds (time.process_time) and its workers' (getrusage
RUSAGE_CHILDREN: the forked workers are this process's children). With 1 worker all the
work is the parent's; with 2, the parent's share is what cannot run in parallel, so on two
idle cores the stage would take about parent + workers / 2. That estimate is a model, and
is labelled as one beside the measured figures.
Writes its section of benchmarks/RESULTS.md (not with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_preprocess  # noqa: E402  (benchmarks/ is not a package)
from results_file import replace_section  # noqa: E402
from run_all import parallel_ceiling, steady  # noqa: E402


def load() -> str:
    return "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def cpu_pair(work: Path, images: int) -> dict:
    """CPU seconds of the preprocess stage in this process with 1 and 2 workers: the parent's and its workers'."""
    import resource

    from crossmodal_tf.config import load_config
    from crossmodal_tf.preprocessing import preprocess

    result = {}
    for workers in (1, 2):
        config = load_config(bench_preprocess.ROOT / bench_preprocess.CONFIG, [
            f"data.shapes.num_images={images}", f"data.shapes.image_size={bench_preprocess.IMAGE_SIZE}",
            f"data.image.size={bench_preprocess.IMAGE_SIZE}", f"data.workers={workers}",
            f"data.processed={work / f'cpu-w{workers}'}"])
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        parent = time.process_time()
        stats = preprocess(config, force=True)
        parent = time.process_time() - parent
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        workers_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
        result[f"workers_{workers}"] = {"parent_cpu_s": round(parent, 2), "workers_cpu_s": round(workers_cpu, 2),
                                        "wall_s": stats["seconds"], "workers": stats["workers"]}
    one, two = result["workers_1"], result["workers_2"]
    one["idle_estimate_s"] = round(one["parent_cpu_s"] + one["workers_cpu_s"], 2)
    two["idle_estimate_s"] = round(two["parent_cpu_s"] + two["workers_cpu_s"] / 2, 2)
    result["estimated_speedup"] = round(one["idle_estimate_s"] / two["idle_estimate_s"], 2)
    return result


def wait_quiet(seconds: float, below: float = 1.5) -> float:
    """Wait up to `seconds` for the 1-minute load average to fall below `below`; returns the seconds waited."""
    started = time.monotonic()
    while os.getloadavg()[0] >= below and time.monotonic() - started < seconds:
        time.sleep(15)
    return round(time.monotonic() - started)


def measure(work: Path) -> dict:
    """Repeat (ceiling, 1 worker, every core) until two repeats' preprocess speedups agree within 10 %."""
    ceilings = []

    def once() -> dict:
        ceilings.append(parallel_ceiling())
        return bench_preprocess.speed(work)

    before = load()
    result = steady(once, lambda r: r["speedup_wall"])
    result["cpu"] = cpu_pair(work, bench_preprocess.SPEED_IMAGES)
    return {**result, "ceilings": [round(c["speedup"], 2) for c in ceilings], "ceiling": ceilings[-1],
            "load_before": before, "load_after": load(), "date": time.strftime("%Y-%m-%d %H:%M")}


def render(r: dict, command: str) -> str:
    one, every = r["workers_1"], r["workers_all"]
    ceiling = r["ceiling"]
    cpu1, cpu2 = r["cpu"]["workers_1"], r["cpu"]["workers_2"]
    return "\n".join([
        "## Preprocessing on both cores (issue 17 part 2, `benchmarks/bench_preprocess_speed.py`)",
        "",
        f"Produced by `{command}` on {r['date']} UTC; load average (1, 5, 15 min) {r['load_before']} before and "
        f"{r['load_after']} after (2 cores: above 2 means other processes took part of them). "
        f"{one['images']:,} shapes images of `configs/shapes_match.yaml` at 32×32, data.workers=1 against "
        f"{every['workers']}, with the machine's ceiling measured in the same repeat."
        + (f" Waited {r['waited_s']} s for a quieter machine first." if r.get("waited_s") else ""),
        *(["", f"**The ceiling in this run was {ceiling['speedup']:.2f}×** (about 2 on two idle cores): other processes "
           "held the cores, so the wall-time ratios below measure the load more than preprocessing; the CPU-time "
           "line at the end depends on it much less."] if ceiling["speedup"] < 1.5 else []),
        "",
        "| figure | 1 worker | 2 workers | ratio | ceiling (same repeat) | target |",
        "|---|---|---|---|---|---|",
        f"| images/s, wall time of `cmx preprocess` (start-up included) | {one['images_per_s']:.0f} "
        f"| {every['images_per_s']:.0f} | **{r['speedup_wall']:.2f}×** | {ceiling['speedup']:.2f}× "
        f"| ≥ 1.7×: {'meets' if r['speedup_wall'] >= 1.7 else '**misses**'} |",
        f"| images/s, the stage alone (stats.json `seconds`: both passes) | {one['stage_images_per_s']:.0f} "
        f"| {every['stage_images_per_s']:.0f} | {r['speedup_stage']:.2f}× | | |",
        f"| images/s, pass 2 alone (`seconds_by_pass.encode`) | {one['encode_images_per_s']:.0f} "
        f"| {every['encode_images_per_s']:.0f} | {r['speedup_encode']:.2f}× | | |",
        "",
        f"- Repeats until two agree within 10 %: preprocess 2 workers/1 wall ratios "
        f"{', '.join(f'{x:.2f}' for x in r['repeat_ratios'])} "
        + ("(steady)" if r["steady"] else "(**no two repeats agreed**)")
        + f"; the ceiling in the same repeats {', '.join(f'{x:.2f}' for x in r['ceilings'])}.",
        f"- Wall seconds: 1 worker {one['wall_s']:.2f} s (stage {one['stage_s']:.2f} s), {every['workers']} workers "
        f"{every['wall_s']:.2f} s (stage {every['stage_s']:.2f} s); the rest is starting Python and the CLI.",
        f"- CPU time of the stage, which other processes change much less than wall time (same images, in the "
        f"benchmark's process): "
        f"1 worker {cpu1['parent_cpu_s']:.2f} s, all in the parent; 2 workers {cpu2['parent_cpu_s']:.2f} s in the "
        f"parent (what does not run in parallel: merging, vocabularies, waiting) and {cpu2['workers_cpu_s']:.2f} s in "
        f"the workers. Model for two idle cores (parent + workers / 2): {cpu1['idle_estimate_s']:.2f} s against "
        f"{cpu2['idle_estimate_s']:.2f} s, **{r['cpu']['estimated_speedup']:.2f}×** (an estimate, not a measurement).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="folder for the preprocessed output (default: a temporary one)")
    parser.add_argument("--quick", action="store_true", help="3,000 images, to check the script; writes nothing")
    parser.add_argument("--wait-quiet", type=float, default=0,
                        help="first wait up to this many seconds for the load average to fall below 1.5")
    args = parser.parse_args()
    if args.quick:
        bench_preprocess.SPEED_IMAGES = 3000
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    waited = wait_quiet(args.wait_quiet) if args.wait_quiet else 0
    with tempfile.TemporaryDirectory(prefix="cmx-bench-speed-") as scratch:
        result = {**measure(Path(args.work or scratch)), "waited_s": waited}
    print(json.dumps(result, indent=2))
    section = render(result, " ".join(["python benchmarks/bench_preprocess_speed.py", *sys.argv[1:]]))
    print(section)
    if not args.quick:
        replace_section("issue17_preprocess", section)


if __name__ == "__main__":
    main()
