"""Length-bucketed batches cover every example once and pad far less than random ones."""

import random

import pytest

from rnnkit.text.batching import EpochBatches, bucket_batches


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


@pytest.mark.parametrize("n, batch_size, pool", [(20, 4, 50), (103, 8, 3), (7, 10, 2), (64, 8, 1)])
def test_epoch_batches_cover_every_example_once_per_epoch(n, batch_size, pool):
    lengths = [(i * 7) % 13 + 1 for i in range(n)]
    batches = EpochBatches(lengths, pool=pool)
    per_epoch = batches.per_epoch(batch_size)
    for epoch in range(3):
        steps = range(epoch * per_epoch + 1, (epoch + 1) * per_epoch + 1)
        seen = [i for step in steps for i in batches.batch(step, batch_size, seed=5)]
        assert sorted(seen) == list(range(n))  # every example exactly once
    assert per_epoch == len(bucket_batches(lengths, batch_size, seed=0, pool=pool))
    first = [batches.batch(s, batch_size, seed=5) for s in range(1, per_epoch + 1)]
    again = EpochBatches(lengths, pool=pool)  # a pure function of (step, batch size, seed)
    assert [again.batch(s, batch_size, seed=5) for s in range(1, per_epoch + 1)] == first
    second = [batches.batch(s, batch_size, seed=5) for s in range(per_epoch + 1, 2 * per_epoch + 1)]
    assert second != first or per_epoch == 1  # a new order each epoch


def test_epoch_batches_bucket_once_per_epoch(monkeypatch):
    import rnnkit.text.batching as batching

    calls = []
    real = batching.bucket_batches
    monkeypatch.setattr(
        batching, "bucket_batches", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    batches = EpochBatches(list(range(1, 41)), pool=2)
    per_epoch = batches.per_epoch(4)
    for step in range(1, 3 * per_epoch + 1):
        batches.batch(step, 4, seed=0)
    assert len(calls) == 3
