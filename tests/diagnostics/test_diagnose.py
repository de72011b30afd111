"""Gradient-flow diagnostics against independent computations: per-step gradient norms from a
hand-stepped loop, gate saturation counted from the gate equations, spectra of matrices with
known singular values, and the verdicts the literature predicts."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from rnnkit.cells import LSTMState
from rnnkit.diagnostics import diagnose, recording
from rnnkit.init import initialize
from rnnkit.layers import Recurrent

B, T, D, H = 6, 30, 3, 8


class LastStep(nn.Module):
    """A recurrent layer and a linear head on the last step's output."""

    def __init__(self, rnn: Recurrent, out: int = 2):
        super().__init__()
        self.rnn, self.head = rnn, nn.Linear(rnn.num_directions * rnn.output_size, out)

    def forward(self, x, lengths=None):
        out, _ = self.rnn(x, lengths=lengths)
        return self.head(out[:, -1])


def hand_stepped_norms(cell, head, x, y):
    """||dL/dh_t|| (and ||dL/dc_t||) by stepping ``cell`` by hand and asking autograd for the
    gradient of the loss with respect to each stored state."""
    state = None
    hs, cs = [], []
    for t in range(x.shape[1]):
        out, state = cell(x[:, t], state)
        hs.append(state.h if isinstance(state, LSTMState) else state)  # the carried state
        if isinstance(state, LSTMState):
            cs.append(state.c)
    loss = F.mse_loss(head(out), y)
    grads = torch.autograd.grad(loss, hs + cs)
    norms = [g.norm(dim=1).mean().item() for g in grads]
    return norms[:T], (norms[T:] or None)


@pytest.mark.parametrize(
    "cell, options",
    [("rnn", {}), ("lstm", {}), ("gru", {}), ("mingru", {}), ("minlstm", {}),
     ("mingru", {"block": True})],  # the block's output is not its state
)  # fmt: skip
def test_state_gradients_equal_a_hand_stepped_loop_at_every_step(cell, options):
    torch.manual_seed(0)
    model = LastStep(Recurrent(cell, D, H, **options))
    x, y = torch.randn(B, T, D), torch.randn(B, 2)
    d = diagnose(model, x, y, F.mse_loss)
    expected_h, expected_c = hand_stepped_norms(model.rnn.cells[0], model.head, x, y)
    (flow,) = d.cells
    assert flow.name == "rnn.cells.0" and len(flow.grad_norms) == T
    torch.testing.assert_close(torch.tensor(flow.grad_norms), torch.tensor(expected_h),
                               rtol=1e-4, atol=1e-12)  # fmt: skip
    if cell == "lstm":
        torch.testing.assert_close(torch.tensor(flow.cell_grad_norms),
                                   torch.tensor(expected_c), rtol=1e-4, atol=1e-12)  # fmt: skip
    else:
        assert flow.cell_grad_norms is None


def test_two_layers_and_both_directions_are_recorded_separately():
    torch.manual_seed(1)
    model = LastStep(Recurrent("gru", D, H, num_layers=2, bidirectional=True))
    x, y = torch.randn(B, T, D), torch.randn(B, 2)
    d = diagnose(model, x, y, F.mse_loss)
    assert [(c.name, c.layer, c.direction) for c in d.cells] == [
        ("rnn.cells.0", 0, 0), ("rnn.cells.1", 0, 1), ("rnn.cells.2", 1, 0), ("rnn.cells.3", 1, 1)
    ]  # fmt: skip
    # The head reads the last output step: the forward cells' last step and the backward
    # cells' first step (loop order) get direct gradient; each list has T entries.
    assert all(len(c.grad_norms) == T for c in d.cells)


def test_padded_steps_count_only_live_sequences():
    torch.manual_seed(2)
    model = LastStep(Recurrent("lstm", D, H))
    x, y = torch.randn(B, T, D), torch.randn(B, 2)
    lengths = torch.tensor([T, T, 20, 10, 5, 1])
    with recording() as probe:
        out, _ = model.rnn(x, lengths=lengths)
        F.mse_loss(model.head(out.sum(1)), y).backward()
    rec = probe.records[model.rnn.cells[0]]
    norms = rec.grad_norms("h")
    # Step 25: only the two full-length sequences are live; their mean is what is reported.
    g = rec.states[25]["h"].grad
    assert rec.valid[25].sum() == 2
    live = g.norm(dim=1)[rec.valid[25]]
    assert math.isclose(norms[25], live.mean().item(), rel_tol=1e-6)
    assert math.isclose(norms[0], rec.states[0]["h"].grad.norm(dim=1).mean().item(), rel_tol=1e-6)


def test_recording_does_not_change_what_the_model_computes():
    torch.manual_seed(3)
    rnn = Recurrent("lstm", D, H, num_layers=2)
    x = torch.randn(B, T, D)
    fast, _ = rnn(x)
    with recording():
        slow, _ = rnn(x)
    torch.testing.assert_close(slow, fast, rtol=1e-5, atol=1e-6)


def test_saturation_equals_a_direct_count_from_the_gate_equations():
    torch.manual_seed(4)
    rnn = Recurrent("lstm", D, H)
    cell = rnn.cells[0]
    with torch.no_grad():  # large weights: plenty of saturated gates
        cell.weight_ih.mul_(8)
        cell.bias_ih.mul_(8)
    model = LastStep(rnn)
    x, y = torch.randn(B, T, D), torch.randn(B, 2)
    d = diagnose(model, x, y, F.mse_loss)
    # The gates written from the LSTM equations, i, f, g, o = split(W x + b + U h + c).
    h, c = torch.zeros(B, H), torch.zeros(B, H)
    gates = {"i": [], "f": [], "o": []}
    with torch.no_grad():
        for t in range(T):
            pre = x[:, t] @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
            a_i, a_f, a_g, a_o = pre.split(H, dim=1)
            i, f, o = a_i.sigmoid(), a_f.sigmoid(), a_o.sigmoid()
            c = f * c + i * a_g.tanh()
            h = o * c.tanh()
            for name, value in (("i", i), ("f", f), ("o", o)):
                gates[name].append(value)
    stats = d.saturation["rnn.cells.0"]
    assert set(stats) == {"i", "f", "o"}
    for name, values in gates.items():
        values = torch.stack(values)
        closed, opened = (
            (values < 0.05).float().mean().item(),
            (values > 0.95).float().mean().item(),
        )
        assert 0.05 < closed + opened  # the test means something
        assert math.isclose(stats[name].closed, closed, abs_tol=1e-6)
        assert math.isclose(stats[name].open, opened, abs_tol=1e-6)
        assert math.isclose(stats[name].mean, values.mean().item(), rel_tol=1e-5)


def test_spectra_of_scaled_orthogonal_blocks_are_the_scales():
    torch.manual_seed(5)
    rnn = Recurrent("gru", D, H)
    scales = (0.5, 1.0, 2.5)
    with torch.no_grad():
        for block, s in zip(rnn.cells[0].weight_hh.split(H), scales, strict=True):
            q, _ = torch.linalg.qr(torch.randn(H, H))
            block.copy_(s * q)  # every singular value and eigenvalue modulus is s
    d = diagnose(LastStep(rnn), torch.randn(B, T, D), torch.randn(B, 2), F.mse_loss)
    spectra = d.spectra["rnn.cells.0"]
    assert list(spectra) == ["r", "z", "n"]
    for gate, s in zip(spectra.values(), scales, strict=True):
        assert math.isclose(gate.norm, s, rel_tol=1e-5)
        assert math.isclose(gate.radius, s, rel_tol=1e-4)


def scaled_rnn(scale: float, seed: int = 0) -> LastStep:
    torch.manual_seed(seed)
    rnn = Recurrent("rnn", D, 32)
    with torch.no_grad():
        q, _ = torch.linalg.qr(torch.randn(32, 32))
        rnn.cells[0].weight_hh.copy_(scale * q)
    return LastStep(rnn)


def test_verdicts_follow_the_literature():
    torch.manual_seed(6)
    x, y = torch.randn(16, 100, D), torch.randn(16, 2)
    small = diagnose(scaled_rnn(0.3), x, y, F.mse_loss)  # spectral radius 0.3
    large = diagnose(scaled_rnn(3.0), x, y, F.mse_loss)  # spectral radius 3, no clipping
    torch.manual_seed(0)
    lstm = Recurrent("lstm", D, 32)
    initialize(lstm, bias="chrono", t_max=100)
    chrono = diagnose(LastStep(lstm), x, y, F.mse_loss)
    assert small.verdict == "vanishing", small.reason
    assert large.verdict == "exploding", large.reason
    assert chrono.verdict == "healthy", chrono.reason
    assert math.isclose(max(s.radius for s in small.spectra["rnn.cells.0"].values()), 0.3,
                        rel_tol=1e-4)  # fmt: skip


def test_advice_is_ranked_and_tied_to_the_measurements():
    torch.manual_seed(7)
    x, y = torch.randn(16, 100, D), torch.randn(16, 2)
    lstm = LastStep(Recurrent("lstm", D, 32))
    vanishing = diagnose(lstm, x, y, F.mse_loss, context={"steps": 100})
    assert vanishing.verdict == "vanishing"
    assert vanishing.advice[0].startswith("chrono initialization (--init chrono, T_max = 100)")
    assert "the f gate of rnn.cells.0 keeps" in vanishing.advice[0]
    exploding = diagnose(scaled_rnn(3.0), x, y, F.mse_loss)
    assert exploding.advice[0].startswith("clip gradients (--clip 1.0)")
    assert any("--init orthogonal" in a and "3.00 > 1" in a for a in exploding.advice)
    clipped = diagnose(scaled_rnn(3.0), x, y, F.mse_loss, context={"clip": 1.0})
    assert not any("--clip" in a for a in clipped.advice)


def test_a_model_without_recurrent_layers_is_refused():
    with pytest.raises(ValueError, match="no recurrent layer ran"):
        diagnose(nn.Linear(3, 2), torch.randn(4, 3), torch.randn(4, 2), F.mse_loss)


def test_the_json_file_keeps_every_number(tmp_path):
    import json

    torch.manual_seed(8)
    d = diagnose(scaled_rnn(0.3), torch.randn(4, 40, D), torch.randn(4, 2), F.mse_loss)
    saved = json.loads(d.to_json(tmp_path / "d.json").read_text())
    assert saved["verdict"] == "vanishing"
    assert len(saved["cells"][0]["grad_norms"]) == 40
    assert saved["cells"][0]["ratio"] == d.cells[0].ratio
    assert set(saved["parameters"]) == {n for n, _ in scaled_rnn(0.3).named_parameters()}


def test_a_cell_stepped_by_hand_beside_a_runner_is_counted_too():
    from rnnkit.cells import LSTMCell

    class EncoderDecoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Recurrent("gru", D, H), LSTMCell(H, H)
            self.head = nn.Linear(H, 2)

        def forward(self, x):
            out, _ = self.encoder(x)
            h, state = out[:, -1], None
            for _ in range(3):  # a decoder run step by step, outside any runner
                h, state = self.decoder(h, state)
            return self.head(h)

    torch.manual_seed(10)
    d = diagnose(EncoderDecoder(), torch.randn(B, T, D), torch.randn(B, 2), F.mse_loss)
    assert [c.name for c in d.cells] == ["encoder.cells.0"]
    assert set(d.saturation) == {"encoder.cells.0", "decoder"}
    assert set(d.saturation["decoder"]) == {"i", "f", "o"}


def test_steps_that_are_padding_for_every_sequence_do_not_read_as_exploding():
    torch.manual_seed(11)
    rnn = Recurrent("lstm", D, H)
    initialize(rnn, bias="chrono", t_max=T)

    class Padded(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn, self.head = rnn, nn.Linear(H, 2)

        def forward(self, x):  # the batch is padded to T, but no sequence is longer than 20
            out, state = self.rnn(x, lengths=torch.full((x.shape[0],), 20))
            return self.head(state.h[0])

    d = diagnose(Padded(), torch.randn(B, T, D), torch.randn(B, 2), F.mse_loss)
    flow = d.cells[0]
    assert all(math.isnan(v) for v in flow.grad_norms[20:])  # no live sequence there
    assert d.verdict == "healthy", d.reason
    assert flow.ratio == flow.carrier[0] / flow.carrier[19]
