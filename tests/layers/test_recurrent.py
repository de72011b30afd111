"""The Recurrent runner: against torch.nn, path against path, lengths, packing, streaming,
stacking options, gradcheck of the hand-differentiated custom path, and its errors.

Everything numeric runs in float64 and compares outputs, final states AND gradients (of a random
weighted sum of outputs and final states) w.r.t. input, initial state and every parameter.
"""

from __future__ import annotations

import copy
import re

import pytest
import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnkit.cells import BNLSTMState, LSTMState, map_state
from rnnkit.layers import Recurrent
from rnnkit.layers.recurrent import MIN_CUSTOM_STEPS

B, T, D, H, P = 4, 6, 3, 5, 3
LENGTHS = [6, 2, 5, 1]  # unsorted, the longest is T
SHORT = [5, 2, 4, 1]  # the longest is T - 1: the last step is padding in every row
PATHS = ["fused", "custom", "reference"]
f64 = torch.float64


def close(actual, expected):
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-10)


def tensors(state) -> list[torch.Tensor]:
    """The tensors of a state (a Tensor or an LSTMState / BNLSTMState)."""
    if isinstance(state, torch.Tensor):
        return [state]
    return [v for v in state if isinstance(v, torch.Tensor)]


def weighted_loss(out: torch.Tensor, state) -> torch.Tensor:
    """A random (but fixed by the shapes) weighted sum of the outputs and the final state."""
    g = torch.Generator().manual_seed(1234)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in tensors(state):
        loss = loss + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    return loss


def grads(loss, inputs):
    return torch.autograd.grad(loss, inputs)


def assert_all_close(actual: list, expected: list):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        close(a, e)


def randomize(module: nn.Module, scale: float = 0.5) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * scale)


def supports_fused(name: str, opts: dict) -> bool:
    if name == "lstm":
        return not opts.get("peephole") and opts.get("norm") is None
    if name == "gru":
        return opts.get("reset_after", True)
    return True


def with_path(rnn: Recurrent, path: str) -> Recurrent:
    twin = copy.deepcopy(rnn)
    twin.path = path
    return twin


def random_state(rnn: Recurrent, batch: int):
    n = rnn.num_layers * rnn.num_directions
    h = torch.randn(n, batch, rnn.output_size, dtype=f64, requires_grad=True)
    if rnn.cell_type.__name__ != "LSTMCell":
        return h
    c = torch.randn(n, batch, H, dtype=f64, requires_grad=True)
    if rnn.cells[0].norm == "batch":
        return BNLSTMState(h, c, 0)
    return LSTMState(h, c)


def pad_mask(lengths, batch_first: bool = True) -> torch.Tensor:
    """True at padded positions, (B, T) or (T, B)."""
    mask = torch.arange(T)[None, :] >= torch.tensor(lengths)[:, None]
    return mask if batch_first else mask.t()


# -- against torch.nn --------------------------------------------------------------------------
TORCH_KINDS = {
    "lstm": ("lstm", nn.LSTM, {}),
    "gru": ("gru", nn.GRU, {}),
    "rnn-tanh": ("rnn", nn.RNN, {"nonlinearity": "tanh"}),
    "rnn-relu": ("rnn", nn.RNN, {"nonlinearity": "relu"}),
}
TORCH_CONFIGS = [
    pytest.param(2, True, True, LENGTHS, True, id="L2-bi-bf-lengths-state"),
    pytest.param(1, False, False, None, False, id="L1-uni-tm"),
    pytest.param(2, False, False, SHORT, True, id="L2-uni-tm-short-state"),
    pytest.param(1, True, True, None, True, id="L1-bi-bf-state"),
    pytest.param(2, True, False, SHORT, False, id="L2-bi-tm-short"),
]


def paired_parameters(rnn: Recurrent, ref: nn.RNNBase):
    """(ours, theirs) for every parameter: ``weight_ih_l{k}{_reverse}`` -> ``cells[k*dirs+d]``."""
    dirs = 2 if ref.bidirectional else 1
    pairs = []
    for layer in range(ref.num_layers):
        for d in range(dirs):
            cell = rnn.cells[layer * dirs + d]
            suffix = f"_l{layer}" + ("_reverse" if d else "")
            for name, p in cell.named_parameters():
                pairs.append((p, getattr(ref, name + suffix)))
    assert len(pairs) == len(list(ref.parameters()))
    return pairs


def torch_twin(kind: str, num_layers, bidirectional, batch_first, path, **extra):
    name, cls, opts = TORCH_KINDS[kind]
    layout = {"num_layers": num_layers, "bidirectional": bidirectional, "batch_first": batch_first}
    ref = cls(D, H, **layout, **opts, **extra).double()
    rnn = Recurrent(name, D, H, path=path, **layout, **opts, **extra).double()
    with torch.no_grad():
        for ours, theirs in paired_parameters(rnn, ref):
            theirs.copy_(torch.randn_like(theirs) * 0.5)
            ours.copy_(theirs)
    return rnn, ref


def run_torch(ref: nn.RNNBase, x, state, lengths, batch_first):
    if lengths is None:
        return ref(x, state)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    out, final = ref(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=batch_first, total_length=T)
    return out, final


def check_against_torch(rnn, ref, batch_first, lengths, with_state):
    x = torch.randn((B, T, D) if batch_first else (T, B, D), dtype=f64, requires_grad=True)
    state = random_state(rnn, B) if with_state else None
    out, final = rnn(x, state, lengths=None if lengths is None else torch.tensor(lengths))
    ref_out, ref_final = run_torch(ref, x, state, lengths, batch_first)
    close(out, ref_out)
    assert_all_close(tensors(final), tensors(ref_final))
    pairs = paired_parameters(rnn, ref)
    inputs = [x, *([] if state is None else tensors(state))]
    ours = grads(weighted_loss(out, final), inputs + [p for p, _ in pairs])
    theirs = grads(weighted_loss(ref_out, ref_final), inputs + [q for _, q in pairs])
    assert_all_close(list(ours), list(theirs))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "num_layers, bidirectional, batch_first, lengths, with_state", TORCH_CONFIGS
)
@pytest.mark.parametrize("kind", list(TORCH_KINDS))
def test_recurrent_equals_torch_nn(
    kind, num_layers, bidirectional, batch_first, lengths, with_state, path
):
    rnn, ref = torch_twin(kind, num_layers, bidirectional, batch_first, path)
    assert rnn.resolve_path() == path
    check_against_torch(rnn, ref, batch_first, lengths, with_state)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    "num_layers, bidirectional, batch_first, lengths, with_state",
    [TORCH_CONFIGS[0], TORCH_CONFIGS[2]],
)
def test_projected_lstm_equals_torch_nn(
    num_layers, bidirectional, batch_first, lengths, with_state, path
):
    rnn, ref = torch_twin("lstm", num_layers, bidirectional, batch_first, path, proj_size=P)
    assert rnn.output_size == P
    check_against_torch(rnn, ref, batch_first, lengths, with_state)


# -- the paths agree -------------------------------------------------------------------------
OPTIONS = [
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("lstm", {"bias": False}, id="lstm-no-bias"),
    pytest.param("lstm", {"peephole": True}, id="lstm-peephole"),
    pytest.param("lstm", {"norm": "layer"}, id="lstm-layer"),
    pytest.param("lstm", {"proj_size": P}, id="lstm-proj"),
    pytest.param("lstm", {"peephole": True, "norm": "layer", "proj_size": P}, id="lstm-all"),
    pytest.param("lstm", {"norm": "batch"}, id="lstm-batch"),
    pytest.param("lstm", {"norm": "batch", "peephole": True, "proj_size": P}, id="lstm-batch-all"),
    pytest.param("gru", {}, id="gru"),
    pytest.param("gru", {"reset_after": False}, id="gru-reset-before"),
    pytest.param("gru", {"bias": False}, id="gru-no-bias"),
    pytest.param("gru", {"reset_after": False, "bias": False}, id="gru-reset-before-no-bias"),
    pytest.param("rnn", {}, id="rnn-tanh"),
    pytest.param("rnn", {"nonlinearity": "relu"}, id="rnn-relu"),
    pytest.param("rnn", {"bias": False}, id="rnn-no-bias"),
]


def build(name, opts, *, training=True, **kwargs) -> Recurrent:
    """A float64 runner with random parameters; batch-norm LSTMs in eval mode first see data
    in training so that every step slot holds distinct running statistics."""
    rnn = Recurrent(name, D, H, **kwargs, **opts).double()
    randomize(rnn)
    if opts.get("norm") == "batch" and not training:
        with torch.no_grad():
            for _ in range(3):
                shape = (8, T, D) if rnn.batch_first else (T, 8, D)
                rnn(torch.randn(shape, dtype=f64) * 2 + 1)
    return rnn.train(training)


def run_all(rnn, x, state, lengths):
    """Outputs, final state and gradients w.r.t. (x, state, parameters) of one call."""
    x = x.detach().requires_grad_()
    state = map_state(lambda s: s.detach().requires_grad_(), state)
    out, final = rnn(x, state, lengths=lengths)
    inputs = [x, *([] if state is None else tensors(state)), *rnn.parameters()]
    return out, final, grads(weighted_loss(out, final), inputs)


def paths_for(name, opts):
    return PATHS if supports_fused(name, opts) else PATHS[1:]


def with_modes(options):
    """Batch-norm options in training and in evaluation (the only ones where it matters)."""
    out = []
    for case in options:
        name, opts = case.values
        modes = [True, False] if opts.get("norm") == "batch" else [True]
        for training in modes:
            suffix = "" if len(modes) == 1 else ("-train" if training else "-eval")
            out.append(pytest.param(name, opts, training, id=case.id + suffix))
    return out


@pytest.mark.parametrize("lengths", [None, LENGTHS, SHORT], ids=["full", "lengths", "short"])
@pytest.mark.parametrize("name, opts, training", with_modes(OPTIONS))
def test_paths_agree(name, opts, training, lengths):
    rnn = build(name, opts, training=training, num_layers=2, bidirectional=True)
    x = torch.randn(B, T, D, dtype=f64)
    state = random_state(rnn, B)
    lengths = None if lengths is None else torch.tensor(lengths)
    results = {}
    for path in paths_for(name, opts):
        twin = with_path(rnn, path)
        assert twin.resolve_path() == path
        results[path] = (twin, *run_all(twin, x, state, lengths))
    ref_twin, ref_out, ref_final, ref_grads = results.pop("reference")
    for twin, out, final, g in results.values():
        close(out, ref_out)
        assert_all_close(tensors(final), tensors(ref_final))
        assert type(final) is type(ref_final)
        assert_all_close(list(g), list(ref_grads))
        for (_, b1), (_, b2) in zip(twin.named_buffers(), ref_twin.named_buffers(), strict=True):
            close(b1, b2)  # batch norm's running statistics too


# -- gradcheck of the custom (hand-differentiated) path ----------------------------------------
@pytest.mark.parametrize("lengths", [[4, 2, 3], [3, 1, 2], None], ids=["lengths", "short", "full"])
@pytest.mark.parametrize(
    "name, opts",
    [
        pytest.param("lstm", {}, id="lstm"),
        pytest.param("lstm", {"peephole": True, "norm": "layer", "proj_size": 2}, id="lstm-all"),
        pytest.param("gru", {"reset_after": True}, id="gru-reset-after"),
        pytest.param("gru", {"reset_after": False}, id="gru-reset-before"),
        pytest.param("rnn", {}, id="rnn"),
    ],
)
def test_custom_path_gradcheck(name, opts, lengths):
    rnn = Recurrent(name, 2, 3, bidirectional=True, path="custom", **opts).double()
    randomize(rnn)
    names = [n for n, _ in rnn.named_parameters()]
    x = torch.randn(3, 4, 2, dtype=f64, requires_grad=True)
    template = rnn.initial_state(3, dtype=f64)
    state = [torch.randn_like(s).requires_grad_() for s in tensors(template)]
    ps = [p.detach().clone().requires_grad_() for p in rnn.parameters()]
    lengths = None if lengths is None else torch.tensor(lengths)

    def run(x, *flat):
        s, p = flat[: len(state)], flat[len(state) :]
        s = type(template)(*s) if isinstance(template, tuple) else s[0]
        out, final = functional_call(
            rnn, dict(zip(names, p, strict=True)), (x, s), {"lengths": lengths}
        )
        return (out, *tensors(final))

    assert torch.autograd.gradcheck(run, (x, *state, *ps))


KERNELS = [
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("lstm", {"peephole": True, "norm": "layer", "proj_size": P}, id="lstm-all"),
    pytest.param("gru", {}, id="gru"),
    pytest.param("gru", {"reset_after": False}, id="gru-reset-before"),
    pytest.param("rnn", {}, id="rnn"),
]


@pytest.mark.parametrize("name, opts", KERNELS)
def test_custom_path_backward_twice_with_retained_graph(name, opts):
    """``retain_graph=True`` lets a graph be differentiated again (two losses, gradcheck)."""
    rnn = build(name, opts, bidirectional=True, path="custom")
    x = torch.randn(B, T, D, dtype=f64, requires_grad=True)
    out, final = rnn(x, lengths=torch.tensor(LENGTHS))
    loss = weighted_loss(out, final)
    first = torch.autograd.grad(loss, [x, *rnn.parameters()], retain_graph=True)
    second = torch.autograd.grad(loss, [x, *rnn.parameters()])
    assert_all_close(list(second), list(first))


# -- lengths -----------------------------------------------------------------------------------
INVARIANCE = [
    pytest.param("lstm", {}, True, id="lstm"),
    pytest.param("lstm", {"peephole": True, "norm": "layer", "proj_size": P}, True, id="lstm-all"),
    pytest.param("lstm", {"norm": "batch"}, True, id="lstm-batch-train"),
    pytest.param("lstm", {"norm": "batch"}, False, id="lstm-batch-eval"),
    pytest.param("gru", {}, True, id="gru"),
    pytest.param("gru", {"reset_after": False}, True, id="gru-reset-before"),
    pytest.param("rnn", {"nonlinearity": "relu"}, True, id="rnn-relu"),
]


def path_cases(cases):
    """Expand (name, opts, training) cases over every path that applies to them."""
    out = []
    for case in cases:
        name, opts, training = case.values
        for path in paths_for(name, opts):
            out.append(pytest.param(name, opts, training, path, id=f"{case.id}-{path}"))
    return out


@pytest.mark.parametrize("lengths", [LENGTHS, SHORT], ids=["lengths", "short"])
@pytest.mark.parametrize("name, opts, training, path", path_cases(INVARIANCE))
def test_padding_is_ignored_and_padded_outputs_are_zero(name, opts, training, path, lengths):
    rnn = build(name, opts, training=training, num_layers=2, bidirectional=True, path=path)
    pad = pad_mask(lengths)[..., None]  # (B, T, 1)
    x1 = torch.randn(B, T, D, dtype=f64)
    x2 = torch.where(pad, torch.randn(B, T, D, dtype=f64) * 100, x1)
    assert not torch.equal(x1, x2)
    runs = []
    for x in (x1, x2):
        twin = copy.deepcopy(rnn)
        x = x.requires_grad_()
        out, final = twin(x, lengths=torch.tensor(lengths))
        g = grads(weighted_loss(out, final), [x, *twin.parameters()])
        runs.append((twin, out, final, g))
        assert (out.masked_select(pad) == 0).all()  # documented: padded outputs hold zeros
        assert (g[0].masked_select(pad) == 0).all()  # so padded inputs get no gradient
    (m1, out1, final1, g1), (m2, out2, final2, g2) = runs
    close(out1, out2)
    assert_all_close(tensors(final1), tensors(final2))
    assert_all_close(list(g1), list(g2))
    for b1, b2 in zip(m1.buffers(), m2.buffers(), strict=True):  # padding leaks into no statistic
        close(b1, b2)
    assert all(torch.isfinite(b).all() for b in m1.buffers() if b.is_floating_point())


ALONE = [
    pytest.param("lstm", {}, False, id="lstm"),
    pytest.param("lstm", {"peephole": True, "norm": "layer", "proj_size": P}, False, id="lstm-all"),
    pytest.param("lstm", {"norm": "batch"}, False, id="lstm-batch-eval"),
    pytest.param("gru", {}, False, id="gru"),
    pytest.param("gru", {"reset_after": False}, False, id="gru-reset-before"),
    pytest.param("rnn", {}, False, id="rnn"),
]


@pytest.mark.parametrize("name, opts, training, path", path_cases(ALONE))
def test_final_state_is_each_sequences_last_valid_step(name, opts, training, path):
    rnn = build(name, opts, training=training, num_layers=2, bidirectional=True, path=path)
    x = torch.randn(B, T, D, dtype=f64)
    state = random_state(rnn, B)
    out, final = rnn(x, state, lengths=torch.tensor(LENGTHS))
    for i, n in enumerate(LENGTHS):
        s_i = map_state(lambda s: s[:, i : i + 1], state)  # noqa: B023
        out_i, final_i = rnn(x[i : i + 1, :n], s_i)
        close(out[i : i + 1, :n], out_i)
        assert_all_close([s[:, i : i + 1] for s in tensors(final)], tensors(final_i))


# -- streaming ---------------------------------------------------------------------------------
STREAMING = [
    pytest.param("lstm", {}, True, "custom", id="lstm-custom"),
    pytest.param("lstm", {}, True, "fused", id="lstm-fused"),
    pytest.param("lstm", {}, True, "reference", id="lstm-reference"),
    pytest.param("lstm", {"norm": "layer"}, True, "custom", id="lstm-layer-custom"),
    pytest.param("gru", {}, True, "custom", id="gru-custom"),
    pytest.param("gru", {}, True, "fused", id="gru-fused"),
    pytest.param("lstm", {"norm": "batch"}, False, "custom", id="lstm-batch-eval-custom"),
    pytest.param("lstm", {"norm": "batch"}, True, "custom", id="lstm-batch-train-custom"),
    pytest.param("lstm", {"norm": "batch"}, True, "reference", id="lstm-batch-train-reference"),
]


@pytest.mark.parametrize("name, opts, training, path", STREAMING)
def test_chunked_streaming_equals_whole_sequence(name, opts, training, path):
    T_long = 12
    rnn = Recurrent(name, D, H, num_layers=2, path=path, **opts).double()
    randomize(rnn)
    if opts.get("norm") == "batch" and not training:
        with torch.no_grad():  # 8 trained steps: steps 8..11 reuse slot 7's statistics
            for _ in range(3):
                rnn(torch.randn(8, 8, D, dtype=f64) * 2 + 1)
    rnn.train(training)
    x = torch.randn(B, T_long, D, dtype=f64, requires_grad=True)

    whole = copy.deepcopy(rnn)
    out, final = whole(x)
    g_whole = grads(weighted_loss(out, final), [x, *whole.parameters()])

    chunked = copy.deepcopy(rnn)
    outs, state = [], None
    for chunk in x.split([5, 5, 2], dim=1):
        o, state = chunked(chunk, state)
        outs.append(o)
    out_c = torch.cat(outs, dim=1)
    g_chunked = grads(weighted_loss(out_c, state), [x, *chunked.parameters()])

    close(out_c, out)
    assert type(state) is type(final)
    assert_all_close(tensors(state), tensors(final))
    if isinstance(final, BNLSTMState):
        assert state.step == final.step == T_long
    assert_all_close(list(g_chunked), list(g_whole))
    for b1, b2 in zip(chunked.buffers(), whole.buffers(), strict=True):
        close(b1, b2)


# -- PackedSequence ----------------------------------------------------------------------------
@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_packed_sequence_in_gives_packed_sequence_out(name, path, batch_first):
    rnn = build(name, {}, num_layers=2, bidirectional=True, path=path, batch_first=batch_first)
    x = torch.randn(B, T, D, dtype=f64)
    lengths = torch.tensor(SHORT)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_p, final_p = rnn(packed)
    assert isinstance(out_p, PackedSequence)

    x_padded = x if batch_first else x.transpose(0, 1)
    out, final = rnn(x_padded, lengths=lengths)
    expected = pack_padded_sequence(out, lengths, batch_first=batch_first, enforce_sorted=False)
    close(out_p.data, expected.data)
    assert torch.equal(out_p.batch_sizes, expected.batch_sizes)
    assert torch.equal(out_p.sorted_indices, expected.sorted_indices)
    assert torch.equal(out_p.unsorted_indices, expected.unsorted_indices)
    assert_all_close(tensors(final_p), tensors(final))
    unpacked, got_lengths = pad_packed_sequence(out_p, batch_first=batch_first, total_length=T)
    close(unpacked, out)
    assert torch.equal(got_lengths, lengths)


# -- residual and dropout ----------------------------------------------------------------------
def split_layers(rnn: Recurrent, name: str, **kwargs) -> list[Recurrent]:
    """One single-layer Recurrent per layer of ``rnn``, with that layer's weights."""
    dirs = rnn.num_directions
    layers = []
    for layer in range(rnn.num_layers):
        d_in = D if layer == 0 else dirs * rnn.output_size
        sub = Recurrent(name, d_in, H, bidirectional=rnn.bidirectional, **kwargs).double()
        for d in range(dirs):
            sub.cells[d].load_state_dict(rnn.cells[layer * dirs + d].state_dict())
        layers.append(sub.train(rnn.training))
    return layers


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", ["lstm", "gru", "rnn"])
def test_residual_adds_each_later_layers_input(name, path):
    rnn = build(name, {}, num_layers=3, bidirectional=True, residual=True, path=path)
    rnn.eval()
    x = torch.randn(B, T, D, dtype=f64)
    lengths = torch.tensor(LENGTHS)
    out, final = rnn(x, lengths=lengths)

    h, finals = x, []
    for layer, sub in enumerate(split_layers(rnn, name, path=path)):
        o, f = sub(h, lengths=lengths)
        h = o + h if layer > 0 else o
        finals.append(f)
    close(out, h)
    for got, *parts in zip(tensors(final), *[tensors(f) for f in finals], strict=True):
        close(got, torch.cat(parts))


@pytest.mark.parametrize("path", PATHS)
def test_dropout_between_layers(path):
    rnn = build("lstm", {}, num_layers=2, dropout=0.5, path=path)
    plain = Recurrent("lstm", D, H, num_layers=2, path=path).double()
    plain.load_state_dict(rnn.state_dict())
    x = torch.randn(B, T, D, dtype=f64)

    rnn.eval()
    plain.eval()
    out_eval, final_eval = rnn(x)
    out_plain, final_plain = plain(x)
    close(out_eval, out_plain)  # no dropout in evaluation
    assert_all_close(tensors(final_eval), tensors(final_plain))

    rnn.train()
    torch.manual_seed(7)
    out_train, _ = rnn(x)
    assert not torch.allclose(out_train, out_eval)
    # exactly: layer 2 reads F.dropout(layer 1's output) drawn from the same generator
    layer1, layer2 = split_layers(rnn, "lstm", path=path)
    torch.manual_seed(7)
    o1, _ = layer1(x)
    o2, _ = layer2(F.dropout(o1, 0.5, training=True))
    close(out_train, o2)


def test_no_dropout_after_the_last_layer():
    rnn = build("lstm", {}, num_layers=1, dropout=0.5)
    x = torch.randn(B, T, D, dtype=f64)
    out_train, _ = rnn.train()(x)
    out_eval, _ = rnn.eval()(x)
    close(out_train, out_eval)


# -- path selection ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, opts, expected",
    [
        ("lstm", {}, "fused"),
        ("lstm", {"proj_size": 2}, "custom"),  # no oneDNN kernel for LSTMP: see resolve_path
        ("rnn", {"nonlinearity": "relu"}, "fused"),
        ("lstm", {"peephole": True}, "custom"),
        ("lstm", {"norm": "layer"}, "custom"),
        ("lstm", {"norm": "batch"}, "custom"),
        ("gru", {"reset_after": False}, "custom"),
        ("gru", {}, "custom"),  # on CPU rnnkit's GRU kernel is faster than torch's
    ],
)
def test_resolve_path_auto(name, opts, expected):
    assert Recurrent(name, D, H, **opts).resolve_path() == expected


@pytest.mark.parametrize("name, opts", [("gru", {}), ("lstm", {"proj_size": 4})])
def test_resolve_path_auto_by_work_size_on_cpu(name, opts):
    # torch has no oneDNN kernel for these: the custom kernel wins once B*H is large enough,
    # with a higher bar for inference than for training (thresholds in resolve_path).
    # Only from MIN_CUSTOM_STEPS steps on: a one-step decoder call always takes fused.
    rnn = Recurrent(name, D, 64, **opts)  # H = 64
    steps = MIN_CUSTOM_STEPS
    small, medium, large = (torch.zeros(b, steps, D) for b in (8, 64, 256))  # B*H 512 ... 16384
    assert rnn.resolve_path(small) == "fused"
    assert rnn.resolve_path(medium) == "custom"
    assert rnn.resolve_path(torch.zeros(64, steps - 1, D)) == "fused"
    assert rnn.resolve_path(torch.zeros(256, 1, D)) == "fused"
    with torch.no_grad():
        assert rnn.resolve_path(medium) == "fused"
        assert rnn.resolve_path(large) == "custom"
    time_major = Recurrent(name, D, 64, batch_first=False, **opts)
    assert time_major.resolve_path(torch.zeros(steps, 8, D)) == "fused"  # B is dim 1 here
    assert time_major.resolve_path(torch.zeros(steps, 64, D)) == "custom"


@pytest.mark.parametrize("path", ["fused", "custom", "reference"])
def test_resolve_path_explicit(path):
    assert Recurrent("lstm", D, H, path=path).resolve_path() == path


@pytest.mark.parametrize("opts", [{"peephole": True}, {"norm": "layer"}, {"reset_after": False}])
def test_fused_path_with_nonstandard_cell_raises(opts):
    name = "gru" if "reset_after" in opts else "lstm"
    rnn = Recurrent(name, D, H, path="fused", **opts)
    with pytest.raises(ValueError, match=r"^path: 'fused' needs standard cells"):
        rnn.resolve_path()
    with pytest.raises(ValueError, match=r"^path: 'fused' needs standard cells"):
        rnn(torch.randn(B, T, D))


# -- bad input ---------------------------------------------------------------------------------
def test_recurrent_rejects_wrong_feature_size():
    rnn = Recurrent("lstm", 3, H)
    with pytest.raises(
        ValueError, match=r"^input: expected last dimension \(features\) 3, got shape \(4, 6, 7\)"
    ):
        rnn(torch.randn(4, 6, 7))


def test_recurrent_rejects_two_dimensional_input():
    with pytest.raises(ValueError, match=r"^input: expected a 3-D tensor, got shape \(6, 3\)"):
        Recurrent("gru", 3, H)(torch.randn(6, 3))


def test_recurrent_rejects_integer_input():
    with pytest.raises(
        ValueError, match=r"^input: expected a floating-point tensor, got dtype torch\.int64"
    ):
        Recurrent("rnn", 3, H)(torch.ones(4, 6, 3, dtype=torch.long))


@pytest.mark.parametrize(
    "lengths, message",
    [
        (torch.tensor([6, 0, 3, 2]), r"^lengths: every length must be >= 1, got 0"),
        (torch.tensor([6, -2, 3, 2]), r"^lengths: every length must be >= 1, got -2"),
        (
            torch.tensor([6, 7, 3, 2]),
            r"^lengths: every length must be <= T=6 \(the input's time axis\), got 7",
        ),
        (torch.tensor([6, 5, 3]), r"^lengths: expected shape \(4,\), got \(3,\)"),
        (torch.tensor([[6, 5, 3, 2]]), r"^lengths: expected shape \(4,\), got \(1, 4\)"),
        (
            torch.tensor([6.0, 5.0, 3.0, 2.0]),
            r"^lengths: expected an integer tensor, got dtype torch\.float32",
        ),
        (
            torch.tensor([True, True, True, True]),
            r"^lengths: expected an integer tensor, got dtype torch\.bool",
        ),
    ],
    ids=["zero", "negative", "too-long", "short-shape", "2-D", "float", "bool"],
)
@pytest.mark.parametrize("path", PATHS)
def test_recurrent_rejects_bad_lengths(lengths, message, path):
    with pytest.raises(ValueError, match=message):
        Recurrent("lstm", D, H, path=path)(torch.randn(4, 6, D), lengths=lengths)


def test_recurrent_rejects_lengths_with_packed_input():
    packed = pack_padded_sequence(
        torch.randn(B, T, D), torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False
    )
    with pytest.raises(ValueError, match=r"^lengths: a PackedSequence carries its own lengths"):
        Recurrent("lstm", D, H)(packed, lengths=torch.tensor(LENGTHS))


def test_recurrent_rejects_wrong_lstm_state():
    rnn = Recurrent("lstm", D, H, num_layers=2)
    x = torch.randn(B, T, D)
    h, c = torch.zeros(2, B, H), torch.zeros(2, B, H)
    with pytest.raises(ValueError, match=r"^state\.h: expected shape \(2, 4, 5\), got \(1, 4, 5\)"):
        rnn(x, LSTMState(h[:1], c))
    with pytest.raises(ValueError, match=r"^state\.c: expected shape \(2, 4, 5\), got \(2, 3, 5\)"):
        rnn(x, LSTMState(h, c[:, :3]))
    with pytest.raises(
        ValueError, match=r"^state: expected LSTMState\('h', 'c'\) or \(h, c\), got Tensor"
    ):
        rnn(x, h)


def test_recurrent_rejects_wrong_projected_lstm_state():
    rnn = Recurrent("lstm", D, H, bidirectional=True, proj_size=2)
    with pytest.raises(ValueError, match=r"^state\.h: expected shape \(2, 4, 2\), got \(2, 4, 5\)"):
        rnn(torch.randn(B, T, D), LSTMState(torch.zeros(2, B, H), torch.zeros(2, B, H)))


@pytest.mark.parametrize("name", ["gru", "rnn"])
def test_recurrent_rejects_wrong_tensor_state(name):
    rnn = Recurrent(name, D, H, bidirectional=True)
    with pytest.raises(ValueError, match=r"^state: expected shape \(2, 4, 5\), got \(2, 3, 5\)"):
        rnn(torch.randn(B, T, D), torch.zeros(2, 3, H))
    with pytest.raises(ValueError, match=r"^state: expected shape \(2, 4, 5\), got \(4, 5\)"):
        rnn(torch.randn(B, T, D), torch.zeros(4, H))


@pytest.mark.parametrize("batch_first", [True, False])
def test_recurrent_rejects_empty_batch(batch_first):
    shape = (0, T, D) if batch_first else (T, 0, D)
    with pytest.raises(ValueError, match=rf"^input: empty batch \(shape {re.escape(str(shape))}\)"):
        Recurrent("lstm", D, H, batch_first=batch_first)(torch.randn(shape))


@pytest.mark.parametrize("batch_first", [True, False])
def test_recurrent_rejects_empty_sequence(batch_first):
    shape = (B, 0, D) if batch_first else (0, B, D)
    message = rf"^input: empty sequence \(T=0\) in shape {re.escape(str(shape))}"
    with pytest.raises(ValueError, match=message):
        Recurrent("lstm", D, H, batch_first=batch_first)(torch.randn(shape))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"cell": "transformer"},
            r"^cell: expected one of \['gru', 'lstm', 'mingru', 'minlstm', 'rnn'\], "
            r"got 'transformer'",
        ),
        ({"dropout": 1.5}, r"^dropout: expected a probability in \[0, 1\), got 1\.5"),
        ({"dropout": -0.1}, r"^dropout: expected a probability in \[0, 1\), got -0\.1"),
        ({"num_layers": 0}, r"^num_layers: expected a positive integer, got 0"),
        ({"num_layers": 1.5}, r"^num_layers: expected a positive integer, got 1\.5"),
        (
            {"path": "cuda"},
            r"^path: expected one of \('auto', 'fused', 'custom', 'reference'\), got 'cuda'",
        ),
        ({"hidden_size": 0}, r"^hidden_size: expected a positive integer, got 0"),
        ({"norm": "foo"}, r"^norm: expected None, 'layer' or 'batch', got 'foo'"),
    ],
    ids=[
        "cell",
        "dropout-high",
        "dropout-negative",
        "layers-zero",
        "layers-float",
        "path",
        "hidden",
        "norm",
    ],
)
def test_recurrent_constructor_rejects_bad_arguments(kwargs, message):
    args = {"cell": "lstm", "input_size": D, "hidden_size": H, **kwargs}
    with pytest.raises(ValueError, match=message):
        Recurrent(**args)


# -- review follow-ups: torch.nn conventions, dtypes, autocast, option checks -----------------
@pytest.mark.parametrize("path", PATHS)
def test_plain_tuple_state_is_accepted_like_torch_nn(path):
    rnn = build("lstm", {}, num_layers=2, path=path)
    x = torch.randn(B, T, D, dtype=f64)
    h0, c0 = torch.randn(2, B, H, dtype=f64), torch.randn(2, B, H, dtype=f64)
    out_tuple, final_tuple = rnn(x, (h0, c0), lengths=torch.tensor(LENGTHS))
    out_typed, final_typed = rnn(x, LSTMState(h0, c0), lengths=torch.tensor(LENGTHS))
    close(out_tuple, out_typed)
    assert isinstance(final_tuple, LSTMState)
    assert_all_close(tensors(final_tuple), tensors(final_typed))


def test_plain_tuple_state_of_a_batch_norm_lstm_starts_at_step_zero():
    rnn = build("lstm", {"norm": "batch"}, training=False)
    x = torch.randn(B, T, D, dtype=f64)
    h0, c0 = torch.randn(1, B, H, dtype=f64), torch.randn(1, B, H, dtype=f64)
    out_tuple, final = rnn(x, (h0, c0))
    out_typed, _ = rnn(x, BNLSTMState(h0, c0, 0))
    close(out_tuple, out_typed)
    assert final.step == T


def test_dtype_and_device_mismatches_are_named():
    rnn = Recurrent("lstm", D, H)  # float32 parameters
    with pytest.raises(
        ValueError,
        match=r"^input: expected torch.float32 on cpu \(the parameters'\), got torch.float64",
    ):
        rnn(torch.randn(B, T, D, dtype=f64))
    x = torch.randn(B, T, D)
    h = torch.zeros(1, B, H)
    with pytest.raises(
        ValueError,
        match=r"^state\.c: expected torch.float32 on cpu \(the input's\), got torch.float64",
    ):
        rnn(x, (h, h.double()))
    gru = Recurrent("gru", D, H)
    with pytest.raises(
        ValueError,
        match=r"^state: expected torch.float32 on cpu \(the input's\), got torch.float64",
    ):
        gru(x, h.double())


@pytest.mark.parametrize(
    ("name", "opts"),
    [
        ("lstm", {}),
        ("lstm", {"peephole": True}),
        ("gru", {}),
        ("gru", {"reset_after": False}),
        ("rnn", {}),
    ],
)
@pytest.mark.parametrize("path", PATHS)
def test_autocast_forward_then_backward_outside(name, opts, path):
    if path == "fused" and not supports_fused(name, opts):
        pytest.skip("no fused path for this cell")
    rnn = Recurrent(name, D, H, path=path, **opts)
    x = torch.randn(B, T, D, requires_grad=True)
    with torch.autocast("cpu", torch.bfloat16):
        out, _ = rnn(x, lengths=torch.tensor(LENGTHS))
    out.float().sum().backward()  # backward outside autocast, as torch recommends
    assert x.grad is not None and torch.isfinite(x.grad).all()
    if path == "custom":  # the kernels run in the parameters' dtype: autocast changes nothing
        reference, _ = rnn(x.detach(), lengths=torch.tensor(LENGTHS))
        torch.testing.assert_close(out, reference, rtol=1e-6, atol=1e-6)


def test_batch_norm_training_step_with_one_live_row_keeps_its_input():
    # Lengths [6, 2, 2, 2]: from step 2 on only row 0 is live. Batch statistics of one row would
    # have variance 0 and erase the input; such steps use the running statistics instead.
    rnn = build("lstm", {"norm": "batch"})
    lengths = torch.tensor([6, 2, 2, 2])
    x = torch.randn(B, T, D, dtype=f64)
    out, _ = rnn(x, lengths=lengths)
    x2 = x.clone()
    x2[0, 3] += 1.0
    out2, _ = rnn(x2, lengths=lengths)
    assert (out2[0, 3] - out[0, 3]).abs().max() > 1e-3
    assert torch.isfinite(rnn.cells[0].running_var_ih).all()
    assert (rnn.cells[0].running_var_ih[3] == 1.0).all()  # step 3 never had two live rows


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"cell": "gru", "peephole": True},
            r"^peephole: not an option of GRUCell \(options: \['bias', 'reset_after'\]\)",
        ),
        (
            {"cell": nn.LSTM},
            r"^cell: expected one of \['gru', 'lstm', 'mingru', 'minlstm', 'rnn'\] "
            r"or a RecurrentCell subclass",
        ),
        (
            {"cell": "lstm", "bidirectional": "no"},
            r"^bidirectional: expected True or False, got 'no'",
        ),
        ({"cell": "lstm", "batch_first": None}, r"^batch_first: expected True or False, got None"),
        (
            {"cell": "lstm", "dropout": "0.1"},
            r"^dropout: expected a probability in \[0, 1\), got '0.1'",
        ),
    ],
)
def test_recurrent_constructor_names_the_bad_option(kwargs, message):
    kwargs = dict(kwargs)
    cell = kwargs.pop("cell")
    with pytest.raises(ValueError, match=message):
        Recurrent(cell, D, H, **kwargs)
