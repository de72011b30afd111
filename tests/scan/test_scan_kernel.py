"""The Triton kernel of the chunked solver (``rnnkit.scan.cuda``) against a float64 loop:
outputs and all three gradients, ragged shapes, long sequences, saturated gates. Runs on a CUDA
machine, or on the CPU under Triton's interpreter (``TRITON_INTERPRET=1``); skipped where
neither is available (CI: no GPU, no Triton)."""

from __future__ import annotations

import importlib.util
import os

import pytest
import torch

from rnnkit.scan import solve
from rnnkit.scan.linear import chunked_scan_torch

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("triton") is None or not (torch.cuda.is_available() or INTERPRET),
    reason="needs Triton and a CUDA device (or TRITON_INTERPRET=1)",
)
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def coefficients(T, B, H, gen, saturate=False):
    """log a in (-inf, 0) and log b of a minGRU-like recurrence; ``saturate`` adds gates stuck
    near 0 and near 1 (log a about -30 and -1e-6)."""
    log_a = -torch.rand(T, B, H, generator=gen) * 4
    log_b = torch.randn(T, B, H, generator=gen)
    if saturate:
        pick = torch.rand(T, B, H, generator=gen)
        log_a = torch.where(pick < 0.2, torch.full_like(log_a, -30.0), log_a)
        log_a = torch.where(pick > 0.7, torch.full_like(log_a, -1e-6), log_a)
    return log_a, log_b


def reference(log_a, log_b, h0, weights):
    """Outputs and gradients of sum(weights * h) from the float64 sequential solver."""
    inputs = [t.detach().double().requires_grad_() for t in (log_a, log_b, h0)]
    out = solve(*inputs, mode="sequential")
    return out, torch.autograd.grad((out * weights.double()).sum(), inputs)


def kernel(log_a, log_b, h0, weights, chunk):
    from rnnkit.scan.cuda import ChunkedScan

    inputs = [t.detach().to(DEVICE).requires_grad_() for t in (log_a, log_b, h0)]
    out = ChunkedScan.apply(*inputs, chunk)
    grads = torch.autograd.grad((out * weights.to(DEVICE)).sum(), inputs)
    return out.cpu(), [g.cpu() for g in grads]


SHAPES = [(1, 1, 1, 64), (5, 2, 3, 64), (70, 2, 33, 16), (64, 1, 32, 64), (130, 3, 40, 48)]
if torch.cuda.is_available():  # the interpreter is far too slow for these
    SHAPES += [(1000, 4, 300, 64), (4096, 2, 64, 64)]


@pytest.mark.parametrize("T, B, H, chunk", SHAPES)
@pytest.mark.parametrize("saturate", [False, True])
def test_the_kernel_equals_the_float64_loop_with_gradients(T, B, H, chunk, saturate):
    gen = torch.Generator().manual_seed(T * 7 + H)
    log_a, log_b = coefficients(T, B, H, gen, saturate)
    h0 = torch.randn(B, H, generator=gen)  # either sign
    weights = torch.randn(T, B, H, generator=gen)
    expected, expected_grads = reference(log_a, log_b, h0, weights)
    actual, grads = kernel(log_a, log_b, h0, weights, chunk)
    assert torch.isfinite(actual).all() and all(torch.isfinite(g).all() for g in grads)
    scale = expected.abs().max().clamp(min=1)
    assert (actual.double() - expected).abs().max() <= 1e-4 * scale
    for name, g, e in zip(("log_a", "log_b", "h0"), grads, expected_grads, strict=True):
        err = (g.double() - e).abs().max() / e.abs().max().clamp(min=1)
        assert err <= 1e-4, f"d{name}: relative error {err:.2e}"


def test_an_empty_sequence_gives_no_states_and_zero_gradients():
    log_a, log_b = torch.zeros(0, 2, 3), torch.zeros(0, 2, 3)
    out, grads = kernel(log_a, log_b, torch.ones(2, 3), torch.zeros(0, 2, 3), 64)
    assert out.shape == (0, 2, 3) and all((g == 0).all() for g in grads)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the dispatch is for CUDA tensors")
def test_chunked_mode_takes_the_kernel_on_cuda_float32_and_agrees_with_torch():
    gen = torch.Generator().manual_seed(3)
    log_a, log_b = (t.cuda() for t in coefficients(300, 4, 50, gen))
    h0 = torch.randn(4, 50, generator=gen).cuda()
    out = solve(log_a.requires_grad_(), log_b, h0, mode="chunked", chunk_size=32)
    assert type(out.grad_fn).__name__ == "ChunkedScanBackward"
    torch_out = chunked_scan_torch(log_a, log_b, h0, 32)
    assert torch.allclose(out, torch_out, atol=1e-5)
    wide = solve(log_a.double(), log_b.double(), h0.double(), mode="chunked")
    assert "ChunkedScan" not in type(wide.grad_fn).__name__  # float64 keeps the torch path
