"""What every task provides to the trainer: its config, its model, batches drawn from a seed,
a training step, a loss and named metrics, its checkpointed state and its report. Batches are
a pure function of ``(seed, step)``, so a resumed run sees exactly the batches an
uninterrupted one would, and nothing large is ever held in memory.

The trainer calls only the hooks of :class:`Task` (``from_config``, ``check``,
``build_model``, ``train_step``, ``evaluate``, ``state_dict``, ``report``, ...); a task
overrides the ones it does differently."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError
from rnnkit.training.config import TaskConfig

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

Split = Literal["valid", "test"]
Output = Literal["regression", "classification", "tagging", "seq2seq", "lm"]

# Streams of random numbers that never overlap: training batches, validation, test.
_STREAMS = {"train": 0, "valid": 1, "test": 2}


def rows(x: Any, rank: int, world: int) -> Any:
    """Part ``rank`` of ``world`` equal parts along dim 0 of a Tensor or a list, or of each
    member of a tuple of them."""
    if world == 1:
        return x
    if isinstance(x, (Tensor, list)):
        size = len(x) // world
        return x[rank * size : (rank + 1) * size]
    if isinstance(x, tuple):
        parts = [rows(t, rank, world) for t in x]
        return type(x)(*parts) if hasattr(x, "_fields") else type(x)(parts)
    raise TypeError(f"rows: cannot split a batch of type {type(x).__name__}")


def stream_seed(seed: int, stream: str, index: int = 0) -> int:
    """An integer seed mixed from ``(seed, stream, index)``: distinct streams never share one
    (for practical purposes), so training batches never replay the validation or test set."""
    return (seed * 0x9E3779B97F4A7C15 + _STREAMS[stream] * 0xBF58476D1CE4E5B9 + index) % 2**63


def stream_generator(seed: int, stream: str, index: int = 0) -> torch.Generator:
    """A CPU generator seeded from ``(seed, stream, index)``: independent draws per step."""
    return torch.Generator().manual_seed(stream_seed(seed, stream, index))


def classification_scores(predicted, y) -> dict[str, float]:
    """Accuracy and macro-F1 of predicted class indices against ``y``, both (N,) arrays.

    Macro-F1 as scikit-learn's ``f1_score(y, predicted, average="macro", zero_division=0)``
    computes it, to the bit: the mean over the classes in ``y`` or ``predicted`` of
    ``2 TP / (2 TP + FP + FN)`` (a class never predicted scores 0). Here in numpy: importing
    scikit-learn takes a second or more, and tasks score a baseline when they load."""
    predicted, y = np.asarray(predicted), np.asarray(y)
    if predicted.shape != y.shape or y.ndim != 1 or len(y) == 0:
        raise ValueError(
            f"classification_scores: expected two non-empty (N,) arrays, got shapes "
            f"{predicted.shape} and {y.shape}"
        )
    classes, index = np.unique(np.concatenate([y, predicted]), return_inverse=True)
    true, guess = index[: len(y)], index[len(y) :]
    true_sum = np.bincount(true, minlength=len(classes)).astype(np.float64)
    pred_sum = np.bincount(guess, minlength=len(classes)).astype(np.float64)
    tp = np.bincount(true[true == guess], minlength=len(classes)).astype(np.float64)
    # Every class here was seen in y or predicted, so true_sum + pred_sum > 0.
    f1 = 2.0 * tp / (true_sum + pred_sum)
    return {
        "accuracy": float(np.mean(predicted == y)),
        "macro_f1": float(np.average(f1)),
    }


def outputs_by_length(
    model: nn.Module,
    items: list,
    collate: Callable,
    *,
    batch_size: int,
    device: torch.device | str = "cpu",
    bf16: bool = False,
) -> Tensor:
    """The model's (N, O) outputs for ``items`` (sequences of any length), in eval mode, in
    batches of similar length (sorted, so little padding; a sequence's output does not depend
    on its batch) made by ``collate(list) -> inputs``; rows in the items' order."""
    device = torch.device(device)
    order = sorted(range(len(items)), key=lambda i: len(items[i]))
    was_training = model.training
    model.eval()
    outs = []
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
        for start in range(0, len(order), batch_size):
            inputs = collate([items[i] for i in order[start : start + batch_size]])
            outs.append(model(*inputs.to(device)).float().cpu())
    model.train(was_training)
    output = torch.empty(len(order), outs[0].shape[1])
    output[torch.tensor(order)] = torch.cat(outs)
    return output


def stratified_holdout(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``round(fraction * N)`` (at least 1) of the N series, each class
    contributing in proportion to its size (largest remainders first) and keeping at least one
    series for training; drawn with ``seed``."""
    classes, counts = np.unique(y, return_counts=True)
    room = counts - 1
    if room.sum() == 0:
        from rnnkit.timeseries.data import SeriesError  # the error type both callers raise

        raise SeriesError("task.valid: every label has a single training series, so none can be "
                          "held out for validation; pass --valid FILE")  # fmt: skip
    n = min(max(1, round(fraction * len(y))), int(room.sum()))
    share = n * counts / len(y)
    take = np.minimum(np.floor(share).astype(int), room)
    for k in np.argsort(-(share - take), kind="stable"):  # the remainder, largest first
        if take.sum() >= n:
            break
        if take[k] < room[k]:
            take[k] += 1
    for k in np.argsort(counts, kind="stable")[::-1]:  # any still missing, from big classes
        while take.sum() < n and take[k] < room[k]:
            take[k] += 1
    rng = np.random.default_rng(seed)
    held = [rng.permutation(np.flatnonzero(y == c))[:t] for c, t in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(held))


def sorted_labels(labels: Sequence[str]) -> list[str]:
    """Distinct labels, numerically sorted when all are numbers, else as strings."""
    distinct = set(labels)
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


class Splits:
    """Split name -> data, each read (or generated) by its own function once, when first
    asked for: a loaded model needs none of them, a trainer asks for all before step 1."""

    def __init__(self, task: str, loaders: dict[str, Callable[[], Any]]) -> None:
        self.task, self.loaders, self._data = task, loaders, {}

    def __getitem__(self, split: str) -> Any:
        if split not in self._data:
            if split not in self.loaders:
                raise ValueError(f"split: task {self.task!r} has no {split!r} data")
            self._data[split] = self.loaders[split]()
        return self._data[split]

    def load(self) -> None:
        """Read every split now, so that a bad file fails before training starts."""
        for split in self.loaders:
            self[split]


# -- config pieces tasks share -------------------------------------------------------------


@dataclass(frozen=True)
class GeneratedSets(TaskConfig):
    """Fields of a task that generates its validation and test sets."""

    valid_size: int = 1000
    """Sequences in the validation set."""
    test_size: int = 1000
    """Sequences in the test set."""
    data_seed: int = 1234
    """Seed of the validation and test sets."""

    def _check(self) -> None:
        self._positive("valid_size", "test_size")


@dataclass(frozen=True)
class TokenModel(TaskConfig):
    """Fields of a task whose model reads token ids through an embedding table."""

    embed: int | None = None
    """E, the token embedding size; None: the hidden size (or the --embeddings file's)."""
    embeddings: str | None = None
    """Initialize the token embeddings from this GloVe/word2vec text file (its dimension is
    the embedding size; words it lacks start random)."""

    def _check(self) -> None:
        self._positive("embed")


def check_files(config: TaskConfig, reader: str, form: str) -> None:
    """The files of a config that serves several task names of which only ``reader`` reads
    files (``data`` and ``valid`` needed, ``test`` optional; ``form`` says what they hold) and
    the others generate their data: ConfigError for a file missing, or given to a name that
    generates its own."""
    files = {"data": config.data, "valid": config.valid, "test": config.test}
    if config.name == reader:
        for key in ("data", "valid"):
            if files[key] is None:
                raise ConfigError(f"task.{key}: task {reader!r} needs --{key} FILE ({form})")
        return
    for key, value in files.items():
        if value is not None:
            raise ConfigError(f"task.{key}: only for task {reader!r} (task {config.name!r} "
                              f"makes its own data), got {value!r}")  # fmt: skip


def refuse(fields: dict[str, bool], why: str) -> None:
    """ConfigError for the first field set (True) in ``fields``: ``"<field>: <why>"``."""
    for name, used in fields.items():
        if used:
            raise ConfigError(f"{name}: {why}")


def _call(model: nn.Module, x: Any, **kwargs: Any) -> Any:
    """``model(x)``; a tuple of inputs is passed as separate arguments."""
    return model(*x, **kwargs) if isinstance(x, tuple) else model(x, **kwargs)


@dataclass
class StepContext:
    """What a training step needs from the loop besides the batch.

    Attributes:
        model: the model itself (``net`` may be a DistributedDataParallel around it).
        step: the step being taken (1 for the first). steps: the run's last step.
        batch_size: the global batch (all workers' rows; ``x`` holds this worker's).
        tbptt: truncated BPTT chunk length; 0: the whole sequence.
        precision: ``"fp32"`` or ``"bf16"`` (autocast on ``device``).
        device: where the model is.
    """

    model: nn.Module
    step: int
    steps: int
    batch_size: int
    tbptt: int
    precision: str
    device: torch.device

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16,
                              enabled=self.precision == "bf16")  # fmt: skip


class Task(ABC):
    """A supervised sequence task.

    Attributes:
        name: the config name.
        output: ``"regression"`` (one number per sequence, model output (B, 1)),
            ``"classification"`` (model output (B, C) logits) or ``"tagging"``
            (one class per step, model output (B, T, C) logits) or ``"seq2seq"`` (text to
            text; see :class:`~rnnkit.tasks.translate.Seq2SeqTask`) or ``"lm"`` (next token,
            model output ``(logits (B, T, V), state)``, the state carried across steps).
        input_size: D, features per step. output_size: 1 or C.
        metrics: metric name -> ``"min"`` or ``"max"`` (which way is better); the first is the
            task's main metric.
        target: ``(metric, threshold)`` that counts as solved, or None.
        baseline: what a model without memory scores, by metric name.
        baseline_label: what the baseline is, for people.
    """

    name: ClassVar[str]
    output: ClassVar[Output]
    metrics: ClassVar[dict[str, Literal["min", "max"]]]
    input_size: int
    output_size: int
    target: tuple[str, float] | None = None
    baseline: dict[str, float]
    baseline_label: ClassVar[str] = "memoryless baseline"

    Config: ClassVar[type[TaskConfig]] = TaskConfig
    """The task's config dataclass: the ``task`` section and the task's flags."""
    models: ClassVar[tuple[str, ...]] = ("sequence",)
    """The ``model.name`` values this task builds (the first is the default)."""
    no_tbptt: ClassVar[str | None] = None
    """Why truncated BPTT does not apply to this task (None: it does)."""
    shapes: ClassVar[tuple[str, ...]] = ()
    """Fields of :attr:`Config` that shape the model's weights: a checkpoint written with
    other values is refused, as for the model fields."""

    # -- set-up hooks ---------------------------------------------------------------------------
    @classmethod
    def from_config(cls, config: TaskConfig, state: dict[str, Any] | None = None) -> Task:
        """The task ``config`` describes; ``state`` is what :meth:`state_dict` saved (a
        vocabulary), so a loaded run needs no training data."""
        return cls(config, state)  # type: ignore[call-arg]

    @classmethod
    def check(cls, config: RunConfig) -> None:
        """Refuse, before any data is read, model and train fields this task cannot use.
        Tasks extend it (``super().check(config)`` first)."""
        m, t, name = config.model, config.train, config.task.name
        if cls.model_name(config) not in cls.models:
            built = " or ".join(map(repr, cls.models))
            raise ConfigError(f"model.name: task {name!r} builds {built}, got {m.name!r}")
        if t.tbptt and cls.no_tbptt:
            raise ConfigError(f"train.tbptt: not for task {name!r} ({cls.no_tbptt})")
        if t.tbptt and m.bidirectional:
            raise ConfigError("train.tbptt: not with a bidirectional model (it reads the future)")
        if t.tbptt and cls.output != "tagging" and m.pooling != "last":
            raise ConfigError(
                f"train.tbptt: with a sequence-level task ({name!r}) only the last chunk is "
                f"backpropagated, so pooling must be 'last', got {m.pooling!r}"
            )

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """The model ``config.model`` describes, sized for this task, initialized as
        configured (draws from torch's global RNG: seed it first). ``initialize=False``
        skips the configured initialization (weights about to be loaded need none). Here: a
        :class:`~rnnkit.models.SequenceModel` over the task's features."""
        from rnnkit.models import SequenceModel
        from rnnkit.models.build import initialize_runners, runner_options

        model = SequenceModel(
            self.input_size,
            self.output_size,
            head="step" if self.output == "tagging" else "sequence",
            pooling=config.model.pooling,
            **runner_options(config.model),
        )
        if initialize:
            initialize_runners(config.model, [model.encoder], span=self.span())
        return model

    @classmethod
    def model_name(cls, config: RunConfig) -> str:
        """The model ``config`` asks for, ``auto`` being the task's default (its first)."""
        return cls.models[0] if config.model.name == "auto" else config.model.name

    @classmethod
    def hidden_size(cls, config: RunConfig) -> int:
        """The hidden size ``config`` asks for, ``auto`` being the task's (here 128)."""
        return 128 if config.model.hidden == "auto" else config.model.hidden

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        """Flat config overrides (task fields) for a tiny run of task ``name``, seconds on a
        CPU, writing any data file it needs into ``directory``: what the contract test trains
        every registered task with. Here: none (small generated sets need no file)."""
        return {}

    @classmethod
    def resolve_config(cls, config: RunConfig) -> RunConfig:
        """``config`` with the fields a new run's files fix filled in (an embeddings file's
        dimension); as it is by default."""
        return config

    def default_steps(self, batch_size: int) -> int:
        """The training length of ``--steps auto`` (here 3000 steps), with the data loaded."""
        return 3000

    def label(self, config: RunConfig) -> str:
        """A short name of the model for people (the cell, here)."""
        return config.model.cell

    # -- training hooks -------------------------------------------------------------------------
    def steps_of(self, x: Any) -> Tensor:
        """The (B, T, ...) sequence tensor of a batch's inputs ``x`` (the first of a tuple)."""
        return x if isinstance(x, Tensor) else x[0]

    def span(self) -> int:
        """The number of steps a task's sequences have (the longest dependency chrono
        covers)."""
        x, _ = self.train_batch(0, 1, 0)
        return self.steps_of(x).shape[1]

    def forward(self, model: nn.Module, x: Any) -> Any:
        """The model's output on inputs ``x`` (a tuple is passed as separate arguments), as
        :meth:`loss` takes it."""
        return _call(model, x)

    def train_step(self, net: nn.Module, x: Any, y: Any, ctx: StepContext) -> float:
        """Forward and backward of one batch: gradients accumulate in the parameters of
        ``net`` (``ctx.model``, or DDP around it); returns the loss. With ``ctx.tbptt``, in
        truncated-BPTT chunks."""
        if ctx.tbptt and ctx.tbptt < self.steps_of(x).shape[1]:
            from rnnkit.training.truncated import truncated_backward

            return truncated_backward(ctx.model, x, y, self.loss, k=ctx.tbptt,
                                      per_step=self.output == "tagging",
                                      autocast=ctx.autocast)  # fmt: skip
        with ctx.autocast():
            loss = self.loss(self.forward(net, x), y)
        loss.backward()
        return loss.item()

    def carried(self) -> dict[str, Tensor]:
        """State carried from one training batch to the next (a language model's), for the
        checkpoint; nothing by default."""
        return {}

    def load_carried(self, tensors: dict[str, Tensor], device: torch.device) -> None:
        """Take back what :meth:`carried` saved."""
        return None

    def forget_carried(self) -> None:
        """Drop the carried state (after a skipped, non-finite step)."""
        return None

    # -- predict and export ---------------------------------------------------------------------
    def predict_input(self, path: str) -> list:
        """What ``rnnkit predict --input PATH`` reads (``-``: standard input), as picklable
        items (numpy arrays, strings): here JSON lines of sequences of ``input_size``
        numbers per step. A task whose model reads something else raises UsageError naming
        the command that reads it."""
        from rnnkit.inputs import read_sequences

        return [s.numpy() for s in read_sequences(path, self.input_size)]

    def predict_batch(self, model: nn.Module, items: list) -> list[str]:
        """One JSON line (ending in a newline) per item of a batch: here a regression's
        ``{"prediction": y}``, a classifier's ``{"label": k, "probabilities": [...]}``, a
        tagger's ``{"labels": [...]}``."""
        import json

        from torch.nn.utils.rnn import pad_sequence

        chunk = [torch.as_tensor(item) for item in items]
        lengths = torch.tensor([len(s) for s in chunk])
        with torch.no_grad():
            y = model(pad_sequence(chunk, batch_first=True), lengths)  # (B, T, D) in
        out = []
        for i, n in enumerate(lengths.tolist()):
            if self.output == "regression":
                row: dict[str, Any] = {"prediction": round(y[i].item(), 6)}
            elif self.output == "classification":
                probs = y[i].softmax(-1)
                row = {"label": int(probs.argmax()),
                       "probabilities": [round(p, 6) for p in probs.tolist()]}  # fmt: skip
            else:
                row = {"labels": y[i, :n].argmax(-1).tolist()}
            out.append(json.dumps(row) + "\n")
        return out

    def export_example(self) -> Tensor:
        """A (2, T, D) input that ``rnnkit export`` traces the model with; a task whose model
        ONNX and TorchScript cannot capture raises ExportError saying why."""
        x = self.eval_set("valid")[0]
        if isinstance(x, tuple):  # series with their lengths: the exported model takes x
            x = x[0]
        return x[:2]

    # -- results --------------------------------------------------------------------------------
    @staticmethod
    def summary_lines(summary: dict[str, Any]) -> list[str]:
        """Lines for people about what :meth:`report` added to a summary (none here)."""
        return []

    @abstractmethod
    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        """The batch for training step ``step``: ``x`` (B, T, D) and targets, on the CPU."""

    def longest_example(self, seed: int) -> tuple[Any, Any]:
        """A training batch of one sequence, as long as any training sequence: what the memory
        guard measures (:mod:`rnnkit.training.resources`). Tasks whose sequences all have one
        length (or a length the config sets) take step 1's; tasks reading files override it."""
        return self.train_batch(1, 1, seed)

    def train_batch_part(
        self, step: int, batch_size: int, seed: int, rank: int, world: int
    ) -> tuple[Any, Any]:
        """Rows [rank B/W, (rank+1) B/W) of ``train_batch(step, batch_size, seed)``: one
        worker's share of the global batch in data-parallel training (W = ``world``)."""
        x, y = self.train_batch(step, batch_size, seed)
        return rows(x, rank, world), rows(y, rank, world)

    @abstractmethod
    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        """The fixed validation or test set: all inputs and all targets."""

    @abstractmethod
    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        """Scalar training loss of model ``output`` against targets ``y``."""

    @abstractmethod
    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """Every metric in :attr:`metrics`, plus ``"loss"``, over a whole evaluation set."""

    def evaluate(
        self,
        model: nn.Module,
        split: Split,
        *,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
        bf16: bool = False,
        final: bool = False,
        **decoding: Any,
    ) -> dict[str, float]:
        """Score ``model`` on the fixed ``split``: every metric, plus ``"loss"``.

        ``final``: the run's final scores (a task that decodes may then search wider than
        during training, as its config says); ``decoding`` options (beam size, length
        penalty) override that. Here the model's outputs on :meth:`eval_set` are scored in
        batches.
        """
        device = torch.device(device)
        x, y = self.eval_set(split)
        was_training = model.training
        model.eval()
        outs = []
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16),
        ):
            for xb in x.split(batch_size):
                outs.append(model(xb.to(device)).float().cpu())
        model.train(was_training)
        return self.score(torch.cat(outs), y)

    def load(self) -> None:
        """Read every data file now, so that a bad one fails before training (nothing to
        read by default)."""
        return None

    def report(
        self, model: nn.Module, run_dir: Path, *, device: torch.device | str
    ) -> dict[str, Any] | None:
        """Write task-specific figures and tables into ``run_dir`` after training (none by
        default); a returned dict is added to the run's ``summary.json``."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint must keep to rebuild this task without its data (e.g. a
        vocabulary), as plain JSON; nothing by default."""
        return {}

    def reached(self, metrics: dict[str, float]) -> bool:
        """Whether ``metrics`` meet :attr:`target`."""
        if self.target is None:
            return False
        name, threshold = self.target
        better = self.metrics[name]
        value = metrics[name]
        return value < threshold if better == "min" else value > threshold

    def describe(self) -> str:
        """One line for people: the task, its size and its baseline."""
        base = ", ".join(f"{k} {v:.4g}" for k, v in self.baseline.items())
        return f"{self.name} ({self.baseline_label}: {base})"
