"""Loading a config: YAML (safe) → `extends` → `--set` overrides → a validated Config.

Errors are CmxError with the place: file:line:column for broken YAML, the dotted key
(and file:line where known) for unknown keys, wrong types and out-of-range values,
keys the task or source does not read (reads.py) and monitors the task does not log.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError

from crossmodal_tf.config.reads import Written, check_monitors, settle_unread, target_of, without_unread
from crossmodal_tf.config.sections import Config
from crossmodal_tf.errors import CmxError


def _read_yaml(path: Path) -> tuple[dict, dict[str, str]]:
    """Parse one YAML file safely; returns its mapping and {dotted key: 'file:line'}."""
    if not path.is_file():
        raise CmxError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise CmxError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise CmxError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:  # e.g. an unknown tag, which safe loading refuses
        raise CmxError(f"{path}: invalid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CmxError(f"{path}: the config must be a mapping of sections, found {type(data).__name__}")
    places: dict[str, str] = {}
    _collect_places(node, "", path, places)
    return data, places


def _collect_places(node, prefix: str, path: Path, places: dict[str, str]) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        dotted = f"{prefix}{key_node.value}"
        places[dotted] = f"{path}:{key_node.start_mark.line + 1}"
        _collect_places(value_node, dotted + ".", path, places)


def _merge(base: dict, override: dict) -> dict:
    """Deep merge: mappings merge key by key, anything else in override replaces."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


class _Loaded(NamedTuple):
    """A config file merged with its bases."""

    data: dict
    places: dict[str, str]  # dotted key → "file:line" of the file that sets it last
    own: list[str]  # the dotted keys this file sets itself, in file order
    base: str | None  # its `extends`


def _load_with_extends(path: Path, chain: tuple[Path, ...] = ()) -> _Loaded:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise CmxError(f"{path}: circular extends: {cycle}")
    data, places = _read_yaml(path)
    own = [key for key in places if key != "extends"]
    base_name = data.pop("extends", None)
    if base_name is None:
        return _Loaded(data, places, own, None)
    if not isinstance(base_name, str) or not base_name:
        raise CmxError(f"{places.get('extends', path)}: extends: expected a file name, found {base_name!r}")
    base_path = path.parent / base_name
    if not base_path.is_file():
        raise CmxError(f"{places.get('extends', path)}: extends: base config {base_path} not found")
    base = _load_with_extends(base_path, (*chain, resolved))
    return _Loaded(_merge(base.data, data), {**base.places, **places}, own, base_name)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split a `--set a.b.c=VALUE` argument into its key path and YAML-parsed value."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(p.strip() and p.replace("_", "").replace("-", "").isalnum() for p in parts):
        raise CmxError(f"--set {text!r}: expected KEY=VALUE with a dotted key such as train.epochs=5")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise CmxError(f"--set {text!r}: the value is not a valid YAML scalar") from None
    return [p.strip() for p in parts], value


def apply_override(data: dict, parts: list[str], value: Any) -> None:
    """Set data[a][b][c] = value, creating mappings on the way; refuse to replace scalars."""
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            dotted = ".".join(parts[: depth + 1])
            raise CmxError(f"--set {'.'.join(parts)}: {dotted} is a {type(child).__name__}, not a section")
        node = child
    node[parts[-1]] = value


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at `loc` (a validation error location)."""
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return None
        model = annotation
    return model


def _describe(error: dict, places: dict[str, str], source: str | None = None) -> str:
    loc = tuple(error["loc"])
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    where = places.get(dotted) or places.get(".".join(str(p) for p in loc[:-1])) or source
    prefix = f"{where}: {dotted}" if where else dotted
    kind = error["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc)
        known = list(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else (f"; valid keys: {', '.join(known)}" if known else "")
        return f"{prefix}: unknown key{hint}"
    if kind == "missing":
        return f"{prefix}: required key is missing"
    message = error["msg"]
    message = message.replace("Input should be", "expected").replace("Value error, ", "")
    message = message[0].lower() + message[1:]
    named = re.match(r"([\w.]+): ", message)
    if not loc and named:  # a check across sections names its key first: place it there, not at the top level
        key = named.group(1)
        return f"{places.get(key) or source}: {message}" if (places.get(key) or source) else message
    found = error.get("input")
    shown = json.dumps(found, ensure_ascii=False, default=str) if found is not None else "nothing"
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"{prefix}: {message}" if ", found " in message else f"{prefix}: {message}, found {shown}"


def validate_config(data: dict, places: dict[str, str] | None = None, source: str | None = None) -> Config:
    """Validate a merged config mapping; the first problem becomes a one-line CmxError.

    source names the file for problems without a line of their own (a missing key).
    """
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise CmxError(_describe(errors[0], places or {}, source) + more) from None


def _to_stderr(line: str) -> None:
    """load_config's default warn: stderr, so that callers that pass none (train_from_file) still warn, and
    never stdout, which holds `cmx config show`'s YAML."""
    print(line, file=sys.stderr)


def _dotted_keys(value: Any, dotted: str) -> list[str]:
    """`dotted` and, when value is a mapping, the dotted keys inside it."""
    keys = [dotted]
    if isinstance(value, dict):
        for key, inner in value.items():
            keys.extend(_dotted_keys(inner, f"{dotted}.{key}"))
    return keys


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
                warn: Callable[[str], None] = _to_stderr) -> Config:
    """Read a YAML config, merge its `extends` chain, apply `--set` overrides and validate.

    A key the task or data source does not read is an error when the user wrote it for
    them; when it came from a config written for another task or source it is dropped,
    and warn receives one line naming those keys (reads.py).
    """
    loaded = _load_with_extends(Path(path))
    data, places = loaded.data, loaded.places
    written_for = target_of(data)  # before --set, which may change the task or the source
    by_set: list[str] = []
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
        dotted = ".".join(parts)
        for depth in range(1, len(parts) + 1):  # an unknown section is reported at its --set too
            places.setdefault(".".join(parts[:depth]), f"--set {dotted}")
        for key in _dotted_keys(value, dotted):  # a mapping value replaces the file's keys below it
            places[key] = f"--set {dotted}"
            by_set.append(key)
    target = target_of(data)
    if target:  # otherwise validation names the bad task or source
        written = Written(str(path), places, loaded.own, by_set, loaded.base, written_for)
        data = settle_unread(data, target, written, warn)
    config = validate_config(data, places, str(path))
    check_monitors(config, places, str(path))
    return config


def config_from_run(run_dir: str | Path) -> Config:
    """The resolved config stored in a run directory."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CmxError(f"{run_dir}: not a run directory (no config.yaml)")
    data, places = _read_yaml(path)
    shapes = data.get("data", {}).get("shapes") if isinstance(data.get("data"), dict) else None
    if isinstance(shapes, dict) and "held_out" not in shapes:
        shapes["held_out"] = []  # a run written before the key held nothing out: not today's default
    target = target_of(data)
    # Runs written before dump_config left unread keys out hold every section: drop those keys rather than refuse
    # them, so that the run opens, and --resume compares it equal to the same config loaded today.
    return validate_config(without_unread(data, target) if target else data, places, str(path))


def dump_config(config: Config) -> str:
    """The config as YAML text with every default filled in, less the keys its task and source do not read.

    Leaving those out keeps the dump a config that load_config accepts: `cmx config show` output
    and a run's config.yaml can be trained again as they are, and `cmx compare` of two runs of
    different tasks shows the other task's keys as absent rather than as defaults nobody read.
    """
    data = config.to_dict()
    return yaml.safe_dump(without_unread(data, target_of(data)), sort_keys=False, allow_unicode=True)


def config_schema() -> dict:
    """The JSON Schema of a config file, for editors and validators."""
    schema = Config.model_json_schema()
    schema["title"] = "crossmodal_tf experiment config"
    return schema
