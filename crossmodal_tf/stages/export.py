"""cmx export: a run's model as a SavedModel that takes raw inputs, or as the native Keras file.

The SavedModel's `serve` signature (also `serving_default`) does all preprocessing
in the graph (serving/text_ops.py, serving/image_ops.py), so `tf.saved_model.load`
with TensorFlow alone, or TensorFlow Serving, runs it. Each task's export_endpoint hook
builds its function from the pieces in serving/endpoint.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from crossmodal_tf.errors import CmxError

FORMATS = ("savedmodel", "keras")


def _fresh(out: Path) -> None:
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not ((out / "saved_model.pb").is_file() or (out / "model.keras").is_file()):
            raise CmxError(f"--out {out}: exists and is not an earlier export; choose another folder")
        shutil.rmtree(out)


def export_run(run_dir: str | Path, export_format: str = "savedmodel", out: str | Path | None = None) -> dict:
    """Export a run's best model to out (default RUN_DIR/export/<format>); returns the path and its signature."""
    from crossmodal_tf.run import open_run

    if export_format not in FORMATS:
        raise CmxError(f"--format: expected one of {', '.join(FORMATS)}, found {export_format!r}")
    run = open_run(run_dir)
    paths = run.paths
    if not paths.model.is_file():
        raise CmxError(f"{run.root}: no model.keras yet; finish training first")
    out = Path(out) if out else run.root / "export" / export_format
    _fresh(out)
    if export_format == "keras":
        out.mkdir(parents=True, exist_ok=True)
        for path in (paths.model, paths.config, *paths.vocabularies):
            if path.is_file():
                shutil.copy2(path, out / path.name)
        return {"path": str(out), "format": "keras", "signature": "model.keras (token ids, uint8 images)"}
    return _write_saved_model(run, out)


def _write_saved_model(run, out: Path) -> dict:
    import keras

    model = run.model()
    endpoint = run.task.export_endpoint(run, model)
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in endpoint.resources:
        archive.track(resource)  # lookup tables are not variables; the archive must be told about them
    archive.add_endpoint("serve", endpoint.fn, input_signature=endpoint.input_signature)
    archive.write_out(str(out), verbose=False)
    inputs = ", ".join(f"{spec.name}: string" for spec in endpoint.input_signature)
    return {"path": str(out), "format": "savedmodel", "signature": f"serve({inputs})"}
