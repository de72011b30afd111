"""Run configuration: four frozen dataclasses (task, model, optim, train) joined in
:class:`RunConfig`, with checks that name the field, the bad value and what is allowed.

A config comes from defaults, then a YAML/TOML file, then command-line flags, in that order
(:func:`resolve`); every field has one flag whose name is the field's with ``-`` for ``_``
(``task.name`` is ``--task``). Unknown sections or keys are errors, never ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import re
import reprlib
import sys
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from rnnkit.errors import ConfigError
from rnnkit.tasks.registry import DEFAULT as DEFAULT_TASK


@dataclass(frozen=True)
class _Section:
    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            _check_type(f"{self.section}.{f.name}", getattr(self, f.name), hints[f.name])
        self._check()

    section: typing.ClassVar[str] = ""

    def _check(self) -> None:
        """Range checks beyond the type; raise ConfigError naming the field."""

    def _positive(self, *names: str, allow_zero: bool = False) -> None:
        for name in names:
            value = getattr(self, name)
            if value is None or isinstance(value, str):  # None and 'auto' mean themselves
                continue
            if value < 0 or (value == 0 and not allow_zero):
                bound = ">= 0" if allow_zero else "> 0"
                raise ConfigError(
                    f"{self.section}.{name}: expected a number {bound}, got {value!r}"
                )


@dataclass(frozen=True)
class TaskConfig(_Section):
    """What to learn: the task, and the fields its own config adds.

    Each task (``rnnkit.tasks``) subclasses this with its fields, validated there; the
    ``task`` section of a config file, and the flags of ``rnnkit train --task NAME``, are the
    fields of that task's class."""

    section: typing.ClassVar[str] = "task"

    name: str = DEFAULT_TASK
    """The task (``rnnkit train --help`` lists them; ``rnnkit train --task NAME --help`` shows
    a task's own flags)."""


@dataclass(frozen=True)
class ModelConfig(_Section):
    """The network: a recurrent encoder (``rnnkit.layers.Recurrent``) and a task head."""

    section: typing.ClassVar[str] = "model"

    name: Literal["auto", "sequence", "tree-lstm", "seq2seq", "rnn-fcn"] = "auto"
    """The model (--model): a recurrent sequence model, which every task builds (with the
    task's head), or a model of the task's own where it has one (a Tree-LSTM over trees, an
    encoder-decoder forecaster, a recurrent branch beside a fully convolutional one: LSTM-FCN
    or GRU-FCN by --cell); auto: the task's default, the first its help lists. A task refuses
    a model it does not build."""
    cell: Literal["rnn", "lstm", "gru", "mingru", "minlstm"] = "lstm"
    """Recurrent cell type (minGRU and minLSTM: gates from the input alone, so a whole
    sequence is one linear recurrence, solved by a loop or a parallel scan; Feng et al. 2024)."""
    hidden: int | Literal["auto"] = "auto"
    """H: hidden units per layer and direction; auto: the task's size (128; forecast: sized
    to its training windows); the run records the number."""
    layers: int = 1
    """L: stacked recurrent layers."""
    bidirectional: bool = False
    """Also read each sequence backwards and concatenate the two directions."""
    dropout: float = 0.0
    """Dropout between stacked layers and before the head (training only)."""
    residual: bool = False
    """Residual connections between stacked layers of equal width."""
    pooling: Literal["last", "mean", "max", "attention"] = "last"
    """How a sequence-level head summarizes the outputs over time ('attention': learned
    weights over the steps, Yang et al. 2016)."""
    nonlinearity: Literal["tanh", "relu"] = "tanh"
    """Vanilla RNN only: the activation (relu with identity init is the IRNN)."""
    peephole: bool = False
    """LSTM only: peephole connections from the cell state to the gates."""
    norm: Literal["none", "layer", "batch"] = "none"
    """LSTM only: layer- or recurrent batch normalization."""
    proj_size: int | None = None
    """LSTM only: project the hidden state to this size (LSTMP); None: no projection."""
    scan: Literal["auto", "sequential", "scan", "chunked"] = "auto"
    """minGRU/minLSTM only: how a sequence is solved (a loop, a log-space parallel scan, or
    scans within chunks carried across them); auto: the fastest measured on the device."""
    chunk_size: int = 64
    """minGRU/minLSTM only: steps per chunk of the chunked scan."""
    block: bool = False
    """minGRU/minLSTM only: the paper's block per layer (layer norm, residual, MLP)."""
    init: Literal["default", "xavier", "orthogonal", "identity", "chrono"] = "default"
    """Weight initialization: torch's default uniform, Xavier, orthogonal recurrent weights,
    identity recurrent weights (IRNN), or chrono forget biases (LSTM/GRU, T_max = seq_len)."""
    forget_bias: float | None = None
    """LSTM only: a constant forget-gate bias (e.g. 1.0, Jozefowicz et al. 2015)."""
    path: Literal["auto", "fused", "custom", "reference"] = "auto"
    """Execution path of the runner (see ``Recurrent``); results agree, speed differs."""
    variational: bool = False
    """Dropout masks fixed across time within a sequence (Gal & Ghahramani 2016) for the
    dropout between layers (and, in language models, on the embeddings and outputs)."""
    weight_drop: float = 0.0
    """DropConnect on the recurrent (hidden-to-hidden) weights, one mask per batch (Merity et
    al. 2017); not for minGRU/minLSTM."""
    zoneout: float = 0.0
    """Each state unit keeps its previous value with this probability at each step (Krueger
    et al. 2017; the expectation at evaluation); runs the time loop, not the fused kernel."""

    def _check(self) -> None:
        self._positive("hidden", "layers", "proj_size", "chunk_size")
        for name in ("dropout", "weight_drop", "zoneout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"model.{name}: expected a number in [0, 1), got "
                                  f"{getattr(self, name)!r}")  # fmt: skip
        if (self.weight_drop or self.zoneout) and self.cell in ("mingru", "minlstm"):
            name = "weight_drop" if self.weight_drop else "zoneout"
            raise ConfigError(f"model.{name}: not for cell {self.cell!r} (no recurrent weights; "
                              "its state is solved as a scan)")  # fmt: skip
        if self.zoneout and self.path == "fused":
            raise ConfigError("model.zoneout: runs in the time loop; not with path 'fused'")
        lstm_only = {
            "peephole": self.peephole,
            "norm": self.norm != "none",
            "proj_size": self.proj_size is not None,
            "forget_bias": self.forget_bias is not None,
        }
        for name, used in lstm_only.items():
            if used and self.cell != "lstm":
                raise ConfigError(
                    f"model.{name}: only for cell 'lstm', got cell {self.cell!r} with "
                    f"{name}={getattr(self, name)!r}"
                )
        minimal_only = {
            "scan": self.scan != "auto",
            "chunk_size": self.chunk_size != 64,
            "block": self.block,
        }
        for name, used in minimal_only.items():
            if used and self.cell not in ("mingru", "minlstm"):
                raise ConfigError(
                    f"model.{name}: only for cells 'mingru' and 'minlstm', got cell "
                    f"{self.cell!r} with {name}={getattr(self, name)!r}"
                )
        if self.cell in ("mingru", "minlstm") and self.init in ("orthogonal", "identity"):
            raise ConfigError(
                f"model.init: {self.init!r} sets recurrent weights; cell {self.cell!r} has none "
                "(its gates read only the input)"
            )
        if self.nonlinearity != "tanh" and self.cell != "rnn":
            raise ConfigError(
                f"model.nonlinearity: only for cell 'rnn', got cell {self.cell!r} with "
                f"nonlinearity={self.nonlinearity!r}"
            )
        if self.init == "chrono" and self.cell == "rnn":
            raise ConfigError("model.init: 'chrono' sets gate biases; cell 'rnn' has no gates")
        if self.init == "chrono" and self.forget_bias is not None:
            raise ConfigError("model.forget_bias: not with init 'chrono', which sets that bias")


@dataclass(frozen=True)
class OptimConfig(_Section):
    """The optimizer, its learning-rate schedule and gradient clipping."""

    section: typing.ClassVar[str] = "optim"

    optimizer: Literal["sgd", "adam", "adamw", "rmsprop"] = "adam"
    """Optimizer (torch.optim)."""
    lr: float = 1e-3
    """Peak learning rate."""
    momentum: float = 0.0
    """SGD and RMSprop momentum."""
    nesterov: bool = False
    """SGD: Nesterov momentum (needs momentum > 0)."""
    weight_decay: float = 0.0
    """L2 penalty (decoupled for AdamW)."""
    beta1: float = 0.9
    """Adam/AdamW: first-moment decay."""
    beta2: float = 0.999
    """Adam/AdamW: second-moment decay."""
    alpha: float = 0.99
    """RMSprop: smoothing constant of the squared-gradient average."""
    schedule: Literal["constant", "cosine", "step", "plateau"] = "constant"
    """Learning-rate schedule: constant, cosine decay to min_lr, step decay by gamma every
    step_size steps, or reduce-on-plateau of the validation metric."""
    warmup: int = 0
    """Steps of linear warm-up from 0 to lr (constant, cosine and step schedules)."""
    min_lr: float = 0.0
    """Cosine: the final learning rate; plateau: the floor."""
    step_size: int = 1000
    """Step schedule: steps between decays."""
    gamma: float = 0.1
    """Step and plateau schedules: the factor applied at each decay."""
    plateau_patience: int = 5
    """Plateau schedule: evaluations without improvement before decaying."""
    clip: float = 0.0
    """Clip gradients to this global L2 norm; 0 disables."""
    clip_value: float = 0.0
    """Clip each gradient element to [-clip_value, clip_value]; 0 disables."""

    def _check(self) -> None:
        self._positive("lr", "step_size")
        self._positive(
            "momentum", "weight_decay", "warmup", "min_lr", "plateau_patience", "clip",
            "clip_value", allow_zero=True,
        )  # fmt: skip
        for name in ("beta1", "beta2", "alpha"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(
                    f"optim.{name}: expected a number in [0, 1), got {getattr(self, name)!r}"
                )
        if not 0.0 < self.gamma < 1.0:
            raise ConfigError(f"optim.gamma: expected a number in (0, 1), got {self.gamma!r}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ConfigError(
                f"optim.nesterov: needs optimizer 'sgd' with momentum > 0, got optimizer "
                f"{self.optimizer!r}, momentum {self.momentum!r}"
            )
        if self.warmup and self.schedule == "plateau":
            raise ConfigError("optim.warmup: not with schedule 'plateau' (use cosine or step)")
        if self.min_lr > self.lr:
            raise ConfigError(f"optim.min_lr: {self.min_lr!r} is above lr {self.lr!r}")


@dataclass(frozen=True)
class TrainConfig(_Section):
    """The training loop: budget, evaluation, checkpoints, device and logging."""

    section: typing.ClassVar[str] = "train"

    steps: int | Literal["auto"] = "auto"
    """Optimizer steps (one batch each); auto: the task's default length (3000 steps, or
    epochs sized to a small training file; the run records the number)."""
    batch_size: int = 64
    """Sequences per training batch."""
    eval_every: int = 100
    """Validate (and write the last checkpoint) every this many steps, and at the end."""
    eval_batch_size: int = 500
    """Sequences per batch when evaluating."""
    early_stopping: str | None = None
    """Stop when this validation metric (e.g. 'mse', 'accuracy') has not improved for
    early_stopping_patience evaluations; None: never."""
    early_stopping_patience: int = 10
    """Evaluations without improvement before early stopping."""
    stop_at_target: bool = False
    """Stop as soon as validation reaches the task's target (e.g. adding: MSE < 0.01)."""
    max_time: float | None = None
    """Stop after this many seconds of training (checked every step); None: no limit."""
    grad_flow_every: int = 0
    """Record the gradient-by-time profile (||dL/dh_t|| per time step and recurrent cell)
    every this many training steps into RUN_DIR/grad_flow.jsonl, plotted as grad_flow.png
    (time step x training step); 0: off. A recorded step runs the reference loop."""
    tbptt: int = 0
    """Truncated BPTT: backpropagate through chunks of this many steps, carrying the state
    between chunks; 0: through the whole sequence."""
    seed: int = 0
    """Seed of the model's initialization, dropout and the training batches."""
    deterministic: bool = False
    """Use only deterministic algorithms (slower on GPU; bit-identical reruns)."""
    device: str = "auto"
    """'auto' (CUDA when present, else CPU), 'cpu', 'cuda' or 'cuda:N'."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """bf16: run the forward pass under bfloat16 autocast."""
    threads: int | Literal["auto"] | None = "auto"
    """CPU threads for torch. 'auto': the CPUs this process may use, shared with its DataLoader
    workers, and one thread while steps show that other work competes for the cores
    (rnnkit.training.threads); a number: that many, fixed; None: torch's default."""
    workers: int = 0
    """Processes that build training batches ahead of the step that needs them (batches are a
    function of the step, so they can be made in any order); 0: the training process itself."""
    quiet: bool = False
    """No progress bar and no printed summary (for scripts)."""
    tensorboard: bool = True
    """Also write metrics as TensorBoard event files under RUN_DIR/tensorboard."""
    keep_checkpoints: int = 2
    """Checkpoints kept besides the best: the newest this many (each evaluation writes one);
    with more than one, a damaged newest checkpoint leaves an older one to resume from."""
    max_nonfinite: int = 10
    """Steps in a row with a non-finite loss or gradient (each skipped, logged) before training
    stops with an error; the last checkpoint stays intact."""
    memory_check: bool = True
    """Before training, estimate the memory the model and one training step need and stop
    early, with the estimate, if it is more than the device has free (see ResourceError)."""
    out: str | None = None
    """Run directory; None: runs/<task>-<cell>-<date>-<time>."""

    def _check(self) -> None:
        self._positive(
            "steps", "batch_size", "eval_every", "eval_batch_size", "early_stopping_patience",
            "max_time", "threads", "keep_checkpoints", "max_nonfinite",
        )  # fmt: skip
        self._positive("tbptt", "workers", "grad_flow_every", allow_zero=True)
        if self.device != "auto" and not (
            self.device == "cpu" or self.device == "cuda" or self.device.startswith("cuda:")
        ):
            raise ConfigError(
                f"train.device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}"
            )


def task_config(name: str, **fields: Any) -> TaskConfig:
    """The config of task ``name`` (an alias is resolved) with ``fields``; the task's module
    is imported now."""
    from rnnkit.tasks import registry

    cls = registry.config_class(name)
    return cls(name=registry.canonical(name), **fields)


def _default_task() -> TaskConfig:
    from rnnkit.tasks import registry

    return task_config(registry.DEFAULT)


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run needs; saved resolved as RUN_DIR/config.yaml. ``task`` is
    the config of the task it names (a subclass of :class:`TaskConfig`)."""

    task: TaskConfig = field(default_factory=_default_task)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.task, TaskConfig) or type(self.task) is TaskConfig:
            raise ConfigError(f"task: expected a task's config (rnnkit.tasks), got "
                              f"{type(self.task).__name__}")  # fmt: skip

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain dict, for YAML/JSON."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "config") -> RunConfig:
        """Build from a nested dict (``{"task": {...}, "model": {...}}``); unknown keys are
        errors naming ``source``. The layout of rnnkit 0.1 (every task's fields in one task
        section, task heads in model and train) is read too (:func:`upgrade`)."""
        if not isinstance(data, dict):
            raise ConfigError(
                f"{source}: expected a mapping of sections, got {type(data).__name__}"
            )
        for name, value in data.items():
            if name not in SECTIONS:
                raise ConfigError(f"{source}: unknown section {name!r}{_suggest(name, SECTIONS)}")
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{source}: section {name!r} must be a mapping, got {type(value).__name__}"
                )
        from rnnkit.tasks import registry

        task = dict(data.get("task") or {})
        task_cls = registry.config_class(task.get("name", registry.DEFAULT))
        task["name"] = registry.canonical(task.get("name", registry.DEFAULT))
        data = upgrade({**data, "task": task}, task_cls)
        classes = {**SECTIONS, "task": task_cls}
        sections = {}
        for name, value in data.items():
            allowed = [f.name for f in dataclasses.fields(classes[name])]
            for key in value:
                if key not in allowed:
                    raise ConfigError(f"{source}: {_unknown(name, key, allowed, task['name'])}")
            sections[name] = classes[name](**value)
        return cls(**sections)

    def replace(self, **overrides: Any) -> RunConfig:
        """A copy with flat overrides by field name, e.g. ``replace(lr=1e-2, cell="gru")``."""
        return apply_overrides(self, overrides)


SECTIONS: dict[str, type[_Section]] = {
    "task": TaskConfig,
    "model": ModelConfig,
    "optim": OptimConfig,
    "train": TrainConfig,
}


# -- the layout of rnnkit 0.1 ----------------------------------------------------------------
# Its files (and its runs' config.yaml, which list every field) have one task section with
# every task's fields, and the task heads' fields in model and train. Field -> its default
# then: a field the task's config does not have is dropped when it holds that default (or
# when the file lists every field: a saved config), and is an error otherwise.
_OLD_TASK = {
    "seq_len": 100, "min_len": 1, "valid_size": 1000, "test_size": 1000, "data_seed": 1234,
    "data": None, "valid": None, "test": None, "classes": "fine", "tree_form": "binary",
    "train_size": 90000, "tokenizer": "word", "min_freq": 1, "max_vocab": None,
    "bpe_size": 8000, "lowercase": False, "punctuation": "keep", "tag_col": None,
    "time_col": "date", "target": None, "id_col": None, "label_col": "label",
    "text_col": "text", "text_format": "auto", "encoding": "utf-8", "bad_lines": "error",
    "class_weights": "none", "normalize": "global", "past_covariates": None,
    "future_covariates": None, "horizon": 12, "lookback": 48, "season": 1, "missing": "error",
    "valid_steps": None, "test_steps": None, "scaling": "series", "likelihood": "none",
    "backtest_origins": 5, "baselines": "naive,seasonal_naive,ets,sarima",
}  # fmt: skip
_OLD_HEADS = {
    "model": {"tree_cell": "childsum", "embed": None, "embeddings": None, "crf": False,
              "attention": "general", "input_feeding": True, "tie_embeddings": False,
              "embed_dropout": 0.0, "input_dropout": 0.0},
    "train": {"teacher_forcing": 1.0, "sampling_schedule": "constant", "beam": 1,
              "length_penalty": 0.0},
}  # fmt: skip


def upgrade(data: dict[str, Any], task_cls: type[TaskConfig]) -> dict[str, Any]:
    """``data`` (nested sections) in this release's layout: task-head fields of the model
    and train sections move to the task section when the task has them; fields of other
    tasks are dropped at their old defaults (or all, from a saved config that lists every
    field) and are an error otherwise, naming the tasks that have them."""
    own = {f.name for f in dataclasses.fields(task_cls)}
    task = dict(data.get("task") or {})
    saved = set(_OLD_TASK) <= set(task)
    out = {name: dict(value) for name, value in data.items()}
    out["task"] = task
    for section, heads in _OLD_HEADS.items():
        for key in [k for k in out.get(section, {}) if k in heads]:
            value = out[section].pop(key)
            if key in own:
                task.setdefault(key, value)
            elif value != heads[key] and not saved:
                raise ConfigError(_unknown(section, key, [], task["name"]))
    for key in [k for k in task if k not in own and k in _OLD_TASK]:
        value = task.pop(key)
        if value != _OLD_TASK[key] and not saved:
            raise ConfigError(_unknown("task", key, [], task["name"]))
    return out


def _unknown(section: str | None, key: str, allowed, task: str) -> str:
    """Why ``section.key`` (a flat ``key`` without a section) is refused with task ``task``:
    a field of other tasks, or no field at all."""
    from rnnkit.tasks import registry

    owners = registry.owners(key)
    if owners:
        where = f"{section}.{key}" if section else key
        return (f"{where}: not a field of task {task!r} (only of task "
                f"{', '.join(repr(o) for o in owners)}); leave it out")  # fmt: skip
    what = f"key {section}.{key}" if section else f"config key {key!r}"
    return f"unknown {what}{_suggest(key, allowed)}"


def flat_name(section: str, name: str) -> str:
    """The flag of a field: its name, except ``task.name`` (``--task``) and ``model.name``
    (``--model``)."""
    return section if name == "name" else name


# Flat name -> (section, field) of the sections every run has: the model, optim and train
# fields and --task. Field names are unique across sections, so each has one flag. A task's
# own fields are flat names too (task_fields), checked against the task a config names.
FLAT: dict[str, tuple[str, str]] = {}
for _section, _cls in SECTIONS.items():
    for _f in dataclasses.fields(_cls):
        _flat = flat_name(_section, _f.name)
        assert _flat not in FLAT, f"config field {_flat!r} appears in two sections"
        FLAT[_flat] = (_section, _f.name)


def task_fields(cls: type[TaskConfig]) -> list[str]:
    """The flat names of a task config's own fields (all but ``name``)."""
    return [f.name for f in dataclasses.fields(cls) if f.name != "name"]


def apply_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return ``config`` with flat ``{field: value}`` overrides applied (a new object).

    ``task=NAME`` switches to that task's config, keeping the fields it shares with the
    current one that were set (differ from their default); the other keys are generic fields
    or fields of the (new) task."""
    overrides = dict(overrides)
    task = config.task
    name = overrides.pop("task", None)
    task_cls = type(task)
    if name is not None:
        from rnnkit.tasks import registry

        task_cls = registry.config_class(name)
        name = registry.canonical(name)
    own = set(task_fields(task_cls))
    switching = name is not None and name != task.name
    carried = {
        f.name: getattr(task, f.name)
        for f in dataclasses.fields(task)
        if switching and f.name in own and getattr(task, f.name) != _field_default(f)
    }
    changes: dict[str, dict[str, Any]] = {}
    task_changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in FLAT and key != "task":
            section, field_name = FLAT[key]
            changes.setdefault(section, {})[field_name] = value
        elif key in own:
            task_changes[key] = value
        else:
            raise ConfigError(_unknown(None, key, [*FLAT, *own], name or task.name))
    if switching:
        new_task = task_cls(name=name, **{**carried, **task_changes})
    elif task_changes or name is not None:
        new_task = dataclasses.replace(task, **task_changes)
    else:
        new_task = task
    return dataclasses.replace(
        config,
        task=new_task,
        **{s: dataclasses.replace(getattr(config, s), **kv) for s, kv in changes.items()},
    )


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def read_mapping(path: str | Path, what: str = "config") -> Any:
    """The parsed contents of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) ``what`` file
    (None if empty); errors name the file and, where the parser knows it, the line and
    column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such {what} file")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: expected a .yaml, .yml or .toml file")
    from rnnkit.text.parallel import read_bytes

    raw = read_bytes(path, ConfigError)
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is no content
    except UnicodeDecodeError as e:
        line, start = raw.count(b"\n", 0, e.start) + 1, raw.rfind(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 ({e.reason} at byte "
                          f"{e.start - start})") from None  # fmt: skip

    def at(position: int) -> str:  # ":line:column" of a character offset in text
        start = text.rfind("\n", 0, position) + 1
        return f":{text.count(chr(10), 0, position) + 1}:{position - start + 1}"

    kind = "TOML" if path.suffix == ".toml" else "YAML"
    try:
        data = tomllib.loads(text) if kind == "TOML" else yaml.load(text, Loader=_YamlLoader)
    except tomllib.TOMLDecodeError as e:
        message = str(e)
        found = re.search(r" \(at line (\d+), column (\d+)\)$", message)
        where = f":{found[1]}:{found[2]}" if found else ""
        if message.endswith(" (at end of document)"):
            where = f":{text.count(chr(10)) + (not text.endswith(chr(10)))}"
        message = (
            message[: found.start()] if found else message.removesuffix(" (at end of document)")
        )
        raise ConfigError(f"{path}{where}: malformed TOML: {message}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        if isinstance(e, yaml.reader.ReaderError):  # a control character: no mark, a position
            where = at(e.position)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}{where}: malformed YAML: {' '.join(problem.split())}") from None
    except RecursionError:  # tomllib and PyYAML recurse once per level of nesting
        raise ConfigError(f"{path}: malformed {kind}: nested too deeply") from None
    except ValueError as e:  # tomllib: an integer of more than 4300 digits
        found = re.search(r"\d{4301}", text)
        where = at(found.start()) if found else ""
        raise ConfigError(f"{path}{where}: malformed {kind}: {e}") from None
    if kind == "YAML":
        _check_aliases(data, path)
    return data


class _YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with the line of a value it cannot build: a date such as
    2024-13-45 or an integer of more than 4300 digits raised a bare ValueError."""

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r:.40}: {e}", node.start_mark
            ) from None

    def construct_mapping(self, node, deep=False):
        # PyYAML keeps the last of two equal keys silently; a config that sets lr twice is
        # more likely a mistake than an override.
        seen: set = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r:.40} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_MAX_VALUES = 100_000


def _check_aliases(data: Any, path: Path) -> None:
    """Refuse YAML whose aliases expand to more than :data:`_MAX_VALUES` values (a few lines
    can name 9**9 values, and an error message showing one would not fit in memory) or
    contain themselves. Sizes are memoized, so this is linear in the file."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, done = stack.pop()
        if not isinstance(value, (list, dict)):
            continue
        children = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        if done:
            sizes[id(value)] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if sizes[id(value)] > _MAX_VALUES:
                raise ConfigError(f"{path}: YAML aliases expand to more than {_MAX_VALUES} "
                                  "values; a config needs far fewer")  # fmt: skip
        elif id(value) in sizes:
            if sizes[id(value)] < 0:
                raise ConfigError(f"{path}: a YAML alias refers to the value that contains it")
        else:
            sizes[id(value)] = -1  # open
            stack.append((value, True))
            stack.extend((c, False) for c in children)


def load_file(path: str | Path) -> RunConfig:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file with sections
    ``task``, ``model``, ``optim``, ``train``; missing keys keep their defaults."""
    data = read_mapping(path)
    if data is None:
        data = {}
    # YAML keys may be numbers, dates or null (``1: 2``); only names are sections and fields
    for section, value in data.items() if isinstance(data, dict) else ():
        inner = value.keys() if isinstance(value, dict) else ()
        for key, name in [(section, section), *((k, f"{section}.{k}") for k in inner)]:
            if not isinstance(key, str):
                raise ConfigError(f"{path}: key {name!r} is not a name (got "
                                  f"{type(key).__name__}); sections and fields are "
                                  "names")  # fmt: skip
    try:
        return RunConfig.from_dict(data, source=str(path))
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def resolve(file: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Defaults, then ``file``, then flat ``overrides``: the resolved config."""
    config = load_file(file) if file is not None else RunConfig()
    return apply_overrides(config, overrides or {})


def save(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (readable back by :func:`load_file`)."""
    from rnnkit.training.checkpoint import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


# -- type checks -----------------------------------------------------------------------------


def _check_type(name: str, value: Any, hint: Any) -> None:
    if not _matches(value, hint):
        # reprlib keeps the message one short line for a huge string or list.
        raise ConfigError(f"{name}: expected {_describe(hint)}, got {reprlib.repr(value)}")
    # NaN passes every range check (each comparison is False); no field means it or infinity.
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{name}: expected a finite number, got {value!r}")


def _matches(value: Any, hint: Any) -> bool:
    origin = get_origin(hint)
    if origin is Literal:
        return value in get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    raise TypeError(f"unsupported config type {hint!r}")


def _describe(hint: Any) -> str:
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in get_args(hint))
    if hint is type(None):
        return "None"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


def _suggest(name: str, allowed) -> str:
    close = difflib.get_close_matches(name, list(allowed), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; allowed: {', '.join(sorted(allowed))}"


def parse_value(key: str, text: str, task: type[TaskConfig] | None = None) -> Any:
    """Convert a command-line string to the type of flat field ``key``: a field of every
    run, or of the ``task`` config class."""
    if key in FLAT:
        section, name = FLAT[key]
        hint = typing.get_type_hints(SECTIONS[section])[name]
    else:
        hint = typing.get_type_hints(task)[key]
    return _parse(f"--{key.replace('_', '-')}", text, hint)


def _parse(flag: str, text: str, hint: Any) -> Any:
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = get_args(hint)
        if type(None) in args and text.lower() in ("none", "null"):
            return None
        inner = [a for a in args if a is not type(None)]
        for alternative in inner[:-1]:  # e.g. int | Literal["auto"]: the first that reads it
            try:
                return _parse(flag, text, alternative)
            except ConfigError:
                pass
        try:
            return _parse(flag, text, inner[-1])
        except ConfigError:
            if len(inner) == 1:
                raise
            raise ConfigError(f"{flag}: expected {_describe(hint)}, got {text!r}") from None
    if origin is Literal:
        if text not in get_args(hint):
            raise ConfigError(f"{flag}: expected {_describe(hint)}, got {text!r}")
        return text
    if hint is bool:
        low = text.lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{flag}: expected true or false, got {text!r}")
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"{flag}: expected an integer, got {text!r}") from None
    if hint is float:
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"{flag}: expected a number, got {text!r}") from None
    return text


def field_help(key: str, task: type[TaskConfig] | None = None) -> str:
    """The one-line docstring of flat field ``key`` (the string literal under the field), of
    every run's sections or of the ``task`` config class."""
    if key in FLAT:
        section, name = FLAT[key]
        return field_docs(SECTIONS[section]).get(name, "")
    return field_docs(task).get(key, "") if task is not None else ""


def field_docs(cls: type) -> dict[str, str]:
    """Each field of dataclass ``cls`` (and of the dataclasses it extends) -> its docstring,
    with whitespace folded."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_class_docs(klass.__module__, klass.__qualname__))
    return docs


@functools.cache
def _class_docs(module: str, qualname: str) -> dict[str, str]:
    tree = _module_tree(module)
    node = next((n for n in (tree.body if tree else []) if getattr(n, "name", None) == qualname),
                None)  # fmt: skip
    if node is None:
        return {}
    import ast

    docs = {}
    for field_node, nxt in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(field_node, ast.AnnAssign)
            and isinstance(field_node.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[field_node.target.id] = " ".join(nxt.value.value.split())
    return docs


@functools.cache
def _module_tree(module: str):
    """The parsed source of ``module`` (once per module: ``inspect.getsource`` of each class
    would parse the file again for each), or None where there is no source."""
    import ast
    import inspect

    try:
        return ast.parse(inspect.getsource(sys.modules[module]))
    except (OSError, TypeError, KeyError):
        return None
