"""The gated recurrent unit."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.cells.base import PROBE, TensorStateCell, check_flags, check_sizes, make_gate_parameters


class GRUCell(TensorStateCell):
    r"""GRU step (Cho et al. 2014). Gate order r, z, n as in ``torch.nn.GRU``.

    .. math::
        r_t = \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t = \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t = \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn}))
              \quad\text{(reset_after=True)} \\
        n_t = \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})
              \quad\text{(reset_after=False)} \\
        h_t = (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    ``reset_after=True`` is the torch/cuDNN convention: it lets all three recurrent products be
    one matmul. ``reset_after=False`` is the paper's original (Keras exposes the same switch);
    it needs a second matmul per step and has no ``torch.nn.GRU`` equivalent.

    Parameters: ``weight_ih`` (3H, D), ``weight_hh`` (3H, H), ``bias_ih``, ``bias_hh`` (3H).

    Shapes: ``x`` (B, D), state ``h`` (B, H) -> ``(h_t, h_t)``.

    Example::

        >>> h, _ = GRUCell(3, 5)(torch.randn(2, 3))
        >>> h.shape
        torch.Size([2, 5])
    """

    num_gates = 3
    gate_order = ("r", "z", "n")
    retain_gate = ("z", True)  # h = (1 - z) n + z h_prev

    def __init__(
        self, input_size: int, hidden_size: int, *, reset_after: bool = True, bias: bool = True
    ) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size)
        check_flags(reset_after=reset_after, bias=bias)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.reset_after = bool(reset_after)
        self.bias = bias
        make_gate_parameters(self, 3, input_size, hidden_size, hidden_size, bias)
        self.reset_parameters()

    def recur(self, xp: Tensor, state: Tensor, valid: Tensor | None = None):
        H = self.hidden_size
        x_r, x_z, x_n = xp.split(H, dim=-1)
        if self.reset_after:
            h_r, h_z, h_n = F.linear(state, self.weight_hh, self.bias_hh).split(H, dim=-1)
            r = torch.sigmoid(x_r + h_r)
            z = torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
        else:
            b_r, b_z, b_n = (None, None, None) if self.bias_hh is None else self.bias_hh.split(H)
            w_r, w_z, w_n = self.weight_hh.split(H)
            r = torch.sigmoid(x_r + F.linear(state, w_r, b_r))
            z = torch.sigmoid(x_z + F.linear(state, w_z, b_z))
            n = torch.tanh(x_n + F.linear(r * state, w_n, b_n))
        h = n + z * (state - n)  # == (1 - z) * n + z * h_prev, one op fewer
        if (probe := PROBE.active) is not None:
            probe.gates(self, r=r, z=z)
        return h, h

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset_after={self.reset_after}"
