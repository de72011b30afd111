"""What every task provides to the trainer: batches drawn from a seed, a head kind, a loss and
named metrics. Batches are a pure function of ``(seed, step)``, so a resumed run sees exactly
the batches an uninterrupted one would, and nothing large is ever held in memory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

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
        **decoding: Any,
    ) -> dict[str, float]:
        """Score ``model`` on the fixed ``split``: every metric, plus ``"loss"``.

        ``decoding`` options (beam size, length penalty) matter to tasks that decode; here
        the model's outputs on :meth:`eval_set` are scored in batches.
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
