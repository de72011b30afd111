"""A recurrent encoder with a linear head: per sequence (classification or regression) or per
step (tagging)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.attention import AttentionPooling, lengths_to_mask
from rnnkit.layers.pooling import POOLINGS, pool
from rnnkit.layers.recurrent import Recurrent

Head = Literal["sequence", "step"]
HeadPooling = Literal["last", "mean", "max", "attention"]
HEAD_POOLINGS = (*POOLINGS, "attention")


class SequenceModel(nn.Module):
    """Encoder plus head: (B, T, D) -> (B, O) per sequence, or (B, T, O) per step.

    Args:
        input_size: D; with ``vocab_size``, the embedding size E.
        output_size: O (1 for regression, C classes otherwise).
        head: ``"sequence"`` pools the encoder's outputs over time (``pooling``) and maps the
            summary to O; ``"step"`` maps every step's output to O.
        cell, hidden_size, num_layers, bidirectional, residual, path, **cell_options: the
            encoder, as for :class:`~rnnkit.layers.Recurrent`.
        dropout: between stacked layers and on the encoder output before the head.
        pooling: ``"last"``, ``"mean"``, ``"max"`` or ``"attention"`` (learned weights over
            the valid steps, :class:`~rnnkit.attention.AttentionPooling`); sequence head only.
        vocab_size: read token ids (B, T) through an embedding of ``vocab_size`` x
            ``input_size`` (id 0, ``<pad>``, embeds to zeros) instead of features (B, T, D).

    Shapes:
        x (B, T, D); lengths (B,) or None; returns (B, O) or (B, T, O). For the step head,
        outputs at padded steps are the head's bias (the encoder gives zeros there).

    Example::

        >>> model = SequenceModel(2, 1, cell="gru", hidden_size=16)
        >>> model(torch.randn(4, 10, 2)).shape
        torch.Size([4, 1])
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        *,
        head: Head = "sequence",
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        residual: bool = False,
        pooling: HeadPooling = "last",
        path: str = "auto",
        vocab_size: int | None = None,
        **cell_options,
    ) -> None:
        super().__init__()
        if head not in ("sequence", "step"):
            raise ValueError(f"head: expected 'sequence' or 'step', got {head!r}")
        if pooling not in HEAD_POOLINGS:
            raise ValueError(
                f"pooling: expected one of {', '.join(HEAD_POOLINGS)}, got {pooling!r}"
            )
        self.head_kind = head
        self.pooling = pooling
        self.bidirectional = bidirectional
        self.encoder = Recurrent(
            cell,
            input_size,
            hidden_size,
            num_layers=num_layers,
            bidirectional=bidirectional,
            dropout=dropout,
            residual=residual,
            path=path,
            **cell_options,
        )
        self.dropout = nn.Dropout(dropout)
        self.embed = None if vocab_size is None else nn.Embedding(vocab_size, input_size, 0)
        features = self.encoder.num_directions * self.encoder.output_size
        self.attention = AttentionPooling(features) if pooling == "attention" else None
        self.head = nn.Linear(features, output_size)

    def resolve_path(self, x: Tensor) -> str:
        """The execution path the encoder takes for input ``x`` (see ``Recurrent``); of a
        tuple ``(x, lengths)``, x (the path depends on it alone)."""
        if isinstance(x, tuple):
            x = x[0]
        if self.embed is not None:  # ids (B, T): the encoder sees (B, T, E)
            x = torch.zeros(*x.shape, self.embed.embedding_dim, device=x.device)
        return self.encoder.resolve_path(x)

    def encode(self, x: Tensor, lengths: Tensor | None = None, state=None):
        """Run the encoder: ``(outputs (B, T, F), final_state)``."""
        if self.embed is not None:
            x = self.dropout(self.embed(x))  # (B, T) ids -> (B, T, E)
        return self.encoder(x, state, lengths)

    def decode(self, outputs: Tensor, lengths: Tensor | None = None) -> Tensor:
        """Apply the head to encoder outputs (B, T, F): (B, O) or (B, T, O)."""
        if self.head_kind == "sequence" and self.attention is not None:
            mask = None if lengths is None else lengths_to_mask(lengths, outputs.shape[1])
            outputs, _ = self.attention(outputs, None if mask is None else mask.to(outputs.device))
        elif self.head_kind == "sequence":
            outputs = pool(outputs, self.pooling, lengths=lengths, bidirectional=self.bidirectional)
        return self.head(self.dropout(outputs))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        outputs, _ = self.encode(x, lengths)
        return self.decode(outputs, lengths)
