"""The long short-term memory cell and its variants (peephole, layer/batch norm, projection)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import (
    PROBE,
    BNLSTMState,
    LSTMState,
    RecurrentCell,
    check_flags,
    check_shape,
    check_sizes,
    make_gate_parameters,
    uniform_init,
)

NORMS = (None, "layer", "batch")


class LSTMCell(RecurrentCell):
    r"""LSTM step (Hochreiter & Schmidhuber 1997, forget gate of Gers et al. 2000).

    Gate order i, f, g, o, the layout of ``torch.nn.LSTM``:

    .. math::
        (a_i, a_f, a_g, a_o) = W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh} \\
        i = \sigma(a_i + p_i \odot c_{t-1}),\; f = \sigma(a_f + p_f \odot c_{t-1}),\;
        g = \tanh(a_g) \\
        c_t = f \odot c_{t-1} + i \odot g \\
        o = \sigma(a_o + p_o \odot c_t),\quad h_t = W_{hr}\,(o \odot \tanh(c_t))

    Options:
        ``peephole=True``: the diagonal peepholes ``p_i, p_f, p_o`` above (Gers & Schmidhuber
        2000; zero otherwise), parameters ``weight_ci, weight_cf, weight_co`` (H).

        ``norm="layer"`` (Ba et al. 2016): ``a = LN(W_{ih} x) + LN(W_{hh} h) + b`` with each LN
        over all 4H pre-activations (gains ``ln_ih_weight``, ``ln_hh_weight`` (4H), init 1; the
        LN shifts are the biases ``b_ih``, ``b_hh``), and ``h_t = o * tanh(LN(c_t))`` with
        ``ln_c_weight``, ``ln_c_bias`` (H). The state carries the unnormalized ``c_t``.

        ``norm="batch"`` (recurrent batch normalization, Cooijmans et al. 2017): the same three
        places use batch normalization with separate statistics per time step, gains
        ``bn_*_weight`` initialized to 0.1. Running statistics are kept for ``max_steps`` steps.
        Past the longest length seen in training (or past ``max_steps``), the statistics of the
        last trained step are used, as the paper does for generalization to longer sequences.
        A training step with fewer than two live sequences also uses the running statistics.
        The state is a :class:`BNLSTMState` whose ``step`` selects the statistics.

        ``proj_size=P`` (LSTMP, Sak et al. 2014): ``h_t`` is projected to P by ``weight_hr``
        (P, H); the recurrence uses the projected ``h``.

        ``forget_bias``: initial value of the forget-gate bias (``bias_ih`` holds it, ``bias_hh``
        is zeroed there), learned afterwards, like Keras' ``unit_forget_bias``. None keeps
        torch's uniform initialization.

    Parameters otherwise follow ``torch.nn.LSTM``: ``weight_ih`` (4H, D), ``weight_hh``
    (4H, P or H), ``bias_ih``, ``bias_hh`` (4H), all U(-1/sqrt(H), 1/sqrt(H)).

    Shapes: ``x`` (B, D), state ``LSTMState(h (B, P or H), c (B, H))`` -> ``(h_t, state)``.

    Example::

        >>> cell = LSTMCell(3, 5, peephole=True, norm="layer")
        >>> h, state = cell(torch.randn(2, 3))
        >>> state.c.shape
        torch.Size([2, 5])
    """

    num_gates = 4
    gate_order = ("i", "f", "g", "o")
    retain_gate = ("f", True)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        peephole: bool = False,
        norm: Literal["layer", "batch"] | None = None,
        proj_size: int = 0,
        forget_bias: float | None = None,
        max_steps: int = 1000,
        eps: float = 1e-5,
        momentum: float = 0.1,
    ) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, max_steps=max_steps)
        check_flags(bias=bias, peephole=peephole)
        for name, value in (("forget_bias", forget_bias), ("eps", eps), ("momentum", momentum)):
            if value is None and name == "forget_bias":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name}: expected a number, got {value!r}")
        if not eps > 0:
            raise ValueError(f"eps: expected a number > 0, got {eps!r}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"momentum: expected a number in [0, 1], got {momentum!r}")
        if norm not in NORMS:
            raise ValueError(f"norm: expected None, 'layer' or 'batch', got {norm!r}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, int) or proj_size < 0:
            raise ValueError(f"proj_size: expected an integer >= 0, got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError(
                f"proj_size: expected less than hidden_size ({hidden_size}), got {proj_size}"
            )
        if norm == "batch" and not bias:
            raise ValueError(
                "bias: norm='batch' needs bias=True (the normalizations have no shift)"
            )
        self.input_size, self.hidden_size = input_size, hidden_size
        self.proj_size = proj_size
        self.output_size = proj_size or hidden_size
        self.bias, self.peephole, self.norm = bias, peephole, norm
        self.forget_bias = forget_bias
        self.eps, self.momentum, self.max_steps = eps, momentum, max_steps
        H, G = hidden_size, 4 * hidden_size
        make_gate_parameters(self, 4, input_size, H, self.output_size, bias)
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, H))
        if peephole:
            self.weight_ci = nn.Parameter(torch.empty(H))
            self.weight_cf = nn.Parameter(torch.empty(H))
            self.weight_co = nn.Parameter(torch.empty(H))
        if norm is not None:
            p = "ln" if norm == "layer" else "bn"
            for name, size in (("ih_weight", G), ("hh_weight", G), ("c_weight", H), ("c_bias", H)):
                setattr(self, f"{p}_{name}", nn.Parameter(torch.empty(size)))
        if norm == "batch":
            for part, size in (("ih", G), ("hh", G), ("c", H)):
                self.register_buffer(f"running_mean_{part}", torch.zeros(max_steps, size))
                self.register_buffer(f"running_var_{part}", torch.ones(max_steps, size))
            # How many time steps training has seen (capped at max_steps): the eval-time limit.
            self.register_buffer("steps_trained", torch.zeros((), dtype=torch.long))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        uniform_init(self)
        bound = 1.0 / self.hidden_size**0.5
        if self.peephole:
            for p in (self.weight_ci, self.weight_cf, self.weight_co):
                nn.init.uniform_(p, -bound, bound)
        if self.norm is not None:
            p = "ln" if self.norm == "layer" else "bn"
            gain = 1.0 if self.norm == "layer" else 0.1  # Cooijmans et al.: gamma = 0.1
            for name in ("ih_weight", "hh_weight", "c_weight"):
                nn.init.constant_(getattr(self, f"{p}_{name}"), gain)
            nn.init.zeros_(getattr(self, f"{p}_c_bias"))
        if self.forget_bias is not None and self.bias:
            H = self.hidden_size
            with torch.no_grad():
                self.bias_ih[H : 2 * H] = self.forget_bias
                self.bias_hh[H : 2 * H] = 0.0

    # -- state ---------------------------------------------------------------------------------
    def initial_state(self, batch, *, device=None, dtype=None):
        h = torch.zeros(batch, self.output_size, device=device, dtype=dtype)
        c = torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)
        return BNLSTMState(h, c, 0) if self.norm == "batch" else LSTMState(h, c)

    def check_state(self, state, batch: int) -> None:
        want = BNLSTMState if self.norm == "batch" else LSTMState
        if not isinstance(state, tuple) or len(state) != len(want._fields):
            raise ValueError(
                f"state: expected {want.__name__}{want._fields}, got {type(state).__name__}"
            )
        check_shape(state[0], "state.h", (batch, self.output_size))
        check_shape(state[1], "state.c", (batch, self.hidden_size))

    # -- the step ------------------------------------------------------------------------------
    def project_input(self, x: Tensor) -> Tensor:
        if self.norm == "layer":
            xp = _layer_norm(F.linear(x, self.weight_ih), self.ln_ih_weight, None, self.eps)
            return xp if self.bias_ih is None else xp + self.bias_ih
        if self.norm == "batch":  # normalized per time step inside recur
            return F.linear(x, self.weight_ih)
        return F.linear(x, self.weight_ih, self.bias_ih)

    def recur(self, xp: Tensor, state, valid: Tensor | None = None):
        h_prev, c_prev = state[0], state[1]
        H = self.hidden_size
        if self.norm == "layer":
            rec = _layer_norm(F.linear(h_prev, self.weight_hh), self.ln_hh_weight, None, self.eps)
            pre = xp + rec if self.bias_hh is None else xp + rec + self.bias_hh
        elif self.norm == "batch":
            step = state[2]
            pre = (
                self._batch_norm(xp, "ih", step, valid)
                + self._batch_norm(F.linear(h_prev, self.weight_hh), "hh", step, valid)
                + self.bias_ih
                + self.bias_hh
            )
        else:
            pre = xp + F.linear(h_prev, self.weight_hh, self.bias_hh)
        a_i, a_f, a_g, a_o = pre.split(H, dim=-1)
        if self.peephole:
            a_i = a_i + self.weight_ci * c_prev
            a_f = a_f + self.weight_cf * c_prev
        i, f = torch.sigmoid(a_i), torch.sigmoid(a_f)
        c = f * c_prev + i * torch.tanh(a_g)
        if self.peephole:
            a_o = a_o + self.weight_co * c
        if self.norm == "layer":
            c_out = _layer_norm(c, self.ln_c_weight, self.ln_c_bias, self.eps)
        elif self.norm == "batch":
            c_out = self._batch_norm(c, "c", step, valid) + self.bn_c_bias
        else:
            c_out = c
        o = torch.sigmoid(a_o)
        h = o * torch.tanh(c_out)
        if (probe := PROBE.active) is not None:
            probe.gates(self, i=i, f=f, o=o)
        if self.proj_size:
            h = F.linear(h, self.weight_hr)
        if self.norm == "batch":
            return h, BNLSTMState(h, c, step + 1)
        return h, LSTMState(h, c)

    def _batch_norm(self, a: Tensor, part: str, step: int, valid: Tensor | None) -> Tensor:
        """Normalize ``a`` (B, N) with time step ``step``'s statistics; scale by the gain."""
        gain = getattr(self, f"bn_{part}_weight")
        mean_buf = getattr(self, f"running_mean_{part}")
        var_buf = getattr(self, f"running_var_{part}")
        rows = a if not self.training or valid is None else a[valid]
        # Batch statistics need two live rows: with one, the variance is 0 and the normalized
        # value ignores the input (torch's BatchNorm refuses that case); with none, the step is
        # all padding. Such a step uses the running statistics and leaves them alone.
        if self.training and rows.shape[0] > 1:
            slot = min(step, self.max_steps - 1)
            mean = rows.mean(0)
            var = rows.var(0, unbiased=False)
            with torch.no_grad():
                n = rows.shape[0]
                unbiased = var * n / max(n - 1, 1)
                mean_buf[slot].lerp_(mean.detach().to(mean_buf.dtype), self.momentum)
                var_buf[slot].lerp_(unbiased.detach().to(var_buf.dtype), self.momentum)
                if part == "c":  # counted once per step
                    self.steps_trained.clamp_(min=slot + 1)
        else:
            trained = int(self.steps_trained)
            slot = min(step, max(trained, 1) - 1)
            mean, var = mean_buf[slot], var_buf[slot]
        return (a - mean) * torch.rsqrt(var + self.eps) * gain

    def extra_repr(self) -> str:
        opts = [f"{self.input_size}, {self.hidden_size}"]
        for name in ("peephole", "norm", "proj_size", "forget_bias"):
            value = getattr(self, name)
            if value:
                opts.append(f"{name}={value!r}")
        return ", ".join(opts)


def _layer_norm(x: Tensor, weight: Tensor, bias: Tensor | None, eps: float) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], weight, bias, eps)
