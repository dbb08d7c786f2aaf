"""Every statement in the docs that cmx can check matches the code.

README.md and docs/*.md are read as text: every dotted config key they name (`data.shapes.num_images`,
`--set model.text.type=transformer`, the keys of a ```yaml config block) is looked up in the config's JSON
Schema; every `cmx COMMAND --flag` in the Typer app; every link to a section of benchmarks/RESULTS.md (or
another doc) in its headings; every repository file named in inline code on disk. Every ```yaml config block
loads as a config file, and one that excerpts a shipped config shows that file's values. Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import functools
import re
import tempfile
import unicodedata
from pathlib import Path

import pytest
import typer.main
import yaml

from crossmodal_tf.cli.main import app
from crossmodal_tf.config import config_schema

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SECTIONS = ("name", "task", "seed", "extends", "data", "model", "train", "eval", "sample", "output")

# A dotted word that starts with a config section, e.g. model.text.type; file names such as model.keras or
# train.tsv look the same, so a last part that is a file extension is not a key.
KEY = re.compile(r"(?<![\w./-])(?:" + "|".join(SECTIONS) + r")(?:\.[A-Za-z_][A-Za-z0-9_]*)+(?![\w/(-])")
FILE_SUFFIXES = {"keras", "py", "tsv", "txt", "json", "jsonl", "csv", "yaml", "yml", "png", "h5", "npz", "html",
                 "md", "model", "tfrecord", "jpg", "log"}
# keys the docs show on purpose as mistakes (the error messages of a bad config)
SHOWN_AS_MISTAKES = {"model.text.unit"}
# flags of other programs that the docs name in passing
OTHER_PROGRAMS = ("chromium", "pytest", "tensorboard", "pip", "git")
# Python the docs name that looks like a key
NOT_KEYS = {"model.fit", "model.predict"}

FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`\n]+)`")
CMX_CALL = re.compile(r"(?<![\w-])cmx((?:\s+--?[\w-]+)*)\s+([a-z][\w-]*)(?:\s+([a-z][\w-]*))?")
FLAG = re.compile(r"(?<![\w-])(--[a-z][\w-]*)")
LINK = re.compile(r"\]\(([^)\s]+)\)")


# --- what exists -------------------------------------------------------------------------------------------
@functools.cache
def _schema() -> dict:
    return config_schema()


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _children(schema: dict, node: dict) -> dict | None:
    """The properties a node allows (merged over anyOf/oneOf/allOf), or None when it takes any key."""
    node = _resolve(schema, node)
    props: dict = {}
    open_ended = False
    for option in [node, *node.get("anyOf", []), *node.get("oneOf", []), *node.get("allOf", [])]:
        option = _resolve(schema, option)
        props.update(option.get("properties", {}))
        if option.get("type") == "object" and "properties" not in option and option.get("additionalProperties", True):
            open_ended = True
    return None if open_ended else props


def config_key_exists(key: str, schema: dict | None = None) -> bool:
    """Whether a dotted key (data.shapes.num_images) is a key of the config schema."""
    schema = schema or _schema()
    node: dict = schema
    for part in key.split("."):
        props = _children(schema, node)
        if props is None:  # a free-form mapping: any key below it
            return True
        if part not in props:
            return False
        node = props[part]
    return True


@functools.cache
def cli_commands() -> dict[str, set[str]]:
    """Every command path ('' for cmx itself, 'train', 'config show') and the flags it takes."""
    root = typer.main.get_command(app)
    found: dict[str, set[str]] = {}

    def walk(command, path: str) -> None:
        flags = {o for p in command.params for o in [*p.opts, *p.secondary_opts] if o.startswith("-")}
        found[path] = flags | {"--help"}
        for name, sub in getattr(command, "commands", {}).items():  # a group (typer ships its own click)
            walk(sub, f"{path} {name}".strip())

    walk(root, "")
    return found


# --- what the docs say -------------------------------------------------------------------------------------
def _code_texts(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every code block ('yaml', 'bash', '' …) and inline code span ('inline')."""
    spans = [(m.group(1) or "", m.group(2)) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    spans += [("inline", m.group(1)) for m in INLINE.finditer(prose)]
    return spans


def _flatten(mapping: dict, prefix: str = "") -> list[str]:
    keys = []
    for key, value in mapping.items():
        path = f"{prefix}{key}"
        keys.append(path)
        if isinstance(value, dict):
            keys += _flatten(value, path + ".")
    return keys


def config_keys_named(text: str) -> set[str]:
    """Every dotted config key in the code of a Markdown text, and the keys of its YAML config blocks."""
    keys = set()
    for kind, code in _code_texts(text):
        for match in KEY.finditer(code):
            key = match.group(0)
            if key.rsplit(".", 1)[-1] in FILE_SUFFIXES and key.count(".") == 1:
                continue
            keys.add(key)
        if kind == "yaml":
            block = yaml.safe_load(code)
            if isinstance(block, dict) and set(block) <= set(SECTIONS):
                keys |= {k for k in _flatten(block) if "." in k}
    return keys - SHOWN_AS_MISTAKES - NOT_KEYS


def cli_calls_named(text: str) -> list[tuple[str, list[str]]]:
    """(command path, flags) of every `cmx …` call in the code of a Markdown text; a flag that prose names on
    its own comes with the commands its paragraph names ('a|b'), or '*' (any command) when it names none."""
    commands = cli_commands()
    calls = []

    def parse(code: str) -> list[tuple[str, list[str]]]:
        found = []
        for line in code.splitlines():
            line = line.split(" # ")[0]  # a comment after a command is prose
            for segment in re.split(r"\s(?:&&|\||;)\s", line):
                match = CMX_CALL.search(segment)
                if not match:
                    continue
                global_flags, first, second = match.group(1).split(), match.group(2), match.group(3)
                path = first
                if first in commands and f"{first} {second}" in commands:
                    path = f"{first} {second}"
                found.append(("", global_flags))
                found.append((path, FLAG.findall(segment[match.end():])))
        return found

    for _, code in _code_texts(text):
        calls += parse(code)

    # a flag named alone in prose (`--top-k K`) belongs to a command the same paragraph, list item or table
    # row names; in one that names another program (Chromium's `--dump-dom`) it is that program's
    for unit in _prose_units(FENCE.sub("", text)):
        if re.search(r"\b(" + "|".join(OTHER_PROGRAMS) + r")\b", unit, re.I):
            continue
        spans = INLINE.findall(unit)
        named = [c for c, _ in (x for s in spans for x in parse(s)) if c]
        loose = [f for s in spans if s.startswith("--") for f in FLAG.findall(s)]
        if loose:
            calls.append(("|".join(named) if named else "*", loose))
    return calls


def _prose_units(text: str) -> list[str]:
    """Paragraphs, list items and table rows."""
    units = []
    for block in re.split(r"\n\s*\n", text):
        for piece in re.split(r"\n(?=\s*(?:[-*] |\|))", block):
            units.append(piece)
    return units


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(ch for ch in text if ch in " -_" or unicodedata.category(ch)[0] in "LN")
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading anchor of a Markdown text, numbered as GitHub numbers repeated ones."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.*)$", FENCE.sub("", markdown), re.M):
        anchor = github_anchor(heading)
        n = seen.get(anchor, 0)
        found.add(anchor if n == 0 else f"{anchor}-{n}")
        seen[anchor] = n + 1
    return found


# --- the checks --------------------------------------------------------------------------------------------
def _problems_in(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    schema = _schema()
    commands = cli_commands()
    every_flag = set().union(*commands.values())
    problems = [f"config key {key}" for key in sorted(config_keys_named(text))
                if not config_key_exists(key, schema)]
    for command, flags in cli_calls_named(text):
        if command == "*":
            allowed = every_flag
        else:
            paths = command.split("|")
            unknown = [p for p in paths if p not in commands]
            problems += [f"command cmx {p}" for p in unknown]
            allowed = set().union(*(commands[p] for p in paths if p in commands))
        problems += [f"cmx {command or ''} {flag}".replace("  ", " ") for flag in flags if flag not in allowed]
    for target in LINK.findall(text):
        file, _, anchor = target.partition("#")
        if file.startswith(("http://", "https://", "mailto:")) or not file:
            continue
        linked = (path.parent / file).resolve()
        if not linked.exists():
            problems.append(f"link to {file}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text(encoding="utf-8")):
            problems.append(f"link to {file}#{anchor}: no such section")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_command_flag_and_link_in_the_docs_exists(doc):
    """What a reader copies from the docs is accepted by cmx."""
    assert _problems_in(doc) == []


def test_the_docs_name_keys_and_flags_at_all():
    """The extraction finds what the docs show, so an empty problem list means something."""
    texts = [doc.read_text(encoding="utf-8") for doc in DOCS]
    keys = set().union(*(config_keys_named(t) for t in texts))
    flags = {(c, f) for t in texts for c, fs in cli_calls_named(t) for f in fs}
    assert {"train.epochs", "model.text.type", "data.source"} <= keys and len(keys) >= 40
    assert {("train", "--set"), ("sample", "--strategy"), ("search", "--query")} <= flags and len(flags) >= 25


def test_made_up_keys_flags_commands_and_sections_are_caught(tmp_path):
    """A doc naming a key, flag, command or RESULTS.md section that does not exist fails."""
    doc = tmp_path / "docs" / "BAD.md"
    doc.parent.mkdir()
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# Benchmark results\n## The demo, 3 seeds (issue 23)\n")
    doc.write_text(
        "Set `data.shapes.num_imagez: 5` or `model.text.type: transformer`.\n\n"
        "```\ncmx train configs/shapes_match.yaml --set train.epochz=3 --resumee\ncmx trian x.yaml\n```\n\n"
        "`cmx search RUN` takes `--query TEXT` and `--top-kk K`.\n\n"
        "```yaml\nmodel:\n  fusion: {type: film, hopz: 2}\n```\n\n"
        "[ok](../benchmarks/RESULTS.md#the-demo-3-seeds-issue-23) [bad](../benchmarks/RESULTS.md#the-demo)\n",
        encoding="utf-8")
    assert _problems_in(doc) == [
        "config key data.shapes.num_imagez", "config key model.fusion.hopz", "config key train.epochz",
        "cmx train --resumee", "command cmx trian", "cmx search --top-kk",
        "link to ../benchmarks/RESULTS.md#the-demo: no such section"]


def test_key_lookup_follows_the_schema():
    """Sections, leaves and free-form mappings are found; a wrong part anywhere is not."""
    assert config_key_exists("data.shapes.num_images")
    assert config_key_exists("model.text.type")
    assert config_key_exists("train.negatives.hard_fraction")
    assert config_key_exists("data.negatives.train_hard_weights.shape")  # inside an optional section
    assert not config_key_exists("data.shapes.num_images.more")
    assert not config_key_exists("model.txt.type")
    assert not config_key_exists("train.epochs_")


def test_github_anchors():
    """Anchors as GitHub makes them, so links into RESULTS.md can be checked."""
    assert github_anchor("The demo in a third of the work (issue 17, part 1; target: ≥ 0.95)") == \
        "the-demo-in-a-third-of-the-work-issue-17-part-1-target--095"
    assert anchors("# A\n## A\n") == {"a", "a-1"}


def _leaves(mapping: dict, prefix: str = "") -> dict:
    found = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            found.update(_leaves(value, f"{prefix}{key}."))
        else:
            found[f"{prefix}{key}"] = value
    return found


@functools.cache
def _shipped_configs() -> dict:
    """name → (file name, dotted leaves) of every config under configs/, as written (extends not merged)."""
    shipped = {}
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        shipped[config.get("name")] = (path.name, _leaves(config))
    return shipped


def config_excerpt_differences(text: str) -> list[str]:
    """Keys of a YAML block that names a shipped config (`name: shapes-match`) whose value is not the file's."""
    shipped = _shipped_configs()
    differences = []
    for kind, code in _code_texts(text):
        block = yaml.safe_load(code) if kind == "yaml" else None
        if not isinstance(block, dict) or block.get("name") not in shipped:
            continue
        file, real = shipped[block["name"]]
        differences += [f"{file}: {key} is {real.get(key, 'not set')!r}, the docs say {value!r}"
                        for key, value in _leaves(block).items() if real.get(key, object()) != value]
    return differences


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_config_excerpts_match_the_shipped_file(doc):
    """A config walked through in the docs shows the values the shipped file has."""
    assert config_excerpt_differences(doc.read_text(encoding="utf-8")) == []


def test_a_changed_config_value_in_an_excerpt_is_caught():
    """An excerpt of configs/shapes_match.yaml with a value the file does not have fails."""
    assert config_excerpt_differences("```yaml\nname: shapes-match\ntrain:\n  epochs: 99\n```\n") == [
        f"shapes_match.yaml: train.epochs is {yaml.safe_load((ROOT / 'configs/shapes_match.yaml').read_text())['train']['epochs']!r}, the docs say 99"]


PATH_NAMED = re.compile(r"(?<![\w./<-])((?:[\w*-]+/)*[\w*-]+\.(?:py|yaml|md|sh|json))(?:::[\w\[\]-]+)?(?![\w/])")
# where a path the docs name may be relative to: the repository, the package, the configs (a bare config file
# name), the tests
PATH_BASES = ("", "crossmodal_tf", "configs", "tests")
# files the docs name that a user or a run makes, not the repository
MADE_FILES = {"cmx.schema.json", "stats.json", "env.json", "eval_test.json", "eval_val.json", "eval_*.json",
              "config.yaml", "base.yaml", "bad.yaml", "dataset_coco.json", "dataset_flickr8k.json",
              "annotations/captions_*.json"}


def missing_paths(text: str, doc_dir: Path) -> list[str]:
    """Repository files named in the prose and inline code of a Markdown text that do not exist."""
    missing = []
    for kind, code in _code_texts(text):
        if kind != "inline":
            continue
        for match in PATH_NAMED.finditer(code):
            path = match.group(1)
            if path in MADE_FILES or Path(path).name in MADE_FILES or path.startswith(("runs/", "data/")):
                continue
            bases = [ROOT / b for b in PATH_BASES] + [doc_dir]
            found = any(list(base.glob(path)) for base in bases)
            if "/" not in path and not found:  # a bare module or test name: anywhere in the package or tests
                found = any(list((ROOT / b).rglob(path)) for b in ("crossmodal_tf", "tests", "benchmarks"))
            if not found:
                missing.append(path)
    return missing


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_file_the_docs_name_exists(doc):
    """No doc points to a module, test, config or benchmark that moved or never was."""
    assert missing_paths(doc.read_text(encoding="utf-8"), doc.parent) == []


def test_a_moved_file_is_caught():
    """tests/tasks/test_contract.py moved to tests/e2e/test_task_contract.py: the old name fails."""
    text = "`tests/tasks/test_contract.py`, `tests/e2e/test_task_contract.py`, `models/decoder.py`"
    assert missing_paths(text, ROOT / "docs") == ["tests/tasks/test_contract.py"]


def invalid_config_blocks(text: str) -> list[str]:
    """The ```yaml config blocks of a Markdown text that no task accepts, each with the first task's error."""
    from crossmodal_tf.config import TASK_NAMES, load_config
    from crossmodal_tf.errors import CmxError

    invalid = []
    with tempfile.TemporaryDirectory() as folder:
        for kind, code in _code_texts(text):
            block = yaml.safe_load(code) if kind == "yaml" else None
            if not isinstance(block, dict) or not set(block) <= set(SECTIONS):
                continue
            errors = []
            for task in [block["task"]] if "task" in block else TASK_NAMES:
                path = Path(folder) / "block.yaml"  # loaded from a file, as a user's: every check runs
                path.write_text(yaml.safe_dump({**block, "task": task}), encoding="utf-8")
                try:
                    load_config(path, warn=lambda line: None)
                    break
                except CmxError as error:
                    errors.append(str(error))
            else:
                invalid.append(errors[0])
    return invalid


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_config_block_in_the_docs_validates(doc):
    """A YAML config fragment a reader copies is accepted, values included, by the task it is for."""
    assert invalid_config_blocks(doc.read_text(encoding="utf-8")) == []


def test_a_config_block_with_a_wrong_value_is_caught():
    """An existing key with a value cmx refuses fails, and so does a key no task reads."""
    text = ("```yaml\nmodel:\n  text: {type: gru}\n```\n\n```yaml\ntask: match\nmodel: {attention: luong}\n```\n\n"
            "```yaml\nmodel:\n  text: {type: transformer, dim: 128}\n```\n")
    problems = invalid_config_blocks(text)
    assert len(problems) == 2 and "model.text.type" in problems[0] and "model.attention" in problems[1]

