"""Batches of similar lengths, so little of each padded batch is padding."""

from __future__ import annotations

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
