"""The task-independent sections of a report: run facts, config summary, learning curves, metrics."""

from __future__ import annotations

from crossmodal_tf import figures
from crossmodal_tf.report_page import Section, escape, image, note, table
from crossmodal_tf.run import Run
from crossmodal_tf.run_dir import RunDir
from crossmodal_tf.run_summary import flatten, read_json, read_run_config, summarize_run
from crossmodal_tf.tasks import task_reads_key

# the config keys a reader looks for first; the full config follows in a fold-out
# (keys that only some tasks or text types read are shown where read: config.yaml holds those alone)
SUMMARY_KEYS = ("task", "seed", "data.source", "data.path", "data.image.size", "data.text.level",
                "data.text.max_length", "data.target_text.level", "model.text.type", "model.text.units",
                "model.text.dim", "model.text.heads", "model.text.layers", "model.image.backbone",
                "model.image.filters", "model.fusion.type", "model.condition", "model.attention", "model.embedding.dim",
                "train.epochs", "train.batch_size", "train.optimizer.name", "train.optimizer.learning_rate",
                "train.precision")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def run_facts(run: RunDir) -> Section:
    """Dates, duration, epochs, best epoch, examples, versions and where the run ran."""
    summary = summarize_run(run.root)
    env, stats = read_json(run.env), read_json(run.stats)
    rows = [["name", summary.name], ["task", summary.task], ["started", summary.started],
            ["training time", _duration(summary.duration_s)],
            ["epochs", f"{summary.epochs} of {summary.configured_epochs}"], ["best", summary.best_text()],
            ["examples", ", ".join(f"{k} {v}" for k, v in stats.get("counts", {}).items())],
            ["vocabulary", stats.get("vocab_size", "")],
            ["command", " ".join(env.get("command", []))], ["git commit", env.get("git_commit") or "—"],
            ["platform", env.get("platform", "")], ["devices", ", ".join(env.get("devices", []))]]
    versions = ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v)
    rows.append(["versions", versions])
    return Section("Run", table([], [[key, str(value)] for key, value in rows]))


def config_summary(run: Run) -> Section:
    """The main config keys the run's task reads, and the whole resolved config folded away."""
    flat = flatten(read_run_config(run.paths))
    rows = [[key, flat[key]] for key in SUMMARY_KEYS if key in flat and task_reads_key(run.task.name, key)]
    full = escape(run.paths.config.read_text(encoding="utf-8"))
    body = table(["key", "value"], rows) + f"<details><summary>config.yaml</summary><pre>{full}</pre></details>"
    return Section("Config", body)


def learning_curves(run: RunDir) -> Section:
    """The learning curves figure (train and val per metric), or a note when no epoch finished."""
    history = run.read_history()
    if not history:
        return Section("Learning curves", note("No finished epoch in metrics.jsonl yet."))
    return Section("Learning curves", image(figures.learning_curves(history), "learning curves"))


def metrics_table(run: RunDir) -> Section:
    """eval_val.json and eval_test.json side by side."""
    evals = {split: read_json(run.eval_json(split)) for split in ("val", "test")}
    found = [s for s, values in evals.items() if values]
    if not found:
        return Section("Metrics", note("No eval_val.json or eval_test.json yet: run cmx eval and cmx test."))
    names = [k for k in dict.fromkeys(k for s in found for k in evals[s]) if k not in ("split", "checkpoint")]
    rows = [[name, *(evals[s].get(name, "") for s in found)] for name in names]
    missing = [s for s in evals if s not in found]
    extra = note(f"No eval_{missing[0]}.json: run cmx {'test' if missing[0] == 'test' else 'eval'}.") if missing else ""
    return Section("Metrics", table(["metric", *found], rows) + extra)
