"""The adding problem (Hochreiter & Schmidhuber 1997), with the protocol of Le et al. (2015).

Each sequence has two input channels: values drawn from U(0, 1) and a marker channel with
exactly two ones, one in each half of the sequence. The target is the sum of the two marked
values. Always predicting the mean, 1.0, gives MSE = 2 * Var(U(0,1)) = 1/6 ~ 0.167: a model must
beat that to show it carries information across the sequence. Solved means MSE < 0.01.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.tasks.base import GeneratedSets, Split, Task, stream_generator

BASELINE_MSE = 1.0 / 6.0


def adding_batch(
    batch: int, length: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw one batch. Returns ``x`` (B, T, 2) and ``y`` (B,).

    Example::

        >>> x, y = adding_batch(4, 10, generator=torch.Generator().manual_seed(0))
        >>> x.shape, bool(((x[..., 1] * x[..., 0]).sum(1) == y).all())
        (torch.Size([4, 10, 2]), True)
    """
    if length < 2:
        raise ValueError(f"length: expected at least 2 steps, got {length}")
    values = torch.rand(batch, length, generator=generator)
    half = length // 2
    first = torch.randint(0, half, (batch,), generator=generator)
    second = torch.randint(half, length, (batch,), generator=generator)
    markers = torch.zeros(batch, length)
    rows = torch.arange(batch)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = torch.stack([values, markers], dim=-1)
    y = values[rows, first] + values[rows, second]
    return x, y


@dataclass(frozen=True)
class AddingConfig(GeneratedSets):
    """The adding problem's length and its generated sets."""

    seq_len: int = 100
    """T, the sequence length (at least 2)."""

    def _check(self) -> None:
        super()._check()
        self._positive("seq_len")


class AddingTask(Task):
    """The adding problem as a regression task: x (B, T, 2) -> y (B,); metric MSE."""

    name = "adding"
    output = "regression"
    metrics = {"mse": "min"}
    Config = AddingConfig

    @classmethod
    def from_config(cls, config: AddingConfig, state: dict[str, Any] | None = None) -> AddingTask:
        return cls(config.seq_len, valid_size=config.valid_size, test_size=config.test_size,
                   seed=config.data_seed)  # fmt: skip

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        return {"seq_len": 10, "valid_size": 50, "test_size": 50}

    def __init__(
        self, seq_len: int = 100, *, valid_size: int = 1000, test_size: int = 1000, seed: int = 1
    ) -> None:
        if seq_len < 2:
            raise ValueError(f"seq_len: the adding problem needs at least 2 steps, got {seq_len}")
        self.seq_len = seq_len
        self.sizes = {"valid": valid_size, "test": test_size}
        self.seed = seed
        self.input_size = 2
        self.output_size = 1
        self.target = ("mse", 0.01)
        self.baseline = {"mse": BASELINE_MSE}

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        return adding_batch(
            batch_size, self.seq_len, generator=stream_generator(seed, "train", step)
        )

    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        gen = stream_generator(self.seed, split)
        return adding_batch(self.sizes[split], self.seq_len, generator=gen)

    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(output.squeeze(-1).float(), y)

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        mse = F.mse_loss(output.squeeze(-1).float(), y).item()
        return {"mse": mse, "loss": mse}
