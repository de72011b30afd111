r"""Initializers by name, for one cell or every cell inside a module (a ``Recurrent``, a model).

:func:`initialize` sets the torch.nn-layout parameters of each :class:`RecurrentCell` it finds:
``weight_ih`` (G*H, D), ``weight_hh`` (G*H, P or H), ``weight_hr`` (P, H) and the biases
``bias_ih``, ``bias_hh`` (G*H). Other parameters (peepholes, normalization gains and shifts)
keep their values.

**Every weight initializer works per gate block.** ``weight_ih`` and ``weight_hh`` are G blocks
stacked on dim 0, one per gate (LSTM i, f, g, o; GRU r, z, n); each gate is its own linear map,
so each block gets its own matrix: an orthogonal ``weight_hh`` has G orthogonal (H, H) blocks
(one orthogonal (G*H, H) matrix would shrink every gate's block, to singular values of about
1/sqrt(G)), and Xavier counts a block's own fans, ``fan_in`` = D (or H) and ``fan_out`` = H,
not G*H. haste initializes its LSTM and GRU this way; Keras treats the (D, G*H) kernel as one
matrix.

Weight initializers (``input_weights`` for ``weight_ih``; ``recurrent_weights`` for
``weight_hh`` and, with a projection, ``weight_hr``, which lies on the recurrent path):

- ``"xavier_uniform"``: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)
- ``"xavier_normal"``: N(0, gain^2 * 2 / (fan_in + fan_out))
- ``"kaiming_uniform"``: U(-a, a), a = gain * sqrt(6 / fan_in) (He et al. 2015, ReLU gain)
- ``"kaiming_normal"``: N(0, gain^2 * 2 / fan_in)
- ``"orthogonal"``: gain * a random orthogonal matrix (Saxe et al. 2014); for a non-square
  (rows, cols) block the rows (rows <= cols) or the columns (rows > cols) are orthonormal
- ``"identity"``: gain * I (IRNN, Le et al. 2015: a ReLU RNN that starts by copying its state);
  a non-square block gets gain * ``torch.nn.init.eye_`` (ones on the main diagonal)
- ``"uniform"``: torch.nn's default U(-a, a), a = gain / sqrt(H) (also for ``weight_hr``)
- ``"keep"``: leave as is

Bias initializers (``bias``): ``"zeros"``, ``"keep"``, or ``"chrono"`` (Tallec & Ollivier 2018,
*Can recurrent neural networks warp time?*). A gate that keeps a fraction f of its memory per
step remembers for about T = 1 / (1 - f) steps; chrono spreads these time scales over
[2, t_max] by drawing u ~ U(1, t_max - 1) per unit and setting:

- LSTM: forget bias b_f = log(u) (so sigmoid(b_f) = 1 - 1/(1 + u)), input bias b_i = -b_f,
  other gates 0. The values go in ``bias_ih``; ``bias_hh`` is zero, so the sums are exact.
- GRU: the update gate z plays the forget gate's part, since ``h = (1 - z) n + z h_prev``
  keeps a fraction z of the old state: b_z = log(u), other gates 0. There is no separate input
  gate, (1 - z) is already tied to z, so nothing corresponds to b_i = -b_f.
- minLSTM: as the LSTM (gate order f, i): b_f = log(u), b_i = -b_f.
- minGRU: ``h = (1 - z) h_prev + z h~`` keeps a fraction 1 - z, so b_z = -log(u).
- Cells without a forget-like gate (RNN) get zeros.

minGRU and minLSTM have no recurrent weights: ``recurrent_weights`` has nothing to set there.

``forget_bias=c`` sets the LSTM forget-gate bias to the constant c (``bias_ih`` = c,
``bias_hh`` = 0 there) after ``bias`` has been applied, as Jozefowicz et al. 2015 recommend
(c = 1); the other cells are untouched by it.

Example::

    >>> rnn = Recurrent("lstm", 8, 32, num_layers=2)
    >>> rnn = initialize(rnn, bias="chrono", t_max=100)
    >>> irnn = initialize(Recurrent("rnn", 8, 32, nonlinearity="relu"),
    ...                   recurrent_weights="identity")
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Literal, TypeVar, get_args

import torch
from torch import Tensor, nn

from rnnkit.cells import GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, RecurrentCell

WeightInit = Literal[
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
    "identity",
    "uniform",
    "keep",
]
BiasInit = Literal["zeros", "chrono", "keep"]
WEIGHT_INITS: tuple[str, ...] = get_args(WeightInit)
BIAS_INITS: tuple[str, ...] = get_args(BiasInit)

# Index of the gate that decides how much old state survives a step, per cell class; the
# index of the gate chrono sets to minus that bias (None: the cell has no independent one).
_FORGET_GATE: dict[type[RecurrentCell], tuple[int | None, int | None]] = {
    LSTMCell: (1, 0),  # i, f, g, o: forget f, input i
    GRUCell: (1, None),  # r, z, n: update z; its input side is 1 - z
    MinLSTMCell: (0, 1),  # f, i, h~
    MinGRUCell: (None, 0),  # z, h~: z is the input side, its keep side is 1 - z
}

M = TypeVar("M", bound=nn.Module)


def initialize(
    module: M,
    *,
    input_weights: WeightInit = "xavier_uniform",
    recurrent_weights: WeightInit = "orthogonal",
    bias: BiasInit = "zeros",
    forget_bias: float | None = None,
    t_max: float | None = None,
    gain: float = 1.0,
) -> M:
    """Initialize every :class:`RecurrentCell` in ``module`` (or ``module`` itself) in place.

    Args:
        module: a cell, a :class:`Recurrent`, or any module containing cells.
        input_weights: initializer for each gate block (H, D) of ``weight_ih``.
        recurrent_weights: initializer for each gate block (H, P or H) of ``weight_hh`` and for
            ``weight_hr`` (P, H).
        bias: ``"zeros"``, ``"chrono"`` (needs ``t_max``) or ``"keep"``.
        forget_bias: if given, a constant LSTM forget-gate bias (not with ``bias="chrono"``).
        t_max: the longest dependency, in steps, that chrono should cover (>= 2).
        gain: scale of every weight initializer (the diagonal of ``"identity"``).

    Returns:
        ``module``, for chaining.

    Raises:
        ValueError: naming the argument, for an unknown name, a missing or too small ``t_max``,
            or a module without cells (or, for ``chrono`` / ``forget_bias``, without gated cells
            that have biases).

    Example::

        >>> cell = initialize(LSTMCell(4, 8), recurrent_weights="orthogonal", forget_bias=1.0)
        >>> cell.bias_ih[8:16].tolist() == [1.0] * 8
        True
    """
    _check_choice("input_weights", input_weights, WEIGHT_INITS)
    _check_choice("recurrent_weights", recurrent_weights, WEIGHT_INITS)
    _check_choice("bias", bias, BIAS_INITS)
    if isinstance(gain, bool) or not isinstance(gain, Real) or not gain > 0:
        raise ValueError(f"gain: expected a positive number, got {gain!r}")
    if bias == "chrono":
        if t_max is None:
            raise ValueError("t_max: bias='chrono' needs t_max (the longest dependency, >= 2)")
        if isinstance(t_max, bool) or not isinstance(t_max, Real) or not t_max >= 2:
            raise ValueError(f"t_max: expected a number >= 2, got {t_max!r}")
    elif t_max is not None:
        raise ValueError(f"t_max: only used with bias='chrono', got t_max={t_max!r}, bias={bias!r}")
    if forget_bias is not None:
        if isinstance(forget_bias, bool) or not isinstance(forget_bias, Real):
            raise ValueError(f"forget_bias: expected a number or None, got {forget_bias!r}")
        if bias == "chrono":
            raise ValueError(
                f"forget_bias: bias='chrono' sets the forget gate itself; got forget_bias="
                f"{forget_bias!r} with it (pass one or the other)"
            )

    cells = [m for m in module.modules() if isinstance(m, RecurrentCell)]
    if not cells:
        raise ValueError(
            f"module: expected a RecurrentCell or a module containing one, got "
            f"{type(module).__name__}"
        )
    gated = [c for c in cells if _gates(c) is not None and c.bias_ih is not None]
    if bias == "chrono" and not gated:
        raise ValueError(f"bias: 'chrono' needs LSTM or GRU cells with biases, got {_kinds(cells)}")
    lstm = [c for c in gated if isinstance(c, LSTMCell)]
    if forget_bias is not None and not lstm:
        raise ValueError(
            f"forget_bias: needs LSTM cells with biases (the forget gate), got {_kinds(cells)}"
        )

    with torch.no_grad():
        for cell in cells:
            H = cell.hidden_size
            _init_blocks(cell.weight_ih, H, input_weights, gain, H)
            if getattr(cell, "weight_hh", None) is not None:  # minGRU/minLSTM have none
                _init_blocks(cell.weight_hh, H, recurrent_weights, gain, H)
            weight_hr = getattr(cell, "weight_hr", None)
            if weight_hr is not None:  # one block: the projection is not split by gate
                _init_blocks(weight_hr, weight_hr.shape[0], recurrent_weights, gain, H)
            if bias != "keep" and cell.bias_ih is not None:
                cell.bias_ih.zero_()
                if getattr(cell, "bias_hh", None) is not None:
                    cell.bias_hh.zero_()
            if bias == "chrono" and cell in gated:
                _chrono(cell, t_max)
            if forget_bias is not None and cell in lstm:
                cell.bias_ih[H : 2 * H] = forget_bias
                cell.bias_hh[H : 2 * H] = 0.0
    return module


# -- helpers -----------------------------------------------------------------------------------
def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}")


def _gates(cell: RecurrentCell) -> tuple[int, int | None] | None:
    for cls, gates in _FORGET_GATE.items():
        if isinstance(cell, cls):
            return gates
    return None


def _kinds(cells: list[RecurrentCell]) -> str:
    names = dict.fromkeys(
        f"{type(c).__name__}{'' if c.bias_ih is not None else '(bias=False)'}" for c in cells
    )
    return ", ".join(names)


def _chrono(cell: RecurrentCell, t_max: float) -> None:
    H = cell.hidden_size
    forget, opposite = _gates(cell)
    # Drawn in float64 on the CPU so a seed gives the same values on every device and dtype.
    b = torch.empty(H, dtype=torch.float64).uniform_(1.0, t_max - 1.0).log_()
    b = b.to(cell.bias_ih)
    if forget is not None:
        cell.bias_ih[forget * H : (forget + 1) * H] = b
    if opposite is not None:
        cell.bias_ih[opposite * H : (opposite + 1) * H] = -b


def _init_blocks(weight: Tensor, rows: int, name: str, gain: float, hidden_size: int) -> None:
    """Fill each (rows, cols) block along dim 0 of ``weight`` with its own ``name`` matrix."""
    if name == "keep":
        return
    for block in weight.split(rows, dim=0):
        # A float32/float64 scratch tensor: QR (orthogonal) has no half-precision kernels.
        dtype = torch.promote_types(block.dtype, torch.float32)
        fresh = torch.empty(block.shape, dtype=dtype, device=block.device)
        _WEIGHT_INITS[name](fresh, gain, hidden_size)
        block.copy_(fresh)


def _kaiming_uniform(w: Tensor, gain: float, hidden_size: int) -> None:
    bound = gain * math.sqrt(6.0 / w.shape[1])
    nn.init.uniform_(w, -bound, bound)


def _kaiming_normal(w: Tensor, gain: float, hidden_size: int) -> None:
    nn.init.normal_(w, 0.0, gain * math.sqrt(2.0 / w.shape[1]))


def _identity(w: Tensor, gain: float, hidden_size: int) -> None:
    nn.init.eye_(w).mul_(gain)


def _uniform(w: Tensor, gain: float, hidden_size: int) -> None:
    # torch.nn's RNN default bounds every weight, weight_hr (P, H) included, by 1/sqrt(H).
    bound = gain / math.sqrt(hidden_size)
    nn.init.uniform_(w, -bound, bound)


# Each takes (block, gain, hidden_size) and fills the block in place.
_WEIGHT_INITS: dict[str, Callable[[Tensor, float, int], object]] = {
    "xavier_uniform": lambda w, gain, _: nn.init.xavier_uniform_(w, gain=gain),
    "xavier_normal": lambda w, gain, _: nn.init.xavier_normal_(w, gain=gain),
    "kaiming_uniform": _kaiming_uniform,
    "kaiming_normal": _kaiming_normal,
    "orthogonal": lambda w, gain, _: nn.init.orthogonal_(w, gain=gain),
    "identity": _identity,
    "uniform": _uniform,
}
