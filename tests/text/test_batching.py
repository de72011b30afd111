"""Length-bucketed batches cover every example once and pad far less than random ones."""

import random

import pytest

from rnnkit.text.batching import bucket_batches


def _padding(batches, lengths):
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    return 1 - sum(lengths) / padded


def test_every_index_once_and_little_padding():
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(2000)]
    batches = bucket_batches(lengths, 32, seed=1, pool=20)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(2000))
    assert all(1 <= len(b) <= 32 for b in batches)
    order = list(range(2000))
    random.Random(1).shuffle(order)
    unbucketed = [order[i : i + 32] for i in range(0, 2000, 32)]
    assert _padding(batches, lengths) < 0.1 < 0.3 < _padding(unbucketed, lengths)


def test_seeded_and_unshuffled_orders():
    lengths = [5, 1, 3, 2, 4]
    assert bucket_batches(lengths, 2, seed=3) == bucket_batches(lengths, 2, seed=3)
    assert bucket_batches(lengths, 2, seed=0, shuffle=False) == [[1, 3], [2, 4], [0]]
    with pytest.raises(ValueError, match="batch_size: expected at least 1, got 0"):
        bucket_batches(lengths, 0, seed=0)
