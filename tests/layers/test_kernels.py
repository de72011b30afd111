"""The custom path's float32 fast path (oneDNN products, sigmoid-based tanh) against float64.

The float64 equivalence and gradcheck tests in test_recurrent.py run the torch.addmm fallback of
the kernels; these run the oneDNN branch that users get in float32 on CPU.
"""

import pytest
import torch

from rnnkit.layers import Recurrent, kernels

CONFIGS = [
    ("lstm", {}),
    ("lstm", {"peephole": True}),
    ("lstm", {"norm": "layer"}),
    ("lstm", {"proj_size": 5, "peephole": True, "norm": "layer"}),
    ("gru", {}),
    ("gru", {"reset_after": False}),
    ("rnn", {}),
    ("rnn", {"nonlinearity": "relu"}),
]


def _outputs_and_grads(model, x, state, lengths):
    out, final = model(x, state, lengths=lengths)
    finals = [final] if isinstance(final, torch.Tensor) else list(final)
    weights = [torch.linspace(-1, 1, t.numel(), dtype=t.dtype).view_as(t) for t in [out, *finals]]
    loss = sum((t * w).sum() for t, w in zip([out, *finals], weights, strict=True))
    inputs = [x, *([state] if isinstance(state, torch.Tensor) else state), *model.parameters()]
    return [out, *finals], torch.autograd.grad(loss, inputs)


def _initial_state(model, batch, dtype):
    """A random initial state (requiring grad) shaped like the model's."""
    g = torch.Generator().manual_seed(5)
    zeros = model.initial_state(batch, dtype=dtype)
    if isinstance(zeros, torch.Tensor):
        return torch.randn(zeros.shape, generator=g, dtype=dtype).requires_grad_()
    return type(zeros)(
        *(torch.randn(t.shape, generator=g, dtype=dtype).requires_grad_() for t in zeros)
    )


@pytest.mark.parametrize("lengths", [None, [9, 4, 9, 1, 6]])
@pytest.mark.parametrize(("name", "opts"), CONFIGS)
def test_float32_custom_path_matches_float64_reference(name, opts, lengths):
    torch.manual_seed(0)
    model = Recurrent(name, 6, 16, bidirectional=True, num_layers=2, path="custom", **opts)
    x = torch.randn(5, 9, 6)
    lengths = None if lengths is None else torch.tensor(lengths)
    state = _initial_state(model, 5, torch.float32)

    fast = _outputs_and_grads(model, x.clone().requires_grad_(), state, lengths)
    reference = model.double()
    reference.path = "reference"
    state64 = (
        type(state)(*(t.detach().double().requires_grad_() for t in state))
        if isinstance(state, tuple)
        else state.detach().double().requires_grad_()
    )
    slow = _outputs_and_grads(reference, x.double().requires_grad_(), state64, lengths)
    for got, want in zip(fast[0] + list(fast[1]), slow[0] + list(slow[1]), strict=True):
        scale = want.abs().max().item() + 1e-6
        assert (got.double() - want).abs().max().item() / scale < 2e-5


def test_onednn_products_are_used_and_exact_enough():
    if not kernels._ONEDNN:
        pytest.skip("this torch build has no oneDNN prepacked linear")
    torch.manual_seed(0)
    w = torch.randn(40, 24)
    gemm = kernels._Gemm(w, 8)
    assert gemm.packed is not None
    x, add = torch.randn(8, 24), torch.randn(8, 40)
    torch.testing.assert_close(gemm(x, add=add), x @ w.t() + add, rtol=1e-5, atol=1e-5)
    # a smaller batch than the packing hint (shorter sequences drop out of the batch)
    torch.testing.assert_close(gemm(x[:3]), x[:3] @ w.t(), rtol=1e-5, atol=1e-5)


def test_project_gradients_match_linear():
    torch.manual_seed(0)
    x = torch.randn(7, 3, 5, requires_grad=True)
    w = torch.randn(12, 5, requires_grad=True)
    b = torch.randn(12, requires_grad=True)
    y = kernels.project(x, w, b)
    g = torch.randn_like(y)
    got = torch.autograd.grad(y, [x, w, b], g)
    x2, w2, b2 = (t.detach().double().requires_grad_() for t in (x, w, b))
    y2 = torch.nn.functional.linear(x2, w2, b2)
    want = torch.autograd.grad(y2, [x2, w2, b2], g.double())
    torch.testing.assert_close(y.double(), y2, rtol=1e-5, atol=1e-5)
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a.double(), e, rtol=1e-4, atol=1e-4)


def test_sigmoid_tanh_identity():
    x = torch.linspace(-20, 20, 4001, dtype=torch.float64)
    torch.testing.assert_close(kernels._tanh_(x.clone()), torch.tanh(x), rtol=0, atol=1e-15)
    x32 = x.float()
    torch.testing.assert_close(kernels._tanh_(x32.clone()), torch.tanh(x32), rtol=0, atol=3e-7)
