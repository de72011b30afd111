"""Regularizers of recurrent networks that need to know about time: variational (locked)
dropout, DropConnect on the recurrent weights (weight drop), embedding dropout and zoneout.

- **Variational dropout** (Gal & Ghahramani 2016): one dropout mask per sequence, reused at
  every step, instead of a fresh mask per step; :func:`locked_dropout`.
- **Weight drop** (Merity et al. 2017, after Wan et al. 2013's DropConnect): dropout on the
  hidden-to-hidden weight matrices, one mask per forward pass shared by every step and every
  sequence of the batch; so the fused cuDNN/oneDNN kernels still run. :func:`dropped_weights`.
- **Embedding dropout** (Gal & Ghahramani 2016; Merity et al. 2017): whole rows of the
  embedding matrix, so a dropped word is dropped at every position; :func:`embedding_dropout`.
- **Zoneout** (Krueger et al. 2017): each unit of the state keeps its previous value with
  probability z at each step (fresh masks per step, as in the paper); at evaluation the
  expectation, z * old + (1 - z) * new; :func:`zoneout`. It runs in the time loop.

Every mask is drawn from torch's global RNG and every function is the identity (or, for
zoneout, deterministic) when not training.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.nn import functional as F


def locked_dropout(x: Tensor, p: float, *, training: bool, time_dim: int = 1) -> Tensor:
    """Dropout of ``x`` (B, T, D) (``time_dim=1``) or (T, B, D) (``time_dim=0``) with one mask
    per sequence and feature, the same at every step; scaled by 1 / (1 - p)."""
    if not training or p == 0:
        return x
    shape = list(x.shape)
    shape[time_dim] = 1
    mask = x.new_empty(shape).bernoulli_(1 - p) / (1 - p)
    return x * mask


def embedding_dropout(embed: nn.Embedding, ids: Tensor, p: float, *, training: bool) -> Tensor:
    """``embed(ids)`` with whole words dropped: each row of the table is zeroed with
    probability ``p`` (the same word is dropped at every position) and the rest scaled by
    1 / (1 - p)."""
    if not training or p == 0:
        return embed(ids)
    weight = embed.weight
    mask = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - p) / (1 - p)
    return F.embedding(ids, weight * mask, embed.padding_idx)


@contextmanager
def dropped_weights(cells: list[nn.Module], p: float, *, training: bool) -> Iterator[None]:
    """Within the block every cell's ``weight_hh`` is a dropped-out copy (one mask per call,
    scaled by 1 / (1 - p)); the parameters are back afterwards and receive the gradients.
    Every execution path reads ``cell.weight_hh``, so all of them see the dropped weights."""
    if not training or p == 0:
        yield
        return
    saved = [c._parameters["weight_hh"] for c in cells]
    try:
        for c, w in zip(cells, saved, strict=True):
            c._parameters["weight_hh"] = F.dropout(w, p, training=True)
        yield
    finally:
        for c, w in zip(cells, saved, strict=True):
            c._parameters["weight_hh"] = w


def zoneout(new, old, z: float, *, training: bool):
    """The state after one step with zoneout: per unit, ``old`` with probability ``z``, else
    ``new`` (training); ``z * old + (1 - z) * new`` (evaluation). States are Tensors or
    NamedTuples of them (LSTM: h and c, each zoned out on its own); other fields (a step
    counter) follow ``new``."""
    if isinstance(new, Tensor):
        if training:
            keep = torch.empty_like(new).bernoulli_(z).bool()
            return torch.where(keep, old, new)
        return z * old + (1 - z) * new
    values = [zoneout(n, o, z, training=training) if isinstance(n, Tensor) and n.is_floating_point()
              else n for n, o in zip(new, old, strict=True)]  # fmt: skip
    return type(new)(*values)
