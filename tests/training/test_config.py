"""Run configs: defaults, checks that name the field, files and flags that agree, round trips."""

import dataclasses
from pathlib import Path

import pytest

from rnnkit.tasks.adding import AddingConfig
from rnnkit.tasks.copy import CopyConfig
from rnnkit.training.config import (
    FLAT,
    ConfigError,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TrainConfig,
    load_file,
    parse_value,
    resolve,
    save,
    task_config,
    task_fields,
)

YAML_TEXT = """\
task:
  name: copy
  seq_len: 7
model:
  cell: gru
  hidden: 12
  layers: 2
  dropout: 0.25
  bidirectional: true
optim:
  optimizer: sgd
  lr: 0.05
  momentum: 0.9
  nesterov: true
  schedule: cosine
  warmup: 3
train:
  steps: 40
  early_stopping: accuracy
  max_time: 2.5
"""

TOML_TEXT = """\
[task]
name = "copy"
seq_len = 7

[model]
cell = "gru"
hidden = 12
layers = 2
dropout = 0.25
bidirectional = true

[optim]
optimizer = "sgd"
lr = 0.05
momentum = 0.9
nesterov = true
schedule = "cosine"
warmup = 3

[train]
steps = 40
early_stopping = "accuracy"
max_time = 2.5
"""

FLAT_OVERRIDES = {
    "task": "copy",
    "seq_len": 7,
    "cell": "gru",
    "hidden": 12,
    "layers": 2,
    "dropout": 0.25,
    "bidirectional": True,
    "optimizer": "sgd",
    "lr": 0.05,
    "momentum": 0.9,
    "nesterov": True,
    "schedule": "cosine",
    "warmup": 3,
    "steps": 40,
    "early_stopping": "accuracy",
    "max_time": 2.5,
}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_defaults_are_valid_and_frozen():
    config = RunConfig()
    assert config.task == AddingConfig() and config.task.name == "adding"
    assert config.model.cell == "lstm" and config.optim.optimizer == "adam"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model.hidden = 3  # type: ignore[misc]
    # Every field of every run has exactly one flat name and it leads back to that field; a
    # task's own fields are flat names of that task, none shadowing a field of every run.
    for section in ("model", "optim", "train"):
        for f in dataclasses.fields(getattr(config, section)):
            flat = section if f.name == "name" else f.name  # --model
            assert FLAT[flat] == (section, f.name)
    assert FLAT["task"] == ("task", "name")
    assert not set(task_fields(AddingConfig)) & set(FLAT)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (
            task_config,
            {"name": "addition"},
            "task.name: unknown task 'addition' (did you mean "
            "'adding'?); allowed: adding, classify, copy",
        ),
        (AddingConfig, {"seq_len": 0}, "task.seq_len: expected a number > 0, got 0"),
        (AddingConfig, {"valid_size": 2.5}, "task.valid_size: expected an integer, got 2.5"),
        (ModelConfig, {"hidden": -4}, "model.hidden: expected a number > 0, got -4"),
        (
            ModelConfig,
            {"hidden": True},
            "model.hidden: expected an integer or one of 'auto', got True",
        ),
        (ModelConfig, {"bidirectional": 1}, "model.bidirectional: expected true or false, got 1"),
        (ModelConfig, {"dropout": 1.0}, "model.dropout: expected a number in [0, 1), got 1.0"),
        (ModelConfig, {"cell": "gru", "peephole": True}, "model.peephole: only for cell 'lstm'"),
        (ModelConfig, {"cell": "gru", "norm": "layer"}, "model.norm: only for cell 'lstm'"),
        (ModelConfig, {"cell": "gru", "proj_size": 4}, "model.proj_size: only for cell 'lstm'"),
        (ModelConfig, {"cell": "rnn", "forget_bias": 1.0}, "model.forget_bias: only for cell"),
        (ModelConfig, {"cell": "gru", "nonlinearity": "relu"}, "model.nonlinearity: only for"),
        (ModelConfig, {"cell": "rnn", "init": "chrono"}, "model.init: 'chrono'"),
        (ModelConfig, {"proj_size": "8"}, "model.proj_size: expected an integer or None"),
        (OptimConfig, {"lr": 0.0}, "optim.lr: expected a number > 0, got 0.0"),
        (OptimConfig, {"lr": "1e-3"}, "optim.lr: expected a number, got '1e-3'"),
        (OptimConfig, {"optimizer": "sgd", "nesterov": True}, "optim.nesterov: needs optimizer"),
        (OptimConfig, {"nesterov": True, "momentum": 0.9}, "optim.nesterov: needs optimizer"),
        (OptimConfig, {"schedule": "plateau", "warmup": 5}, "optim.warmup: not with schedule"),
        (OptimConfig, {"beta2": 1.0}, "optim.beta2: expected a number in [0, 1), got 1.0"),
        (OptimConfig, {"gamma": 1.0}, "optim.gamma: expected a number in (0, 1), got 1.0"),
        (OptimConfig, {"clip": -1.0}, "optim.clip: expected a number >= 0, got -1.0"),
        (OptimConfig, {"lr": 1e-3, "min_lr": 1e-2}, "optim.min_lr: 0.01 is above lr 0.001"),
        (TrainConfig, {"steps": 0}, "train.steps: expected a number > 0, got 0"),
        (TrainConfig, {"quiet": "yes"}, "train.quiet: expected true or false, got 'yes'"),
        (TrainConfig, {"precision": "fp16"}, "train.precision: expected one of 'fp32', 'bf16'"),
        (TrainConfig, {"device": "tpu"}, "train.device: expected 'auto', 'cpu', 'cuda'"),
        (TrainConfig, {"tbptt": -1}, "train.tbptt: expected a number >= 0, got -1"),
    ],
)
def test_bad_values_name_the_field(cls, kwargs, message):
    with pytest.raises(ConfigError) as info:
        cls(**kwargs)
    assert message in str(info.value)


def test_valid_combinations_pass():
    assert OptimConfig(optimizer="sgd", momentum=0.9, nesterov=True).nesterov
    assert ModelConfig(cell="lstm", peephole=True, norm="layer", proj_size=4).proj_size == 4
    assert OptimConfig(lr=1).lr == 1  # an int is a number
    assert TrainConfig(device="cuda:1").device == "cuda:1"


def test_yaml_toml_and_flat_overrides_agree(tmp_path):
    from_yaml = load_file(write(tmp_path, "run.yaml", YAML_TEXT))
    from_yml = load_file(write(tmp_path, "run.yml", YAML_TEXT))
    from_toml = load_file(write(tmp_path, "run.toml", TOML_TEXT))
    from_flags = resolve(overrides=FLAT_OVERRIDES)
    assert from_yaml == from_yml == from_toml == from_flags
    assert from_flags.model == ModelConfig(
        cell="gru", hidden=12, layers=2, dropout=0.25, bidirectional=True
    )
    # Keys the file leaves out keep their defaults.
    assert from_yaml.train.batch_size == TrainConfig().batch_size
    assert from_yaml.task.valid_size == CopyConfig().valid_size


def test_flags_override_the_file(tmp_path):
    path = write(tmp_path, "run.yaml", YAML_TEXT)
    config = resolve(path, {"hidden": 5, "lr": 0.2, "task": "adding"})
    assert (config.model.hidden, config.optim.lr, config.task.name) == (5, 0.2, "adding")
    # Everything else still comes from the file.
    assert (config.model.cell, config.task.seq_len, config.optim.warmup) == ("gru", 7, 3)
    expected = {**FLAT_OVERRIDES, "hidden": 5, "lr": 0.2, "task": "adding"}
    assert config == RunConfig().replace(**expected)


def test_overrides_are_checked_like_the_file():
    with pytest.raises(
        ConfigError, match="model.hidden: expected an integer or one of 'auto', got '8'"
    ):
        resolve(overrides={"hidden": "8"})
    with pytest.raises(ConfigError, match="optim.nesterov: needs optimizer 'sgd'"):
        resolve(overrides={"nesterov": True})


def test_unknown_sections_and_keys_are_errors_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_file(write(tmp_path, "a.yaml", "modle:\n  hidden: 8\n"))
    assert "a.yaml: unknown section 'modle' (did you mean 'model'?)" in str(info.value)
    with pytest.raises(ConfigError) as info:
        load_file(write(tmp_path, "b.toml", "[model]\nhiden = 8\n"))
    assert "b.toml: unknown key model.hiden (did you mean 'hidden'?)" in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve(overrides={"learning_rate": 0.1})
    assert "unknown config key 'learning_rate'" in str(info.value)
    with pytest.raises(ConfigError) as info:
        resolve(overrides={"hiden": 8})
    assert "(did you mean 'hidden'?)" in str(info.value)
    with pytest.raises(ConfigError, match="section 'model' must be a mapping, got int"):
        RunConfig.from_dict({"model": 3})


def test_bad_values_in_a_file_name_the_file_and_field(tmp_path):
    path = write(tmp_path, "c.yaml", "model:\n  bidirectional: 1\n")
    with pytest.raises(ConfigError) as info:
        load_file(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "model.bidirectional: expected true or false, got 1" in message


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("bad.yaml", "model:\n  hidden: [8\n", "malformed YAML"),
        ("bad.toml", "[model]\nhidden = \n", "malformed TOML"),
    ],
)
def test_malformed_files_name_the_file(tmp_path, name, text, kind):
    path = write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert str(info.value).startswith(str(path))
    assert kind in str(info.value)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_file(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r"expected a \.yaml, \.yml or \.toml file"):
        load_file(write(tmp_path, "run.json", "{}"))


def test_empty_yaml_gives_defaults(tmp_path):
    assert load_file(write(tmp_path, "empty.yaml", "")) == RunConfig()


def test_save_then_load_round_trips(tmp_path):
    config = RunConfig().replace(**FLAT_OVERRIDES, threads=1, out="runs/x", data_seed=7)
    config = config.replace(cell="lstm", proj_size=6, forget_bias=1.0, norm="layer")
    path = tmp_path / "config.yaml"
    save(config, path)
    assert load_file(path) == config
    assert [p.name for p in tmp_path.iterdir()] == ["config.yaml"]  # no temporary left


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [
        ("hidden", "16", 16),
        ("seq_len", "-3", -3),  # parsing converts; the dataclass checks the range
        ("lr", "1e-3", 1e-3),
        ("dropout", "0", 0.0),
        ("bidirectional", "true", True),
        ("bidirectional", "No", False),
        ("quiet", "1", True),
        ("proj_size", "none", None),
        ("proj_size", "8", 8),
        ("max_time", "null", None),
        ("max_time", "2.5", 2.5),
        ("early_stopping", "mse", "mse"),
        ("early_stopping", "None", None),
        ("cell", "gru", "gru"),
        ("task", "permuted_digits", "permuted_digits"),
        ("device", "cuda:0", "cuda:0"),
    ],
)
def test_parse_value(key, text, value):
    parsed = parse_value(key, text, AddingConfig)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("hidden", "1.5", "--hidden: expected an integer or one of 'auto', got '1.5'"),
        ("lr", "fast", "--lr: expected a number, got 'fast'"),
        ("bidirectional", "maybe", "--bidirectional: expected true or false, got 'maybe'"),
        (
            "cell",
            "GRU",
            "--cell: expected one of 'rnn', 'lstm', 'gru', 'mingru', 'minlstm', got 'GRU'",
        ),
        ("proj_size", "x", "--proj-size: expected an integer, got 'x'"),
        ("seq_len", "ten", "--seq-len: expected an integer, got 'ten'"),
    ],
)
def test_parse_value_errors_name_the_flag(key, text, message):
    with pytest.raises(ConfigError) as info:
        parse_value(key, text, AddingConfig)
    assert str(info.value) == message


EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "configs").glob("*.*"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configs_load_and_differ_from_the_defaults(path):
    config = load_file(path)
    assert config != RunConfig()
    assert config.task.name in ("adding", "copy")
