"""Attention modules. Shapes: B batch, Q queries, S keys (source steps), D sizes.

Queries are (B, Q, Dq), or (B, Dq) for one decoder step (outputs then drop the Q axis). Keys
are (B, S, Dk); values default to the keys. ``mask`` (B, S) is True at valid keys; padded keys
get exactly zero weight, so their contents never matter.

A decoder asks the same keys once per output step. The scores with a learned key projection
(additive, Luong general) accept ``prepared=attention.prepare(keys)``, computed once per
source, so each step skips the (B, S, Dk) x (Dk, D) product.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn


def masked_softmax(scores: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """Softmax of ``scores`` over ``dim`` with masked-out entries at exactly zero.

    Args:
        scores: (..., S) real scores.
        mask: True where an entry takes part, broadcastable to ``scores``; None: all do.
            A row with no valid entry gets all-zero weights (not NaN).
    """
    if mask is None:
        return scores.softmax(dim)
    weights = scores.masked_fill(~mask, float("-inf")).softmax(dim)
    return weights.masked_fill(~mask, 0.0)  # rows with no valid entry: NaN -> 0


def _inputs(query: Tensor, keys: Tensor, values: Tensor | None, mask: Tensor | None):
    """Check shapes; return (query (B, Q, Dq), values, mask (B, 1, S) or None, squeeze)."""
    if keys.dim() != 3:
        raise ValueError(f"keys: expected (B, S, Dk), got shape {tuple(keys.shape)}")
    single = query.dim() == 2
    if single:
        query = query.unsqueeze(1)
    if query.dim() != 3 or query.shape[0] != keys.shape[0]:
        raise ValueError(
            f"query: expected (B, Q, Dq) or (B, Dq) with B={keys.shape[0]} like keys, got "
            f"shape {tuple(query.shape)}"
        )
    values = keys if values is None else values
    if values.shape[:2] != keys.shape[:2]:
        raise ValueError(
            f"values: expected (B, S, Dv) with (B, S)={tuple(keys.shape[:2])} like keys, got "
            f"shape {tuple(values.shape)}"
        )
    if mask is not None:
        if mask.shape != keys.shape[:2] or mask.dtype != torch.bool:
            raise ValueError(
                f"mask: expected a bool tensor of shape (B, S)={tuple(keys.shape[:2])}, got "
                f"{mask.dtype} {tuple(mask.shape)}"
            )
        mask = mask[:, None, :]  # (B, 1, S)
    return query, values, mask, single


def _attend(scores: Tensor, values: Tensor, mask: Tensor | None, single: bool):
    weights = masked_softmax(scores, mask)  # (B, Q, S)
    context = weights @ values  # (B, Q, Dv)
    if single:
        return context.squeeze(1), weights.squeeze(1)
    return context, weights


class AdditiveAttention(nn.Module):
    """Bahdanau et al. (2015): score(q, k) = v^T tanh(W_q q + W_k k + b).

    Args:
        query_size: Dq. key_size: Dk. hidden_size: the size of the tanh layer.

    Returns ``(context (B, Q, Dv), weights (B, Q, S))`` from ``forward(query, keys, values,
    mask)``.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(query_size, hidden_size, bias=True)
        self.key_proj = nn.Linear(key_size, hidden_size, bias=False)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor:
        """W_k k for every key: (B, S, Dk) -> (B, S, hidden); pass as ``prepared=``."""
        return self.key_proj(keys)

    def scores(self, query: Tensor, keys: Tensor, prepared: Tensor | None = None) -> Tensor:
        """(B, Q, Dq), (B, S, Dk) -> (B, Q, S)."""
        projected = self.prepare(keys) if prepared is None else prepared
        hidden = self.query_proj(query)[:, :, None, :] + projected[:, None, :, :]
        return self.v(torch.tanh(hidden)).squeeze(-1)  # (B, Q, S)

    def forward(self, query, keys, values=None, mask=None, *, prepared=None):
        query, values, mask, single = _inputs(query, keys, values, mask)
        return _attend(self.scores(query, keys, prepared), values, mask, single)


class LuongAttention(nn.Module):
    """Luong et al. (2015): ``"dot"`` q^T k, ``"general"`` q^T W k, ``"concat"``
    v^T tanh(W [q; k]).

    Args:
        query_size: Dq. key_size: Dk (must equal Dq for ``"dot"``).
        kind: the score function. hidden_size: the tanh layer of ``"concat"`` (default Dq).
    """

    def __init__(
        self,
        query_size: int,
        key_size: int,
        kind: Literal["dot", "general", "concat"] = "general",
        hidden_size: int | None = None,
    ) -> None:
        super().__init__()
        if kind not in ("dot", "general", "concat"):
            raise ValueError(f"kind: expected 'dot', 'general' or 'concat', got {kind!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(
                f"key_size: 'dot' needs query and key sizes equal, got {query_size} and "
                f"{key_size} (use 'general')"
            )
        self.kind = kind
        if kind == "general":
            self.weight = nn.Linear(key_size, query_size, bias=False)
        if kind == "concat":
            hidden = hidden_size or query_size
            self.weight = nn.Linear(query_size + key_size, hidden, bias=False)
            self.v = nn.Linear(hidden, 1, bias=False)

    def prepare(self, keys: Tensor) -> Tensor | None:
        """W k for every key, to pass as ``prepared=`` ("general"; None for the other scores,
        which have nothing to compute once per source)."""
        return self.weight(keys) if self.kind == "general" else None

    def scores(self, query: Tensor, keys: Tensor, prepared: Tensor | None = None) -> Tensor:
        """(B, Q, Dq), (B, S, Dk) -> (B, Q, S)."""
        if self.kind == "dot":
            return query @ keys.transpose(1, 2)
        if self.kind == "general":
            if prepared is None and query.shape[1] < keys.shape[1]:
                # Few queries: (q^T W) k costs B*Q*Dq*Dk, less than W k's B*S*Dq*Dk.
                return (query @ self.weight.weight) @ keys.transpose(1, 2)
            projected = self.prepare(keys) if prepared is None else prepared
            return query @ projected.transpose(1, 2)
        # W [q; k] = W_q q + W_k k: two small products instead of a (B, Q, S, Dq+Dk) concat.
        w_q, w_k = self.weight.weight.split([query.shape[-1], keys.shape[-1]], dim=1)
        hidden = (query @ w_q.T)[:, :, None, :] + (keys @ w_k.T)[:, None, :, :]
        return self.v(torch.tanh(hidden)).squeeze(-1)

    def forward(self, query, keys, values=None, mask=None, *, prepared=None):
        query, values, mask, single = _inputs(query, keys, values, mask)
        return _attend(self.scores(query, keys, prepared), values, mask, single)


class ScaledDotProductAttention(nn.Module):
    """Vaswani et al. (2017): softmax(q k^T / sqrt(d)) v, with no parameters."""

    def forward(self, query, keys, values=None, mask=None):
        query, values, mask, single = _inputs(query, keys, values, mask)
        if query.shape[-1] != keys.shape[-1]:
            raise ValueError(
                f"keys: expected size {query.shape[-1]} like the query, got {keys.shape[-1]}"
            )
        scores = query @ keys.transpose(1, 2) / math.sqrt(query.shape[-1])
        return _attend(scores, values, mask, single)


class MultiHeadAttention(nn.Module):
    """Multi-head attention (torch's ``nn.MultiheadAttention``, batch first) with rnnkit's
    mask convention: cross-attention from decoder states to encoder states, or
    self-attention over RNN outputs (``query is keys``).

    Args:
        embed_dim: Dq, split over ``num_heads`` heads. key_size, value_size: Dk and Dv
            (default ``embed_dim``). dropout: on the attention weights (training only).

    Returns ``(output (B, Q, Dq), weights (B, Q, S))``, the weights averaged over heads
    (``average_heads=False``: (B, heads, Q, S)).
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        *,
        key_size: int | None = None,
        value_size: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"num_heads: must divide embed_dim {embed_dim}, got {num_heads} heads")
        self.attention = nn.MultiheadAttention(
            embed_dim, num_heads, dropout=dropout, kdim=key_size, vdim=value_size,
            batch_first=True,
        )  # fmt: skip

    def forward(self, query, keys, values=None, mask=None, *, average_heads: bool = True):
        query, values, mask, single = _inputs(query, keys, values, mask)
        padding = None if mask is None else ~mask[:, 0, :]  # torch: True = ignore
        out, weights = self.attention(
            query, keys, values, key_padding_mask=padding, need_weights=True,
            average_attn_weights=average_heads,
        )  # fmt: skip
        if single:
            return out.squeeze(1), weights.squeeze(-2)
        return out, weights


class ExternalAttention(nn.Module):
    """External attention (Guo et al. 2021): two small learned memories M_k, M_v (S_m x D)
    shared by all samples replace self-attention's keys and values, at cost linear in T.

    A = double_norm(x M_k^T), out = A M_v, where double normalization is a softmax over the
    T positions followed by an L1 normalization over the S_m memory slots.

    Args:
        input_size: D. memory_size: S_m (the paper uses 64).

    Shapes:
        x (B, T, D), mask (B, T) True at valid steps; returns ``(out (B, T, D),
        weights (B, T, S_m))``, zero at padded steps.
    """

    def __init__(self, input_size: int, memory_size: int = 64) -> None:
        super().__init__()
        self.memory_keys = nn.Linear(input_size, memory_size, bias=False)
        self.memory_values = nn.Linear(memory_size, input_size, bias=False)

    def forward(self, x: Tensor, mask: Tensor | None = None):
        if x.dim() != 3:
            raise ValueError(f"x: expected (B, T, D), got shape {tuple(x.shape)}")
        if mask is not None and (mask.shape != x.shape[:2] or mask.dtype != torch.bool):
            raise ValueError(
                f"mask: expected a bool tensor of shape (B, T)={tuple(x.shape[:2])}, got "
                f"{mask.dtype} {tuple(mask.shape)}"
            )
        scores = self.memory_keys(x)  # (B, T, S_m)
        weights = masked_softmax(scores, None if mask is None else mask[..., None], dim=1)
        weights = weights / (weights.sum(-1, keepdim=True) + 1e-9)  # L1 over memory slots
        return self.memory_values(weights), weights


class AttentionPooling(nn.Module):
    """Attention pooling for sequence classification (Yang et al. 2016): a_t =
    softmax_t(v^T tanh(W h_t + b)), summary = sum_t a_t h_t.

    Args:
        input_size: F, the size of each step's output. hidden_size: the tanh layer.

    Shapes:
        outputs (B, T, F), mask (B, T) True at valid steps; returns ``(summary (B, F),
        weights (B, T))``.
    """

    def __init__(self, input_size: int, hidden_size: int = 64) -> None:
        super().__init__()
        self.proj = nn.Linear(input_size, hidden_size)
        self.v = nn.Linear(hidden_size, 1, bias=False)

    def forward(self, outputs: Tensor, mask: Tensor | None = None):
        if outputs.dim() != 3:
            raise ValueError(f"outputs: expected (B, T, F), got shape {tuple(outputs.shape)}")
        scores = self.v(torch.tanh(self.proj(outputs))).squeeze(-1)  # (B, T)
        weights = masked_softmax(scores, mask)
        return (weights[..., None] * outputs).sum(1), weights


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True at valid steps."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
