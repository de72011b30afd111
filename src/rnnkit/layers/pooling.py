"""Summaries of a sequence of outputs (B, T, F) into one vector (B, F) per sequence."""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

Pooling = Literal["last", "mean", "max"]
POOLINGS: tuple[str, ...] = get_args(Pooling)


def pool(
    output: Tensor,
    kind: Pooling,
    *,
    lengths: Tensor | None = None,
    bidirectional: bool = False,
) -> Tensor:
    """Pool runner outputs over time, ignoring padded steps.

    Args:
        output: (B, T, F) batch-first outputs of a :class:`~rnnkit.layers.Recurrent`.
        kind: ``"last"``: each sequence's last valid step; for a bidirectional runner the
            forward half at the last valid step and the backward half at step 0 (each
            direction's final state). ``"mean"``: the mean over valid steps. ``"max"``: the
            element-wise maximum over valid steps.
        lengths: (B,) valid steps per sequence; None means all T.
        bidirectional: whether F is two concatenated directions of F/2 each.

    Returns:
        (B, F).
    """
    if kind not in POOLINGS:
        raise ValueError(f"pooling: expected one of {', '.join(POOLINGS)}, got {kind!r}")
    B, T, F = output.shape
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.long)
    lengths = lengths.to(output.device)
    if kind == "last":
        last = output[torch.arange(B, device=output.device), lengths - 1]  # (B, F)
        if bidirectional:
            half = F // 2
            last = torch.cat([last[:, :half], output[:, 0, half:]], dim=-1)
        return last
    valid = torch.arange(T, device=output.device)[None, :] < lengths[:, None]  # (B, T)
    if kind == "mean":
        total = (output * valid[..., None].to(output.dtype)).sum(1)
        return total / lengths[:, None].to(output.dtype)
    masked = output.masked_fill(~valid[..., None], float("-inf"))
    return masked.amax(1)
