"""wmt_en_zh BLEU and chrF: the LSTM on words/characters against the Transformer on subword pieces, each
given the same wall-clock training budget, compared on val, the better one then tested, beside the baseline of
copying the English source (issue 15).

    nice -n 5 .venv/bin/python benchmarks/bench_wmt_budget.py [--budget 20] [--data ../shared/datasets/wmt_en_zh]
        [--work DIR] [--set KEY=VALUE ...] [--no-write]

Preprocesses configs/translate_parallel.yaml (LSTM, English words → Chinese
characters) and configs/translate_parallel_transformer.yaml (Transformer, SentencePiece
pieces both sides) on the same data, one after the other; then trains both at the same
time, each with `train.time_budget_minutes` (--budget) and TensorFlow limited to one
thread per op pool, so both see the same machine and its load and each gets about one
of the two cores; then runs `cmx eval --split val` on both (greedy decoding, sacrebleu
BLEU with its `zh` tokenizer and chrF, against the raw references), and `cmx test` only on
the one with the higher val BLEU (then chrF), which also translates three test sentences:
the settings are chosen on val, and test is read once, for the chosen one. The baseline
is computed in the same run on the same sentences and references, on both splits: the
English source itself as the "translation". The section
goes between the `wmt_budget` markers of benchmarks/RESULTS.md, with the command, the
date, uptime and load, the epochs each run reached and the figures; a hand-written note
may follow the end marker.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from load_sampler import LOAD_EVERY_S, load_range, sampled_load  # beside this file

ROOT = Path(__file__).resolve().parent.parent
# the package of this checkout, whichever cmx is installed
CMX = [sys.executable, "-m", "crossmodal_tf.cli.main"]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
# one thread per TensorFlow op pool: two trainings side by side on 2 cores then take about one each,
# rather than each starting a thread per core and the four contending
ONE_CORE = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
CONFIGS = {"LSTM + word/char": "configs/translate_parallel.yaml",
           "Transformer + subword": "configs/translate_parallel_transformer.yaml"}
SAMPLES = 3  # test sentences translated by each model, shown in the section


def cmx(*args: str, env: dict | None = None) -> str:
    """Run one cmx command from the repository root; its stdout (a failure raises with its stderr)."""
    done = subprocess.run([*CMX, *args], cwd=ROOT, env=env or ENV, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"cmx {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def uptime() -> str:
    """The `uptime` line: how loaded the machine was."""
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def set_args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def train_together(runs: dict, budget: float) -> dict:
    """Train every run at once (one core's threads each); per run its wall time and output, plus the load."""
    with sampled_load() as loads:
        started, procs = time.perf_counter(), {}
        for name, run in runs.items():
            log = open(run["dir"].with_suffix(".train.log"), "w", encoding="utf-8")
            # no nice of its own: the trainings inherit the bench's (run it as `nice -n 5 python …`)
            command = [*CMX, "train", run["config"], *set_args(run["sets"]),
                       "--set", f"train.time_budget_minutes={budget}", "--run-dir", str(run["dir"]), "--overwrite"]
            procs[name] = (subprocess.Popen(command, cwd=ROOT, env={**ENV, **ONE_CORE}, stdout=log,
                                            stderr=subprocess.STDOUT, text=True), log)
        walls = {}
        for name, (proc, log) in procs.items():
            code = proc.wait()
            walls[name] = time.perf_counter() - started
            log.close()
            if code:
                text = runs[name]["dir"].with_suffix(".train.log").read_text(encoding="utf-8")
                raise SystemExit(f"training {name} failed ({code}):\n{text[-3000:]}")
    return {"walls": walls, "load": load_range(loads)}


def progress(run_dir: Path) -> dict:
    """How far a run got: epochs in history.csv, the newest checkpoint's position and its seconds of training."""
    with open(run_dir / "history.csv", newline="") as rows:
        history = list(csv.DictReader(rows))
    checkpoints = sorted((run_dir / "checkpoints" / "last").glob("step-*"))
    meta = json.loads((checkpoints[-1] / "meta.json").read_text(encoding="utf-8"))
    best = min(history, key=lambda r: float(r["val_loss"]))
    log = run_dir.with_suffix(".train.log").read_text(encoding="utf-8")
    return {"history_rows": len(history), "epochs_done": meta["epochs_done"], "steps_in_epoch": meta["steps_in_epoch"],
            "global_step": meta["global_step"], "train_seconds": meta.get("train_seconds"),
            "best_epoch": int(best["epoch"]), "best_val_loss": float(best["val_loss"]),
            "budget_stopped": "time_budget_minutes" in log and "stopped in epoch" in log,
            "epoch_times_s": [float(r["epoch_time_s"]) for r in history]}


def copy_baseline(run_dir: Path, split: str) -> dict:
    """BLEU and chrF (sacrebleu, zh) of the English source sentences as their own translations, on a split's
    sentences and the raw references `cmx eval`/`cmx test` score the run against."""
    from crossmodal_tf.run import open_run
    from crossmodal_tf.tasks.seq2seq import sources_with_references
    from crossmodal_tf.text_scores import translation_scores

    run = open_run(run_dir, True)
    sources, references = sources_with_references(run.dataset(split), run.target_vocab,
                                                  run.config.data.target_text.level)
    if sources.raw is None:
        raise SystemExit(f"{run_dir}: its shards hold no raw texts; preprocess again (--force)")
    return {**translation_scores(sources.raw, references, "zh"), "sentences": len(sources)}


def samples(run_dir: Path, sentences: list[str], work: Path) -> list[str]:
    """Greedy translations of sentences by a run (cmx sample)."""
    out = work / f"{run_dir.name}-samples.jsonl"
    cmx("sample", str(run_dir), *[a for s in sentences for a in ("--text", s)], "--strategy", "greedy",
        "--num-samples", "1", "--output", str(out))
    return [json.loads(line)["text"] for line in out.read_text(encoding="utf-8").splitlines()]


def chosen_on_val(runs: dict) -> str:
    """The run with the higher val BLEU (then chrF): the one setting whose test figures are read."""
    return max(runs, key=lambda name: (runs[name]["val"]["bleu"], runs[name]["val"]["chrf"]))


def measure(args) -> dict:
    """Preprocess, train side by side, evaluate both on val, test and sample the one chosen on val, and score the
    baseline on both splits; every figure of the section."""
    work, data = args.work.resolve(), args.data.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "budget_min": args.budget,
               "uptime_start": uptime(), "runs": {}}
    runs = {}
    for name, config in CONFIGS.items():
        slug = Path(config).stem
        sets = [f"data.path={data}", f"data.processed={work / slug}-data", *args.sets]
        started = time.perf_counter()
        cmx("preprocess", config, *set_args(sets), "--quiet")
        runs[name] = {"config": config, "sets": sets, "dir": work / f"{slug}-run",
                      "preprocess_s": round(time.perf_counter() - started, 1)}
        print(f"preprocessed {name} in {runs[name]['preprocess_s']} s", flush=True)
    results["uptime_train_start"] = uptime()
    trained = train_together(runs, args.budget)
    results["uptime_train_end"], results["train_load"] = uptime(), trained["load"]
    rows = [line.split("\t") for line in (data / "test.tsv").read_text(encoding="utf-8").splitlines() if line]
    picked = rows[: SAMPLES]
    results["samples"] = [{"source": r[0], "reference": r[1]} for r in picked]
    # the settings are compared on val; test is read once, for the one chosen there
    for name, run in runs.items():
        val = json.loads(cmx("eval", str(run["dir"]), "--split", "val", "--json"))
        results["runs"][name] = {"config": run["config"], "preprocess_s": run["preprocess_s"],
                                 "train_wall_s": round(trained["walls"][name], 1), **progress(run["dir"]), "val": val}
        print(name, json.dumps(results["runs"][name]), flush=True)
    chosen = results["chosen"] = chosen_on_val(results["runs"])
    results["runs"][chosen]["test"] = json.loads(cmx("test", str(runs[chosen]["dir"]), "--json"))
    results["runs"][chosen]["samples"] = samples(runs[chosen]["dir"], [r[0] for r in picked], work)
    baseline_run = runs["LSTM + word/char"]["dir"]
    results["copy_source"] = {split: copy_baseline(baseline_run, split) for split in ("val", "test")}
    results["uptime_end"] = uptime()
    (work / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")
    return results


def section(results: dict, command: str) -> str:
    """The Markdown of the wmt_budget section."""
    runs, chosen, copy = results["runs"], results["chosen"], results["copy_source"]
    names, test = list(runs), results["runs"][results["chosen"]]["test"]
    lines = [
        "### WMT en→zh on a time budget: LSTM + word/char against Transformer + subword (`bench_wmt_budget.py`)",
        "",
        f"Produced by `{command}` on {results['date']} ({results['machine']}). Both configs were preprocessed on "
        f"the same data, then trained **at the same time**, each with `train.time_budget_minutes="
        f"{results['budget_min']:g}` and TensorFlow's op pools at one thread (so each had about one of the two "
        "cores, under the same load); then `cmx eval --split val` on each (greedy decoding; sacrebleu BLEU with its "
        "`zh` tokenizer and chrF, against the raw references as written), and `cmx test` on the one with the "
        "higher val BLEU only. Copying the English source is scored on the same sentences and references in the "
        "same run.",
        "",
        f"- uptime before preprocessing: `{results['uptime_start']}`",
        f"- uptime when training started: `{results['uptime_train_start']}`; when it ended: "
        f"`{results['uptime_train_end']}` (1-minute load sampled every {LOAD_EVERY_S} s while training: "
        f"{results['train_load'][0]:.1f}–{results['train_load'][1]:.1f})",
        "",
        "| figure | " + " | ".join(names) + " | copy the English source |",
        "|---|" + "---|" * (len(names) + 1),
        "| config | " + " | ".join(f"`{runs[n]['config']}`" for n in names) + " | |",
        "| **val BLEU** (sacrebleu `zh`) | " + " | ".join(f"**{runs[n]['val']['bleu']:.2f}**" for n in names)
        + f" | {copy['val']['bleu']:.2f} |",
        "| **val chrF** | " + " | ".join(f"**{runs[n]['val']['chrf']:.2f}**" for n in names)
        + f" | {copy['val']['chrf']:.2f} |",
        "| val sentences (references) | " + " | ".join(f"{runs[n]['val']['sentences']:,} "
                                                     f"({runs[n]['val'].get('references', '?')})" for n in names)
        + f" | {copy['val']['sentences']:,} |",
        "| val perplexity (unigram) | " + " | ".join(
            f"{runs[n]['val']['perplexity']:.1f} ({runs[n]['val'].get('unigram_perplexity', float('nan')):.1f})"
            for n in names) + " | |",
        "| epochs reached | " + " | ".join(_epochs(runs[n]) for n in names) + " | |",
        "| best epoch (val_loss) | " + " | ".join(f"{runs[n]['best_epoch']} ({runs[n]['best_val_loss']:.3f})"
                                                for n in names) + " | |",
        "| seconds of training (checkpoint) / `cmx train` wall | " + " | ".join(
            f"{runs[n]['train_seconds']:.0f} / {runs[n]['train_wall_s']:.0f}" for n in names) + " | |",
        "| epoch times, s | " + " | ".join(", ".join(f"{t:.0f}" for t in runs[n]["epoch_times_s"]) for n in names)
        + " | |",
        "| preprocess, s | " + " | ".join(f"{runs[n]['preprocess_s']:.0f}" for n in names) + " | |",
        "",
        f"**Chosen on val: {chosen}** (the higher val BLEU, then chrF). Its test figures, read once: "
        f"BLEU {test['bleu']:.2f}, chrF {test['chrf']:.2f} over {test['sentences']:,} sentences "
        f"({test.get('references', '?')} references), perplexity {test['perplexity']:.1f} "
        f"(unigram {test.get('unigram_perplexity', float('nan')):.1f}); copying the English source: "
        f"BLEU {copy['test']['bleu']:.2f}, chrF {copy['test']['chrf']:.2f}. The other setting is not tested.",
        "",
        f"Three test sentences (the first three of test.tsv), greedy, by {chosen}:",
        "",
    ]
    for i, sample in enumerate(results["samples"]):
        lines.append(f"{i + 1}. source: {sample['source']}")
        lines.append(f"   - reference: {sample['reference']}")
        lines.append(f"   - {chosen}: {runs[chosen]['samples'][i]}")
    return "\n".join(lines) + "\n"


def _epochs(run: dict) -> str:
    """'N whole epochs + k batches (stopped by the budget)'."""
    text = f"{run['epochs_done']} whole"
    if run["steps_in_epoch"]:
        text += f" + {run['steps_in_epoch']} batches of epoch {run['epochs_done'] + 1}"
    return text + (" (budget stop)" if run["budget_stopped"] else " (not the budget: epochs or early stopping)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=20.0, help="train.time_budget_minutes of each run")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets" / "wmt_en_zh")
    parser.add_argument("--work", type=Path, default=Path("/tmp/cmx-bench-wmt-budget"),
                        help="preprocessed data, runs and results.json go here")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a config override, for both runs")
    parser.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = measure(args)
    command = " ".join(["nice -n 5 python benchmarks/bench_wmt_budget.py", f"--budget {args.budget:g}",
                        *(f"--set {s}" for s in args.sets)])
    text = section(results, command)
    print(text)
    if not args.no_write:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from results_file import replace_section

        replace_section("wmt_budget", text)


if __name__ == "__main__":
    main()
