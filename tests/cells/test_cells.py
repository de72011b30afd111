"""Cells against their papers' equations, against torch.nn, under gradcheck, and their errors.

Every reference below is written from scratch with torch ops on the cell's parameters (never its
methods), in float64, and stepped several times so that the state plumbing is checked too.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.func import functional_call

from rnnkit.cells import (
    CELLS,
    BNLSTMState,
    GRUCell,
    LSTMCell,
    LSTMState,
    RNNCell,
    detach,
    map_state,
)

B, D, H, P, T = 4, 3, 5, 3, 4
EPS = 1e-5


def close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-10, atol=1e-12)


def randomize(module: nn.Module, scale: float = 0.5) -> None:
    """Non-trivial parameters (peepholes, gains and shifts all far from their inits)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)


def params(cell: nn.Module) -> dict[str, torch.Tensor]:
    return dict(cell.named_parameters())


# -- references --------------------------------------------------------------------------------
def ref_layer_norm(v, gain, shift=None):
    mu = v.mean(-1, keepdim=True)
    var = ((v - mu) ** 2).mean(-1, keepdim=True)
    y = (v - mu) / torch.sqrt(var + EPS) * gain
    return y if shift is None else y + shift


class RefBatchNorm:
    """Cooijmans et al.: per-time-step statistics, batch ones in training, running ones after.

    ``stats[(part, t)]`` collects (batch mean, unbiased batch variance) seen in training, from
    which the test derives the running statistics itself.
    """

    def __init__(self, training: bool, running: dict | None = None, last_slot: int = 0):
        self.training, self.running, self.last_slot = training, running, last_slot
        self.stats: dict = {}

    def __call__(self, v, gain, part, t):
        if self.training:
            n = v.shape[0]
            mu = v.mean(0)
            var = ((v - mu) ** 2).mean(0)  # biased, as batch normalization uses
            self.stats[(part, t)] = (mu.detach(), var.detach() * n / (n - 1))
        else:
            mu, var = self.running[(part, min(t, self.last_slot))]
        return (v - mu) / torch.sqrt(var + EPS) * gain


def ref_rnn_step(p, x, h, nonlinearity, bias):
    pre = x @ p["weight_ih"].T + h @ p["weight_hh"].T
    if bias:
        pre = pre + p["bias_ih"] + p["bias_hh"]
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def ref_gru_step(p, x, h, reset_after, bias):
    W_ir, W_iz, W_in = p["weight_ih"].chunk(3)
    W_hr, W_hz, W_hn = p["weight_hh"].chunk(3)
    zero = torch.zeros(H, dtype=x.dtype)
    b_ir, b_iz, b_in = p["bias_ih"].chunk(3) if bias else (zero,) * 3
    b_hr, b_hz, b_hn = p["bias_hh"].chunk(3) if bias else (zero,) * 3
    r = torch.sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    if reset_after:  # torch / cuDNN
        n = torch.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))
    else:  # Cho et al. 2014
        n = torch.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    return (1 - z) * n + z * h


def ref_lstm_step(p, x, h, c, t, opts, bn=None):
    norm = opts.get("norm")
    wx, wh = x @ p["weight_ih"].T, h @ p["weight_hh"].T
    if norm == "layer":
        wx, wh = ref_layer_norm(wx, p["ln_ih_weight"]), ref_layer_norm(wh, p["ln_hh_weight"])
    elif norm == "batch":
        wx, wh = bn(wx, p["bn_ih_weight"], "ih", t), bn(wh, p["bn_hh_weight"], "hh", t)
    a = wx + wh
    if opts.get("bias", True):
        a = a + p["bias_ih"] + p["bias_hh"]
    a_i, a_f, a_g, a_o = a.chunk(4, dim=1)
    if opts.get("peephole"):
        a_i = a_i + p["weight_ci"] * c
        a_f = a_f + p["weight_cf"] * c
    c_new = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    if opts.get("peephole"):
        a_o = a_o + p["weight_co"] * c_new  # the output peephole sees the new cell
    if norm == "layer":
        c_out = ref_layer_norm(c_new, p["ln_c_weight"], p["ln_c_bias"])
    elif norm == "batch":
        c_out = bn(c_new, p["bn_c_weight"], "c", t) + p["bn_c_bias"]
    else:
        c_out = c_new
    h_new = torch.sigmoid(a_o) * torch.tanh(c_out)
    if opts.get("proj_size"):
        h_new = h_new @ p["weight_hr"].T
    return h_new, c_new


# -- cells against the equations ---------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_cell_matches_elman_equations(nonlinearity, bias):
    cell = RNNCell(D, H, nonlinearity=nonlinearity, bias=bias).double()
    randomize(cell)
    p = params(cell)
    h = h_ref = torch.randn(B, H, dtype=torch.float64)
    for _ in range(T):
        x = torch.randn(B, D, dtype=torch.float64)
        out, h = cell(x, h)
        h_ref = ref_rnn_step(p, x, h_ref, nonlinearity, bias)
        close(out, h_ref)
        close(h, h_ref)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_cell_matches_equations(reset_after, bias):
    cell = GRUCell(D, H, reset_after=reset_after, bias=bias).double()
    randomize(cell)
    p = params(cell)
    h = h_ref = torch.randn(B, H, dtype=torch.float64)
    for _ in range(T):
        x = torch.randn(B, D, dtype=torch.float64)
        out, h = cell(x, h)
        h_ref = ref_gru_step(p, x, h_ref, reset_after, bias)
        close(out, h_ref)
        close(h, h_ref)


def test_gru_reset_conventions_differ():
    """The two conventions are different functions (else the tests above prove nothing)."""
    a = GRUCell(D, H, reset_after=True).double()
    randomize(a)
    b = GRUCell(D, H, reset_after=False).double()
    b.load_state_dict(a.state_dict())
    x, h = torch.randn(B, D, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    assert not torch.allclose(a(x, h)[0], b(x, h)[0])


LSTM_OPTIONS = [
    pytest.param({}, id="plain"),
    pytest.param({"bias": False}, id="no-bias"),
    pytest.param({"peephole": True}, id="peephole"),
    pytest.param({"proj_size": P}, id="proj"),
    pytest.param({"norm": "layer"}, id="layer"),
    pytest.param({"norm": "layer", "bias": False}, id="layer-no-bias"),
    pytest.param({"peephole": True, "norm": "layer", "proj_size": P}, id="peephole-layer-proj"),
]
BN_OPTIONS = [
    pytest.param({"norm": "batch"}, id="batch"),
    pytest.param({"norm": "batch", "peephole": True, "proj_size": P}, id="batch-peephole-proj"),
]


def random_lstm_state(opts, batch=B):
    h = torch.randn(batch, opts.get("proj_size") or H, dtype=torch.float64)
    c = torch.randn(batch, H, dtype=torch.float64)
    return h, c


@pytest.mark.parametrize("opts", LSTM_OPTIONS)
def test_lstm_cell_matches_equations(opts):
    cell = LSTMCell(D, H, **opts).double()
    randomize(cell)
    p = params(cell)
    h_ref, c_ref = random_lstm_state(opts)
    state = LSTMState(h_ref, c_ref)
    for t in range(T):
        x = torch.randn(B, D, dtype=torch.float64)
        out, state = cell(x, state)
        h_ref, c_ref = ref_lstm_step(p, x, h_ref, c_ref, t, opts)
        assert type(state) is LSTMState
        close(out, h_ref)
        close(state.h, h_ref)
        close(state.c, c_ref)  # the state keeps the raw (unnormalized) cell


@pytest.mark.parametrize("opts", BN_OPTIONS)
def test_batch_norm_lstm_training_uses_batch_statistics_per_step(opts):
    cell = LSTMCell(D, H, **opts).double().train()
    randomize(cell)
    p = params(cell)
    bn = RefBatchNorm(training=True)
    h_ref, c_ref = random_lstm_state(opts)
    state = BNLSTMState(h_ref, c_ref, 0)
    for t in range(T):
        x = torch.randn(B, D, dtype=torch.float64)
        out, state = cell(x, state)
        h_ref, c_ref = ref_lstm_step(p, x, h_ref, c_ref, t, opts, bn)
        assert type(state) is BNLSTMState and state.step == t + 1
        close(out, h_ref)
        close(state.h, h_ref)
        close(state.c, c_ref)
    # Running statistics follow torch's convention: momentum 0.1, unbiased variance, per step.
    for part in ("ih", "hh", "c"):
        for t in range(T):
            mu, var = bn.stats[(part, t)]
            close(getattr(cell, f"running_mean_{part}")[t], 0.1 * mu)
            close(getattr(cell, f"running_var_{part}")[t], 0.9 + 0.1 * var)
        assert (getattr(cell, f"running_mean_{part}")[T:] == 0).all()  # untouched slots
    assert int(cell.steps_trained) == T


@pytest.mark.parametrize("opts", BN_OPTIONS)
def test_batch_norm_lstm_eval_uses_running_statistics_of_each_step(opts):
    """Train on T_train=3 steps, then evaluate 6 steps: steps 3, 4, 5 reuse slot 2's stats."""
    T_train, T_eval = 3, 6
    cell = LSTMCell(D, H, **opts).double().train()
    randomize(cell)
    p = params(cell)
    bn = RefBatchNorm(training=True)
    h_ref, c_ref = random_lstm_state(opts, batch=6)
    state = BNLSTMState(h_ref, c_ref, 0)
    for t in range(T_train):
        x = torch.randn(6, D, dtype=torch.float64) * 2 + 1  # stats far from mean 0 / var 1
        _, state = cell(x, state)
        h_ref, c_ref = ref_lstm_step(p, x, h_ref, c_ref, t, opts, bn)
    running = {k: (0.1 * mu, 0.9 + 0.1 * var) for k, (mu, var) in bn.stats.items()}

    cell.eval()
    bn_eval = RefBatchNorm(training=False, running=running, last_slot=T_train - 1)
    h_ref, c_ref = random_lstm_state(opts)
    state = BNLSTMState(h_ref, c_ref, 0)
    buffers = {k: v.clone() for k, v in cell.named_buffers()}
    for t in range(T_eval):
        x = torch.randn(B, D, dtype=torch.float64)
        out, state = cell(x, state)
        h_ref, c_ref = ref_lstm_step(p, x, h_ref, c_ref, t, opts, bn_eval)
        close(out, h_ref)
        close(state.c, c_ref)
        assert state.step == t + 1
    for k, v in cell.named_buffers():  # evaluation never updates statistics
        assert torch.equal(v, buffers[k])


def test_batch_norm_lstm_eval_past_trained_length_reuses_last_trained_step():
    T_train = 3
    cell = LSTMCell(D, H, norm="batch").double()
    randomize(cell)
    state = cell.initial_state(6, dtype=torch.float64)
    for _ in range(T_train):
        _, state = cell(torch.randn(6, D, dtype=torch.float64) * 2 + 1, state)
    assert int(cell.steps_trained) == T_train
    cell.eval()
    x, (h, c) = torch.randn(B, D, dtype=torch.float64), random_lstm_state({})
    at = {step: cell(x, BNLSTMState(h, c, step))[0] for step in (1, 2, 5, 5000)}
    close(at[5], at[2])
    close(at[5000], at[2])  # even past max_steps
    assert not torch.allclose(at[1], at[2])  # the slots really differ

    # The same, from scratch: slot 2's running statistics used at step 5.
    p = params(cell)
    running = {
        (part, 2): (
            getattr(cell, f"running_mean_{part}")[2],
            getattr(cell, f"running_var_{part}")[2],
        )
        for part in ("ih", "hh", "c")
    }
    bn = RefBatchNorm(training=False, running=running, last_slot=2)
    h_ref, _ = ref_lstm_step(p, x, h, c, 5, {"norm": "batch"}, bn)
    close(at[5], h_ref)


def test_lstm_forget_bias_initialization():
    fb = 1.0
    cell = LSTMCell(D, H, forget_bias=fb)
    close(cell.bias_ih[H : 2 * H].detach(), torch.full((H,), fb))
    close(cell.bias_hh[H : 2 * H].detach(), torch.zeros(H))
    bound = 1 / H**0.5  # the other gates keep torch's uniform initialization
    for b in (cell.bias_ih, cell.bias_hh):
        rest = torch.cat([b[:H], b[2 * H :]]).detach()
        assert rest.abs().max() <= bound and rest.std() > 0
    # and it is just an initial value: the step is the plain LSTM's on those parameters
    cell = cell.double()
    x, (h, c) = torch.randn(B, D, dtype=torch.float64), random_lstm_state({})
    out, state = cell(x, LSTMState(h, c))
    h_ref, c_ref = ref_lstm_step(params(cell), x, h, c, 0, {})
    close(out, h_ref)
    close(state.c, c_ref)


def test_batch_norm_gains_start_at_one_tenth():
    cell = LSTMCell(D, H, norm="batch")
    for name in ("bn_ih_weight", "bn_hh_weight", "bn_c_weight"):
        close(getattr(cell, name).detach(), torch.full_like(getattr(cell, name), 0.1))
    close(cell.bn_c_bias.detach(), torch.zeros(H))


@pytest.mark.parametrize(
    "cls, kwargs",
    [(RNNCell, {}), (GRUCell, {}), (LSTMCell, {}), (LSTMCell, {"norm": "batch"})],
    ids=["rnn", "gru", "lstm", "lstm-batch"],
)
def test_missing_state_means_zeros(cls, kwargs):
    cell = cls(D, H, **kwargs).double()
    randomize(cell)
    x = torch.randn(B, D, dtype=torch.float64)
    zero = cell.initial_state(B, dtype=torch.float64)
    for v in zero if isinstance(zero, tuple) else (zero,):
        if isinstance(v, torch.Tensor):
            assert v.dtype == torch.float64 and (v == 0).all()
    a, sa = cell(x)
    b, sb = cell(x, zero)
    close(a, b)
    assert type(sa) is type(sb)


# -- cells against torch.nn --------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize(
    "ours, theirs, kwargs",
    [
        (LSTMCell, nn.LSTMCell, {}),
        (GRUCell, nn.GRUCell, {}),
        (RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
        (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    ],
    ids=["lstm", "gru", "rnn-tanh", "rnn-relu"],
)
def test_cell_equals_torch_nn_cell(ours, theirs, kwargs, bias):
    mine = ours(D, H, bias=bias, **kwargs).double()
    ref = theirs(D, H, bias=bias, **kwargs).double()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.randn_like(p) * 0.5)
            getattr(mine, name).copy_(p)
    is_lstm = ours is LSTMCell
    x = torch.randn(T, B, D, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    s_mine = LSTMState(h0, c0) if is_lstm else h0
    s_ref = (h0, c0) if is_lstm else h0
    loss_mine = loss_ref = 0
    for t in range(T):
        w = torch.randn(B, H, dtype=torch.float64)
        out, s_mine = mine(x[t], s_mine)
        s_ref = ref(x[t], s_ref)
        h_ref = s_ref[0] if is_lstm else s_ref
        close(out, h_ref)
        if is_lstm:
            close(s_mine.c, s_ref[1])
        loss_mine = loss_mine + (out * w).sum()
        loss_ref = loss_ref + (h_ref * w).sum()
    if is_lstm:
        loss_mine = loss_mine + s_mine.c.sum()
        loss_ref = loss_ref + s_ref[1].sum()
    inputs = [x, h0, c0] if is_lstm else [x, h0]
    g_mine = torch.autograd.grad(loss_mine, inputs + list(mine.parameters()))
    g_ref = torch.autograd.grad(
        loss_ref, inputs + [getattr(ref, n) for n, _ in mine.named_parameters()]
    )
    for a, b in zip(g_mine, g_ref, strict=True):
        close(a, b)


# -- gradcheck ---------------------------------------------------------------------------------
GRADCHECK_CASES = [
    pytest.param(RNNCell, {"nonlinearity": "tanh"}, True, id="rnn-tanh"),
    pytest.param(RNNCell, {"nonlinearity": "relu"}, True, id="rnn-relu"),
    pytest.param(GRUCell, {"reset_after": True}, True, id="gru-reset-after"),
    pytest.param(GRUCell, {"reset_after": False}, True, id="gru-reset-before"),
    pytest.param(GRUCell, {"bias": False}, True, id="gru-no-bias"),
    *[pytest.param(LSTMCell, p.values[0], True, id=f"lstm-{p.id}") for p in LSTM_OPTIONS],
    *[pytest.param(LSTMCell, p.values[0], True, id=f"lstm-{p.id}-train") for p in BN_OPTIONS],
    *[pytest.param(LSTMCell, p.values[0], False, id=f"lstm-{p.id}-eval") for p in BN_OPTIONS],
]


@pytest.mark.parametrize("cls, kwargs, training", GRADCHECK_CASES)
def test_cell_gradcheck(cls, kwargs, training):
    """Gradients w.r.t. input, state and every parameter over two steps (float64)."""
    b, d, h = 3, 2, 3
    if "proj_size" in kwargs:
        kwargs = {**kwargs, "proj_size": 2}
    cell = cls(d, h, **kwargs).double()
    randomize(cell)
    if kwargs.get("norm") == "batch" and not training:  # non-trivial running statistics
        for _ in range(2):
            cell(
                torch.randn(5, d, dtype=torch.float64) * 2 + 1,
                cell.initial_state(5, dtype=torch.float64),
            )
    cell.train(training)
    names = [n for n, _ in cell.named_parameters()]
    template = cell.initial_state(b, dtype=torch.float64)
    fields = list(template) if isinstance(template, tuple) else [template]
    state_in = [torch.randn_like(s).requires_grad_() for s in fields if isinstance(s, torch.Tensor)]
    xs = torch.randn(2, b, d, dtype=torch.float64, requires_grad=True)
    ps = [p.detach().clone().requires_grad_() for p in cell.parameters()]

    def run(xs, *flat):
        state_t, ps = flat[: len(state_in)], flat[len(state_in) :]
        if isinstance(template, tuple):
            state = type(template)(*state_t, *template[len(state_t) :])
        else:
            state = state_t[0]
        outs = []
        for t in range(xs.shape[0]):
            out, state = functional_call(cell, dict(zip(names, ps, strict=True)), (xs[t], state))
            outs.append(out)
        tensors = [
            s
            for s in (state if isinstance(state, tuple) else (state,))
            if isinstance(s, torch.Tensor)
        ]
        return (torch.stack(outs), *tensors)

    assert torch.autograd.gradcheck(run, (xs, *state_in, *ps))


# -- bad input ---------------------------------------------------------------------------------
CELL_KINDS = [
    pytest.param(RNNCell, {}, id="rnn"),
    pytest.param(GRUCell, {}, id="gru"),
    pytest.param(LSTMCell, {}, id="lstm"),
    pytest.param(LSTMCell, {"norm": "batch"}, id="lstm-batch"),
]


@pytest.mark.parametrize("cls, kwargs", CELL_KINDS)
def test_cell_rejects_wrong_feature_size(cls, kwargs):
    with pytest.raises(
        ValueError, match=r"^x: expected last dimension \(features\) 3, got shape \(2, 4\)"
    ):
        cls(3, 5, **kwargs)(torch.randn(2, 4))


@pytest.mark.parametrize("cls, kwargs", CELL_KINDS)
def test_cell_rejects_integer_input(cls, kwargs):
    with pytest.raises(
        ValueError, match=r"^x: expected a floating-point tensor, got dtype torch\.int64"
    ):
        cls(3, 5, **kwargs)(torch.ones(2, 3, dtype=torch.long))


@pytest.mark.parametrize("cls, kwargs", CELL_KINDS)
def test_cell_rejects_one_dimensional_input(cls, kwargs):
    with pytest.raises(ValueError, match=r"^x: expected a 2-D tensor, got shape \(3,\)"):
        cls(3, 5, **kwargs)(torch.randn(3))


@pytest.mark.parametrize("cls, kwargs", CELL_KINDS)
def test_cell_rejects_empty_batch(cls, kwargs):
    with pytest.raises(ValueError, match=r"^x: empty batch \(shape \(0, 3\)\)"):
        cls(3, 5, **kwargs)(torch.randn(0, 3))


@pytest.mark.parametrize("cls", [RNNCell, GRUCell])
def test_cell_rejects_wrong_state_shape(cls):
    with pytest.raises(ValueError, match=r"^state: expected shape \(2, 5\), got \(2, 4\)"):
        cls(3, 5)(torch.randn(2, 3), torch.randn(2, 4))
    with pytest.raises(ValueError, match=r"^state: expected shape \(2, 5\), got \(3, 5\)"):
        cls(3, 5)(torch.randn(2, 3), torch.randn(3, 5))


@pytest.mark.parametrize(
    "kwargs", [{}, {"norm": "batch"}, {"proj_size": 2}], ids=["plain", "batch", "proj"]
)
def test_lstm_cell_rejects_wrong_state_shape(kwargs):
    cell = LSTMCell(3, 5, **kwargs)
    good = cell.initial_state(2)
    out = cell.output_size
    with pytest.raises(ValueError, match=rf"^state\.h: expected shape \(2, {out}\), got \(2, 7\)"):
        cell(torch.randn(2, 3), good._replace(h=torch.zeros(2, 7)))
    with pytest.raises(ValueError, match=r"^state\.c: expected shape \(2, 5\), got \(1, 5\)"):
        cell(torch.randn(2, 3), good._replace(c=torch.zeros(1, 5)))
    want = "BNLSTMState" if kwargs.get("norm") == "batch" else "LSTMState"
    with pytest.raises(ValueError, match=rf"^state: expected {want}\(.*\), got Tensor"):
        cell(torch.randn(2, 3), torch.zeros(2, 5))


def test_batch_norm_lstm_rejects_state_without_step():
    cell = LSTMCell(3, 5, norm="batch")
    with pytest.raises(
        ValueError, match=r"^state: expected BNLSTMState\('h', 'c', 'step'\), got LSTMState"
    ):
        cell(torch.randn(2, 3), LSTMState(torch.zeros(2, 5), torch.zeros(2, 5)))


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: LSTMCell(3, 5, norm="foo"),
            r"^norm: expected None, 'layer' or 'batch', got 'foo'",
        ),
        (
            lambda: LSTMCell(3, 5, proj_size=5),
            r"^proj_size: expected less than hidden_size \(5\), got 5",
        ),
        (
            lambda: LSTMCell(3, 5, proj_size=9),
            r"^proj_size: expected less than hidden_size \(5\), got 9",
        ),
        (lambda: LSTMCell(3, 5, proj_size=-1), r"^proj_size: expected an integer >= 0, got -1"),
        (lambda: LSTMCell(3, 5, norm="batch", bias=False), r"^bias: norm='batch' needs bias=True"),
        (lambda: LSTMCell(3, 0), r"^hidden_size: expected a positive integer, got 0"),
        (lambda: GRUCell(3, 0), r"^hidden_size: expected a positive integer, got 0"),
        (lambda: RNNCell(3, 0), r"^hidden_size: expected a positive integer, got 0"),
        (lambda: RNNCell(0, 5), r"^input_size: expected a positive integer, got 0"),
        (lambda: RNNCell(3, 2.5), r"^hidden_size: expected a positive integer, got 2\.5"),
        (
            lambda: RNNCell(3, 5, nonlinearity="sigmoid"),
            r"^nonlinearity: expected 'tanh' or 'relu', got 'sigmoid'",
        ),
        (lambda: GRUCell(3, 5, reset_after="False"), r"^reset_after: expected True or False"),
        (lambda: LSTMCell(3, 5, peephole=1), r"^peephole: expected True or False, got 1"),
        (lambda: LSTMCell(3, 5, forget_bias="1"), r"^forget_bias: expected a number, got '1'"),
        (lambda: LSTMCell(3, 5, eps=0.0), r"^eps: expected a number > 0, got 0\.0"),
    ],
    ids=[
        "norm",
        "proj-equal",
        "proj-larger",
        "proj-negative",
        "batch-no-bias",
        "lstm-hidden",
        "gru-hidden",
        "rnn-hidden",
        "rnn-input",
        "rnn-float-hidden",
        "nonlinearity",
        "reset-after-string",
        "peephole-int",
        "forget-bias-string",
        "eps-zero",
    ],
)
def test_cell_constructor_rejects_bad_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# -- state helpers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, kwargs", [("rnn", {}), ("gru", {}), ("lstm", {}), ("lstm", {"norm": "batch"})]
)
def test_detach_cuts_the_graph_and_keeps_the_type(name, kwargs):
    cell = CELLS[name](D, H, **kwargs)
    _, state = cell(torch.randn(B, D), cell(torch.randn(B, D))[1])
    before = list(state) if isinstance(state, tuple) else [state]
    assert all(v.requires_grad for v in before if isinstance(v, torch.Tensor))
    cut = detach(state)
    assert type(cut) is type(state)
    after = list(cut) if isinstance(cut, tuple) else [cut]
    for a, b in zip(after, before, strict=True):
        if isinstance(b, torch.Tensor):
            assert not a.requires_grad and a.grad_fn is None
            assert torch.equal(a, b)
        else:
            assert a == b == 2  # BNLSTMState's step after two steps


def test_map_state_reorders_and_keeps_namedtuple_and_step():
    h, c = torch.randn(B, H), torch.randn(B, H)
    idx = torch.tensor([2, 0, 3, 1])
    for state in (LSTMState(h, c), BNLSTMState(h, c, 7)):
        moved = map_state(lambda t: t.index_select(0, idx), state)
        assert type(moved) is type(state)
        assert torch.equal(moved.h, h[idx]) and torch.equal(moved.c, c[idx])
        if isinstance(state, BNLSTMState):
            assert isinstance(moved.step, int) and moved.step == 7
    assert torch.equal(map_state(lambda t: t * 2, h), h * 2)
    plain = map_state(lambda t: t + 1, (h, (c, 3)))
    assert type(plain) is tuple and torch.equal(plain[0], h + 1)
    assert torch.equal(plain[1][0], c + 1) and plain[1][1] == 3
    assert map_state(lambda t: t + 1, None) is None
    with pytest.raises(
        TypeError, match=r"^state: expected a Tensor or a tuple of Tensors, got str"
    ):
        map_state(lambda t: t, "h")


def test_cell_names_dtype_mismatches():
    cell = LSTMCell(D, H)  # float32 parameters
    with pytest.raises(
        ValueError,
        match=r"^x: expected torch.float32 on cpu \(the parameters'\), got torch.float64",
    ):
        cell(torch.randn(B, D, dtype=torch.float64))
    h = torch.zeros(B, H)
    with pytest.raises(
        ValueError,
        match=r"^state\.h: expected torch.float32 on cpu \(the input's\), got torch.float64",
    ):
        cell(torch.randn(B, D), (h.double(), h))
