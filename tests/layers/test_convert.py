"""from_torch / to_torch: exact copies of every weight, and the same function as torch.nn."""

import re

import pytest
import torch
from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, LSTMState, RNNCell
from rnnkit.layers import Recurrent, from_torch, to_torch

D, H, P, B, T = 4, 6, 3, 3, 5

LAYERS = [
    pytest.param(nn.LSTM, {}, id="lstm"),
    pytest.param(nn.LSTM, {"proj_size": P}, id="lstm-proj"),
    pytest.param(nn.LSTM, {"bias": False}, id="lstm-nobias"),
    pytest.param(nn.GRU, {}, id="gru"),
    pytest.param(nn.GRU, {"bias": False}, id="gru-nobias"),
    pytest.param(nn.RNN, {}, id="rnn-tanh"),
    pytest.param(nn.RNN, {"nonlinearity": "relu", "bias": False}, id="rnn-relu-nobias"),
]


def make_layer(cls, options, *, dropout=0.25, batch_first=False):
    torch.manual_seed(0)
    return cls(
        D,
        H,
        num_layers=2,
        bidirectional=True,
        dropout=dropout,
        batch_first=batch_first,
        **options,
    )


def ours(rnn: Recurrent, torch_name: str) -> torch.Tensor:
    """Our tensor for a torch.nn parameter name, e.g. ``weight_hh_l1_reverse``."""
    base, _, where = torch_name.rpartition("_l")
    reverse = where.endswith("_reverse")
    layer = int(where.removesuffix("_reverse"))
    return getattr(rnn.cells[layer * 2 + reverse], base)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("cls, options", LAYERS)
def test_round_trip_is_bit_identical(cls, options, batch_first):
    module = make_layer(cls, options, batch_first=batch_first)
    rnn = from_torch(module)
    assert (rnn.num_layers, rnn.bidirectional, rnn.batch_first, rnn.dropout) == (
        2,
        True,
        batch_first,
        0.25,
    )
    for name, value in module.named_parameters():
        assert torch.equal(ours(rnn, name), value), name
        assert ours(rnn, name).data_ptr() != value.data_ptr(), f"{name} is shared, not copied"

    back = to_torch(rnn)
    assert type(back) is cls
    assert repr(back) == repr(module)  # every flag: layers, bias, proj_size, dropout, ...
    want, got = module.state_dict(), back.state_dict()
    assert list(got) == list(want)
    for name in want:
        assert torch.equal(got[name], want[name]), name

    # And the other way round: Recurrent -> torch.nn -> Recurrent.
    again = from_torch(back)
    assert list(again.state_dict()) == list(rnn.state_dict())
    for name, value in rnn.state_dict().items():
        assert torch.equal(again.state_dict()[name], value), name


@pytest.mark.parametrize("path", ["fused", "custom"])
@pytest.mark.parametrize("cls, options", LAYERS)
def test_outputs_and_gradients_equal_torch(cls, options, path):
    module = make_layer(cls, options, dropout=0.0).double()
    rnn = from_torch(module, path=path)
    assert rnn.path == path and rnn.cells[0].weight_ih.dtype == torch.float64
    out_size = options.get("proj_size") or H

    g = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, D, dtype=torch.float64, generator=g)
    h0 = torch.randn(4, B, out_size, dtype=torch.float64, generator=g)
    c0 = torch.randn(4, B, H, dtype=torch.float64, generator=g)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    if cls is nn.LSTM:
        y_ref, (h_ref, c_ref) = module(x_ref, (h0, c0))
        y, state = rnn(x_ours, LSTMState(h0, c0))
        h, c = state
        torch.testing.assert_close(c, c_ref)
    else:
        y_ref, h_ref = module(x_ref, h0)
        y, h = rnn(x_ours, h0)
        c = c_ref = torch.zeros(())
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(h, h_ref)

    # Weigh every output so that each position's gradient is different.
    w_y = torch.randn(y.shape, dtype=torch.float64, generator=g)
    w_h = torch.randn(h.shape, dtype=torch.float64, generator=g)
    ((y_ref * w_y).sum() + (h_ref * w_h).sum() + c_ref.sum()).backward()
    ((y * w_y).sum() + (h * w_h).sum() + c.sum()).backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad)
    for name, value in module.named_parameters():
        torch.testing.assert_close(ours(rnn, name).grad, value.grad, msg=name)


def test_from_torch_keeps_batch_first_and_mode():
    module = make_layer(nn.GRU, {}, dropout=0.0, batch_first=True).eval()
    rnn = from_torch(module)
    assert not rnn.training
    x = torch.randn(B, T, D)
    torch.testing.assert_close(rnn(x)[0], module(x)[0])


CELLS = [
    pytest.param(nn.LSTMCell, LSTMCell, {}, id="lstm"),
    pytest.param(nn.LSTMCell, LSTMCell, {"bias": False}, id="lstm-nobias"),
    pytest.param(nn.GRUCell, GRUCell, {}, id="gru"),
    pytest.param(nn.RNNCell, RNNCell, {"nonlinearity": "relu"}, id="rnn-relu"),
]


@pytest.mark.parametrize("cls, our_cls, options", CELLS)
def test_cells_convert_both_ways(cls, our_cls, options):
    torch.manual_seed(0)
    module = cls(D, H, **options).double()
    cell = from_torch(module)
    assert type(cell) is our_cls and cell.bias == module.bias

    x = torch.randn(B, D, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64)
    if cls is nn.LSTMCell:
        h_ref, c_ref = module(x, (h0, c0))
        h, (_, c) = cell(x, LSTMState(h0, c0))
        torch.testing.assert_close(c, c_ref)
        (h_ref.sum() + 2 * c_ref.sum()).backward()
        (h.sum() + 2 * c.sum()).backward()
    else:
        h_ref = module(x, h0)
        h, _ = cell(x, h0)
        h_ref.sum().backward()
        h.sum().backward()
    torch.testing.assert_close(h, h_ref)
    for name, value in module.named_parameters():
        torch.testing.assert_close(getattr(cell, name).grad, value.grad, msg=name)

    back = to_torch(cell)
    assert type(back) is cls and repr(back) == repr(module)
    want, got = module.state_dict(), back.state_dict()
    assert list(got) == list(want)
    for name in want:
        assert torch.equal(got[name], want[name]), name


def _mixed_cells():
    rnn = Recurrent("rnn", D, H, num_layers=2)
    rnn.cells[1] = RNNCell(H, H, nonlinearity="relu")
    return rnn


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: Recurrent("lstm", D, H, peephole=True),
            "rnn: torch.nn has no equivalent for peephole=True (torch.nn.LSTM/GRU/RNN run "
            "standard cells without residual connections)",
        ),
        (
            lambda: Recurrent("lstm", D, H, norm="layer", peephole=True, num_layers=2),
            "rnn: torch.nn has no equivalent for peephole=True, norm='layer' (",
        ),
        (
            lambda: Recurrent("lstm", D, H, norm="batch"),
            "rnn: torch.nn has no equivalent for norm='batch' (",
        ),
        (
            lambda: Recurrent("gru", D, H, reset_after=False, bidirectional=True),
            "rnn: torch.nn has no equivalent for reset_after=False (",
        ),
        (
            lambda: Recurrent("gru", H, H, num_layers=2, residual=True),
            "rnn: torch.nn has no equivalent for residual=True (",
        ),
        (
            _mixed_cells,
            "rnn.cells: expected one cell configuration in every layer and direction",
        ),
        (
            lambda: LSTMCell(D, H, proj_size=2),
            "cell: torch.nn has no equivalent for proj_size=2 (nn.LSTMCell has no projection)",
        ),
        (
            lambda: GRUCell(D, H, reset_after=False),
            "cell: torch.nn has no equivalent for reset_after=False",
        ),
        (lambda: nn.Linear(D, H), "rnn: expected a Recurrent or a RecurrentCell, got Linear"),
    ],
)
def test_to_torch_refuses_what_torch_cannot_compute(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        to_torch(build())


@pytest.mark.parametrize(
    "call, message",
    [
        (
            lambda: from_torch(nn.Linear(D, H)),
            "module: expected nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell or nn.RNNCell, "
            "got Linear",
        ),
        (
            lambda: from_torch(nn.GRU(D, H), batch_first=False),
            "runner_options: 'batch_first' is taken from the module; got batch_first=False",
        ),
        (
            lambda: from_torch(nn.GRU(D, H), residual=True),
            "runner_options: expected only ['variational', 'weight_drop', 'path'] (options that "
            "keep the module's function), got residual=True",
        ),
        (
            lambda: from_torch(nn.LSTM(D, H), peephole=True),
            "runner_options: expected only ['variational', 'weight_drop', 'path']",
        ),
        (
            lambda: from_torch(nn.GRUCell(D, H), path="custom"),
            "runner_options: a single cell takes none, got ['path']",
        ),
    ],
)
def test_from_torch_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
