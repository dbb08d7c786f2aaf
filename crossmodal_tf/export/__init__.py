"""cmx export: a run's model as a SavedModel that takes raw inputs, or as the native Keras file.

The SavedModel's `serve` signature (also `serving_default`) does all preprocessing
in the graph (export/text_ops.py, export/image_ops.py), so `tf.saved_model.load`
with TensorFlow alone, or TensorFlow Serving, runs it. serving.py holds each task's
function.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crossmodal_tf.errors import CmxError
from crossmodal_tf.run_dir import RunDir

FORMATS = ("savedmodel", "keras")


def _fresh(out: Path) -> None:
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not ((out / "saved_model.pb").is_file() or (out / "model.keras").is_file()):
            raise CmxError(f"--out {out}: exists and is not an earlier export; choose another folder")
        shutil.rmtree(out)


def export_run(run_dir: str | Path, export_format: str = "savedmodel", out: str | Path | None = None) -> dict:
    """Export a run's best model to out (default RUN_DIR/export/<format>); returns the path and its signature."""
    from crossmodal_tf.config import config_from_run

    if export_format not in FORMATS:
        raise CmxError(f"--format: expected one of {', '.join(FORMATS)}, found {export_format!r}")
    run = RunDir(Path(run_dir)).require()
    config = config_from_run(run.root)
    if not run.model.is_file():
        raise CmxError(f"{run.root}: no model.keras yet; finish training first")
    out = Path(out) if out else run.root / "export" / export_format
    _fresh(out)
    if export_format == "keras":
        out.mkdir(parents=True, exist_ok=True)
        for path in (run.model, run.config, run.vocab, run.target_vocab):
            if path.is_file():
                shutil.copy2(path, out / path.name)
        return {"path": str(out), "format": "keras", "signature": "model.keras (token ids, uint8 images)"}
    return _write_saved_model(run, config, out)


def _write_saved_model(run: RunDir, config, out: Path) -> dict:
    import keras

    from crossmodal_tf.data.text import Vocabulary
    from crossmodal_tf.evaluate import load_run_model
    from crossmodal_tf.export.serving import ENDPOINTS

    make_endpoint = ENDPOINTS.get(config.task)
    if make_endpoint is None:
        raise CmxError(f"{run.root}: cmx export has no SavedModel signature for task {config.task} yet; "
                       "use --format keras")
    model = load_run_model(run, config)
    target_vocab = Vocabulary.load(run.target_vocab) if run.target_vocab.is_file() else None
    endpoint = make_endpoint(model, config, Vocabulary.load(run.vocab), target_vocab)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in endpoint.resources:
        archive.track(resource)  # lookup tables are not variables; the archive must be told about them
    archive.add_endpoint("serve", endpoint.fn, input_signature=endpoint.input_signature)
    archive.write_out(str(out), verbose=False)
    inputs = ", ".join(f"{spec.name}: string" for spec in endpoint.input_signature)
    return {"path": str(out), "format": "savedmodel", "signature": f"serve({inputs})"}
