"""The package's imports flow one way: no circles, each layer imports only the layers below it, no stage imports
another.

The import graph is read from the source with ast: module-level imports, imports inside functions, imports under
`if TYPE_CHECKING:`, and the module names of the registries (TASKS, SOURCES) that importlib loads. A circle among
them is one even when Python survives it today, since only the order of the lazy imports keeps it alive.
The layers are docs/ARCHITECTURE.md's, defined here and nowhere else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import crossmodal_tf

PACKAGE = Path(crossmodal_tf.__file__).parent
ROOT = PACKAGE.name

# The layers, lowest first. A module belongs to the layer of the longest prefix naming it (`data` holds
# crossmodal_tf.data and everything under it); a module no prefix names fails test_every_module_has_a_layer.
LAYERS = [
    ("base", ["", "errors", "atomic", "locks", "environment"]),
    ("data", ["data"]),  # sources yield records; text, images, shards, pipeline: no task, no config
    ("models", ["models"]),  # Keras builders, given their own sub-configs
    # pieces the tasks' hooks and the stages build on: decoding loops, scores, figures, the report's HTML, the
    # export's graph ops, the run directory's paths, checkpoints and the training callbacks
    ("blocks", ["decoding", "text_scores", "retrieval_scores", "figures", "report_page", "serving", "run_dir",
                "checkpoints", "callbacks", "distribute"]),
    ("tasks", ["tasks"]),
    # above the tasks and sources: it checks a config against their registries and the keys they read
    ("config", ["config"]),
    # what the stages share: making the preprocessed data, training's batches, opening a run, reading its summary
    ("data and runs", ["preprocessing", "training_data", "run", "run_summary"]),
    ("stages", ["stages"]),
    ("cli", ["cli"]),
]

# Imports from a lower layer up to a higher one that stay for now, each with its reason.
UPWARD: dict[tuple[str, str], str] = {}

STAGES = ("preprocess", "train", "evaluate", "sample", "search", "report", "export", "runs")


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = _modules()


def _containing_module(name: str) -> str | None:
    """The module a dotted name lies in: itself when it is a module, else the nearest enclosing one."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    """The package's modules that a module imports, at any depth of its code."""
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(_containing_module(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, node.module] if node.module else base)
            for alias in node.names:  # `from a import b` imports the module a.b when there is one
                found.add(_containing_module(f"{source}.{alias.name}") if f"{source}.{alias.name}" in MODULES
                          else _containing_module(source))
        elif isinstance(node, ast.Constant) and node.value in MODULES and node.value != module:
            found.add(node.value)  # a registry's entry, loaded with importlib.import_module
    return {name for name in found if name and name != module and name.split(".")[0] == ROOT}


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def layer_of(module: str) -> int | None:
    """The index in LAYERS of a module's layer, or None when no prefix names it."""
    best, best_length = None, -1
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            name = f"{ROOT}.{prefix}" if prefix else ROOT
            if (module == name or module.startswith(name + ".")) and len(name) > best_length:
                best, best_length = index, len(name)
    return best


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (a → … → a) for each group of modules that import each other (Tarjan's components)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(set(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_circle_in(graph, component) for component in components]


def _circle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, through the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no circle through {start}")  # a strongly connected component always has one


def test_the_graph_sees_every_kind_of_import():
    # a module-level import, a lazy one inside a function, a registry entry, and `from package import module`
    assert "crossmodal_tf.tasks.base" in GRAPH["crossmodal_tf.tasks"]
    assert "crossmodal_tf.preprocessing" in GRAPH["crossmodal_tf.run"]
    assert "crossmodal_tf.tasks.caption" in GRAPH["crossmodal_tf.tasks"]
    assert "crossmodal_tf.figures" in GRAPH["crossmodal_tf.tasks.match"]


def test_find_cycles_names_each_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert sorted(find_cycles(graph)) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    circles = [" → ".join(circle) for circle in find_cycles(GRAPH)]
    assert circles == [], "import circles:\n" + "\n".join(circles)


def test_every_module_has_a_layer():
    assert [module for module in MODULES if layer_of(module) is None] == []


def test_imports_point_down_the_layers():
    upward = sorted((module, imported) for module, imports in GRAPH.items() for imported in imports
                    if layer_of(imported) > layer_of(module))
    unexplained = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
                   for a, b in upward if (a, b) not in UPWARD]
    assert unexplained == [], "imports from a lower layer up to a higher one:\n" + "\n".join(unexplained)
    # an exception whose import has gone is taken off the list, so the list says what is true
    assert sorted(UPWARD) == [pair for pair in upward if pair in UPWARD]
    assert len(UPWARD) <= 3


def test_the_stages_live_in_one_package():
    assert sorted({name.split(".")[2] for name in MODULES if name.count(".") >= 2 and name.split(".")[1] == "stages"}
                  ) == sorted(STAGES)


def test_no_stage_imports_another():
    def stage_of(module: str) -> str | None:
        parts = module.split(".")
        return parts[2] if len(parts) > 2 and parts[1] == "stages" else None

    crossings = [f"{module} imports {imported}" for module, imports in sorted(GRAPH.items()) for imported in imports
                 if stage_of(module) and stage_of(imported) and stage_of(module) != stage_of(imported)]
    assert crossings == []
