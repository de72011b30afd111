"""Tree-LSTM cells (Tai, Socher & Manning 2015): one node from its input and its children.

Shapes: M nodes computed together, K child slots per node, D input size, H hidden size. A
cell reads ``x`` (M, D), the children's ``h`` and ``c`` (M, K, H) and ``mask`` (M, K), True at
real children (None: every slot is real); padded slots never matter. Leaves have no real
children.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _leaves(wx: Tensor, H: int) -> tuple[Tensor, Tensor]:
    """Nodes without children: no recurrent term and no cell state flowing in."""
    i, o, u = wx[:, :H].sigmoid(), wx[:, H : 2 * H].sigmoid(), wx[:, 2 * H : 3 * H].tanh()
    c = i * u
    return o * torch.tanh(c), c


def _masked(child_h: Tensor, child_c: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
    """Zero the empty child slots (with where(), not *: padding may hold NaN)."""
    if mask is None:
        return child_h, child_c
    keep = mask.unsqueeze(-1)  # (M, K, 1)
    return child_h.where(keep, 0.0), child_c.where(keep, 0.0)


class ChildSumTreeLSTMCell(nn.Module):
    r"""Child-Sum Tree-LSTM: any number of unordered children, summed.

    .. math::
        \tilde h_j = \sum_k h_k, \quad
        i_j = \sigma(W_i x_j + U_i \tilde h_j + b_i), \quad
        o_j = \sigma(W_o x_j + U_o \tilde h_j + b_o), \quad
        u_j = \tanh(W_u x_j + U_u \tilde h_j + b_u),

        f_{jk} = \sigma(W_f x_j + U_f h_k + b_f) \text{ (one forget gate per child)}, \quad
        c_j = i_j \odot u_j + \sum_k f_{jk} \odot c_k, \quad h_j = o_j \odot \tanh(c_j)

    Weights: ``input`` (W, rows i, o, u, f; with the biases), ``recurrent_iou`` (U_i, U_o,
    U_u) and ``recurrent_f`` (U_f).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        H = hidden_size
        self.input = nn.Linear(input_size, 4 * H)
        self.recurrent_iou = nn.Linear(H, 3 * H, bias=False)
        self.recurrent_f = nn.Linear(H, H, bias=False)

    def forward(self, x: Tensor, child_h: Tensor, child_c: Tensor, mask: Tensor | None):
        """x (M, D), child_h/child_c (M, K, H), mask (M, K) -> (h, c), each (M, H)."""
        return self.recur(self.input(x), child_h, child_c, mask)

    def recur(self, wx: Tensor, child_h: Tensor, child_c: Tensor, mask: Tensor | None):
        """:meth:`forward` from the input projection ``wx = self.input(x)`` (M, 4H), which a
        runner computes for all nodes at once."""
        H = self.hidden_size
        if child_h.shape[1] == 0:
            return _leaves(wx, H)
        child_h, child_c = _masked(child_h, child_c, mask)
        iou = wx[:, : 3 * H] + self.recurrent_iou(child_h.sum(1))
        i, o, u = iou[:, :H].sigmoid(), iou[:, H : 2 * H].sigmoid(), iou[:, 2 * H :].tanh()
        f = torch.sigmoid(wx[:, None, 3 * H :] + self.recurrent_f(child_h))  # (M, K, H)
        c = i * u + (f * child_c).sum(1)
        return o * torch.tanh(c), c


class NaryTreeLSTMCell(nn.Module):
    r"""N-ary Tree-LSTM: at most N ordered children, each slot with its own weights.

    .. math::
        i_j = \sigma(W_i x_j + \sum_{l=1}^N U_i^l h_{jl} + b_i), \quad
        f_{jk} = \sigma(W_f x_j + \sum_{l=1}^N U_f^{kl} h_{jl} + b_f),

        o_j, u_j \text{ like } i_j, \quad
        c_j = i_j \odot u_j + \sum_{l=1}^N f_{jl} \odot c_{jl}, \quad
        h_j = o_j \odot \tanh(c_j)

    A node with fewer than N children has zero states in its empty slots (slot l is the l-th
    child). Weights: ``input`` (W, rows i, o, u, f, with biases; W_f and b_f are shared by
    the N forget gates, as in the paper) and ``recurrent`` (all U, from the N children's h
    concatenated: rows i, o, u, then f_1 ... f_N).
    """

    def __init__(self, input_size: int, hidden_size: int, arity: int = 2) -> None:
        super().__init__()
        if arity < 1:
            raise ValueError(f"arity: expected at least 1, got {arity}")
        self.input_size, self.hidden_size, self.arity = input_size, hidden_size, arity
        H = hidden_size
        self.input = nn.Linear(input_size, 4 * H)
        self.recurrent = nn.Linear(arity * H, (3 + arity) * H, bias=False)

    def forward(self, x: Tensor, child_h: Tensor, child_c: Tensor, mask: Tensor | None):
        """x (M, D), child_h/child_c (M, K, H) with K <= N, mask (M, K) -> (h, c), (M, H)."""
        return self.recur(self.input(x), child_h, child_c, mask)

    def recur(self, wx: Tensor, child_h: Tensor, child_c: Tensor, mask: Tensor | None):
        """:meth:`forward` from the input projection ``wx = self.input(x)`` (M, 4H)."""
        M, K, H = child_h.shape
        if K > self.arity:
            raise ValueError(f"children: a {self.arity}-ary cell got nodes with {K} child slots")
        if K == 0:  # every slot empty: U h = 0
            return _leaves(wx, H)
        child_h, child_c = _masked(child_h, child_c, mask)
        if K < self.arity:  # empty slots hold zero states
            pad = child_h.new_zeros(M, self.arity - K, H)
            child_h, child_c = torch.cat([child_h, pad], 1), torch.cat([child_c, pad], 1)
        uh = self.recurrent(child_h.reshape(M, self.arity * H))  # (M, (3+N)H)
        iou = wx[:, : 3 * H] + uh[:, : 3 * H]
        i, o, u = iou[:, :H].sigmoid(), iou[:, H : 2 * H].sigmoid(), iou[:, 2 * H :].tanh()
        f = torch.sigmoid(wx[:, None, 3 * H :] + uh[:, 3 * H :].view(M, self.arity, H))
        c = i * u + (f * child_c).sum(1)
        return o * torch.tanh(c), c
