"""A recurrent classifier with a fully convolutional branch beside it: LSTM-FCN and GRU-FCN
(Karim et al. 2017, "LSTM Fully Convolutional Networks for Time Series Classification"; Karim
et al. 2019 for multivariate series; Elsayed et al. 2018 for the GRU), a strong default for
small time-series sets.

The convolutional branch is the FCN of Wang et al. (2017): three blocks of a 1-D convolution
(128 filters of width 8, 256 of width 5, 128 of width 3; "same" length), batch normalization
and ReLU, then the average over the valid steps of each series. The recurrent branch reads the
series after the papers' "dimension shuffle": each channel is one step whose features are the
whole series (zero-padded or cut to ``max_len`` steps), so it is cheap at any length; its last
output goes through dropout (0.8 in the papers). The two summaries are concatenated and a
linear layer gives the logits.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.layers import Recurrent
from rnnkit.layers.pooling import pool

# (filters, width) of the three convolution blocks (Wang et al. 2017).
BLOCKS = ((128, 8), (256, 5), (128, 3))


class ConvBlock(nn.Module):
    """Conv1d ("same" length: (width - 1) // 2 zeros before, the rest after) -> BatchNorm1d ->
    ReLU over (B, C, T); padded steps are zeroed after each block, so they never leak into a
    valid step's window."""

    def __init__(self, in_channels: int, out_channels: int, width: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, width)
        self.norm = nn.BatchNorm1d(out_channels)
        # Padded here rather than by Conv1d(padding="same"), which copies the input for an
        # even width (and warns).
        self.pad = ((width - 1) // 2, width - 1 - (width - 1) // 2)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (B, C_in, T), mask (B, 1, T) of 1.0 at valid steps -> (B, C_out, T)."""
        return torch.relu(self.norm(self.conv(F.pad(x, self.pad)))) * mask


class RecurrentFCN(nn.Module):
    """Logits (B, K) of series (B, T, D) with lengths (B,): a recurrent branch and an FCN
    branch side by side (see the module docstring).

    Args:
        input_size: D, channels per step.
        num_classes: K.
        max_len: the series length the recurrent branch reads (the longest training series;
            a longer one is cut, a shorter one padded with zeros).
        summary_dropout: dropout on the recurrent branch's summary (the papers' 0.8).
        cell, hidden_size, bidirectional, **runner: the recurrent branch
            (:class:`~rnnkit.layers.Recurrent` arguments: num_layers, dropout between its
            layers, path, ...).

    Example::

        >>> model = RecurrentFCN(3, 4, max_len=30, cell="lstm", hidden_size=8)
        >>> model(torch.randn(2, 30, 3), torch.tensor([30, 17])).shape
        torch.Size([2, 4])
    """

    def __init__(self, input_size: int, num_classes: int, *, max_len: int, cell: str = "lstm",
                 hidden_size: int = 128, bidirectional: bool = False,
                 summary_dropout: float = 0.8, **runner) -> None:  # fmt: skip
        super().__init__()
        self.bidirectional = bidirectional
        self.max_len = max_len
        self.rnn = Recurrent(cell, max_len, hidden_size, bidirectional=bidirectional, **runner)
        self.dropout = nn.Dropout(summary_dropout)
        blocks, channels = [], input_size
        for filters, width in BLOCKS:
            blocks.append(ConvBlock(channels, filters, width))
            channels = filters
        self.blocks = nn.ModuleList(blocks)
        features = self.rnn.num_directions * self.rnn.output_size
        self.head = nn.Linear(features + channels, num_classes)

    @property
    def encoder(self) -> Recurrent:
        """The recurrent branch (what initializers and path reports look at)."""
        return self.rnn

    def resolve_path(self, x) -> str:
        """The execution path of the recurrent branch for input ``x`` (or ``(x, lengths)``)."""
        return self.rnn.resolve_path(self._shuffled(x[0] if isinstance(x, tuple) else x))

    def _shuffled(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, D, max_len): each channel a step, its series the features (padded
        steps of x are zeros already)."""
        T = x.shape[1]
        x = x[:, : self.max_len] if T >= self.max_len else F.pad(x, (0, 0, 0, self.max_len - T))
        return x.transpose(1, 2)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """x (B, T, D), lengths (B,) (None: all T) -> logits (B, K)."""
        B, T, _ = x.shape
        if lengths is None:
            lengths = torch.full((B,), T, dtype=torch.long)
        steps = torch.arange(T, device=x.device)
        mask = (steps[None, :] < lengths.to(x.device)[:, None]).to(x.dtype)[:, None, :]
        z = x.transpose(1, 2) * mask  # (B, D, T), padded steps zero
        out, _ = self.rnn(self._shuffled(z.transpose(1, 2)))  # (B, D, dirs*H)
        summary = self.dropout(pool(out, "last", bidirectional=self.bidirectional))
        for block in self.blocks:
            z = block(z, mask)
        pooled = z.sum(-1) / mask.sum(-1)  # (B, 128): the mean over valid steps
        return self.head(torch.cat([summary, pooled], dim=-1))
