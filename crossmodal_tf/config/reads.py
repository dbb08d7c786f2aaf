"""Which config keys a config's task, data source and text type read, and what happens to the others.

Each of them declares the keys it reads where it is defined (Task.reads, a source
module's READS, a text type's settings and reads_outside); this module asks the three
registries. A key one of them does not read would be silently ignored, so load_config
refuses it when the user wrote it for this task, source and text type, and drops it with
one warning when it came from a config written for another (an extended base, or the
file itself when --set changes task, data.source or model.text.type).
"""

from __future__ import annotations

import copy
from typing import Callable, NamedTuple

from crossmodal_tf.config.sections import DataConfig
from crossmodal_tf.data.sources import SOURCES, source_reads_key
from crossmodal_tf.errors import CmxError
from crossmodal_tf.keys import reads_key
from crossmodal_tf.models.text_types import DEFAULT_TEXT_TYPE, TEXT_TYPES, load_text_type
from crossmodal_tf.tasks import TASKS, load_task, task_reads_key
from crossmodal_tf.tasks.base import Task

# Tolerated though not every source reads it: data.path is a contract key (docs/ARCHITECTURE.md) that every shipped config
# sets, and its default names the shapes folder that the shapes source never reads.
TOLERATED = ("data.path",)
MONITOR_KEYS = ("train.checkpoint.monitor", "train.early_stopping.monitor")
DEFAULT_SOURCE = DataConfig.model_fields["source"].default
class Target(NamedTuple):
    """What a config is written for: its task, its data source and its text type."""

    task: Task
    source: str
    text_type: str = DEFAULT_TEXT_TYPE


def text_type_reads_key(text_type: str, dotted: str) -> bool:
    """Whether a model.text.type reads a key: the keys it declares (TextType.reads), and those no type declares."""
    return reads_key(load_text_type(text_type).reads, [load_text_type(name).reads for name in TEXT_TYPES], dotted)


class Written(NamedTuple):
    """Who wrote which keys of a config: the place of each, the file's own keys and the --set ones."""

    path: str  # the config file
    places: dict[str, str]  # dotted key → "file:line" or "--set key"
    in_file: list[str]  # dotted keys the file itself sets (not its bases), in file order
    by_set: list[str]  # dotted keys --set wrote, with those inside a mapping value
    base: str | None  # the file's `extends`
    target: Target | None  # what the file and its bases were written for, before --set


def target_of(data: dict) -> Target | None:
    """The Target a config mapping names, or None when its task, source or text type is not a known name."""
    task, section = data.get("task"), data.get("data")
    source = section.get("source", DEFAULT_SOURCE) if isinstance(section, dict) else DEFAULT_SOURCE
    model = data.get("model")
    text = model.get("text") if isinstance(model, dict) else None
    text_type = text.get("type", DEFAULT_TEXT_TYPE) if isinstance(text, dict) else DEFAULT_TEXT_TYPE
    if not (isinstance(task, str) and task in TASKS and isinstance(source, str) and source in SOURCES
            and isinstance(text_type, str) and text_type in TEXT_TYPES):
        return None
    return Target(load_task(task), source, text_type)


def refuser(target: Target, dotted: str) -> str | None:
    """'task', 'source' or 'text type' when that part of the target does not read the key, else None."""
    if not task_reads_key(target.task.name, dotted):
        return "task"
    if dotted not in TOLERATED and not source_reads_key(target.source, dotted):
        return "source"
    if not text_type_reads_key(target.text_type, dotted):
        return "text type"
    return None


def refusal(target: Target, dotted: str) -> str:
    """Why the target does not read a key, naming the tasks or sources that do."""
    kind = refuser(target, dotted)
    if kind == "task":
        readers = [name for name in TASKS if task_reads_key(name, dotted)]
        return f"task {target.task.name} does not read this key ({_who('task', readers)})"
    if kind == "text type":
        readers = [name for name in TEXT_TYPES if text_type_reads_key(name, dotted)]
        return f"model.text.type {target.text_type} does not read this key ({_who('model.text.type', readers)})"
    readers = [name for name in SOURCES if source_reads_key(name, dotted)]
    return f"source {target.source} does not read this key ({_who('source', readers)})"


def _who(kind: str, names: list[str]) -> str:
    if not names:
        return f"no {kind} reads it"
    return f"{kind} {names[0]} reads it" if len(names) == 1 else f"{kind}s {', '.join(names)} read it"


def unread_keys(data: dict, target: Target, prefix: str = "") -> list[str]:
    """The outermost dotted keys of a config mapping that the target does not read, in mapping order."""
    found = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if refuser(target, dotted):
            found.append(dotted)
        elif isinstance(value, dict):
            found.extend(unread_keys(value, target, dotted + "."))
    return found


def without_unread(data: dict, target: Target, prefix: str = "") -> dict:
    """A copy of a config mapping without the keys the target does not read."""
    kept = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if refuser(target, dotted):
            continue
        kept[key] = without_unread(value, target, dotted + ".") if isinstance(value, dict) else copy.deepcopy(value)
    return kept


def _under(key: str, section: str) -> bool:
    return key == section or key.startswith(section + ".")


def settle_unread(data: dict, target: Target, written: Written, warn: Callable[[str], None]) -> dict:
    """`data` without the unread keys it may lose; a CmxError for the first unread key the user wrote for `target`.

    A key is the user's when --set wrote it, or the file did while the file's own task and
    source (written.target) do not read it either; the others are dropped with one warning.
    """
    dropped: dict[str, str] = {}  # dotted key → "task" or "source", whichever does not read it
    for section in unread_keys(data, target):
        mine = [k for k in written.by_set if _under(k, section)]
        mine = mine or [k for k in written.in_file if _under(k, section) and refuser(written.target or target, k)]
        if mine:
            raise CmxError(f"{written.places.get(mine[0], written.path)}: {mine[0]}: {refusal(target, mine[0])}")
        dropped[section] = refuser(target, section)
    if dropped:
        warn(_dropped_line(dropped, target, written))
    return without_unread(data, target) if dropped else data


def _dropped_line(dropped: dict[str, str], target: Target, written: Written) -> str:
    """The one warning line that lists the dropped keys, where they came from and who does not read them."""
    origins = []
    if any(not any(_under(k, s) for k in written.in_file) for s in dropped):
        origins.append(f"inherited from {written.base}")
    if any(any(_under(k, s) for k in written.in_file) for s in dropped) and written.target:
        was = written.target
        parts = [f"task {was.task.name}"] * (was.task.name != target.task.name)
        parts += [f"source {was.source}"] * (was.source != target.source)
        parts += [f"model.text.type {was.text_type}"] * (was.text_type != target.text_type)
        origins.append(f"written for {' and '.join(parts)}")
    kinds = set(dropped.values())
    names = {"task": f"task {target.task.name}", "source": f"source {target.source}",
             "text type": f"model.text.type {target.text_type}"}
    readers = " and ".join(names[kind] for kind in names if kind in kinds)
    verb = "do" if len(kinds) > 1 else "does"
    return (f"cmx: warning: {written.path}: ignoring keys {' or '.join(origins)} that {readers} {verb} not read: "
            f"{', '.join(dropped)}")


def check_monitors(config, places: dict[str, str], path: str) -> None:
    """Refuse a monitor the task does not log: the best model would silently be the last epoch."""
    task = load_task(config.task)
    allowed = task.monitors()
    for dotted in MONITOR_KEYS:
        _, section, key = dotted.split(".")
        value = getattr(getattr(config.train, section), key)
        if value not in allowed:
            raise CmxError(f"{places.get(dotted, path)}: {dotted}: task {task.name} has no metric {value!r}; "
                           f"choose one of {', '.join(allowed)}")
