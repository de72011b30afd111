"""The chunked solver of ``h_t = a_t * h_{t-1} + b_t`` as one Triton kernel each way, for
float32 CUDA tensors.

The PyTorch version (:func:`rnnkit.scan.linear.chunked_scan_torch`) makes a few dozen passes over
(T, B, H) tensors and lets autograd record each. Here one kernel reads log a and log b once
and writes h once; another reads them with h and the incoming gradient once and writes the
gradients once. Each program owns a block of ``BLOCK`` of the B*H independent channels and
walks the time axis in tiles of ``rows`` steps: inside a tile, Triton's associative scan of
the pairs (a, b) under (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2), in linear space as in
``chunked_scan_torch`` (products of a in (0, 1) only shrink; nothing cancels); across tiles, the
last state carried into the next. The backward is the same recurrence run backwards:
d_t = g_t + a_{t+1} d_{t+1}, then d log b_t = d_t b_t, d log a_t = d_t a_t h_{t-1} and
dh_0 = a_1 d_1. Only imported when Triton is (it ships with PyTorch's CUDA builds).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

BLOCK = 32  # channels per program
MAX_ROWS = 64  # time steps per tile


@triton.jit
def _then(a1, b1, a2, b2):
    """(a1, b1) then (a2, b2): the map h -> a2 (a1 h + b1) + b2."""
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _last_row(tile, rows, ROWS: tl.constexpr):
    return tl.sum(tl.where(rows[:, None] == ROWS - 1, tile, 0.0), axis=0)


@triton.jit
def _forward(log_a, log_b, h0, h, T, N, ROWS: tl.constexpr, BLOCK: tl.constexpr):
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    col_ok = cols < N
    rows = tl.arange(0, ROWS)
    carry = tl.load(h0 + cols, mask=col_ok, other=0.0)
    for start in range(0, T, ROWS):
        t = (start + rows).to(tl.int64)
        ok = (t < T)[:, None] & col_ok[None, :]
        at = t[:, None] * N + cols[None, :]
        # Steps past the end get (a, b) = (1, 0), the identity, so the last row is the last state.
        a = tl.exp(tl.load(log_a + at, mask=ok, other=0.0))
        b = tl.exp(tl.load(log_b + at, mask=ok, other=float("-inf")))
        A, B = tl.associative_scan((a, b), 0, _then)
        states = B + A * carry[None, :]
        tl.store(h + at, states, mask=ok)
        carry = _last_row(states, rows, ROWS)


@triton.jit
def _backward(
    log_a, log_b, h0, h, grad, d_log_a, d_log_b, d_h0, T, N,
    ROWS: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    cols = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    col_ok = cols < N
    rows = tl.arange(0, ROWS)
    first = tl.load(h0 + cols, mask=col_ok, other=0.0)
    carry = tl.zeros((BLOCK,), dtype=tl.float32)  # d at the first step of the later tile
    for end in range(T, 0, -ROWS):
        t = (end - 1 - rows).to(tl.int64)  # row 0 is the latest step: time runs backwards
        ok = (t >= 0)[:, None] & col_ok[None, :]
        at = t[:, None] * N + cols[None, :]
        # d_t = g_t + a_{t+1} d_{t+1}: the forward recurrence in reversed time with a shifted
        # by one (a_T = 0); steps before 0 get the identity (1, 0), as in the forward.
        has_next = (t + 1 < T)[:, None]
        a_next = tl.exp(tl.load(log_a + at + N, mask=ok & has_next, other=0.0))
        a_next = tl.where(has_next, a_next, 0.0)
        g = tl.load(grad + at, mask=ok, other=0.0)
        A, D = tl.associative_scan((a_next, g), 0, _then)
        d = D + A * carry[None, :]
        a = tl.exp(tl.load(log_a + at, mask=ok, other=0.0))
        b = tl.exp(tl.load(log_b + at, mask=ok, other=float("-inf")))
        prev = tl.load(h + at - N, mask=ok & (t >= 1)[:, None], other=0.0)
        prev = tl.where((t == 0)[:, None], first[None, :], prev)
        tl.store(d_log_b + at, d * b, mask=ok)
        tl.store(d_log_a + at, d * a * prev, mask=ok)
        carry = _last_row(d, rows, ROWS)
    # After the earliest tile the carry is d_0 (0-based), and dh_0 = a_0 d_0.
    a0 = tl.exp(tl.load(log_a + cols, mask=col_ok, other=0.0))
    tl.store(d_h0 + cols, a0 * carry, mask=col_ok)


def _rows(chunk_size: int) -> int:
    """Tile height: the largest power of two <= ``chunk_size``, at most ``MAX_ROWS`` (the
    result does not depend on it, only the speed)."""
    return min(MAX_ROWS, 1 << (max(1, chunk_size).bit_length() - 1))


class ChunkedScan(torch.autograd.Function):
    """Every state (T, B, H) from ``log_a``, ``log_b`` (T, B, H) and ``h0`` (B, H), all
    float32 on one CUDA device."""

    @staticmethod
    def forward(ctx, log_a: Tensor, log_b: Tensor, h0: Tensor, chunk_size: int) -> Tensor:
        log_a, log_b, h0 = log_a.contiguous(), log_b.contiguous(), h0.contiguous()
        T, N, rows = log_a.shape[0], h0.numel(), _rows(chunk_size)
        h = torch.empty_like(log_a)
        if T:
            _forward[(triton.cdiv(N, BLOCK),)](log_a, log_b, h0, h, T, N, rows, BLOCK)
        ctx.save_for_backward(log_a, log_b, h0, h)
        ctx.rows = rows
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        log_a, log_b, h0, h = ctx.saved_tensors
        grad = grad.contiguous()
        T, N = log_a.shape[0], h0.numel()
        d_log_a, d_log_b = torch.empty_like(log_a), torch.empty_like(log_b)
        d_h0 = torch.empty_like(h0) if T else torch.zeros_like(h0)
        if T:
            _backward[(triton.cdiv(N, BLOCK),)](
                log_a, log_b, h0, h, grad, d_log_a, d_log_b, d_h0, T, N, ctx.rows, BLOCK
            )
        return d_log_a, d_log_b, d_h0, None
