"""The copy memory task of Arjovsky, Shah & Bengio (2016), "Unitary Evolution Recurrent Neural
Networks", section 4.1.

The alphabet has 10 categories: 0 is the blank, 1..8 are the symbols and 9 is the delimiter.
An input sequence of length T + 20 holds 10 symbols drawn uniformly from 1..8, then T - 1
blanks, then the delimiter, then 10 blanks. The target sequence, of the same length, is T + 10
blanks followed by the same 10 symbols: after the delimiter the network must recall them in
order. The loss is the cross-entropy averaged over all T + 20 steps, as in the paper. A
memoryless strategy (predict blank for T + 10 steps, then a uniform guess over the 8 symbols)
scores a mean cross-entropy of 10 log(8) / (T + 20) and recalls 1/8 of the symbols. Solved
means more than 99% of the recalled symbols are right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.tasks.base import GeneratedSets, Split, Task, stream_generator

BLANK = 0
DELIMITER = 9
SYMBOLS = 8
"""Symbols are the categories 1..SYMBOLS."""
CATEGORIES = 10
RECALL = 10
"""Symbols to remember per sequence."""


def copy_batch(
    batch: int, blanks: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw one batch with ``blanks`` blanks between the last symbol and the delimiter.

    The paper's delay T is ``blanks + 1``; sequences have T + 20 = ``blanks + 21`` steps.

    Returns:
        ``x`` (B, T + 20, 10) one-hot float inputs and ``y`` (B, T + 20) long targets.

    Example::

        >>> x, y = copy_batch(2, 3, generator=torch.Generator().manual_seed(0))
        >>> x.shape, y.shape, bool((y[:, -10:] == x[:, :10].argmax(-1)).all())
        (torch.Size([2, 24, 10]), torch.Size([2, 24]), True)
    """
    if blanks < 0:
        raise ValueError(f"blanks: expected a number >= 0, got {blanks}")
    length = blanks + 2 * RECALL + 1
    symbols = torch.randint(1, SYMBOLS + 1, (batch, RECALL), generator=generator)
    inputs = torch.full((batch, length), BLANK, dtype=torch.long)  # (B, T + 20)
    inputs[:, :RECALL] = symbols
    inputs[:, RECALL + blanks] = DELIMITER
    y = torch.full((batch, length), BLANK, dtype=torch.long)  # (B, T + 20)
    y[:, -RECALL:] = symbols
    x = F.one_hot(inputs, CATEGORIES).float()  # (B, T + 20, 10)
    return x, y


@dataclass(frozen=True)
class CopyConfig(GeneratedSets):
    """The copy task's delay and its generated sets."""

    seq_len: int = 100
    """T, the delay: the recall cue comes T steps after the last symbol (sequences have
    T + 20 steps)."""

    def _check(self) -> None:
        super()._check()
        self._positive("seq_len")


class CopyTask(Task):
    """The copy memory task as tagging: x (B, T + 20, 10) -> y (B, T + 20); model output is
    logits (B, T + 20, 10).

    Args:
        seq_len: T, the delay; the delimiter comes T steps after the last symbol (T >= 1).
        valid_size, test_size: sequences in the validation and test sets.
        seed: seed of the validation and test sets.
    """

    name = "copy"
    output = "tagging"
    metrics = {"xent": "min", "accuracy": "max"}
    Config = CopyConfig

    @classmethod
    def from_config(cls, config: CopyConfig, state: dict[str, Any] | None = None) -> CopyTask:
        return cls(config.seq_len, valid_size=config.valid_size, test_size=config.test_size,
                   seed=config.data_seed)  # fmt: skip

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        return {"seq_len": 10, "valid_size": 50, "test_size": 50}

    def __init__(
        self, seq_len: int = 100, *, valid_size: int = 1000, test_size: int = 1000, seed: int = 1
    ) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len: the copy task needs a delay of at least 1, got {seq_len}")
        self.seq_len = seq_len
        self.sizes = {"valid": valid_size, "test": test_size}
        self.seed = seed
        self.input_size = CATEGORIES
        self.output_size = CATEGORIES
        self.target = ("accuracy", 0.99)
        self.baseline = {
            "xent": RECALL * math.log(SYMBOLS) / (seq_len + 2 * RECALL),
            "accuracy": 1.0 / SYMBOLS,
        }

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        gen = stream_generator(seed, "train", step)
        return copy_batch(batch_size, self.seq_len - 1, generator=gen)

    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        gen = stream_generator(self.seed, split)
        return copy_batch(self.sizes[split], self.seq_len - 1, generator=gen)

    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        """Mean cross-entropy over every step of every sequence: output (B, T + 20, 10)."""
        return F.cross_entropy(output.float().flatten(0, 1), y.flatten())

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """``xent`` (the loss) and ``accuracy``, the fraction of recalled symbols predicted
        exactly, over the last 10 steps."""
        xent = self.loss(output, y).item()
        recalled = output[:, -RECALL:].argmax(-1) == y[:, -RECALL:]  # (B, 10)
        return {"xent": xent, "accuracy": recalled.float().mean().item(), "loss": xent}
