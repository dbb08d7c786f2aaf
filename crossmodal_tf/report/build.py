"""The report stage: a run directory → RUN_DIR/report.html, one self-contained page."""

from __future__ import annotations

import time
from pathlib import Path

from crossmodal_tf.atomic import write_text_atomic
from crossmodal_tf.report import facts
from crossmodal_tf.report.page import Section, note, render
from crossmodal_tf.run_dir import RunDir


def _task_sections(run: RunDir) -> list[Section]:
    """The task's own sections, on the test split (val when test is empty); notes when they cannot be made."""
    from crossmodal_tf.config import config_from_run
    from crossmodal_tf.report.tasks import TASK_SECTIONS, ReportData

    config = config_from_run(run.root)
    make_sections = TASK_SECTIONS.get(config.task)
    if make_sections is None:
        return [Section(f"Task {config.task}", note(f"This version of cmx report has no section for task "
                                                    f"{config.task} yet."))]
    if not run.model.is_file():
        return [Section(f"Task {config.task}", note("No model.keras yet: the task's figures appear once "
                                                   "training has finished."))]

    from crossmodal_tf.data.pipeline import make_dataset
    from crossmodal_tf.data.text import Vocabulary
    from crossmodal_tf.evaluate import load_run_model, run_data
    from crossmodal_tf.tasks import load_task

    stats = run_data(run, config)
    split = "test" if stats["counts"].get("test") else "val"
    task = load_task(config.task)
    dataset = make_dataset(config.processed_dir, split, stats["counts"][split], config.eval.batch_size,
                           config.data.image.size if task.USES_IMAGE else None)
    target_vocab = Vocabulary.load(run.target_vocab) if run.target_vocab.is_file() else None
    data = ReportData(run, config, load_run_model(run, config), Vocabulary.load(run.vocab), target_vocab, split,
                      dataset)
    return make_sections(data)


def write_report(run_dir: str | Path) -> dict:
    """Write RUN_DIR/report.html; returns its path, size in bytes and the seconds it took."""
    began = time.perf_counter()
    run = RunDir(Path(run_dir)).require()
    sections = [facts.run_facts(run), facts.config_summary(run), facts.learning_curves(run), facts.metrics_table(run),
                *_task_sections(run)]
    made = time.strftime("%Y-%m-%d %H:%M")
    page = render(f"cmx report: {run.root.name}", f"{run.root} — made by cmx report on {made}", sections)
    write_text_atomic(run.report, page)
    return {"path": str(run.report), "bytes": run.report.stat().st_size,
            "seconds": round(time.perf_counter() - began, 2)}
