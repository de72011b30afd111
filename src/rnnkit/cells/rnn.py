"""The Elman recurrent cell."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import TensorStateCell, check_flags, check_sizes, make_gate_parameters


class RNNCell(TensorStateCell):
    r"""Elman RNN step.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),
        \quad \phi \in \{\tanh, \mathrm{relu}\}

    Parameters use ``torch.nn.RNN``'s names and layout: ``weight_ih`` (H, D), ``weight_hh``
    (H, H), ``bias_ih`` (H), ``bias_hh`` (H), initialized U(-1/sqrt(H), 1/sqrt(H)) as in torch.

    Args:
        input_size: D. hidden_size: H.
        nonlinearity: ``"tanh"`` or ``"relu"`` (use ``"relu"`` with identity init for IRNN).
        bias: whether to learn the two bias vectors.

    Shapes: ``x`` (B, D), state ``h`` (B, H) -> ``(h_t, h_t)``.

    Example::

        >>> cell = RNNCell(3, 5)
        >>> h, state = cell(torch.randn(2, 3))
        >>> h.shape
        torch.Size([2, 5])
    """

    num_gates = 1
    gate_order = ("h",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        nonlinearity: Literal["tanh", "relu"] = "tanh",
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        check_flags(bias=bias)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.nonlinearity = nonlinearity
        self.bias = bias
        make_gate_parameters(self, 1, input_size, hidden_size, hidden_size, bias)
        self.reset_parameters()

    def recur(self, xp: Tensor, state: Tensor, valid: Tensor | None = None):
        pre = xp + F.linear(state, self.weight_hh, self.bias_hh)
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"
