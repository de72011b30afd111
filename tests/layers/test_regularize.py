"""Variational dropout, weight drop, embedding dropout and zoneout: masks where the papers put
them, identity (or the expectation) at evaluation, and the runner's paths agreeing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnkit.layers import Recurrent
from rnnkit.layers.regularize import embedding_dropout, locked_dropout, zoneout


def test_locked_dropout_keeps_one_mask_per_sequence_across_time():
    torch.manual_seed(0)
    x = torch.ones(6, 50, 32)  # (B, T, D)
    out = locked_dropout(x, 0.5, training=True)
    assert (out == out[:, :1]).all()  # the same mask at every step
    assert not (out[0] == out[1]).all()  # another per sequence
    assert set(out.unique().tolist()) == {0.0, 2.0}  # kept units scaled by 1 / (1 - p)
    assert locked_dropout(x, 0.5, training=False) is x
    time_major = locked_dropout(x.transpose(0, 1), 0.5, training=True, time_dim=0)
    assert (time_major == time_major[:1]).all()


@pytest.mark.parametrize("path", ["fused", "custom", "reference"])
def test_variational_dropout_between_layers_is_a_locked_mask_on_the_first_layers_output(path):
    torch.manual_seed(0)
    two = Recurrent("lstm", 4, 8, num_layers=2, dropout=0.5, variational=True, path=path)
    first = Recurrent("lstm", 4, 8, path=path)
    second = Recurrent("lstm", 8, 8, path=path)
    first.cells[0].load_state_dict(two.cells[0].state_dict())
    second.cells[0].load_state_dict(two.cells[1].state_dict())
    x = torch.randn(3, 7, 4)
    torch.manual_seed(1)
    got, _ = two(x)
    torch.manual_seed(1)
    hidden, _ = first(x)
    want, _ = second(locked_dropout(hidden, 0.5, training=True))
    torch.testing.assert_close(got, want)
    two.eval()
    plain, _ = second(first(x)[0])
    torch.testing.assert_close(two(x)[0], plain)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_weight_drop_masks_the_recurrent_weights_once_per_call_on_every_path(cell):
    torch.manual_seed(0)
    rnn = Recurrent(cell, 3, 6, weight_drop=0.5)
    x = torch.randn(2, 5, 3)
    outs = {}
    for path in ("fused", "custom", "reference"):
        rnn.path = path
        torch.manual_seed(7)  # the same mask each time
        outs[path], _ = rnn(x)
    torch.testing.assert_close(outs["custom"], outs["fused"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(outs["reference"], outs["fused"], atol=1e-5, rtol=1e-5)
    # The mask is dropout of weight_hh: rebuilt by hand with the same draw, same outputs.
    w = rnn.cells[0].weight_hh
    torch.manual_seed(7)
    dropped = nn.functional.dropout(w, 0.5, training=True)
    plain = Recurrent(cell, 3, 6, path="reference")
    plain.load_state_dict(rnn.state_dict())
    with torch.no_grad():
        plain.cells[0].weight_hh.copy_(dropped)
    torch.testing.assert_close(plain(x)[0], outs["reference"])
    # Gradients reach the parameter, and only through the kept entries.
    outs["reference"].sum().backward()
    assert isinstance(rnn.cells[0].weight_hh, nn.Parameter)
    assert (w.grad[dropped == 0] == 0).all() and w.grad.abs().sum() > 0
    rnn.eval()
    plain.load_state_dict(rnn.state_dict())
    torch.testing.assert_close(rnn(x)[0], plain(x)[0])  # identity at evaluation


def test_embedding_dropout_drops_whole_words():
    torch.manual_seed(0)
    embed = nn.Embedding(50, 8)
    ids = torch.tensor([[3, 5, 3, 3, 5, 7] * 4])
    out = embedding_dropout(embed, ids, 0.5, training=True)
    states = []
    for word in (3, 5, 7):
        rows = out[ids == word]
        zero = (rows == 0).all().item()
        states.append(zero)
        if not zero:  # kept at every position, scaled by 1 / (1 - p)
            torch.testing.assert_close(rows, (2 * embed.weight[word]).expand_as(rows))
    assert states == [True, True, False]  # this seed drops words 3 and 5 everywhere
    torch.testing.assert_close(embedding_dropout(embed, ids, 0.5, training=False), embed(ids))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_zoneout_keeps_each_unit_or_updates_it_and_averages_at_evaluation(cell):
    torch.manual_seed(0)
    rnn = Recurrent(cell, 3, 64, zoneout=0.3)
    x = torch.randn(4, 30, 3)
    step = rnn.cells[0]
    rnn.eval()
    out, _ = rnn(x)
    # Evaluation: s_t = z s_{t-1} + (1 - z) cell(x_t, s_{t-1}), for h and c alike.
    state = step.initial_state(4)
    for t in range(30):
        _, new = step(x[:, t], state)
        state = zoneout(new, state, 0.3, training=False)
        h = state if cell == "gru" else state.h
        torch.testing.assert_close(out[:, t], h, atol=1e-6, rtol=1e-6)
    # Training: each unit at each step is its old value or its new one, fresh masks per step.
    rnn.train()
    out, _ = rnn(x)
    h_prev = torch.zeros(4, 64)
    kept = []
    state = step.initial_state(4)
    for t in range(30):
        h_t = out[:, t]
        if cell == "gru":  # the state is h: rebuild the step from the previous output
            _, new = step(x[:, t], h_prev)
            assert torch.isclose(h_t, new).logical_or(torch.isclose(h_t, h_prev)).all()
            kept.append(torch.isclose(h_t, h_prev) & ~torch.isclose(new, h_prev))
        h_prev = h_t
    if cell == "gru":
        share = torch.stack(kept).float().mean().item()
        assert 0.25 < share < 0.35  # z = 0.3
        masks = torch.stack(kept)
        assert not (masks == masks[:1]).all()  # not one mask for the whole sequence


def test_regularizers_that_cannot_apply_are_refused():
    with pytest.raises(ValueError, match="weight_drop: not for MinGRUCell"):
        Recurrent("mingru", 3, 4, weight_drop=0.2)
    with pytest.raises(ValueError, match="zoneout: runs in the time loop; path 'fused' cannot"):
        Recurrent("lstm", 3, 4, zoneout=0.1, path="fused")
    with pytest.raises(ValueError, match=r"zoneout: expected a probability in \[0, 1\)"):
        Recurrent("lstm", 3, 4, zoneout=1.0)
    assert Recurrent("lstm", 3, 4, zoneout=0.1).resolve_path() == "custom"
