"""Sequential and permuted sequential digits: a small, download-free stand-in for sequential
MNIST and permuted sequential MNIST (Le, Jaitly & Hinton 2015, "A Simple Way to Initialize
Recurrent Networks of Rectified Linear Units").

The images are scikit-learn's bundled 8x8 handwritten digits (``sklearn.datasets.load_digits``,
1797 images, 10 classes). Each image is read one pixel per step in row-major order: 64 steps of
one feature, the pixel value divided by 16 so it lies in [0, 1]. The permuted version reorders
the 64 steps of every image by one fixed random permutation drawn from the seed, which spreads
neighbouring pixels far apart in time. The split is fixed by the seed too: the 1797 images are
shuffled once, then 1297 train, 250 valid and 250 test; it does not depend on ``permuted``.
Solved means test accuracy above 95%.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.tasks.base import Split, Task, stream_generator
from rnnkit.training.config import TaskConfig

STEPS = 64
CLASSES = 10
IMAGES = 1797
SPLIT_SIZES = {"train": 1297, "valid": 250, "test": 250}


@functools.lru_cache(maxsize=1)
def load_digits() -> tuple[Tensor, Tensor]:
    """All 1797 images, loaded once: pixels (N, 64) float32 in [0, 1] and labels (N,) long."""
    from sklearn.datasets import load_digits as sklearn_digits

    data = sklearn_digits()
    pixels = torch.as_tensor(data.data, dtype=torch.float32) / 16.0  # (N, 64)
    labels = torch.as_tensor(data.target, dtype=torch.long)  # (N,)
    return pixels, labels


@dataclass(frozen=True)
class DigitsConfig(TaskConfig):
    """Digits read pixel by pixel (digits), or in a fixed random order (permuted_digits)."""

    data_seed: int = 1234
    """Seed of the train/valid/test split and of the pixel permutation."""


class DigitsTask(Task):
    """8x8 digits read pixel by pixel as classification: x (B, 64, 1) -> y (B,); model output
    is logits (B, 10).

    Args:
        permuted: read the pixels in a fixed random order (``name`` is then
            ``"permuted_digits"``).
        seed: seed of the train/valid/test split and of the permutation.
    """

    name = "digits"
    output = "classification"
    metrics = {"accuracy": "max", "xent": "min"}
    Config = DigitsConfig

    @classmethod
    def from_config(cls, config: DigitsConfig, state: dict[str, Any] | None = None) -> DigitsTask:
        return cls(permuted=config.name != cls.name, seed=config.data_seed)

    def __init__(self, *, permuted: bool = False, seed: int = 1) -> None:
        self.name = "permuted_digits" if permuted else "digits"
        self.permuted = permuted
        self.seed = seed
        self.seq_len = STEPS
        self.input_size = 1
        self.output_size = CLASSES
        self.target = ("accuracy", 0.95)
        # The pixel order (64,); the same for every image.
        if permuted:
            self.order = torch.randperm(STEPS, generator=torch.Generator().manual_seed(seed))
        else:
            self.order = torch.arange(STEPS)
        shuffled = torch.randperm(IMAGES, generator=torch.Generator().manual_seed(seed))
        parts = shuffled.split(list(SPLIT_SIZES.values()))
        self.indices = dict(zip(SPLIT_SIZES, parts, strict=True))  # split name -> image indices
        _, labels = load_digits()
        prior = torch.bincount(labels[self.indices["train"]], minlength=CLASSES).float()
        prior = prior / prior.sum()
        test = labels[self.indices["test"]]
        self.baseline = {
            "accuracy": torch.bincount(test, minlength=CLASSES).max().item() / len(test),
            "xent": -prior.log()[test].mean().item(),
        }

    def _gather(self, indices: Tensor) -> tuple[Tensor, Tensor]:
        pixels, labels = load_digits()
        x = pixels[indices][:, self.order].unsqueeze(-1)  # (B, 64, 1)
        return x, labels[indices]

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        """``batch_size`` training images drawn uniformly with replacement."""
        train = self.indices["train"]
        pick = torch.randint(
            0, len(train), (batch_size,), generator=stream_generator(seed, "train", step)
        )
        return self._gather(train[pick])

    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        return self._gather(self.indices[split])

    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(output.float(), y)

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        xent = self.loss(output, y).item()
        accuracy = (output.argmax(-1) == y).float().mean().item()
        return {"accuracy": accuracy, "xent": xent, "loss": xent}
