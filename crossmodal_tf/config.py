"""The experiment config: YAML → `extends` → `--set` overrides → a validated, typed Config.

Errors are CmxError with the place: file:line:column for broken YAML, the dotted key
(and file:line where known) for unknown keys, wrong types and out-of-range values.
"""

from __future__ import annotations

import copy
import difflib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crossmodal_tf.data.sources import SOURCES
from crossmodal_tf.errors import CmxError
from crossmodal_tf.tasks import TASKS

TASK_NAMES = tuple(TASKS)
SOURCE_NAMES = tuple(SOURCES)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are checked strictly."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --- data -----------------------------------------------------------------------------
class ShapesConfig(Section):
    num_images: int = Field(6000, ge=1, description="images to generate")
    image_size: int = Field(64, ge=16, le=512, description="side of the generated images in pixels")
    two_object_fraction: float = Field(0.6, ge=0, le=1, description="share of images with two objects")
    captions_per_image: int = Field(5, ge=1, le=5, description="English paraphrases per image")


class ImageConfig(Section):
    size: int = Field(64, ge=8, le=1024, description="images are resized to size x size")
    max_pixels: int = Field(40_000_000, ge=1, description="larger source images are rejected before decoding")


class TextConfig(Section):
    level: Literal["word", "char"] = Field("word", description="tokenize into words or characters")
    lowercase: bool = True
    max_length: int = Field(24, ge=1, description="tokens kept per text")
    min_freq: int = Field(1, ge=1, description="rarer train-split tokens map to <unk>")
    max_size: int = Field(10000, ge=5, description="vocabulary size including reserved tokens")


class SplitConfig(Section):
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)

    @model_validator(mode="after")
    def _leave_training_data(self):
        if self.val + self.test >= 1:
            raise ValueError(f"val + test must be below 1, found {self.val + self.test:g}")
        return self


class NegativesConfig(Section):
    positives_per_image: int = Field(2, ge=1, description="captions of each image used as positives")
    ratio: float = Field(1.0, ge=0, description="negatives per positive")
    hard_fraction: float = Field(0.5, ge=0, le=1, description="share of negatives that change one attribute")


class DataConfig(Section):
    source: Literal[SOURCE_NAMES] = Field("shapes", description="where records come from")  # type: ignore[valid-type]
    path: str = Field("data/raw/shapes", description="raw data folder")
    processed: str | None = Field(None, description="preprocessed output; default data/processed/<name>")
    on_error: Literal["skip", "fail"] = Field("skip", description="a bad record is skipped and counted, or fatal")
    num_shards: int = Field(4, ge=1, description="TFRecord files per split")
    shapes: ShapesConfig = ShapesConfig()
    image: ImageConfig = ImageConfig()
    text: TextConfig = TextConfig()
    split: SplitConfig = SplitConfig()
    negatives: NegativesConfig = NegativesConfig()


# --- model ----------------------------------------------------------------------------
class TextBranchConfig(Section):
    embedding_dim: int = Field(64, ge=1)
    units: int = Field(128, ge=1)
    layers: int = Field(1, ge=1)
    bidirectional: bool = False
    dropout: float = Field(0.1, ge=0, lt=1)


class ImageBranchConfig(Section):
    filters: list[int] = Field([32, 64, 64], min_length=1, description="one Conv2D block per entry")
    kernel_size: int = Field(3, ge=1)
    pool: Literal["max", "avg"] = Field("max", description="pooling after each block and at the end")
    batch_norm: bool = True
    coord_channels: bool = Field(True, description="append x/y coordinate channels to the input (CoordConv)")
    positions: bool = Field(False, description="add each channel's expected x/y position to the pooled features")
    dropout: float = Field(0.1, ge=0, lt=1)


class FusionConfig(Section):
    type: Literal["concat", "concat_product", "film"] = Field(
        "concat", description="concat: [text, image]; concat_product: adds text*image; "
                              "film: the text modulates the conv blocks, then concat")
    project: int = Field(256, ge=1, description="concat_product: units of both projections")
    hidden: list[int] = Field([256, 128], description="Dense layers after fusion")
    dropout: float = Field(0.1, ge=0, lt=1)


class ModelConfig(Section):
    text: TextBranchConfig = TextBranchConfig()
    image: ImageBranchConfig = ImageBranchConfig()
    fusion: FusionConfig = FusionConfig()


# --- train / eval / sample / output ---------------------------------------------------
class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    learning_rate: float = Field(0.001, gt=0)
    schedule: Literal["constant", "cosine"] = Field(
        "constant", description="cosine: decay the learning rate to 0 over all training steps")
    clipnorm: float | None = Field(None, gt=0, description="clip each gradient to this norm")


class EarlyStoppingConfig(Section):
    monitor: str = "val_loss"
    patience: int = Field(3, ge=0, description="epochs without improvement; 0 turns it off")


class CheckpointConfig(Section):
    monitor: str = Field("val_loss", description="the best model is the one with the best value of this")


class TrainConfig(Section):
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1, description="the global batch")
    shuffle_buffer: int = Field(10000, ge=1)
    optimizer: OptimizerConfig = OptimizerConfig()
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = "float32"
    strategy: Literal["auto", "one_device", "mirrored"] = "auto"
    jit_compile: Literal["auto", True, False] = Field("auto", description="XLA; auto uses it on GPUs only")


class EvalConfig(Section):
    batch_size: int = Field(256, ge=1)
    threshold: float = Field(0.5, gt=0, lt=1, description="match score above which a pair counts as a match")


class SampleConfig(Section):
    strategy: Literal["greedy", "sample", "top_k", "top_p", "beam"] = "top_p"
    temperature: float = Field(1.0, ge=0)
    top_k: int = Field(0, ge=0)
    top_p: float = Field(0.9, gt=0, le=1)
    beam_width: int = Field(4, ge=1)
    length_penalty: float = Field(0.6, ge=0)
    max_length: int = Field(24, ge=1)
    num_samples: int = Field(5, ge=1)


class OutputConfig(Section):
    dir: str = Field("runs", description="run directories go to <dir>/<name>")


class Config(Section):
    """One experiment. Paths are relative to the working directory."""

    # the first character is no dot: "." or ".." would put the run directory outside output.dir
    name: str = Field("experiment", min_length=1, pattern=r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")
    task: Literal[TASK_NAMES]  # type: ignore[valid-type]
    seed: int = 42
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    sample: SampleConfig = SampleConfig()
    output: OutputConfig = OutputConfig()

    @property
    def processed_dir(self) -> Path:
        return Path(self.data.processed or f"data/processed/{self.name}")

    @property
    def run_dir(self) -> Path:
        return Path(self.output.dir) / self.name

    def to_dict(self) -> dict:
        return self.model_dump(mode="json")


# --- loading ------------------------------------------------------------------------
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


def _load_with_extends(path: Path, chain: tuple[Path, ...] = ()) -> tuple[dict, dict[str, str]]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise CmxError(f"{path}: circular extends: {cycle}")
    data, places = _read_yaml(path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, places
    if not isinstance(base_name, str) or not base_name:
        raise CmxError(f"{places.get('extends', path)}: extends: expected a file name, found {base_name!r}")
    base_path = path.parent / base_name
    if not base_path.is_file():
        raise CmxError(f"{places.get('extends', path)}: extends: base config {base_path} not found")
    base, base_places = _load_with_extends(base_path, (*chain, resolved))
    return _merge(base, data), {**base_places, **places}


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


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, merge its `extends` chain, apply `--set` overrides and validate."""
    data, places = _load_with_extends(Path(path))
    for text in overrides:
        parts, value = parse_override(text)
        apply_override(data, parts, value)
        for depth in range(1, len(parts) + 1):  # an unknown section is reported at its --set too
            places.setdefault(".".join(parts[:depth]), f"--set {'.'.join(parts)}")
        places[".".join(parts)] = f"--set {'.'.join(parts)}"
    return validate_config(data, places, str(path))


def config_from_run(run_dir: str | Path) -> Config:
    """The resolved config stored in a run directory."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise CmxError(f"{run_dir}: not a run directory (no config.yaml)")
    data, places = _read_yaml(path)
    return validate_config(data, places, str(path))


def dump_config(config: Config) -> str:
    """The config as YAML text with every default filled in."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def config_schema() -> dict:
    """The JSON Schema of a config file, for editors and validators."""
    schema = Config.model_json_schema()
    schema["title"] = "crossmodal_tf experiment config"
    return schema
