"""The report stage: a run directory → RUN_DIR/report.html, one self-contained page."""

from __future__ import annotations

import time
from pathlib import Path

from crossmodal_tf.atomic import write_text_atomic
from crossmodal_tf.stages.report import facts
from crossmodal_tf.report_page import Section, note, render
from crossmodal_tf.run import Run, open_run


def _task_sections(run: Run) -> list[Section]:
    """The task's own sections, on the test split (val when test is empty); a note when they cannot be made yet."""
    if not run.paths.model.is_file():
        return [Section(f"Task {run.config.task}", note("No model.keras yet: the task's figures appear once "
                                                       "training has finished."))]
    split = run.eval_split()
    return run.task.report_sections(run, run.model(), split, run.dataset(split))


def write_report(run_dir: str | Path) -> dict:
    """Write RUN_DIR/report.html; returns its path, size in bytes and the seconds it took."""
    began = time.perf_counter()
    run = open_run(run_dir)
    paths = run.paths
    sections = [facts.run_facts(paths), facts.config_summary(run), facts.learning_curves(paths),
                facts.metrics_table(paths), *_task_sections(run)]
    made = time.strftime("%Y-%m-%d %H:%M")
    page = render(f"cmx report: {run.root.name}", f"{run.root} — made by cmx report on {made}", sections)
    write_text_atomic(paths.report, page)
    return {"path": str(paths.report), "bytes": paths.report.stat().st_size,
            "seconds": round(time.perf_counter() - began, 2)}
