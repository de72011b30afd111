"""The Elman recurrent cell."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import RecurrentCell, check_shape


class RNNCell(RecurrentCell):
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
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.nonlinearity = nonlinearity
        self.bias = bias
        make_gate_parameters(self, 1, input_size, hidden_size, hidden_size, bias)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_init(self)

    def initial_state(self, batch, *, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)

    def check_state(self, state, batch: int) -> None:
        check_shape(state, "state", (batch, self.hidden_size))

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)

    def recur(self, xp: Tensor, state: Tensor, valid: Tensor | None = None):
        pre = xp + F.linear(state, self.weight_hh, self.bias_hh)
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, nonlinearity={self.nonlinearity!r}"


def check_sizes(**sizes: int) -> None:
    """Raise a ValueError naming the first size that is not a positive integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def make_gate_parameters(
    cell: nn.Module, gates: int, input_size: int, hidden_size: int, recurrent_size: int, bias: bool
) -> None:
    """Register torch.nn.RNN-style ``weight_ih`` (G*H, D), ``weight_hh`` (G*H, R) and biases."""
    cell.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size))
    cell.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, recurrent_size))
    if bias:
        cell.bias_ih = nn.Parameter(torch.empty(gates * hidden_size))
        cell.bias_hh = nn.Parameter(torch.empty(gates * hidden_size))
    else:
        cell.register_parameter("bias_ih", None)
        cell.register_parameter("bias_hh", None)


def uniform_init(cell: RecurrentCell) -> None:
    """torch.nn's default: every weight and bias U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(cell.hidden_size)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"):
        p = getattr(cell, name, None)
        if p is not None:
            nn.init.uniform_(p, -bound, bound)
