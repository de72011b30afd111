"""minGRU and minLSTM: one step against the paper's equations, the runner's parallel modes against
the step-by-step loop (outputs, final states, gradients), streaming with a given initial state,
the block option, chrono initialization and the errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.cells import MinGRUCell, MinLSTMCell
from rnnkit.cells.minimal import g, g_backward, log_g
from rnnkit.init import initialize
from rnnkit.layers import Recurrent

B, D, H = 3, 4, 5
MODES = ("sequential", "scan", "chunked")


def randomize(module: nn.Module, scale: float = 1.0) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)


def ref_g(x):
    """g from the paper, element by element."""
    values = [v + 0.5 if v >= 0 else 1 / (1 + torch.exp(-v)) for v in x.detach().flatten()]
    return torch.tensor(values, dtype=x.dtype).view_as(x)


def test_g_is_positive_continuous_and_its_log_is_exact_far_below_zero():
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    torch.testing.assert_close(g(x), ref_g(x))
    assert (g(x) > 0).all()
    torch.testing.assert_close(log_g(x), ref_g(x).log())
    # At x = -200, sigmoid(x) underflows in float32, but log g = -softplus(200) ~ -200 does not.
    assert log_g(torch.tensor([-200.0])).item() == pytest.approx(-200.0)
    assert g(torch.tensor(0.0)).item() == 0.5 == torch.sigmoid(torch.tensor(0.0)).item()


def test_g_backward_equals_autograd_of_g_including_at_zero():
    x = torch.cat([torch.linspace(-20, 20, 401, dtype=torch.float64), torch.zeros(3).double()])
    x.requires_grad_()
    grad = torch.randn_like(x)
    (expected,) = torch.autograd.grad(g(x), x, grad)
    torch.testing.assert_close(g_backward(grad, x.detach()), expected)
    # The slope itself: 1 above zero, sigmoid' at and below.
    ones = torch.ones(3, dtype=torch.float64)
    slope = g_backward(ones, torch.tensor([2.0, 0.0, -1.0], dtype=torch.float64))
    s = torch.sigmoid(torch.tensor(-1.0, dtype=torch.float64))
    torch.testing.assert_close(slope, torch.stack([ones[0], ones[0] / 4, s * (1 - s)]))


def test_mingru_step_follows_the_equations():
    cell = MinGRUCell(D, H).double()
    randomize(cell)
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    W, b = cell.weight_ih, cell.bias_ih
    z = torch.sigmoid(x @ W[:H].T + b[:H])
    cand = ref_g(x @ W[H:].T + b[H:])
    expected = (1 - z) * h + z * cand
    out, state = cell(x, h)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(state, expected)


def test_minlstm_step_follows_the_equations():
    cell = MinLSTMCell(D, H).double()
    randomize(cell)
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    W, b = cell.weight_ih, cell.bias_ih
    f = torch.sigmoid(x @ W[:H].T + b[:H])
    i = torch.sigmoid(x @ W[H : 2 * H].T + b[H : 2 * H])
    cand = ref_g(x @ W[2 * H :].T + b[2 * H :])
    expected = f / (f + i) * h + i / (f + i) * cand
    out, state = cell(x, h)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(state, expected)


def test_block_adds_the_residual_and_the_normalized_mlp():
    cell = MinGRUCell(D, H, block=True).double()
    randomize(cell, 0.5)
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    xn = nn.functional.layer_norm(x, (D,), cell.norm_in.weight, cell.norm_in.bias)
    W, b = cell.weight_ih, cell.bias_ih
    z = torch.sigmoid(xn @ W[:H].T + b[:H])
    state = (1 - z) * h + z * ref_g(xn @ W[H:].T + b[H:])
    y = state + cell.skip(x)  # D != H: the residual goes through a linear map
    yn = nn.functional.layer_norm(y, (H,), cell.norm_mlp.weight, cell.norm_mlp.bias)
    mlp = cell.mlp[2](nn.functional.gelu(cell.mlp[0](yn)))
    out, new_state = cell(x, h)
    torch.testing.assert_close(new_state, state)
    torch.testing.assert_close(out, y + mlp)
    assert MinGRUCell(H, H, block=True).skip is None  # equal sizes: the identity


def hand_loop(
    rnn: Recurrent, x: torch.Tensor, h0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer, one direction: the cell called once per step, batch_first x (B, T, D)."""
    cell, h, out = rnn.cells[0], h0[0], []
    for t in range(x.shape[1]):
        o, h = cell(x[:, t], h)
        out.append(o)
    return torch.stack(out, 1), h[None]


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("mode", [*MODES, "sequential-in-blocks"])
@pytest.mark.parametrize("block", [False, True])
def test_runner_modes_equal_the_step_loop_with_gradients(cell, mode, block, monkeypatch):
    if mode == "sequential-in-blocks":  # the fused loop in blocks of 3 steps (11 = 3+3+3+2)
        monkeypatch.setattr("rnnkit.scan.linear.BLOCK_ELEMENTS", 3 * B * H)
        mode = "sequential"
    rnn = Recurrent(cell, D, H, mode=mode, chunk_size=4, block=block).double()
    randomize(rnn, 0.8)
    x = torch.randn(B, 11, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(1, B, H, dtype=torch.float64, requires_grad=True)  # negative entries too
    out, h = rnn(x, h0)
    ref_out, ref_h = hand_loop(rnn, x, h0)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    wo, wh = torch.randn_like(out), torch.randn_like(h)
    inputs = [x, h0, *rnn.parameters()]
    grads = torch.autograd.grad((out * wo).sum() + (h * wh).sum(), inputs)
    ref_grads = torch.autograd.grad((ref_out * wo).sum() + (ref_h * wh).sum(), inputs)
    for a, b in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("mode", MODES)
def test_lengths_layers_and_directions_match_the_reference_path(cell, mode):
    rnn = Recurrent(cell, D, H, num_layers=2, bidirectional=True, mode=mode, chunk_size=3)
    rnn = rnn.double()
    randomize(rnn, 0.8)
    x = torch.randn(B, 9, D, dtype=torch.float64)
    lengths = torch.tensor([9, 2, 6])
    h0 = torch.randn(4, B, H, dtype=torch.float64)
    out, h = rnn(x, h0, lengths=lengths)
    rnn.path = "reference"
    ref_out, ref_h = rnn(x, h0, lengths=lengths)
    torch.testing.assert_close(out, ref_out)
    torch.testing.assert_close(h, ref_h)
    assert (out[1, 2:] == 0).all()  # padded outputs hold zeros


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("mode", ["scan", "chunked"])
def test_streaming_in_pieces_and_by_steps_equals_the_parallel_run(cell, mode):
    """Feeding a sequence whole (parallel), in two pieces carrying the state, and one step at a
    time must agree, also from a given non-zero initial state (which some implementations of
    the log-space scan drop or take in log form)."""
    rnn = Recurrent(cell, D, H, mode=mode, chunk_size=4).double()
    randomize(rnn)
    x = torch.randn(B, 13, D, dtype=torch.float64)
    h0 = torch.randn(1, B, H, dtype=torch.float64)
    whole, h_whole = rnn(x, h0)
    first, h_mid = rnn(x[:, :6], h0)
    second, h_end = rnn(x[:, 6:], h_mid)
    torch.testing.assert_close(torch.cat([first, second], 1), whole)
    torch.testing.assert_close(h_end, h_whole)
    h, cell_ = h0[0], rnn.cells[0]
    for t in range(13):
        out_t, h = cell_(x[:, t], h)
        torch.testing.assert_close(out_t, whole[:, t])


def test_auto_mode_resolves_per_device_and_the_runner_reports_it():
    cell = MinGRUCell(D, H)
    assert cell.resolve_mode(torch.device("cpu"), 4096) == "sequential"  # measured fastest
    assert cell.resolve_mode(torch.device("cuda"), 4096) == "chunked"
    assert MinGRUCell(D, H, mode="scan").resolve_mode(torch.device("cpu"), 8) == "scan"
    x = torch.randn(B, 20, D)
    assert Recurrent("minlstm", D, H).resolve_path(x) == "custom (sequential)"
    assert Recurrent("mingru", D, H, mode="chunked").resolve_path(x) == "custom (chunked)"
    assert Recurrent("mingru", D, H, path="reference").resolve_path(x) == "reference"


@pytest.mark.parametrize("cell_type, gate, sign", [(MinGRUCell, 0, -1), (MinLSTMCell, 0, 1)])
def test_chrono_sets_the_keep_gate_of_minimal_cells(cell_type, gate, sign):
    cell = initialize(cell_type(D, H), bias="chrono", t_max=50)
    b = cell.bias_ih[gate * H : (gate + 1) * H] * sign  # log(u), u ~ U(1, 49)
    assert ((b >= 0) & (b <= torch.log(torch.tensor(49.0)))).all()
    assert b.std() > 0
    if cell_type is MinLSTMCell:  # the input gate is its opposite
        torch.testing.assert_close(cell.bias_ih[H : 2 * H], -cell.bias_ih[:H])
    # The other blocks are zero; there are no recurrent weights to touch.
    assert not hasattr(cell, "weight_hh")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="parallel"), "mode: expected one of"),
        (dict(chunk_size=0), "chunk_size: expected a positive integer"),
        (dict(block="yes"), "block: expected True or False"),
    ],
)
def test_bad_options_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MinGRUCell(D, H, **kwargs)


def test_the_fused_path_is_refused():
    with pytest.raises(ValueError, match="path: 'fused' needs standard cells"):
        Recurrent("minlstm", D, H, path="fused")(torch.randn(B, 3, D))


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
@pytest.mark.parametrize("mode", MODES)
def test_float32_layers_at_4096_steps_match_float64_in_every_mode(cell, mode):
    """The whole layer in float32 over 4096 steps, outputs and gradients, against the same
    layer in float64: within 1e-4 (outputs) and finite everywhere."""
    rnn = Recurrent(cell, D, H, mode=mode)
    randomize(rnn, 1.5)  # strong gates: pre-activations of several units
    x = torch.randn(2, 4096, D)
    h0 = torch.randn(1, 2, H)
    ref = Recurrent(cell, D, H, mode="sequential").double()
    ref.load_state_dict(rnn.state_dict())
    out, _ = rnn(x, h0)
    ref_out, _ = ref(x.double(), h0.double())
    assert torch.isfinite(out).all()
    assert (out.double() - ref_out).abs().max().item() <= 1e-4
    weights = torch.randn(2, 4096, H)
    grads = torch.autograd.grad((out * weights).sum(), list(rnn.parameters()))
    ref_grads = torch.autograd.grad((ref_out * weights.double()).sum(), list(ref.parameters()))
    for grad, g_ref in zip(grads, ref_grads, strict=True):
        assert torch.isfinite(grad).all()
        assert (grad.double() - g_ref).abs().max().item() <= 1e-4 * max(g_ref.abs().max().item(), 1)
