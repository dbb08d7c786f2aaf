"""The spine flows one way: no stage imports another stage, and the layers below import no stage.

Stages are what the CLI's verbs call after the data layer (train, eval, sample, search, report,
export, runs). Each must stay replaceable on its own, reading the run directory through open_run
or run_summary rather than through another stage's code (docs/ARCHITECTURE.md). Preprocessing
is the data layer, which train and the run reader stand on; report/page.py and export's
serving/text_ops/image_ops are building blocks the tasks' hooks use, not stages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import crossmodal_tf

PACKAGE = Path(crossmodal_tf.__file__).parent

# stage name → the modules (files or packages) that make it up
STAGES = {
    "train": ["train.py"],
    "evaluate": ["evaluate.py"],
    "sample": ["sample.py"],
    "search": ["search.py"],
    "report": ["report/build.py", "report/facts.py"],
    "export": ["export/__init__.py"],
    "runs": ["runs.py"],
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _stage_of(module: str) -> str | None:
    """The stage a module, or a name imported from a module, belongs to; None outside the stages."""
    for stage, entries in STAGES.items():
        for entry in entries:
            path = PACKAGE / entry
            name = _module_name(path)
            rest = module.removeprefix(name + ".")
            if module == name:
                return stage
            # `from crossmodal_tf.stages.export import export_run` names a function, not the submodule serving
            if rest != module and "." not in rest and not (path.name == "__init__.py"
                                                            and (path.parent / f"{rest}.py").exists()):
                return stage
    return None


def _imports(path: Path) -> set[str]:
    """Every crossmodal_tf module a file imports, at any depth (lazy imports inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("crossmodal_tf")}


def test_no_module_imports_a_stage_other_than_its_own():
    crossings = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module.startswith("crossmodal_tf.cli"):
            continue  # the CLI is the one place that calls every stage
        own = _stage_of(module)
        for imported in _imports(path):
            stage = _stage_of(imported)
            if stage is not None and stage != own:
                crossings.append(f"{module} imports {imported} (stage {stage})")
    assert crossings == []
