"""Solvers for the linear recurrence h_t = a_t * h_{t-1} + b_t, elementwise over (B, H).

minGRU and minLSTM (Feng et al. 2024) compute a_t and b_t from x_t alone, so the whole sequence
of states is a linear recurrence that can be solved in several ways with the same result:

- ``sequential``: a loop over T, hand-differentiated (its backward is the same recurrence run
  backwards), so autograd records one node instead of T: the reference. The runner's own
  sequential mode is :func:`mix_sequential` below, the same loop with the cell's gates fused
  in (the fastest on CPU).
- ``scan``: Heinsen's (2023) log-space parallel scan, O(log T) depth:
  h_t = A_t h_0 + exp(log A_t + logcumsumexp_k(log b_k - log A_k)), log A_t = sum_{k<=t} log a_k.
  It needs b_t > 0 (the cells' g() keeps it so); h_0 may have any sign because its term is
  kept out of the logs. log A_t and the cumulative log-sum-exp grow like T, and their sum is
  a small number made from two large ones: in float32 the error grows with T (3e-4 at T=1600),
  so this mode accumulates in float64 and returns the input's dtype.
- ``chunked``: a parallel scan inside chunks of ``chunk_size`` steps (all chunks at once,
  log2(chunk_size) passes), then one pass over the chunks to carry each chunk's last state into
  the next: T / chunk_size small steps instead of T. Within a chunk the scan runs on the pairs
  (a, b) in linear space, where nothing overflows (products of a in (0, 1) only shrink) and no
  large logarithms cancel: float32 throughout, with the loop's accuracy at any T. On float32
  CUDA tensors it is one Triton kernel each way (``rnnkit.scan.cuda``), a few dozen times
  fewer passes over memory.

Shapes: time-major; ``log_a``, ``log_b`` (T, B, H); ``h0`` (B, H) or None (zeros); returns every
state (T, B, H).
"""

from __future__ import annotations

import functools
import importlib.util
from typing import Literal

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

Mode = Literal["sequential", "scan", "chunked"]
MODES = ("sequential", "scan", "chunked")
DEFAULT_CHUNK = 64


def solve(
    log_a: Tensor,
    log_b: Tensor,
    h0: Tensor | None = None,
    *,
    mode: Mode = "sequential",
    chunk_size: int = DEFAULT_CHUNK,
) -> Tensor:
    """Every state of h_t = exp(log_a_t) * h_{t-1} + exp(log_b_t), by the given ``mode``."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
    if log_a.shape != log_b.shape or log_a.dim() != 3:
        raise ValueError(
            f"log_a, log_b: expected two (T, B, H) tensors of one shape, got "
            f"{tuple(log_a.shape)} and {tuple(log_b.shape)}"
        )
    if h0 is None:
        h0 = log_a.new_zeros(log_a.shape[1:])
    elif h0.shape != log_a.shape[1:]:
        raise ValueError(
            f"h0: expected shape {tuple(log_a.shape[1:])} (B, H), got {tuple(h0.shape)}"
        )
    if mode == "sequential":
        return Sequential.apply(log_a.exp(), log_b.exp(), h0)
    if mode == "scan":
        return log_scan(log_a, log_b, h0)
    return chunked_scan(log_a, log_b, h0, chunk_size)


class Sequential(torch.autograd.Function):
    """h_t = a_t * h_{t-1} + b_t by a loop, with the backward written out: with g_t the
    gradient reaching h_t from outside, the total gradient d_t = g_t + a_{t+1} d_{t+1} is the
    same recurrence run backwards; then db_t = d_t, da_t = d_t h_{t-1}, dh_0 = a_1 d_1."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        out = torch.empty_like(b)
        h = h0
        for t in range(b.shape[0]):
            h = torch.addcmul(b[t], a[t], h, out=out[t])
        ctx.save_for_backward(a, out, h0)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, out, h0 = ctx.saved_tensors
        d = torch.empty_like(grad)
        d[-1] = grad[-1]
        for t in range(grad.shape[0] - 2, -1, -1):
            torch.addcmul(grad[t], a[t + 1], d[t + 1], out=d[t])
        prev = torch.cat([h0[None], out[:-1]])
        return d * prev, d, a[0] * d[0]


def log_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """Heinsen's log-space scan over the whole sequence, in float64 (see the module
    docstring)."""
    wide = torch.promote_types(log_a.dtype, torch.float64)
    log_a, log_b, h = log_a.to(wide), log_b.to(wide), h0.to(wide)
    log_A = log_a.cumsum(0)  # (T, B, H): log of a_1 ... a_t
    out = log_A.exp() * h + (log_A + torch.logcumsumexp(log_b - log_A, dim=0)).exp()
    return out.to(h0.dtype)


def chunked_scan(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk_size: int) -> Tensor:
    """Parallel scans within chunks of ``chunk_size`` steps, then a pass across chunks. On
    float32 CUDA tensors this runs as one Triton kernel each way (``rnnkit.scan.cuda``)."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size: expected a positive integer, got {chunk_size!r}")
    if has_kernel(log_a, log_b, h0):
        from rnnkit.scan.cuda import ChunkedScan

        return ChunkedScan.apply(log_a, log_b, h0, chunk_size)
    return chunked_scan_torch(log_a, log_b, h0, chunk_size)


def has_kernel(*tensors: Tensor) -> bool:
    """Whether the Triton kernel takes these: float32, on CUDA, with Triton installed."""
    return all(t.is_cuda and t.dtype == torch.float32 for t in tensors) and _triton()


@functools.cache
def _triton() -> bool:
    return importlib.util.find_spec("triton") is not None


def chunked_scan_torch(log_a: Tensor, log_b: Tensor, h0: Tensor, chunk_size: int) -> Tensor:
    """:func:`chunked_scan` in PyTorch operations, on any device and dtype."""
    T = log_a.shape[0]
    full = T - T % chunk_size
    parts = []  # (local states from a zero start, cumulative decay), per group of chunks
    if full:
        shape = (full // chunk_size, chunk_size, *log_a.shape[1:])  # (n, C, B, H)
        parts.append(_local(log_a[:full].reshape(shape), log_b[:full].reshape(shape)))
    if full < T:  # the last, shorter chunk
        parts.append(_local(log_a[full:][None], log_b[full:][None]))
    # Carry: the state entering chunk k is the last state of chunk k-1 (h0 for the first).
    # One (B, H) step per chunk: T / chunk_size steps instead of T.
    out = []
    h = h0
    for states, decay in _chunks(parts):
        states = states + decay * h  # (C, B, H)
        out.append(states)
        h = states[-1]
    return torch.cat(out)


def _local(log_a: Tensor, log_b: Tensor) -> tuple[Tensor, Tensor]:
    """Within each chunk (dim 1): the states from a zero start and the decays a_1 ... a_t, each
    (n, C, B, H), by a Hillis-Steele scan of the pairs (a, b) under
    (a1, b1) then (a2, b2) = (a1 a2, a2 b1 + b2): log2(C) passes over the whole tensor, in
    linear space (products of a in (0, 1) can only underflow towards 0, harmlessly), so no
    large logarithms cancel."""
    a, b = log_a.exp(), log_b.exp()
    C, shift = a.shape[1], 1
    while shift < C:
        b = torch.cat([b[:, :shift], torch.addcmul(b[:, shift:], a[:, shift:], b[:, :-shift])], 1)
        a = torch.cat([a[:, :shift], a[:, shift:] * a[:, :-shift]], 1)
        shift *= 2
    return b, a


def _chunks(parts: list[tuple[Tensor, Tensor]]):
    for states, decay in parts:
        yield from zip(states.unbind(0), decay.unbind(0), strict=True)


# -- the fused loop --------------------------------------------------------------------------

# Steps per block of the fused loop: about this many (B, H) elements at once, so a block's
# gates stay in the CPU's L2 cache between their computation and the loop that reads them.
BLOCK_ELEMENTS = 1 << 17


def mix_sequential(xp: Tensor, h0: Tensor, cell) -> Tensor:
    """Every state of h_t = c_t + a_t (h_{t-1} - c_t), where ``cell.mix`` turns a block of the
    projected input ``xp`` (T, B, G*H [+ D]) into (a, c), each (K, B, H). The gates and the
    loop run block by block and the backward is written out (``cell.mix_backward``), so
    autograd records one node and the elementwise work touches cached memory. minGRU and
    minLSTM are both of this form (their b_t = (1 - a_t) c_t). Returns (T, B, H)."""
    return _MixSequential.apply(xp, h0, cell)


class _MixSequential(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, cell) -> Tensor:
        T, B = xp.shape[:2]
        K = max(1, BLOCK_ELEMENTS // (B * cell.hidden_size))
        out = xp.new_empty(T, B, cell.hidden_size)
        gates = []  # per block: (a, c), each (K, B, H), kept for backward
        h = h0
        for start in range(0, T, K):
            a, c = cell.mix(xp[start : start + K])
            gates.append((a, c))
            for t in range(a.shape[0]):
                h = torch.lerp(c[t], h, a[t], out=out[start + t])
        ctx.cell, ctx.K, ctx.gates = cell, K, gates
        ctx.save_for_backward(xp, h0, out)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor):
        xp, h0, out = ctx.saved_tensors
        cell, K, gates = ctx.cell, ctx.K, ctx.gates
        d = torch.zeros_like(h0)  # d loss / d h_t by every path, carried backwards in time
        a_next = torch.zeros_like(h0)  # a_{t+1}
        G = cell.num_gates * cell.hidden_size
        d_xp = torch.empty_like(xp)
        d_xp[..., G:] = 0  # the block option's x columns: the recurrence does not read them
        for block in range(len(gates) - 1, -1, -1):
            start = block * K
            a, c = gates[block]
            n = a.shape[0]
            d_blk = torch.empty_like(a)
            for t in range(n - 1, -1, -1):
                d = torch.addcmul(grad[start + t], a_next, d, out=d_blk[t])
                a_next = a[t]
            prev = out[start - 1 : start + n - 1] if start else torch.cat([h0[None], out[: n - 1]])
            # h = c + a (h_prev - c): dh/da = h_prev - c, dh/dc = 1 - a.
            d_a = prev.sub(c).mul_(d_blk)
            d_c = (1 - a).mul_(d_blk)
            parts = cell.mix_backward(xp[start : start + n], a, d_a, d_c)
            if G == xp.shape[-1]:  # one contiguous write of the block's rows
                torch.cat(parts, dim=-1, out=d_xp[start : start + n])
            else:
                d_xp[start : start + n, :, :G] = torch.cat(parts, dim=-1)
        return d_xp, a_next * d, None
