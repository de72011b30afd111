"""Pooling over time ignores padded steps and agrees with a per-sequence loop and with the
runner's own final states."""

import pytest
import torch

from rnnkit.layers import Recurrent
from rnnkit.layers.pooling import pool

LENGTHS = torch.tensor([5, 2, 4, 1])


def _naive(out, kind, lengths):
    rows = []
    for b, n in enumerate(lengths.tolist()):
        valid = out[b, :n]
        rows.append({"last": valid[-1], "mean": valid.mean(0), "max": valid.max(0).values}[kind])
    return torch.stack(rows)


@pytest.mark.parametrize("kind", ["last", "mean", "max"])
def test_pool_matches_a_loop_over_valid_steps(kind):
    out = torch.randn(4, 5, 3)
    out[1, 2:] = 100.0  # padding that must not leak into any summary
    torch.testing.assert_close(pool(out, kind, lengths=LENGTHS), _naive(out, kind, LENGTHS))


@pytest.mark.parametrize("kind", ["last", "mean", "max"])
def test_pool_without_lengths_uses_every_step(kind):
    out = torch.randn(3, 6, 2)
    full = torch.full((3,), 6)
    torch.testing.assert_close(pool(out, kind), _naive(out, kind, full))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_last_pooling_of_a_bidirectional_runner_is_its_final_state(cell):
    rnn = Recurrent(cell, 3, 4, num_layers=2, bidirectional=True)
    out, state = rnn(torch.randn(4, 5, 3), lengths=LENGTHS)
    h = state.h if cell == "lstm" else state  # (L*2, B, H)
    expected = torch.cat([h[-2], h[-1]], dim=-1)  # last layer: forward, backward
    torch.testing.assert_close(pool(out, "last", lengths=LENGTHS, bidirectional=True), expected)


def test_pool_gradient_reaches_only_valid_steps():
    out = torch.randn(4, 5, 3, requires_grad=True)
    pool(out, "mean", lengths=LENGTHS).sum().backward()
    for b, n in enumerate(LENGTHS.tolist()):
        assert bool((out.grad[b, n:] == 0).all())
        torch.testing.assert_close(out.grad[b, :n], torch.full((n, 3), 1.0 / n))


def test_unknown_pooling_is_an_error():
    with pytest.raises(ValueError, match="pooling: expected one of last, mean, max, got 'sum'"):
        pool(torch.zeros(1, 2, 3), "sum")
