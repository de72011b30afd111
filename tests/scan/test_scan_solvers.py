"""The linear-recurrence solvers against a plain float64 loop: outputs and gradients, every mode,
long sequences in float32, initial states of either sign, and their errors."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from rnnkit.scan import MODES, solve


def coefficients(T: int, B: int, H: int, dtype=torch.float64, scale: float = 3.0):
    """log a_t, log b_t as a minGRU makes them: a = 1 - z, b = z * positive candidate."""
    k = torch.randn(T, B, H, dtype=dtype) * scale
    cand = torch.randn(T, B, H, dtype=dtype)
    log_a = -F.softplus(k)
    log_b = -F.softplus(-k) + torch.where(cand >= 0, (cand + 0.5).log(), -F.softplus(-cand))
    return log_a, log_b


def loop(log_a, log_b, h0):
    """h_t = a_t h_{t-1} + b_t, one step at a time, with autograd recording every step."""
    h, out = h0, []
    for t in range(log_a.shape[0]):
        h = log_a[t].exp() * h + log_b[t].exp()
        out.append(h)
    return torch.stack(out)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("T, chunk", [(1, 4), (5, 4), (37, 8), (64, 16), (50, 64)])
def test_every_mode_equals_the_loop_with_gradients(mode, T, chunk):
    log_a, log_b = coefficients(T, 3, 4)
    h0 = torch.randn(3, 4, dtype=torch.float64)  # either sign: its term stays out of the logs
    inputs = [t.requires_grad_() for t in (log_a, log_b, h0)]
    weights = torch.randn(T, 3, 4, dtype=torch.float64)
    expected = loop(*inputs)
    grads_expected = torch.autograd.grad((expected * weights).sum(), inputs)
    actual = solve(*inputs, mode=mode, chunk_size=chunk)
    grads = torch.autograd.grad((actual * weights).sum(), inputs)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-10)
    for g, g_exp, name in zip(grads, grads_expected, ("log_a", "log_b", "h0"), strict=True):
        torch.testing.assert_close(g, g_exp, rtol=1e-8, atol=1e-9, msg=f"d/d{name} ({mode})")


def test_zero_initial_state_is_the_default():
    log_a, log_b = coefficients(9, 2, 3)
    for mode in MODES:
        torch.testing.assert_close(
            solve(log_a, log_b, mode=mode, chunk_size=4),
            loop(log_a, log_b, torch.zeros(2, 3, dtype=torch.float64)),
        )


@pytest.mark.parametrize("mode", MODES)
def test_float32_at_4096_steps_stays_within_1e_4_of_float64(mode):
    """Strong gates (|pre-activation| up to ~10) over 4096 steps: the float32 log-space scan
    would drift to ~1e-3 here; every mode must stay within 1e-4 and finite, gradients too."""
    T = 4096
    log_a, log_b = coefficients(T, 2, 8, scale=4.0)
    h0 = torch.randn(2, 8, dtype=torch.float64)
    weights = torch.randn(T, 2, 8, dtype=torch.float64)
    ref_inputs = [t.clone().requires_grad_() for t in (log_a, log_b, h0)]
    reference = solve(*ref_inputs, mode="sequential")
    ref_grads = torch.autograd.grad((reference * weights).sum(), ref_inputs)
    inputs = [t.float().requires_grad_() for t in (log_a, log_b, h0)]
    out = solve(*inputs, mode=mode)
    grads = torch.autograd.grad((out * weights.float()).sum(), inputs)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert (out.double() - reference).abs().max().item() <= 1e-4
    for g, g_ref in zip(grads, ref_grads, strict=True):
        assert torch.isfinite(g).all()
        scale = g_ref.abs().max().item()
        assert (g.double() - g_ref).abs().max().item() <= 1e-4 * max(scale, 1.0)


def test_the_loop_reference_matches_a_plain_float64_loop_at_4096():
    """The float64 sequential solve used as the reference above is itself the plain loop."""
    log_a, log_b = coefficients(4096, 1, 2)
    h0 = torch.randn(1, 2, dtype=torch.float64)
    torch.testing.assert_close(solve(log_a, log_b, h0), loop(log_a, log_b, h0))


def test_strongly_decaying_gates_neither_overflow_nor_underflow_to_nan():
    """a_t near 0 (log a = -80) makes prod a underflow to 0 and b / prod a overflow in linear
    space; in log space every mode stays finite and equals the loop."""
    T = 300
    log_a = torch.full((T, 1, 3), -80.0, dtype=torch.float64)
    log_a[::7] = -1e-3
    log_b = torch.randn(T, 1, 3, dtype=torch.float64)
    expected = loop(log_a, log_b, torch.ones(1, 3, dtype=torch.float64))
    for mode in MODES:
        out = solve(log_a.float(), log_b.float(), torch.ones(1, 3), mode=mode, chunk_size=32)
        assert torch.isfinite(out).all(), mode
        torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="fast"), "mode: expected one of"),
        (dict(mode="chunked", chunk_size=0), "chunk_size: expected a positive integer"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    log_a, log_b = coefficients(4, 1, 2)
    with pytest.raises(ValueError, match=message):
        solve(log_a, log_b, **kwargs)


def test_mismatched_shapes_are_named():
    log_a, log_b = coefficients(4, 1, 2)
    with pytest.raises(ValueError, match=r"log_a, log_b: expected two \(T, B, H\)"):
        solve(log_a, log_b[:3])
    with pytest.raises(ValueError, match=r"h0: expected shape \(1, 2\) \(B, H\), got \(2, 1\)"):
        solve(log_a, log_b, torch.zeros(2, 1, dtype=torch.float64))
