"""Truncated backpropagation through time for models with ``encode`` and ``decode``
(:class:`~rnnkit.models.SequenceModel`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.cells.base import detach


def truncated_backward(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    *,
    k: int,
    per_step: bool,
    autocast: Callable[[], Any],
) -> float:
    """Backpropagate the loss of ``model`` on ``x`` (B, T, ...) against ``y`` through chunks
    of ``k`` steps; gradients accumulate in the parameters; returns the loss.

    ``per_step`` (targets (B, T)): each chunk's loss is backpropagated within the chunk only,
    the state crossing chunk borders as a constant; the chunk losses are weighted to average
    over T. Otherwise (one target per sequence): the prefix runs without a graph and the last
    ``k`` steps are backpropagated.
    """
    T = x.shape[1]
    state = None
    if per_step:
        total = 0.0
        for xc, yc in zip(x.split(k, dim=1), y.split(k, dim=1), strict=True):
            with autocast():
                out, state = model.encode(xc, state=state)
                loss = loss_fn(model.decode(out), yc) * (xc.shape[1] / T)
            loss.backward()
            total += loss.item()
            state = detach(state)
        return total
    with torch.no_grad(), autocast():
        _, state = model.encode(x[:, : T - k])
    with autocast():
        out, _ = model.encode(x[:, T - k :], state=detach(state))
        loss = loss_fn(model.decode(out), y)
    loss.backward()
    return loss.item()
