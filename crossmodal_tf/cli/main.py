"""`cmx`: one function per command; each parses, calls one library function and prints.

TensorFlow is imported only inside the library functions that need it, so
`cmx --help` and `cmx config ...` stay fast.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from crossmodal_tf import __version__
from crossmodal_tf.errors import CmxError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter hides our output

app = typer.Typer(name="cmx", add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Train image + text Keras models from YAML experiment configs.\n\n"
                       "Example: cmx train configs/shapes_match.yaml --set train.epochs=3")
config_app = typer.Typer(no_args_is_help=True, help="Show, check and describe experiment configs.\n\n"
                                                        "Example: cmx config validate configs/shapes_match.yaml")
app.add_typer(config_app, name="config")
console = Console()
err_console = Console(stderr=True)
_state = {"debug": False}

ConfigPath = Annotated[str, typer.Argument(help="YAML experiment config.", show_default=False)]
Overrides = Annotated[Optional[list[str]], typer.Option(
    "--set", help="Override a config key, e.g. --set train.epochs=5 (repeatable; values are YAML).")]
RunDirArg = Annotated[str, typer.Argument(help="A run directory written by cmx train.", show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]


def _quiet(flag: bool) -> bool:
    return flag or not sys.stdout.isatty()


def _progress(quiet: bool) -> str:
    """A live bar on a terminal, one line per epoch in logs and pipes, nothing with --quiet."""
    return "none" if quiet else ("bar" if sys.stdout.isatty() else "lines")


def _warn(line: str) -> None:
    err_console.print(line, markup=False, highlight=False, soft_wrap=True)


def _version(value: bool):
    if value:
        console.print(f"cmx {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of user errors too.")] = False,
    version: Annotated[Optional[bool], typer.Option("--version", callback=_version, is_eager=True,
                                                    help="Print the version and exit.")] = None,
):
    """Train image + text Keras models from YAML experiment configs."""
    _state["debug"] = debug


def _metrics_table(title: str, metrics: dict) -> Table:
    def shown(value) -> str:
        return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)

    # "seen/<metric>" and "novel/<metric>" (a split with held-out combinations) become columns beside the overall one
    subsets = [s for s in ("seen", "novel") if any(key.startswith(f"{s}/") for key in metrics)]
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("all" if subsets else "value", justify="right")
    for subset in subsets:
        table.add_column(subset, justify="right")
    for key, value in metrics.items():
        if "/" not in key:
            table.add_row(key, shown(value), *(shown(metrics.get(f"{s}/{key}")) for s in subsets))
    return table


@app.command()
def preprocess(config: ConfigPath, overrides: Overrides = None,
               force: Annotated[bool, typer.Option("--force", help="Redo it even when up to date.")] = False,
               quiet: Quiet = False):
    """Read or generate the raw data and write TFRecord shards, the vocabulary and stats.json.

    Example: cmx preprocess configs/shapes_match.yaml --set data.shapes.num_images=500
    """
    from crossmodal_tf.stages.preprocess import preprocess_from_file

    stats = preprocess_from_file(config, overrides or [], force=force, quiet=_quiet(quiet), warn=_warn)
    state = "up to date, reused" if stats["reused"] else f"written in {stats['seconds']} s"
    console.print(f"{stats['processed']}: {state}; examples {stats['counts']}, vocabulary {stats['vocab_size']}, "
                  f"skipped {stats['skipped']['count']}")


@app.command()
def train(config: ConfigPath, overrides: Overrides = None,
          run_dir: Annotated[Optional[str], typer.Option("--run-dir", help="Default: <output.dir>/<name>.")] = None,
          resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run.")] = False,
          overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run.")] = False,
          quiet: Quiet = False):
    """Train a model (preprocessing first when needed) into a run directory.

    Example: cmx train configs/shapes_match.yaml --set train.epochs=3 --run-dir runs/try
    """
    from crossmodal_tf.distribute import WorkerLost
    from crossmodal_tf.stages.train import TrainingInterrupted, train_from_file

    command = ["cmx", *sys.argv[1:]]
    try:
        summary = train_from_file(config, overrides or [], run_dir=run_dir, resume=resume, overwrite=overwrite,
                                  progress=_progress(quiet), command=command, warn=_warn)
    except TrainingInterrupted as stop:
        where = f"in epoch {stop.position.epochs_done + 1} after {stop.position.steps_in_epoch} batches"
        saved = f"saved {stop.saved}" if stop.saved else "nothing saved (the weights were not finite)"
        resume_command = shlex.join(a for a in command if a != "--overwrite")
        if "--resume" not in command:
            resume_command += " --resume"
        err_console.print(f"cmx: interrupted {where}; {saved}\nresume with: {resume_command}", markup=False,
                          highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    except WorkerLost as lost:  # not the user's input: exit 1, but one clear line all the same
        err_console.print(f"cmx: error: {lost}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    best = f"{summary['best']:.4f}" if summary["best"] is not None else "n/a"
    console.print(f"{summary['run_dir']}: {summary['epochs']} epochs, best {summary['monitor']} {best}")


@app.command(name="eval")
def evaluate(run_dir: RunDirArg,
             split: Annotated[str, typer.Option(help="val, test or train.")] = "val",
             checkpoint: Annotated[str, typer.Option(help="best (model.keras) or last (resumable state).")] = "best",
             as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False):
    """Evaluate a run on a split and write RUN_DIR/eval_<split>.json.

    Example: cmx eval runs/shapes-match --split val --checkpoint last
    """
    from crossmodal_tf.stages.evaluate import evaluate_run

    _print_metrics(evaluate_run(run_dir, split, checkpoint), run_dir, as_json)


@app.command()
def test(run_dir: RunDirArg,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False):
    """Evaluate the best model on the test split: the final generalisation figure.

    Example: cmx test runs/shapes-match
    """
    from crossmodal_tf.stages.evaluate import evaluate_run

    _print_metrics(evaluate_run(run_dir, "test", "best"), run_dir, as_json)


def _print_answers(run_dir: str, records: list[dict]) -> None:
    """A vqa run's answers: one row per question, its top answers with their probabilities."""
    table = Table(title=f"{run_dir} — answers")
    for column in ("input", "question", "answers", "truth"):
        table.add_column(column)
    for r in records:
        answers = "\n".join(f"{a['answer']} ({a['probability']:.3f})" for a in r["answers"])
        table.add_row(r["input"], r["question"], answers, r.get("truth", ""))
    console.print(table)


@app.command()
def sample(
    run_dir: RunDirArg,
    image: Annotated[Optional[list[str]], typer.Option("--image", help="Image to caption or ask about (repeatable; "
                                                       "caption and vqa runs). Default: random test images, "
                                                       "references or true answers beside.")] = None,
    prompt: Annotated[Optional[list[str]], typer.Option("--prompt", help="Text to continue (repeatable).")] = None,
    text: Annotated[Optional[list[str]], typer.Option("--text", help="Sentence to translate or document to "
                                                      "summarize (repeatable; seq2seq, summarize runs).")] = None,
    input_file: Annotated[Optional[str], typer.Option("--input", help="File of sentences to translate or documents "
                                                      "to summarize, one per line (seq2seq, summarize runs).")] = None,
    question: Annotated[Optional[list[str]], typer.Option("--question", help="Question about the image (repeatable; "
                                                          "vqa runs; --top-k answers are listed).")] = None,
    strategy: Annotated[Optional[str], typer.Option(help="greedy, sample, top_k, top_p or beam.")] = None,
    temperature: Annotated[Optional[float], typer.Option(help="Softens (>1) or sharpens (<1); 0 is greedy.")] = None,
    top_k: Annotated[Optional[int], typer.Option("--top-k", help="top_k: sample among the k likeliest.")] = None,
    top_p: Annotated[Optional[float], typer.Option("--top-p", help="top_p: sample inside this much mass.")] = None,
    beam_width: Annotated[Optional[int], typer.Option("--beam-width", help="beam: beams kept.")] = None,
    length_penalty: Annotated[Optional[float], typer.Option("--length-penalty",
                                                            help="beam: GNMT alpha; 0 ranks by log p.")] = None,
    max_length: Annotated[Optional[int], typer.Option("--max-length", help="Tokens generated at most.")] = None,
    min_length: Annotated[Optional[int], typer.Option("--min-length", help="Tokens generated before the end token "
                                                      "may come, e.g. --min-length 20 for summaries.")] = None,
    no_repeat_ngram_size: Annotated[Optional[int], typer.Option("--no-repeat-ngram-size", help="No n-gram of this "
                                                                "many tokens twice, e.g. 3; 0 allows repeats.")] = None,
    num_samples: Annotated[Optional[int], typer.Option("--num-samples", help="Samples (or best beams) per input.")] = None,
    allow_unknown: Annotated[bool, typer.Option("--allow-unknown", help="Let captions and summaries hold <unk> (a "
                                                "word outside the vocabulary), which they never do by default.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="The same seed gives the same samples. Default: the run's.")] = None,
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write JSON lines here instead of a table.")] = None,
):
    """Generate text from an lm, caption, seq2seq or summarize run: free sampling, p(text) = ∏ p(w_i | w_<i), or
    beam search; or answer questions about images with a vqa run.

    Unset options come from the config's sample section.

    Example: cmx sample runs/shapes-caption --image my.png --strategy beam --beam-width 4 --num-samples 2

    Example: cmx sample runs/shapes-translate --text "a small red circle above a large blue square"

    Example: cmx sample runs/shapes-vqa --image my.png --question "what colour is the circle?" --top-k 3
    """
    from crossmodal_tf.stages.sample import sample_run

    options = {"strategy": strategy, "temperature": temperature, "top_k": top_k, "top_p": top_p,
               "beam_width": beam_width, "length_penalty": length_penalty, "max_length": max_length,
               "min_length": min_length, "no_repeat_ngram_size": no_repeat_ngram_size, "num_samples": num_samples}
    records = sample_run(run_dir, image or [], prompt or [], options, seed, output,
                         warn=_warn,
                         texts=text or [], input_file=input_file, questions=question or [],
                         allow_unknown=allow_unknown)
    if output:
        console.print(f"{output}: {len(records)} samples")
        return
    if records and "question" in records[0]:
        _print_answers(run_dir, records)
        return
    table = Table(title=f"{run_dir} — {records[0]['strategy'] if records else ''}")
    for column in ("input", "#", "text", "log p"):
        table.add_column(column, justify="right" if column in ("#", "log p") else "left")
    with_references = any("references" in r for r in records)
    if with_references:
        table.add_column("references")
    for r in records:
        row = [r["input"], str(r["sample"]), r["text"], f"{r['log_prob']:.2f}"]
        if with_references:
            row.append("\n".join(r.get("references", [])) if r["sample"] == 1 else "")
        table.add_row(*row)
    console.print(table)


@app.command()
def search(
    run_dir: RunDirArg,
    query: Annotated[Optional[str], typer.Option("--query", help="Text to find images for.")] = None,
    image: Annotated[Optional[str], typer.Option("--image", help="Image to find captions for.")] = None,
    top_k: Annotated[int, typer.Option("--top-k", help="Results to show.")] = 5,
    split: Annotated[str, typer.Option(help="The split to search: test, val or train.")] = "test",
    output: Annotated[Optional[str], typer.Option("--output", "-o", help="Write the results here as JSON instead of a table.")] = None,
):
    """Search a retrieval run: the images closest to a text, or the captions closest to an image.

    The split's embedding index is built on first use and kept in RUN_DIR/index/;
    it is rebuilt when model.keras or the preprocessed data change.

    Example: cmx search runs/shapes-retrieval --query "a small red circle above a large blue square" --top-k 5
    """
    from crossmodal_tf.stages.search import search_run

    found = search_run(run_dir, query, image, split, top_k, output,
                       warn=_warn)
    if found["index"]["built"]:
        err_console.print(f"{found['index']['path']}: index built", markup=False, highlight=False)
    if output:
        console.print(f"{output}: {len(found['results'])} results")
        return
    by_text = "query" in found
    table = Table(title=f"{run_dir} — {found['split']}: " + (repr(found["query"]) if by_text else found["image"]))
    columns = ("rank", "score", "image", "a caption of it") if by_text else ("rank", "score", "caption")
    for column in columns:
        table.add_column(column, justify="right" if column in ("rank", "score") else "left")
    for r in found["results"]:
        described = [r["key"], r["caption"]] if by_text else [r["caption"]]
        table.add_row(str(r["rank"]), f"{r['score']:.4f}", *described)
    console.print(table)


@app.command()
def report(run_dir: RunDirArg):
    """Write RUN_DIR/report.html: one self-contained page with the run's facts, curves, metrics and examples.

    Example: cmx report runs/shapes-match && xdg-open runs/shapes-match/report.html
    """
    from crossmodal_tf.stages.report.build import write_report

    written = write_report(run_dir)
    console.print(f"{written['path']}: {written['bytes'] / 1e6:.2f} MB in {written['seconds']} s")


ExportFormat = Annotated[str, typer.Option("--format", help="savedmodel (raw inputs, preprocessing in the graph) or "
                                                             "keras (model.keras and vocabularies).")]


@app.command()
def export(run_dir: RunDirArg, export_format: ExportFormat = "savedmodel",
           out: Annotated[Optional[str], typer.Option("--out", help="Default: RUN_DIR/export/<format>.")] = None):
    """Export a run's model for serving: a SavedModel that takes raw text and encoded images.

    Example: cmx export runs/shapes-match --format savedmodel --out exported/shapes-match
    """
    from crossmodal_tf.stages.export import export_run

    written = export_run(run_dir, export_format, out)
    console.print(f"{written['path']}: {written['format']}, signature {written['signature']}")


@app.command()
def runs(folder: Annotated[str, typer.Argument(help="A folder of run directories.")] = "runs"):
    """List the runs in a folder, newest first: task, date, epochs, best val metric, test metric.

    Example: cmx runs runs/
    """
    from crossmodal_tf.stages.runs import list_runs

    table = Table(title=f"runs in {folder}")
    for column in ("name", "task", "started", "epochs", "best val", "test"):
        table.add_column(column, justify="right" if column == "epochs" else "left")
    for run in list_runs(folder):
        table.add_row(run.name, run.task, run.started[:16].replace("T", " "), str(run.epochs), run.best_text(),
                      run.test_text())
    console.print(table)


@app.command()
def compare(run_a: RunDirArg, run_b: RunDirArg):
    """Compare two runs: the config keys that differ (dotted) and their metrics side by side.

    Example: cmx compare runs/shapes-match runs/shapes-match-film
    """
    from crossmodal_tf.stages.runs import compare_runs

    comparison = compare_runs(run_a, run_b)
    names = [str(r.path) for r in comparison.runs]
    for title, rows in (("config differences", comparison.config_diff), ("metrics", comparison.metrics)):
        table = Table(title=title)
        for column in ("key" if rows is comparison.config_diff else "metric", *names):
            table.add_column(column)
        for key, a, b in rows:
            table.add_row(key, *(_cell(v) for v in (a, b)))
        console.print(table)


def _cell(value) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _print_metrics(metrics: dict, run_dir: str, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(metrics))
    else:
        console.print(_metrics_table(f"{run_dir} — {metrics['split']} ({metrics['checkpoint']})", metrics))


@config_app.command("show")
def config_show(config: ConfigPath, overrides: Overrides = None):
    """Print the resolved config: extends merged, overrides applied, defaults filled in.

    Example: cmx config show configs/shapes_match.yaml --set train.epochs=3
    """
    from crossmodal_tf.config import dump_config, load_config

    print(dump_config(load_config(config, overrides or [], warn=_warn)), end="")


@config_app.command("validate")
def config_validate(config: ConfigPath, overrides: Overrides = None):
    """Check a config; prints 'ok' or one line naming the problem (exit code 2).

    Example: cmx config validate configs/shapes_match.yaml
    """
    from crossmodal_tf.config import load_config

    cfg = load_config(config, overrides or [], warn=_warn)
    console.print(f"{config}: ok (task {cfg.task}, run directory {cfg.run_dir})")


@config_app.command("schema")
def config_schema():
    """Print the JSON Schema of config files (for YAML editors).

    Example: cmx config schema > cmx.schema.json
    """
    from crossmodal_tf.config import config_schema as schema

    print(json.dumps(schema(), indent=2))


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    from crossmodal_tf.cli.native_logs import NativeLogFilter

    log_filter = None if "--debug" in sys.argv else NativeLogFilter()
    code = 0
    try:
        app()
    except SystemExit as exc:
        code = exc.code
    except CmxError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"cmx: error: {exc}", markup=False, highlight=False, soft_wrap=True)
        code = 2
    except KeyboardInterrupt:
        err_console.print("cmx: interrupted")
        code = 130
    finally:
        if log_filter:
            log_filter.close()
    sys.exit(code)


if __name__ == "__main__":
    main()
