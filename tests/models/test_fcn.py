"""LSTM-FCN / GRU-FCN (rnnkit.models.fcn) against a naive version of the same computation,
and the properties a classifier of padded series needs."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn import functional as F

from rnnkit.models.fcn import BLOCKS, ConvBlock, RecurrentFCN


def naive(model: RecurrentFCN, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The model's logits computed series by series, each cut to its length, with torch's
    'same' convolutions and batch norm applied in eval mode, and the recurrent branch over
    the series zero-padded to max_len with one step per channel."""
    out = []
    for i, n in enumerate(lengths.tolist()):
        s = x[i : i + 1, :n]  # (1, n, D)
        z = s.transpose(1, 2)
        for block in model.blocks:
            with warnings.catch_warnings():  # 'same' with an even width warns of a copy
                warnings.simplefilter("ignore")
                conv = F.conv1d(z, block.conv.weight, block.conv.bias, padding="same")
            z = torch.relu(block.norm(conv))
        pooled = z.mean(-1)  # (1, 128)
        padded = F.pad(s, (0, 0, 0, model.max_len - n)).transpose(1, 2)  # (1, D, max_len)
        rnn_out, _ = model.rnn(padded)
        out.append(model.head(torch.cat([rnn_out[:, -1], pooled], -1)))
    return torch.cat(out)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_model_is_the_naive_computation_for_series_of_any_length(cell):
    torch.manual_seed(0)
    model = RecurrentFCN(3, 5, max_len=20, cell=cell, hidden_size=8).eval()
    for block in model.blocks:  # running statistics other than the identity
        block.norm.running_mean.uniform_(-0.5, 0.5)
        block.norm.running_var.uniform_(0.5, 2.0)
    x, lengths = torch.randn(4, 20, 3), torch.tensor([20, 13, 7, 1])
    x[1, 13:], x[2, 7:], x[3, 1:] = 5.0, -3.0, 2.0  # padding holds garbage
    with torch.no_grad():
        assert torch.allclose(model(x, lengths), naive(model, x, lengths), atol=1e-5)
        # Nothing past a series' length matters.
        y = x.clone()
        y[1, 13:] = 0.0
        assert torch.allclose(model(x, lengths), model(y, lengths), atol=1e-6)


def test_a_conv_block_keeps_the_length_as_torch_same_padding_does():
    torch.manual_seed(1)
    for width in (8, 5, 3):
        block = ConvBlock(2, 4, width)
        x = torch.randn(3, 2, 17)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            same = F.conv1d(x, block.conv.weight, block.conv.bias, padding="same")
        assert torch.allclose(block.conv(F.pad(x, block.pad)), same, atol=1e-6)
    assert [b for b in BLOCKS] == [(128, 8), (256, 5), (128, 3)]  # Wang et al. 2017


def test_longer_series_are_cut_and_gradients_reach_both_branches():
    torch.manual_seed(2)
    model = RecurrentFCN(1, 3, max_len=10, hidden_size=4, summary_dropout=0.0)
    out = model(torch.randn(2, 25, 1), torch.tensor([25, 12]))
    out.sum().backward()
    assert out.shape == (2, 3)
    assert model.rnn.cells[0].weight_ih.grad.abs().sum() > 0
    assert model.blocks[0].conv.weight.grad.abs().sum() > 0
