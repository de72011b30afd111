"""initialize: per-gate orthogonal/identity blocks, Xavier/Kaiming scales, chrono biases."""

import math
import re
from itertools import pairwise

import pytest
import torch
from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, RNNCell
from rnnkit.init import initialize
from rnnkit.layers import Recurrent

D, H, P = 5, 8, 3

RUNNERS = [
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("lstm", {"proj_size": P}, id="lstm-proj"),
    pytest.param("gru", {}, id="gru"),
    pytest.param("rnn", {}, id="rnn"),
]


def make(cell, options, dtype=torch.float64):
    torch.manual_seed(0)
    rnn = Recurrent(cell, D, H, num_layers=2, bidirectional=True, **options)
    return rnn.to(dtype)


def blocks(weight, rows=H):
    return weight.detach().split(rows, dim=0)


@pytest.mark.parametrize("gain", [1.0, 0.5])
@pytest.mark.parametrize("cell, options", RUNNERS)
def test_orthogonal_gives_each_gate_block_its_own_orthogonal_matrix(cell, options, gain):
    rnn = make(cell, options)
    assert initialize(rnn, recurrent_weights="orthogonal", gain=gain) is rnn
    for c in rnn.cells:
        gates = blocks(c.weight_hh)
        assert len(gates) == c.num_gates
        for w in gates:
            if w.shape[0] == w.shape[1]:
                gram = w @ w.T
            else:  # (H, P), H > P: the columns are orthonormal
                gram = w.T @ w
            eye = torch.eye(gram.shape[0], dtype=gram.dtype)
            torch.testing.assert_close(gram, gain**2 * eye)
        for a, b in pairwise(gates):
            assert not torch.allclose(a, b), "gates share one matrix"
        if options.get("proj_size"):  # weight_hr (P, H): orthonormal rows
            w = c.weight_hr.detach()
            torch.testing.assert_close(w @ w.T, gain**2 * torch.eye(P, dtype=w.dtype))


@pytest.mark.parametrize("cell, options", RUNNERS)
def test_identity_blocks_equal_gain_times_identity(cell, options):
    rnn = make(cell, options)
    initialize(rnn, input_weights="identity", recurrent_weights="identity", gain=0.5)
    for c in rnn.cells:
        cols = c.weight_hh.shape[1]
        for w in blocks(c.weight_hh):
            assert torch.equal(w, 0.5 * torch.eye(H, cols, dtype=w.dtype))
        for w in blocks(c.weight_ih):  # (H, D_k), non-square for the first layer
            assert torch.equal(w, 0.5 * torch.eye(H, c.input_size, dtype=w.dtype))


def test_irnn_copies_its_state():
    # Le et al. 2015: with W_hh = I, no input and no bias, a ReLU RNN keeps h unchanged.
    rnn = initialize(
        Recurrent("rnn", D, H, nonlinearity="relu"), recurrent_weights="identity", bias="zeros"
    )
    h0 = torch.rand(1, 2, H)
    _, h = rnn(torch.zeros(2, 7, D), h0)
    torch.testing.assert_close(h, h0)


# (name, variance of one block (fan_in, fan_out, hidden), uniform bound or None), at gain 1
RANDOM = [
    ("xavier_uniform", lambda i, o, h: 2 / (i + o), lambda i, o, h: math.sqrt(6 / (i + o))),
    ("xavier_normal", lambda i, o, h: 2 / (i + o), None),
    ("kaiming_uniform", lambda i, o, h: 2 / i, lambda i, o, h: math.sqrt(6 / i)),
    ("kaiming_normal", lambda i, o, h: 2 / i, None),
    ("uniform", lambda i, o, h: 1 / (3 * h), lambda i, o, h: 1 / math.sqrt(h)),
]


@pytest.mark.parametrize("name, variance, bound", RANDOM, ids=[r[0] for r in RANDOM])
def test_random_initializers_have_the_stated_scale_per_gate_block(name, variance, bound):
    torch.manual_seed(0)
    hidden, inputs, gain = 64, 48, 1.5
    cell = LSTMCell(inputs, hidden, proj_size=32).double()
    initialize(cell, input_weights=name, recurrent_weights=name, gain=gain)
    weights = [(blocks(cell.weight_ih, hidden), inputs), (blocks(cell.weight_hh, hidden), 32)]
    for gates, fan_in in weights:
        assert len(gates) == 4
        for w in gates:
            want = gain**2 * variance(fan_in, hidden, hidden)
            assert abs(w.var().item() / want - 1) < 0.1, (w.var().item(), want)
            assert abs(w.mean().item()) < 0.1 * math.sqrt(want)
            if bound is not None:
                a = gain * bound(fan_in, hidden, hidden)
                assert w.abs().max().item() <= a
                assert w.abs().max().item() > 0.97 * a  # fills the range, not a narrower one
    if name == "uniform":  # torch's default bounds weight_hr by 1/sqrt(H), not 1/sqrt(P)
        top, a = cell.weight_hr.abs().max().item(), gain / math.sqrt(hidden)
        assert 0.97 * a < top <= a


def test_keep_leaves_everything_alone():
    torch.manual_seed(0)
    cell = LSTMCell(D, H, peephole=True)
    before = {k: v.clone() for k, v in cell.state_dict().items()}
    initialize(cell, input_weights="keep", recurrent_weights="keep", bias="keep")
    for k, v in cell.state_dict().items():
        assert torch.equal(v, before[k]), k
    # Weights set, biases kept, peepholes untouched.
    initialize(cell, bias="keep")
    assert not torch.equal(cell.weight_hh, before["weight_hh"])
    for k in ("bias_ih", "bias_hh", "weight_ci", "weight_cf", "weight_co"):
        assert torch.equal(getattr(cell, k), before[k]), k


def test_zeros_bias_and_only_cells_are_touched():
    torch.manual_seed(0)
    model = nn.Sequential(Recurrent("gru", D, H), nn.Linear(H, 2))
    head = {k: v.clone() for k, v in model[1].state_dict().items()}
    initialize(model)
    for c in model[0].cells:
        assert torch.count_nonzero(c.bias_ih) == 0 and torch.count_nonzero(c.bias_hh) == 0
    for k, v in model[1].state_dict().items():
        assert torch.equal(v, head[k]), k


T_MAX = 50


def _chrono(cell_type, seed=0, t_max=T_MAX):
    torch.manual_seed(seed)
    rnn = Recurrent(cell_type, D, 64, num_layers=2, bidirectional=True).double()
    return initialize(rnn, bias="chrono", t_max=t_max)


def test_chrono_lstm_spreads_forget_time_scales_up_to_t_max():
    rnn = _chrono("lstm")
    lo, hi = math.log(1), math.log(T_MAX - 1)
    forget = []
    for c in rnn.cells:
        Hc = c.hidden_size
        b_i, b_f, b_g, b_o = c.bias_ih.detach().split(Hc)
        assert torch.count_nonzero(c.bias_hh) == 0  # the whole bias lives in bias_ih
        assert torch.equal(b_i, -b_f)
        assert torch.count_nonzero(b_g) == 0 and torch.count_nonzero(b_o) == 0
        assert b_f.min() >= lo and b_f.max() <= hi
        # A forget gate f keeps memory for about 1 / (1 - f) steps: here 1 + u, u ~ U(1, t_max-1).
        scale = 1 / (1 - torch.sigmoid(b_f))
        assert scale.min() >= 2 - 1e-9 and scale.max() <= T_MAX + 1e-9
        forget.append(b_f)
    u = torch.cat(forget).exp()  # 256 draws of U(1, t_max - 1): mean 25, sd 13.9
    assert abs(u.mean().item() - T_MAX / 2) < 4
    assert u.min() < 5 and u.max() > T_MAX - 5
    assert not torch.equal(forget[0], forget[1]), "every cell draws its own biases"
    torch.testing.assert_close(_chrono("lstm").state_dict(), rnn.state_dict(), rtol=0, atol=0)


def test_chrono_gru_sets_the_update_gate():
    rnn = _chrono("gru")
    for c in rnn.cells:
        b_r, b_z, b_n = c.bias_ih.detach().split(c.hidden_size)
        assert torch.count_nonzero(c.bias_hh) == 0
        assert torch.count_nonzero(b_r) == 0 and torch.count_nonzero(b_n) == 0
        assert b_z.min() >= 0 and b_z.max() <= math.log(T_MAX - 1)
        assert b_z.std() > 0.5  # spread out, not one constant
        # h = (1 - z) n + z h_prev keeps z of the state: time scale 1 / (1 - z) in [2, t_max].
        scale = 1 / (1 - torch.sigmoid(b_z))
        assert scale.min() >= 2 - 1e-9 and scale.max() <= T_MAX + 1e-9


def test_chrono_on_a_float32_lstm_stays_in_range():
    torch.manual_seed(0)
    cell = initialize(LSTMCell(D, 256), bias="chrono", t_max=2)  # U(1, 1): b_f = 0 exactly
    assert torch.count_nonzero(cell.bias_ih) == 0
    cell = initialize(LSTMCell(D, 256), bias="chrono", t_max=1000.0)
    b_f = cell.bias_ih[256:512].detach()
    assert b_f.dtype == torch.float32
    assert b_f.min() >= 0 and b_f.max() <= math.log(999) + 1e-6


def test_forget_bias_sets_the_lstm_forget_gate_only():
    torch.manual_seed(0)
    model = nn.ModuleList([LSTMCell(D, H), GRUCell(D, H)])
    gru_bias = model[1].bias_ih.detach().clone()
    initialize(model, bias="keep", forget_bias=1.0)
    b_ih, b_hh = model[0].bias_ih.detach(), model[0].bias_hh.detach()
    assert torch.equal(b_ih[H : 2 * H], torch.ones(H))
    assert torch.count_nonzero(b_hh[H : 2 * H]) == 0
    assert torch.count_nonzero(b_ih[:H]) == H  # bias="keep": the other gates keep theirs
    assert torch.equal(model[1].bias_ih, gru_bias)

    initialize(model, forget_bias=2.0)  # bias="zeros" first, then the forget gate
    b = model[0].bias_ih.detach()
    assert torch.equal(b, torch.cat([torch.zeros(H), torch.full((H,), 2.0), torch.zeros(2 * H)]))


WEIGHT_CHOICES = (
    "['xavier_uniform', 'xavier_normal', 'kaiming_uniform', 'kaiming_normal', 'orthogonal', "
    "'identity', 'uniform', 'keep']"
)


@pytest.mark.parametrize(
    "module, kwargs, message",
    [
        (
            LSTMCell(D, H),
            {"input_weights": "glorot"},
            f"input_weights: expected one of {WEIGHT_CHOICES}, got 'glorot'",
        ),
        (
            LSTMCell(D, H),
            {"recurrent_weights": "Orthogonal"},
            f"recurrent_weights: expected one of {WEIGHT_CHOICES}, got 'Orthogonal'",
        ),
        (
            LSTMCell(D, H),
            {"bias": "ones"},
            "bias: expected one of ['zeros', 'chrono', 'keep'], got 'ones'",
        ),
        (
            LSTMCell(D, H),
            {"bias": "chrono"},
            "t_max: bias='chrono' needs t_max (the longest dependency, >= 2)",
        ),
        (
            LSTMCell(D, H),
            {"bias": "chrono", "t_max": 1.5},
            "t_max: expected a number >= 2, got 1.5",
        ),
        (
            LSTMCell(D, H),
            {"t_max": 100},
            "t_max: only used with bias='chrono', got t_max=100, bias='zeros'",
        ),
        (
            LSTMCell(D, H),
            {"bias": "chrono", "t_max": 100, "forget_bias": 1.0},
            "forget_bias: bias='chrono' sets the forget gate itself; got forget_bias=1.0 with it",
        ),
        (LSTMCell(D, H), {"gain": 0}, "gain: expected a positive number, got 0"),
        (
            nn.Linear(D, H),
            {},
            "module: expected a RecurrentCell or a module containing one, got Linear",
        ),
        (
            RNNCell(D, H),
            {"bias": "chrono", "t_max": 10},
            "bias: 'chrono' needs LSTM or GRU cells with biases, got RNNCell",
        ),
        (
            LSTMCell(D, H, bias=False),
            {"bias": "chrono", "t_max": 10},
            "bias: 'chrono' needs LSTM or GRU cells with biases, got LSTMCell(bias=False)",
        ),
        (
            Recurrent("gru", D, H),
            {"forget_bias": 1.0},
            "forget_bias: needs LSTM cells with biases (the forget gate), got GRUCell",
        ),
    ],
)
def test_errors_name_the_argument_and_change_nothing(module, kwargs, message):
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.raises(ValueError, match=re.escape(message)):
        initialize(module, **kwargs)
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), k
