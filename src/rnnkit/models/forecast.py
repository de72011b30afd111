"""Forecasters: ``lookback`` past steps and the known-future covariates of the ``horizon``
steps ahead -> K numbers per future step (K = 1 point, 2 Gaussian mean and log std, 3
quantiles).

Two models, both given :class:`ForecastInputs`:

- :class:`DirectForecaster` (``--model sequence``): an encoder over the past, a linear head
  from its summary to all horizon x K outputs at once (the "direct multi-horizon" strategy),
  plus a linear term in the known-future covariates.
- :class:`Seq2SeqForecaster` (``--model seq2seq``): an encoder over the past and a decoder
  over the horizon whose step t reads the known-future covariates of step t and a learned
  embedding of t, starts from the encoder's final state and attends over the encoder's
  outputs (Luong or Bahdanau). The decoder does not feed its own forecasts back: every
  future step is decoded in one pass, so training and forecasting see the same inputs (no
  exposure bias, no teacher forcing), as in MQ-RNN (Wen et al. 2017) and the Temporal
  Fusion Transformer's LSTM decoder (Lim et al. 2021).

Shapes: B windows, L lookback, H horizon, D inputs per past step, F known-future covariates,
K outputs per future step. Outputs are (B, K * H), the K blocks of H in order (the task
reshapes them to (B, K, H)).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.attention import AdditiveAttention, LuongAttention
from rnnkit.layers.recurrent import Recurrent
from rnnkit.models.sequence import SequenceModel


class ForecastInputs(NamedTuple):
    """What a forecaster reads; pass as ``model(*inputs)``."""

    past: Tensor  # (B, L, D) scaled target, past covariates, future covariates over the lookback
    future: Tensor  # (B, H, F) scaled known-future covariates of the forecast steps (F may be 0)

    def to(self, device: torch.device | str) -> ForecastInputs:
        return ForecastInputs(*(t.to(device) for t in self))


class DirectForecaster(nn.Module):
    """Encoder + direct multi-horizon head: (B, L, D), (B, H, F) -> (B, K * H).

    Args:
        input_size: D. future_size: F. horizon: H. outputs: K.
        pooling, cell, hidden_size, num_layers, ...: the encoder and its summary, as for
            :class:`~rnnkit.models.SequenceModel` (whose head maps the summary to K * H).
    """

    def __init__(self, input_size: int, future_size: int, horizon: int, outputs: int,
                 **sequence_options) -> None:  # fmt: skip
        super().__init__()
        self.net = SequenceModel(input_size, outputs * horizon, **sequence_options)
        self.cell = sequence_options.get("cell", "lstm")
        # Known-future covariates enter linearly, every future step's value to every output.
        self.future = nn.Linear(future_size * horizon, outputs * horizon) if future_size else None

    @property
    def encoder(self) -> Recurrent:
        return self.net.encoder

    @property
    def label(self) -> str:
        """The model, for people: ``"direct gru"``."""
        return f"direct {self.cell}"

    def resolve_path(self, inputs: ForecastInputs) -> str:
        return self.net.resolve_path(inputs[0])

    def forward(self, past: Tensor, future: Tensor) -> Tensor:
        out = self.net(past)  # (B, K * H)
        if self.future is not None:
            out = out + self.future(future.flatten(1))
        return out


class Seq2SeqForecaster(nn.Module):
    """Encoder over the past, attentional decoder over the horizon: (B, L, D), (B, H, F) ->
    (B, K * H).

    Args:
        input_size: D. future_size: F. horizon: H. outputs: K.
        attention: ``"general"``, ``"dot"`` (Luong) or ``"additive"`` (Bahdanau) scores, or
            ``"none"`` (the decoder sees only the encoder's final state).
        cell, hidden_size, num_layers, dropout, path, **cell_options: the encoder and the
            decoder alike, as for :class:`~rnnkit.layers.Recurrent` (unidirectional, so the
            encoder's final state is the decoder's first).

    Example::

        >>> model = Seq2SeqForecaster(3, 1, 12, 1, cell="gru", hidden_size=16)
        >>> model(torch.randn(4, 48, 3), torch.randn(4, 12, 1)).shape
        torch.Size([4, 12])
    """

    def __init__(
        self,
        input_size: int,
        future_size: int,
        horizon: int,
        outputs: int,
        *,
        attention: str = "general",
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        path: str = "auto",
        **cell_options,
    ) -> None:
        super().__init__()
        if attention not in ("none", "dot", "general", "additive"):
            raise ValueError(
                f"attention: expected 'none', 'dot', 'general' or 'additive', got {attention!r}"
            )
        H = hidden_size
        self.horizon, self.outputs, self.cell = horizon, outputs, cell
        runner = dict(num_layers=num_layers, dropout=dropout, path=path, **cell_options)
        self.encoder = Recurrent(cell, input_size, H, **runner)
        # The decoder's step t reads an embedding of t (which future step it is) and the
        # known-future covariates of step t.
        self.step_embed = nn.Embedding(horizon, H)
        self.decoder = Recurrent(cell, H + future_size, H, **runner)
        memory = self.encoder.output_size
        if attention == "additive":
            self.attention = AdditiveAttention(H, memory, H)
        elif attention in ("dot", "general"):
            self.attention = LuongAttention(H, memory, attention)
        else:
            self.attention = None
        context = 0 if self.attention is None else memory
        self.combine = nn.Linear(H + context, H)  # Luong's attentional state tanh(W [c; h])
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(H, outputs)

    @property
    def label(self) -> str:
        """The model, for people: ``"seq2seq gru"``."""
        return f"seq2seq {self.cell}"

    def resolve_path(self, inputs: ForecastInputs) -> str:
        return self.encoder.resolve_path(inputs[0])

    def forward(self, past: Tensor, future: Tensor, *, return_attention: bool = False):
        """(B, K * H) forecasts; with ``return_attention`` also the weights (B, H, L)."""
        B = past.shape[0]
        memory, final = self.encoder(past)  # (B, L, Hid)
        steps = self.step_embed.weight[None].expand(B, -1, -1)  # (B, H, Hid)
        out, _ = self.decoder(torch.cat([steps, future.to(steps.dtype)], dim=-1), final)
        weights = None
        if self.attention is not None:
            context, weights = self.attention(out, memory)  # (B, H, Hid), (B, H, L)
            out = torch.cat([context, out], dim=-1)
        attentional = self.dropout(torch.tanh(self.combine(out)))  # (B, H, Hid)
        forecast = self.head(attentional).transpose(1, 2).reshape(B, -1)  # (B, K * H)
        return (forecast, weights) if return_attention else forecast
