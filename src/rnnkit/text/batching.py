"""Batches of similar lengths, so little of each padded batch is padding."""

from __future__ import annotations

import math
import random


def bucket_batches(
    lengths: list[int], batch_size: int, *, seed: int, pool: int = 50, shuffle: bool = True
) -> list[list[int]]:
    """Group example indices into batches of similar length.

    The indices are shuffled (if ``shuffle``), cut into pools of ``pool * batch_size``, each
    pool sorted by length and cut into batches; the batch order is shuffled again. Every index
    appears in exactly one batch; the last batch of a pool may be smaller.

    Args:
        lengths: the length of each example (e.g. source tokens).
        batch_size: examples per batch. seed: makes the order reproducible.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size: expected at least 1, got {batch_size}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    if shuffle:
        rng.shuffle(order)
    batches = []
    size = pool * batch_size
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    if shuffle:
        rng.shuffle(batches)
    return batches


class EpochBatches:
    """Training batches over a fixed dataset, epoch after epoch: the batch of training step
    ``step`` (1, 2, ...) is a pure function of ``(step, batch_size, seed)``, so a resumed run
    sees exactly the batches an uninterrupted one would.

    Each epoch is bucketed by length (:func:`bucket_batches`) in its own shuffled order; the
    current epoch is cached.

    Args:
        lengths: the length of each example. pool: see :func:`bucket_batches`.
    """

    def __init__(self, lengths: list[int], *, pool: int = 50) -> None:
        if not lengths:
            raise ValueError("lengths: expected at least one example")
        self.lengths, self.pool = lengths, pool
        self._cached: tuple[tuple[int, int, int], list[list[int]]] | None = None

    def per_epoch(self, batch_size: int) -> int:
        """Batches in an epoch: every pool of ``pool * batch_size`` examples is cut into
        batches, the last one possibly smaller."""
        size = self.pool * batch_size
        full, rest = divmod(len(self.lengths), size)
        return full * math.ceil(size / batch_size) + math.ceil(rest / batch_size)

    def epoch(self, epoch: int, batch_size: int, seed: int) -> list[list[int]]:
        """All batches (lists of example indices) of epoch ``epoch``."""
        key = (epoch, batch_size, seed)
        if self._cached is None or self._cached[0] != key:
            order_seed = random.Random(seed * 1_000_003 + epoch).getrandbits(63)
            batches = bucket_batches(self.lengths, batch_size, seed=order_seed, pool=self.pool)
            self._cached = (key, batches)
        return self._cached[1]

    def batch(self, step: int, batch_size: int, seed: int) -> list[int]:
        """The example indices of training step ``step`` (step 0 reads as step 1)."""
        epoch, index = divmod(max(step, 1) - 1, self.per_epoch(batch_size))
        return self.epoch(epoch, batch_size, seed)[index]
