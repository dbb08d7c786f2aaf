"""The config layer: every user mistake is one CmxError line that names its place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossmodal_tf.config import (TASK_NAMES, Config, config_schema, dump_config, load_config,
                                  validate_config)
from crossmodal_tf.errors import CmxError

MINIMAL = "task: match\n"


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path, overrides=()) -> str:
    """The message of the CmxError that loading raises; it must be a single line."""
    with pytest.raises(CmxError) as info:
        load_config(path, list(overrides))
    message = str(info.value)
    assert "\n" not in message, f"error message spans several lines: {message!r}"
    return message


# --- unknown keys, types, ranges --------------------------------------------------------
def test_unknown_key_names_dotted_path_line_and_suggestion(tmp_path):
    """A typo in a nested key names file:line, the dotted key and the closest valid key."""
    path = write(tmp_path, "c.yaml", "task: match\nmodel:\n  text:\n    unit: 3\n")
    message = error_of(path)
    assert f"{path}:4" in message
    assert "model.text.unit" in message
    assert "unknown key" in message
    assert "did you mean 'units'" in message


def test_unknown_top_level_section_suggests_the_section(tmp_path):
    """A misspelt section name suggests the real one."""
    message = error_of(write(tmp_path, "c.yaml", "task: match\nmodle: {}\n"))
    assert "modle" in message and "did you mean 'model'" in message


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path):
    """With no close match the valid keys of that section are listed."""
    message = error_of(write(tmp_path, "c.yaml", "task: match\neval:\n  zzzzzz: 1\n"))
    assert "eval.zzzzzz" in message
    assert "batch_size" in message and "threshold" in message


@pytest.mark.parametrize("yaml_text, key, found, line", [
    ("task: match\ntrain:\n  epochs: ten\n", "train.epochs", '"ten"', 3),
    ("task: match\nmodel:\n  text:\n    bidirectional: maybe\n", "model.text.bidirectional", '"maybe"', 4),
    ("task: match\ndata:\n  source: foo\n", "data.source", '"foo"', 3),
    ("task: match\ntrain: 5\n", "train", "5", 2),
])
def test_wrong_type_names_key_and_what_was_found(tmp_path, yaml_text, key, found, line):
    """A value of the wrong type names the dotted key, its line and the value found."""
    path = write(tmp_path, "c.yaml", yaml_text)
    message = error_of(path)
    assert f"{path}:{line}: {key}:" in message
    assert f"found {found}" in message


@pytest.mark.parametrize("yaml_text, key, found", [
    ("task: match\ntrain:\n  epochs: 0\n", "train.epochs", "found 0"),
    ("task: match\ndata:\n  image: {size: 4}\n", "data.image.size", "found 4"),
    ("task: match\nmodel:\n  text: {dropout: 1.5}\n", "model.text.dropout", "found 1.5"),
    ("task: match\nmodel:\n  image: {filters: []}\n", "model.image.filters", "found []"),
    ("task: match\nname: 'has space'\n", "name", 'found "has space"'),
    ("task: match\ntrain: {profile_batches: [5, 3]}\n", "train.profile_batches", "found [5, 3]"),
    ("task: match\ntrain: {profile_batches: [0, 3]}\n", "train.profile_batches.0", "found 0"),
    ("task: match\ntrain: {profile_batches: [3]}\n", "train.profile_batches", "found [3]"),
])
def test_out_of_range_names_key_and_value(tmp_path, yaml_text, key, found):
    """An out-of-range value names the dotted key and the value found."""
    message = error_of(write(tmp_path, "c.yaml", yaml_text))
    assert f"{key}:" in message
    assert found in message


def test_split_fractions_must_leave_training_data(tmp_path):
    """val + test >= 1 is refused, naming data.split."""
    message = error_of(write(tmp_path, "c.yaml", "task: match\ndata:\n  split: {val: 0.6, test: 0.5}\n"))
    assert "data.split" in message and "below 1" in message
    assert message.count("found") == 1  # the sum is shown once, not followed by the whole mapping


def test_several_problems_report_the_first_and_count_the_rest(tmp_path):
    """With several problems the line names one and says how many more there are."""
    message = error_of(write(tmp_path, "c.yaml", "task: match\ntrain:\n  epochs: 0\n  batch_size: 0\n"))
    assert "train.epochs" in message and "(and 1 more problem)" in message


# --- files and YAML -----------------------------------------------------------------------
@pytest.mark.parametrize("yaml_text, line, column", [
    ("task: match\ntrain:\n  epochs: [1, 2\n", 4, 1),
    ("task: match\n  bad: indent\n", 2, 6),
])
def test_broken_yaml_gives_file_line_column(tmp_path, yaml_text, line, column):
    """A YAML syntax error names file:line:column."""
    path = write(tmp_path, "c.yaml", yaml_text)
    message = error_of(path)
    assert message.startswith(f"{path}:{line}:{column}: invalid YAML")


def test_missing_file(tmp_path):
    """A config path that does not exist is named as not found."""
    message = error_of(tmp_path / "nope.yaml")
    assert "nope.yaml" in message and "not found" in message


def test_config_must_be_a_mapping(tmp_path):
    """A YAML list instead of sections is refused with the file named."""
    path = write(tmp_path, "c.yaml", "- a\n- b\n")
    assert error_of(path).startswith(f"{path}:")


def test_non_utf8_file(tmp_path):
    """A config that is not UTF-8 text is a user error, not a crash."""
    path = tmp_path / "c.yaml"
    path.write_bytes(b"task: match\nname: \xff\xfe\n")
    assert "UTF-8" in error_of(path)


def test_missing_task(tmp_path):
    """A config without `task` says that the task key is missing."""
    message = error_of(write(tmp_path, "c.yaml", "seed: 3\n"))
    assert message.startswith("task:") or ": task:" in message
    assert "missing" in message


def test_unknown_task(tmp_path):
    """An unknown task lists the known ones."""
    message = error_of(write(tmp_path, "c.yaml", "task: nope\n"))
    assert "task" in message and "'match'" in message and '"nope"' in message


def test_empty_file_is_missing_task(tmp_path):
    """An empty config file is read as an empty mapping (then task is missing)."""
    assert "task" in error_of(write(tmp_path, "c.yaml", ""))


def test_yaml_object_tags_are_refused_and_not_executed(tmp_path):
    """Safe loading: a python/object tag is an error and its code never runs."""
    marker = tmp_path / "pwned"
    path = write(tmp_path, "c.yaml", f"task: !!python/object/apply:os.mkdir ['{marker}']\n")
    message = error_of(path)
    assert message.startswith(f"{path}:1:")
    assert "invalid YAML" in message
    assert not marker.exists()


# --- extends ------------------------------------------------------------------------------
def test_extends_merges_base_relative_to_the_file(tmp_path, monkeypatch):
    """`extends` is read relative to the extending file (not the cwd) and merged key by key."""
    write(tmp_path, "configs/base.yaml",
          "task: match\nseed: 1\ntrain:\n  epochs: 7\n  batch_size: 16\nmodel:\n  text: {units: 5, layers: 2}\n")
    child = write(tmp_path, "configs/exp/child.yaml",
                  "extends: ../base.yaml\nseed: 2\ntrain:\n  epochs: 3\nmodel:\n  text: {units: 9}\n")
    monkeypatch.chdir(tmp_path / "configs" / "exp" / "..")  # any other cwd works too
    cfg = load_config(child)
    assert cfg.seed == 2                          # the child wins
    assert cfg.train.epochs == 3
    assert cfg.train.batch_size == 16             # siblings from the base survive the merge
    assert cfg.model.text.units == 9
    assert cfg.model.text.layers == 2


def test_extends_chain_of_three(tmp_path):
    """A base can itself extend another base."""
    write(tmp_path, "a.yaml", "task: match\ntrain: {epochs: 1, batch_size: 8}\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\ntrain: {epochs: 2}\n")
    cfg = load_config(write(tmp_path, "c.yaml", "extends: b.yaml\nseed: 5\n"))
    assert (cfg.train.epochs, cfg.train.batch_size, cfg.seed) == (2, 8, 5)


def test_extends_error_in_base_names_the_base_file(tmp_path):
    """An unknown key inherited from a base names the base file and line."""
    base = write(tmp_path, "base.yaml", "task: match\ntrain:\n  epoch: 3\n")
    message = error_of(write(tmp_path, "child.yaml", "extends: base.yaml\nseed: 1\n"))
    assert f"{base}:3" in message and "train.epoch" in message and "did you mean 'epochs'" in message


def test_extends_missing_base(tmp_path):
    """A missing base names the extends line and the base path."""
    child = write(tmp_path, "child.yaml", "task: match\nextends: gone.yaml\n")
    message = error_of(child)
    assert f"{child}:2" in message and "gone.yaml" in message and "not found" in message


def test_extends_circular(tmp_path):
    """a extends b extends a is reported as circular, not a recursion crash."""
    write(tmp_path, "a.yaml", "extends: b.yaml\ntask: match\n")
    write(tmp_path, "b.yaml", "extends: a.yaml\n")
    assert "circular extends" in error_of(tmp_path / "a.yaml")


def test_extends_itself(tmp_path):
    """A file extending itself is circular too."""
    assert "circular extends" in error_of(write(tmp_path, "a.yaml", "extends: a.yaml\ntask: match\n"))


def test_extends_must_be_a_file_name(tmp_path):
    """`extends: 3` is refused with its line."""
    path = write(tmp_path, "a.yaml", "task: match\nextends: 3\n")
    assert f"{path}:2" in error_of(path)


# --- --set overrides ----------------------------------------------------------------------
@pytest.mark.parametrize("override, get, expected", [
    ("train.epochs=5", lambda c: c.train.epochs, 5),
    ("train.optimizer.learning_rate=1e-3", lambda c: c.train.optimizer.learning_rate, 0.001),
    ("train.optimizer.learning_rate=0.5", lambda c: c.train.optimizer.learning_rate, 0.5),
    ("model.text.bidirectional=true", lambda c: c.model.text.bidirectional, True),
    ("model.image.batch_norm=false", lambda c: c.model.image.batch_norm, False),
    ("model.image.filters=[4, 8, 16]", lambda c: c.model.image.filters, [4, 8, 16]),
    ("data.shapes.num_images=12", lambda c: c.data.shapes.num_images, 12),
    ("name=my-run", lambda c: c.name, "my-run"),
    ("train.optimizer.clipnorm=null", lambda c: c.train.optimizer.clipnorm, None),
    ("data.split={val: 0.3, test: 0.2}", lambda c: (c.data.split.val, c.data.split.test), (0.3, 0.2)),
])
def test_set_values_are_yaml(tmp_path, override, get, expected):
    """--set a.b=v parses v as YAML: ints, floats, bools, lists, null, mappings."""
    cfg = load_config(write(tmp_path, "c.yaml", MINIMAL), [override])
    assert get(cfg) == expected
    assert type(get(cfg)) is type(expected)


def test_set_overrides_file_and_base_and_keeps_siblings(tmp_path):
    """--set wins over the file and its base; untouched keys of the section keep their values."""
    write(tmp_path, "base.yaml", "task: match\ntrain: {epochs: 4, batch_size: 16}\n")
    cfg = load_config(write(tmp_path, "c.yaml", "extends: base.yaml\ntrain: {epochs: 6}\n"),
                      ["train.epochs=9", "train.epochs=11"])
    assert cfg.train.epochs == 11  # later --set wins
    assert cfg.train.batch_size == 16


def test_set_can_supply_the_task(tmp_path):
    """--set task=match completes a config that lacks the task."""
    assert load_config(write(tmp_path, "c.yaml", "seed: 1\n"), ["task=match"]).task == "match"


@pytest.mark.parametrize("override", ["train.epochs", "=3", "a..b=1", ".x=1", "train epochs=3", "a.b$=1"])
def test_set_bad_forms(tmp_path, override):
    """--set without '=' or with a malformed dotted key is refused, quoting the argument."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), [override])
    assert message.startswith("--set ") and "KEY=VALUE" in message


def test_set_unparsable_value(tmp_path):
    """A --set value that is not valid YAML is refused."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), ["train.epochs=[1"])
    assert message.startswith("--set ") and "YAML" in message


def test_set_below_a_scalar_from_the_file(tmp_path):
    """--set train.epochs.x=3 when the file sets train.epochs names the scalar in the way."""
    message = error_of(write(tmp_path, "c.yaml", "task: match\ntrain: {epochs: 3}\n"), ["train.epochs.x=3"])
    assert message.startswith("--set train.epochs.x:") and "train.epochs" in message and "not a section" in message


def test_set_below_a_scalar_default(tmp_path):
    """--set below a key that only has a default is still a one-line error naming that key."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), ["train.epochs.x=3"])
    assert "train.epochs" in message


def test_set_bad_value_names_the_override(tmp_path):
    """A --set value of the wrong type names the --set and the key, not a file line."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), ["train.epochs=-1"])
    assert message.startswith("--set train.epochs: train.epochs:") and "found -1" in message


def test_set_unknown_key_suggests(tmp_path):
    """--set with a typo suggests the valid key."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), ["model.text.unit=3"])
    assert "model.text.unit" in message and "did you mean 'units'" in message


# --- schema, dump, registries -------------------------------------------------------------
def test_config_schema_is_json_schema_with_sections():
    """config_schema() is a JSON-serialisable JSON Schema that describes every section."""
    schema = config_schema()
    json.dumps(schema)
    assert schema["type"] == "object"
    for section in ("name", "task", "seed", "data", "model", "train", "eval", "sample", "output"):
        assert section in schema["properties"]
    assert "task" in schema["required"]
    assert schema["additionalProperties"] is False
    text = json.dumps(schema)
    for key in ("num_images", "batch_size", "epochs", "learning_rate", "embedding_dim"):
        assert f'"{key}"' in text


def test_dump_config_round_trips(tmp_path):
    """The YAML that dump_config writes (run dir config.yaml) loads back into the same config."""
    cfg = load_config(write(tmp_path, "c.yaml", "task: match\nseed: 3\ntrain: {epochs: 2}\n"),
                      ["model.image.filters=[4, 8]", "train.optimizer.clipnorm=1.5"])
    text = dump_config(cfg)
    assert load_config(write(tmp_path, "dumped.yaml", text)) == cfg
    assert "num_images" in text  # defaults are filled in


def test_contract_keys_have_their_documented_defaults():
    """The keys scripts rely on (docs/ARCHITECTURE.md, Contracts) exist where the contract says."""
    cfg = validate_config({"task": "match"})
    assert cfg.seed == 42
    assert cfg.data.source == "shapes"
    assert cfg.data.path and cfg.data.shapes.num_images >= 1
    assert cfg.train.epochs >= 1 and cfg.train.batch_size >= 1
    assert cfg.run_dir == Path("runs") / cfg.name
    assert cfg.processed_dir == Path("data/processed") / cfg.name


def test_shipped_configs_validate():
    """Every config under configs/ and tests/configs/ loads."""
    root = Path(__file__).resolve().parents[1]
    paths = sorted((root / "configs").glob("*.yaml")) + sorted((root / "tests" / "configs").glob("*.yaml"))
    assert paths
    for path in paths:
        assert isinstance(load_config(path), Config)


def test_task_names_match_the_task_registry():
    """The config accepts exactly the tasks that are registered."""
    from crossmodal_tf.tasks import TASKS

    assert tuple(TASK_NAMES) == tuple(TASKS)
    for name in TASKS:
        assert validate_config({"task": name}).task == name


def test_every_registered_source_is_accepted():
    """Every key of SOURCES is a valid data.source, and data.source accepts nothing else."""
    from crossmodal_tf.data.sources import SOURCES

    for name in SOURCES:
        task = "lm" if name == "parallel" else "match"  # sentence pairs have no images to match
        assert validate_config({"task": task, "data": {"source": name}}).data.source == name
    with pytest.raises(CmxError):
        validate_config({"task": "match", "data": {"source": "no-such-source"}})


@pytest.mark.parametrize("task, source, problem", [
    ("match", "parallel", "needs images .*; parallel has none"),
    ("caption", "parallel", "needs images .*; parallel has none"),
    ("seq2seq", "manifest", "needs translations .*; manifest has none"),
    ("summarize", "manifest", "needs documents \\(shapes or parallel\\); manifest has none"),
])
def test_a_source_that_cannot_feed_the_task_is_refused(task, source, problem):
    with pytest.raises(CmxError, match=f"data.source.*{problem}"):
        validate_config({"task": task, "data": {"source": source}})


@pytest.mark.parametrize("name", [".", "..", "a/b", "../up", "with space", ""])
def test_run_name_cannot_leave_the_output_folder(name):
    """`name` becomes <output.dir>/<name>, which --overwrite deletes: '.', '..' and paths are refused."""
    with pytest.raises(CmxError, match="name"):
        validate_config({"task": "match", "name": name})


@pytest.mark.parametrize("name", ["shapes-match", "run_1", "v1.2", "a..b", "X"])
def test_ordinary_run_names_are_accepted(name):
    """Names with letters, digits, '-', '_' and inner dots are fine and stay inside output.dir."""
    cfg = validate_config({"task": "match", "name": name})
    assert cfg.run_dir.parent == Path("runs") and cfg.run_dir.name == name


# --- keys the task or the source does not read ---------------------------------------------
def load_warned(path, overrides=()) -> tuple[Config, list[str]]:
    """load_config's result and the warning lines it gave."""
    lines: list[str] = []
    return load_config(path, list(overrides), warn=lines.append), lines


def test_a_key_the_task_does_not_read_is_refused_at_its_line(tmp_path):
    """model.attention in a match config names file:line, the key, the task and the task that reads it."""
    path = write(tmp_path, "c.yaml", "task: match\nseed: 1\nmodel:\n  attention: luong\n")
    message = error_of(path)
    assert message == f"{path}:4: model.attention: task match does not read this key (tasks seq2seq, summarize read it)"


@pytest.mark.parametrize("task, yaml_text, line, key, readers", [
    ("lm", "model:\n  fusion: {type: film}\n", 3, "model.fusion", "tasks match, vqa read it"),
    ("caption", "data:\n  negatives: {ratio: 2}\n", 3, "data.negatives", "task match reads it"),
    ("match", "sample: {strategy: beam}\n", 2, "sample", "tasks lm, caption, seq2seq, summarize read it"),
    ("seq2seq", "eval: {threshold: 0.3}\n", 2, "eval.threshold", "task match reads it"),
])
def test_task_foreign_sections_are_refused(tmp_path, task, yaml_text, line, key, readers):
    """Each task refuses the sections only other tasks read, listing those tasks."""
    path = write(tmp_path, "c.yaml", f"task: {task}\n{yaml_text}")
    assert error_of(path) == f"{path}:{line}: {key}: task {task} does not read this key ({readers})"


def test_a_key_the_task_does_not_read_is_refused_by_set(tmp_path):
    """The same key given by --set names the --set."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), ["model.condition=both"])
    assert message == "--set model.condition: model.condition: task match does not read this key " \
                      "(task caption reads it)"


def test_a_mapping_by_set_is_checked_inside(tmp_path):
    """--set model={attention: none} writes model.attention, which match does not read."""
    message = error_of(write(tmp_path, "c.yaml", MINIMAL), ["model={attention: none}"])
    assert message.startswith("--set model: model.attention: task match does not read this key")


def test_a_key_the_source_does_not_read_is_refused(tmp_path):
    """data.shapes with source manifest names its line, the source and the source that reads it."""
    path = write(tmp_path, "c.yaml", "task: match\ndata:\n  source: manifest\n  path: photos\n"
                                     "  shapes: {num_images: 10}\n")
    message = error_of(path)
    assert message == f"{path}:5: data.shapes: source manifest does not read this key (source shapes reads it)"


def test_hard_negatives_need_a_source_that_makes_them(tmp_path):
    """data.negatives.hard_fraction with manifest (no scenes to change) is refused, naming shapes."""
    message = error_of(write(tmp_path, "c.yaml", "task: match\ndata:\n  source: manifest\n"
                                                 "  negatives: {ratio: 1.0, hard_fraction: 0.5}\n"))
    assert "c.yaml:4: data.negatives.hard_fraction: source manifest does not read this key" in message


def test_data_path_is_accepted_with_every_source(tmp_path):
    """data.path is a contract key every shipped config sets: the shapes source ignores it, quietly."""
    cfg, warnings = load_warned(write(tmp_path, "c.yaml", "task: match\ndata: {source: shapes, path: x}\n"))
    assert cfg.data.path == "x" and warnings == []


def test_keys_inherited_for_another_task_are_dropped_with_one_warning(tmp_path):
    """A base written for caption under an lm config: its caption-only keys are dropped, named on one line."""
    write(tmp_path, "base.yaml", "task: caption\ndata:\n  image: {size: 32}\nmodel:\n  condition: both\n"
                                 "  text: {units: 8}\nsample: {max_length: 9}\n")
    path = write(tmp_path, "c.yaml", "extends: base.yaml\ntask: lm\n")
    cfg, warnings = load_warned(path)
    assert warnings == [f"cmx: warning: {path}: ignoring keys inherited from base.yaml that task lm does not read: "
                        "data.image, model.condition"]
    assert cfg.task == "lm" and cfg.model.text.units == 8 and cfg.sample.max_length == 9  # read keys are kept
    assert cfg.data.image.size == 64 and cfg.model.condition == "init_state"  # dropped keys are defaults


def test_extending_a_shapes_config_with_a_manifest_source_works(tmp_path):
    """extends: a shapes caption config plus data.source: manifest drops data.shapes with one warning."""
    root = Path(__file__).resolve().parents[1]
    base = root / "configs" / "shapes_caption.yaml"
    path = write(tmp_path, "c.yaml", f"extends: {base}\ndata: {{source: manifest, path: photos}}\n")
    cfg, warnings = load_warned(path)
    assert cfg.data.source == "manifest" and cfg.model.condition == "both"
    assert len(warnings) == 1 and "that source manifest does not read: data.shapes" in warnings[0]


def test_an_inherited_key_written_again_in_the_file_is_refused(tmp_path):
    """Dropping is for what the base brings: the same key in the file itself is the user's mistake."""
    write(tmp_path, "base.yaml", "task: match\nmodel:\n  fusion: {type: film}\n")
    path = write(tmp_path, "c.yaml", "extends: base.yaml\ntask: caption\nmodel:\n  fusion: {hidden: [8]}\n")
    assert error_of(path).startswith(f"{path}:4: model.fusion: task caption does not read this key")


def test_set_task_drops_the_keys_the_file_wrote_for_its_own_task(tmp_path):
    """--set task=caption on a match file: the file's match-only keys were right for it; they are dropped."""
    path = write(tmp_path, "c.yaml", "task: match\neval: {threshold: 0.4}\nmodel:\n  fusion: {type: film}\n")
    cfg, warnings = load_warned(path, ["task=caption"])
    assert cfg.task == "caption"
    assert warnings == [f"cmx: warning: {path}: ignoring keys written for task match that task caption does not "
                        "read: eval.threshold, model.fusion"]


def test_set_task_still_refuses_what_the_file_got_wrong_for_its_own_task(tmp_path):
    """A key the file's own task did not read either is an error, whatever --set changes."""
    path = write(tmp_path, "c.yaml", "task: match\nmodel:\n  attention: luong\n")
    assert error_of(path, ["task=caption"]).startswith(f"{path}:3: model.attention: task caption does not read")


def test_every_source_declares_what_it_reads():
    """Each source module declares READS and GIVES, and reads hard_fraction exactly when it can make hard
    negatives."""
    from crossmodal_tf.data.sources import SOURCES, load_source, source_reads_key

    for name in SOURCES:
        source = load_source(name)
        assert isinstance(source.READS, tuple) and isinstance(source.GIVES, tuple), name
        makes_hard_negatives = hasattr(source, "hard_negative")
        assert source_reads_key(name, "data.negatives.hard_fraction") == makes_hard_negatives, name


def _is_config_key(dotted: str) -> bool:
    """Whether a dotted key names a field of Config (a section or a key inside one)."""
    from pydantic import BaseModel

    model = Config
    for part in dotted.split("."):
        field = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if field is None:
            return False
        model = field.annotation
    return True


def test_every_declared_key_is_a_config_key():
    """What tasks, sources and text types declare they read are keys of the config: a typo there would make a
    key silently read by all."""
    from crossmodal_tf.data.sources import SOURCES, load_source
    from crossmodal_tf.models.text_types import TEXT_TYPES, load_text_type
    from crossmodal_tf.tasks import TASKS, load_task

    declared = {f"task {n}": load_task(n).reads for n in TASKS}
    declared.update({f"source {n}": load_source(n).READS for n in SOURCES})
    declared.update({f"text type {n}": load_text_type(n).reads for n in TEXT_TYPES})
    wrong = [f"{who}: {key}" for who, keys in declared.items() for key in keys if not _is_config_key(key)]
    assert wrong == [] and _is_config_key("model.text.units") and not _is_config_key("model.text.unit")


def test_a_text_type_reads_its_own_keys_and_those_of_no_type():
    """lstm reads model.condition and model.text.units, transformer neither; both read model.text.layers and
    every key no text type declares."""
    from crossmodal_tf.config.reads import text_type_reads_key

    assert text_type_reads_key("lstm", "model.condition") and not text_type_reads_key("transformer", "model.condition")
    assert text_type_reads_key("transformer", "model.text.heads") and not text_type_reads_key("lstm", "model.text.heads")
    assert all(text_type_reads_key(t, k) for t in ("lstm", "transformer") for k in ("model.text.layers", "train.epochs"))


def test_shapes_fingerprint_ignores_data_path(tmp_path):
    """Two shapes configs that differ only in data.path share one preprocessed folder; other keys still count."""
    from crossmodal_tf.preprocessing import fingerprint

    path = write(tmp_path, "c.yaml", MINIMAL)
    first = fingerprint(load_config(path, ["data.path=data/raw/one"]))
    assert fingerprint(load_config(path, ["data.path=/elsewhere/two"])) == first
    assert fingerprint(load_config(path, ["data.path=x", "data.shapes.num_images=7"])) != first


# --- monitors -------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["train.checkpoint.monitor", "train.early_stopping.monitor"])
def test_a_monitor_the_task_does_not_log_is_refused(tmp_path, key):
    """A misspelt monitor names its line and lists every monitor the task allows."""
    section = key.split(".")[1]
    path = write(tmp_path, "c.yaml", f"task: match\ntrain:\n  {section}: {{monitor: val_acc}}\n")
    assert error_of(path) == (f"{path}:3: {key}: task match has no metric 'val_acc'; choose one of loss, accuracy, "
                              "auc, val_loss, val_accuracy, val_auc")


def test_a_monitor_of_another_task_is_refused_by_set(tmp_path):
    """val_auc is a match metric: a caption config may not monitor it."""
    message = error_of(write(tmp_path, "c.yaml", "task: caption\n"), ["train.checkpoint.monitor=val_auc"])
    assert message.startswith("--set train.checkpoint.monitor: train.checkpoint.monitor: task caption has no "
                              "metric 'val_auc'; choose one of loss, token_accuracy")


@pytest.mark.parametrize("task", TASK_NAMES)
def test_every_allowed_monitor_is_accepted(tmp_path, task):
    """Each monitor Task.monitors() names loads, for both monitor keys."""
    from crossmodal_tf.tasks import load_task

    path = write(tmp_path, "c.yaml", f"task: {task}\n")
    for monitor in load_task(task).monitors():
        cfg = load_config(path, [f"train.checkpoint.monitor={monitor}", f"train.early_stopping.monitor={monitor}"])
        assert cfg.train.checkpoint.monitor == monitor


# --- run directories --------------------------------------------------------------------------
def full_dump(config: Config) -> str:
    """config.yaml as runs written before this check held it: every section of every task."""
    import yaml

    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def test_an_old_run_config_with_every_section_still_opens(tmp_path):
    """A full dump (model.fusion in a caption run, sample in a match run) loads with config_from_run."""
    from crossmodal_tf.config import config_from_run

    for task in ("caption", "match"):
        run = tmp_path / task
        run.mkdir()
        data = validate_config({"task": task, "model": {"fusion": {"hidden": [8]}}, "sample": {"top_k": 3},
                                "train": {"epochs": 2}})
        (run / "config.yaml").write_text(full_dump(data), encoding="utf-8")
        cfg = config_from_run(run)
        assert cfg.task == task and cfg.train.epochs == 2


def test_an_old_run_config_equals_the_same_config_loaded_today(tmp_path):
    """--resume compares the run's config with the file's: the keys a task does not read are not a difference."""
    from crossmodal_tf.config import config_from_run

    write(tmp_path, "base.yaml", "task: match\nmodel:\n  fusion: {hidden: [8]}\n")
    path = write(tmp_path, "c.yaml", "extends: base.yaml\ntask: caption\n")
    old = validate_config({"task": "caption", "model": {"fusion": {"hidden": [8]}}})  # what older versions kept
    (tmp_path / "config.yaml").write_text(full_dump(old), encoding="utf-8")
    assert config_from_run(tmp_path) == load_warned(path)[0]


def test_dump_config_leaves_out_what_the_task_does_not_read(tmp_path):
    """A match dump has no sample or model.attention, keeps data.path, and loads back as a config file."""
    import yaml

    cfg = load_config(write(tmp_path, "c.yaml", "task: match\n"))
    text = dump_config(cfg)
    data = yaml.safe_load(text)
    assert "sample" not in data and "attention" not in data["model"] and "condition" not in data["model"]
    assert data["data"]["path"] and data["model"]["fusion"] and data["data"]["negatives"]
    assert load_warned(write(tmp_path, "dumped.yaml", text)) == (cfg, [])


def test_a_transformer_config_drops_the_lstm_keys_it_inherits_and_refuses_those_it_writes(tmp_path):
    """model.text.type is a third reader of keys: the other type's keys are dropped when inherited, refused when
    written, in both directions."""
    write(tmp_path, "base.yaml", "task: caption\nmodel:\n  condition: both\n  text: {units: 8, layers: 2}\n")
    path = write(tmp_path, "c.yaml", "extends: base.yaml\nmodel:\n  text: {type: transformer, dim: 32}\n")
    cfg, warnings = load_warned(path)
    assert warnings == [f"cmx: warning: {path}: ignoring keys inherited from base.yaml that model.text.type "
                        "transformer does not read: model.condition, model.text.units"]
    assert cfg.model.text.layers == 2 and cfg.model.text.dim == 32  # keys both types read are kept
    message = error_of(path, ["model.text.units=9"])
    assert "--set model.text.units" in message and "model.text.type transformer does not read this key" in message
    message = error_of(write(tmp_path, "lstm.yaml", "task: lm\nmodel:\n  text: {heads: 2}\n"))
    assert "lstm.yaml:3" in message and "model.text.heads" in message and "type lstm does not read" in message


def test_heads_that_do_not_divide_dim_are_refused_at_their_line(tmp_path):
    path = write(tmp_path, "c.yaml", "task: lm\nmodel:\n  text:\n    type: transformer\n    dim: 30\n    heads: 4\n")
    assert error_of(path) == f"{path}:6: model.text.heads: 4 heads do not divide model.text.dim 30"
