"""What every task provides to the trainer: batches drawn from a seed, a head kind, a loss and
named metrics. Batches are a pure function of ``(seed, step)``, so a resumed run sees exactly
the batches an uninterrupted one would, and nothing large is ever held in memory."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import torch
from torch import Tensor

Split = Literal["valid", "test"]
Output = Literal["regression", "classification", "tagging"]

# Streams of random numbers that never overlap: training batches, validation, test.
_STREAMS = {"train": 0, "valid": 1, "test": 2}


def stream_generator(seed: int, stream: str, index: int = 0) -> torch.Generator:
    """A CPU generator seeded from ``(seed, stream, index)``: independent draws per step."""
    mixed = (seed * 0x9E3779B97F4A7C15 + _STREAMS[stream] * 0xBF58476D1CE4E5B9 + index) % 2**63
    return torch.Generator().manual_seed(mixed)


class Task(ABC):
    """A supervised sequence task.

    Attributes:
        name: the config name.
        output: ``"regression"`` (one number per sequence, model output (B, 1)),
            ``"classification"`` (model output (B, C) logits) or ``"tagging"``
            (one class per step, model output (B, T, C) logits).
        input_size: D, features per step. output_size: 1 or C.
        metrics: metric name -> ``"min"`` or ``"max"`` (which way is better); the first is the
            task's main metric.
        target: ``(metric, threshold)`` that counts as solved, or None.
        baseline: what a model without memory scores, by metric name.
    """

    name: ClassVar[str]
    output: ClassVar[Output]
    metrics: ClassVar[dict[str, Literal["min", "max"]]]
    input_size: int
    output_size: int
    target: tuple[str, float] | None = None
    baseline: dict[str, float]

    @abstractmethod
    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        """The batch for training step ``step``: ``x`` (B, T, D) and targets, on the CPU."""

    @abstractmethod
    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        """The fixed validation or test set: all inputs and all targets."""

    @abstractmethod
    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        """Scalar training loss of model ``output`` against targets ``y``."""

    @abstractmethod
    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """Every metric in :attr:`metrics`, plus ``"loss"``, over a whole evaluation set."""

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
        return f"{self.name} (memoryless baseline: {base})"
