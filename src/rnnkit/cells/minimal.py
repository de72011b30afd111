r"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?").

Their gates read x_t only, never h_{t-1}, so over a whole sequence the state obeys the linear
recurrence h_t = a_t * h_{t-1} + b_t with a_t, b_t known in advance: the runner solves it for all
steps at once (``rnnkit.scan``), by a loop or by a parallel scan. ``recur`` is the same step
one at a time, for streaming and for the reference loop.

Both use the paper's log-space variant: the candidate state goes through
g(x) = x + 1/2 (x >= 0), sigmoid(x) (x < 0), which is positive, so every b_t > 0 and the scan
can work on logarithms. The state has no tanh: it is a convex mix of positive candidates.

With ``block=True`` a cell is one position of the paper's stacked block (their Fig. 2, as in
the authors' language models): the recurrence reads a layer-normalized input, a residual
connection adds the input back, and a position-wise MLP (expansion 4, GELU) with its own
layer norm and residual follows. The state is still the recurrence's h; the output is the
block's. When D != H the residual goes through a linear map.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import PROBE, TensorStateCell, check_flags, check_sizes
from rnnkit.scan.linear import DEFAULT_CHUNK, MODES

SCAN_MODES = ("auto", *MODES)


def g(x: Tensor) -> Tensor:
    """The paper's positive activation: x + 1/2 for x >= 0, sigmoid(x) below (continuous).

    Written relu(x) + sigmoid(min(x, 0)) (above 0 the sigmoid adds its 1/2): on the CPU
    three vectorized ops beat one ``torch.where`` several times over."""
    return torch.sigmoid(x.clamp(max=0)) + F.relu(x)


def g_backward(grad: Tensor, x: Tensor) -> Tensor:
    """grad * g'(x), where g'(x) = 1 for x > 0 and sigmoid'(x) for x <= 0 (autograd's value at
    0). Written as relu's backward of (grad - s) plus s, s = grad * sigmoid'(min(x, 0)): no
    boolean mask, whose comparison and mixed-type product cost 8x a float product on CPU."""
    sig = torch.sigmoid(x.clamp(max=0))
    s = sig.sub_(sig * sig).mul_(grad)
    return torch.ops.aten.threshold_backward(grad - s, x, 0).add_(s)


def log_g(x: Tensor) -> Tensor:
    """log g(x), computed without forming g(x) for very negative x."""
    return torch.where(x >= 0, (F.relu(x) + 0.5).log(), -F.softplus(-x))


class MinimalCell(TensorStateCell):
    """Shared parts of minGRU and minLSTM: the input projection, the optional block, the
    scan options. Subclasses give :meth:`log_coefficients` (log a_t, log b_t)."""

    num_gates: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        bias: bool = True,
        block: bool = False,
        mode: str = "auto",
        chunk_size: int = DEFAULT_CHUNK,
    ) -> None:
        super().__init__()
        check_sizes(input_size=input_size, hidden_size=hidden_size, chunk_size=chunk_size)
        check_flags(bias=bias, block=block)
        if mode not in SCAN_MODES:
            raise ValueError(f"mode: expected one of {SCAN_MODES}, got {mode!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.bias, self.block, self.mode, self.chunk_size = bias, block, mode, chunk_size
        G = self.num_gates
        self.weight_ih = nn.Parameter(torch.empty(G * hidden_size, input_size))
        self.bias_ih = nn.Parameter(torch.empty(G * hidden_size)) if bias else None
        if block:
            self.norm_in = nn.LayerNorm(input_size)
            self.skip = nn.Linear(input_size, hidden_size) if input_size != hidden_size else None
            self.norm_mlp = nn.LayerNorm(hidden_size)
            self.mlp = nn.Sequential(
                nn.Linear(hidden_size, 4 * hidden_size),
                nn.GELU(),
                nn.Linear(4 * hidden_size, hidden_size),
            )
        self.reset_parameters()

    def project_input(self, x: Tensor) -> Tensor:
        """(..., D) -> (..., G*H) gate pre-activations; with ``block``, x itself follows
        (..., G*H + D) so the step can add the residual."""
        if not self.block:
            return F.linear(x, self.weight_ih, self.bias_ih)
        return torch.cat([F.linear(self.norm_in(x), self.weight_ih, self.bias_ih), x], dim=-1)

    def resolve_mode(self, device: torch.device, steps: int) -> str:
        """The solver for a whole sequence of ``steps`` on ``device``: the cell's ``mode``, or
        for ``"auto"`` the fastest measured there (see BENCHMARKS.md)."""
        if self.mode != "auto":
            return self.mode
        return "sequential" if device.type == "cpu" else "chunked"

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """(log a_t, log b_t), each (..., H), from projected input ``xp``: the form the
        parallel scans take."""
        raise NotImplementedError

    def mix(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        """(a_t, c_t), each (..., H): the step is h_t = c_t + a_t (h_{t-1} - c_t), a convex
        mix of the old state and the candidate c_t = g(.) (so b_t = (1 - a_t) c_t)."""
        raise NotImplementedError

    def mix_backward(self, xp: Tensor, a: Tensor, d_a: Tensor, d_c: Tensor) -> list[Tensor]:
        """The gradients of the G gate pre-activations, each (..., H) in gate order, from
        those of a and c (``d_a``, ``d_c`` may be overwritten), for the fused loop
        (``rnnkit.scan.mix_sequential``), which differentiates by hand."""
        raise NotImplementedError

    def named_gates(self, a: Tensor) -> dict[str, Tensor]:
        """The paper's gates, by name, from a_t (the share of the old state kept)."""
        raise NotImplementedError

    def readout(self, h: Tensor, xp: Tensor) -> Tensor:
        """The output at each step from the state ``h`` (..., H): h itself, or the block's."""
        if not self.block:
            return h
        x = xp[..., self.num_gates * self.hidden_size :]
        y = h + (x if self.skip is None else self.skip(x))
        return y + self.mlp(self.norm_mlp(y))

    def recur(self, xp: Tensor, state: Tensor, valid: Tensor | None = None):
        a, c = self.mix(xp)
        h = torch.lerp(c, state, a)  # c + a (state - c)
        if (probe := PROBE.active) is not None:
            probe.gates(self, **self.named_gates(a))
        return self.readout(h, xp), h

    def extra_repr(self) -> str:
        opts = [f"{self.input_size}, {self.hidden_size}"]
        if self.block:
            opts.append("block=True")
        if self.mode != "auto":
            opts.append(f"mode={self.mode!r}")
        return ", ".join(opts)


class MinGRUCell(MinimalCell):
    r"""minGRU: a GRU whose update gate and candidate read only the input.

    .. math::
        z_t = \sigma(W_z x_t + b_z), \quad \tilde h_t = g(W_h x_t + b_h), \quad
        h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t

    Parameters: ``weight_ih`` (2H, D) and ``bias_ih`` (2H), gate order z, h~.
    Options: ``block`` (see the module docstring); ``mode`` how the runner solves a whole
    sequence (``"auto"``, ``"sequential"``, ``"scan"``, ``"chunked"``) and ``chunk_size``.

    Shapes: ``x`` (B, D), state ``h`` (B, H) -> ``(output, h_t)``, output (B, H).

    Example::

        >>> out, h = MinGRUCell(3, 5)(torch.randn(2, 3))
        >>> out.shape, torch.equal(out, h)
        (torch.Size([2, 5]), True)
    """

    num_gates = 2
    retain_gate = ("z", False)  # h = (1 - z) h_prev + z h~

    def named_gates(self, a):
        return {"z": 1 - a}

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        k_z, k_h = xp[..., :H], xp[..., H : 2 * H]
        # log(1 - sigmoid(k)) = -softplus(k) and log sigmoid(k) = -softplus(-k), exactly.
        return -F.softplus(k_z), -F.softplus(-k_z) + log_g(k_h)

    def mix(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        return torch.sigmoid(-xp[..., :H]), g(xp[..., H : 2 * H])  # a = 1 - z

    def mix_backward(self, xp, a, d_a, d_c):
        H = self.hidden_size
        # a = sigmoid(-k_z): da/dk_z = -a (1 - a).
        return [d_a.mul_(a * (a - 1)), g_backward(d_c, xp[..., H : 2 * H])]


class MinLSTMCell(MinimalCell):
    r"""minLSTM: forget and input gates read only the input, and are normalized to sum to 1
    (the paper's length-independent scaling), so the state needs no separate cell.

    .. math::
        f_t = \sigma(W_f x_t + b_f), \quad i_t = \sigma(W_i x_t + b_i), \quad
        \tilde h_t = g(W_h x_t + b_h) \\
        h_t = \frac{f_t}{f_t + i_t} \odot h_{t-1} + \frac{i_t}{f_t + i_t} \odot \tilde h_t

    Parameters: ``weight_ih`` (3H, D) and ``bias_ih`` (3H), gate order f, i, h~. Options and
    shapes as :class:`MinGRUCell`.
    """

    num_gates = 3
    retain_gate = ("f", True)

    def named_gates(self, a):
        # The normalized gates f / (f + i) and i / (f + i), the ones that mix the state.
        return {"f": a, "i": 1 - a}

    def log_coefficients(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        k_f, k_i, k_h = xp[..., :H], xp[..., H : 2 * H], xp[..., 2 * H : 3 * H]
        # log(i/f) = log sigmoid(k_i) - log sigmoid(k_f); then f/(f+i) = sigmoid(-log(i/f)).
        log_ratio = F.softplus(-k_f) - F.softplus(-k_i)
        return -F.softplus(log_ratio), -F.softplus(-log_ratio) + log_g(k_h)

    def mix(self, xp: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        k_f, k_i = xp[..., :H], xp[..., H : 2 * H]
        # f / (f + i) = sigmoid(log f - log i), with log sigmoid(k) = -softplus(-k).
        a = torch.sigmoid(F.softplus(-k_i) - F.softplus(-k_f))
        return a, g(xp[..., 2 * H : 3 * H])

    def mix_backward(self, xp, a, d_a, d_c):
        H = self.hidden_size
        k_f, k_i = xp[..., :H], xp[..., H : 2 * H]
        # a = sigmoid(u), u = softplus(-k_i) - softplus(-k_f): du/dk_f = sigmoid(-k_f),
        # du/dk_i = -sigmoid(-k_i).
        s = d_a.mul_(a * (1 - a))
        d_f = s * torch.sigmoid(-k_f)
        return [d_f, s.mul_(torch.sigmoid(k_i).sub_(1)), g_backward(d_c, xp[..., 2 * H : 3 * H])]
