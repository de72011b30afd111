"""The cell interface and the typed states every cell and runner share.

Glossary used in every docstring: B batch, T time, D input features, H hidden units,
P projection size (LSTMP), G gates per cell (RNN 1, GRU 3, LSTM 4), L layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F


class LSTMState(NamedTuple):
    """State of an LSTM: ``h`` (B, P or H) output and ``c`` (B, H) cell."""

    h: Tensor
    c: Tensor


class BNLSTMState(NamedTuple):
    """State of a batch-normalized LSTM: ``h``, ``c`` and the time ``step`` (an int).

    The step selects the per-time-step normalization statistics, so streaming a sequence in
    chunks uses the same statistics as feeding it whole.
    """

    h: Tensor
    c: Tensor
    step: int


State = Any  # Tensor (RNN, GRU) or one of the NamedTuples above


class _ProbeSlot:
    """Where ``rnnkit.diagnostics.recording`` puts its probe (one per process)."""

    active: Any = None


# The probe that records a forward pass for gradient-flow diagnostics
# (``rnnkit.diagnostics.Probe``) is ``PROBE.active``, or None. While one is set, the runner
# takes the reference loop and reports every step's state to it (``probe.step``), and cells
# report their gate activations (``probe.gates``); otherwise this costs one attribute lookup
# per step. A plain attribute, not a ContextVar: torch.export traces through attribute reads
# but not through ContextVar.get.
PROBE = _ProbeSlot()


def map_state(fn: Callable[[Tensor], Tensor], state: State) -> State:
    """Apply ``fn`` to every tensor in ``state`` (other fields pass through unchanged).

    Beam search uses it to reorder states (``lambda t: t.index_select(0, idx)``) without knowing
    the model; truncated BPTT uses it to detach.
    """
    if isinstance(state, Tensor):
        return fn(state)
    if isinstance(state, tuple):
        values = [map_state(fn, v) if isinstance(v, (Tensor, tuple)) else v for v in state]
        return type(state)(*values) if hasattr(state, "_fields") else type(state)(values)
    if state is None:
        return None
    raise TypeError(f"state: expected a Tensor or a tuple of Tensors, got {type(state).__name__}")


def detach(state: State) -> State:
    """Cut the autograd graph behind ``state`` (truncated backpropagation through time)."""
    return map_state(Tensor.detach, state)


def check_input(
    x: Tensor, name: str, feature_size: int, ndim: tuple[int, ...], batch_dim: int = 0
) -> None:
    """Raise a ValueError naming ``name`` unless ``x`` is a float tensor of the given rank and
    last dimension with a non-empty batch (axis ``batch_dim``: 1 for time-major input)."""
    if not isinstance(x, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(
            f"{name}: expected a floating-point tensor, got dtype {x.dtype} "
            "(embed integer token ids first, e.g. with nn.Embedding)"
        )
    if x.dim() not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise ValueError(f"{name}: expected a {want} tensor, got shape {tuple(x.shape)}")
    if x.shape[-1] != feature_size:
        raise ValueError(
            f"{name}: expected last dimension (features) {feature_size}, got shape {tuple(x.shape)}"
        )
    if x.dim() >= 2 and x.shape[batch_dim] == 0:
        raise ValueError(f"{name}: empty batch (shape {tuple(x.shape)})")


def check_shape(t: Tensor, name: str, expected: tuple[int, ...]) -> None:
    """Raise a ValueError naming ``name`` unless ``t`` has exactly the ``expected`` shape."""
    if not isinstance(t, Tensor):
        raise ValueError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    if tuple(t.shape) != tuple(expected):
        raise ValueError(f"{name}: expected shape {tuple(expected)}, got {tuple(t.shape)}")


class RecurrentCell(nn.Module):
    """One time step of a recurrent network: ``cell(x_t, state) -> (h_t, new_state)``.

    A cell splits its step in two so that runners can hoist work out of the time loop:
    :meth:`project_input` (a function of ``x_t`` only, applied to all T steps in one matmul) and
    :meth:`recur` (the recurrence proper). ``forward`` is exactly ``recur(project_input(x))``.

    Subclasses set ``input_size``, ``hidden_size``, ``output_size`` (the size of ``h_t``) and
    ``num_gates``, and implement the three methods below.
    """

    input_size: int
    hidden_size: int
    output_size: int
    num_gates: int
    # The gate that decides how much of the old state a step keeps, as (name, high_keeps): for
    # the diagnostics' advice ("most forget gates are closed"); None for cells without one.
    retain_gate: tuple[str, bool] | None = None
    # The gates' names in the order of weight_ih/weight_hh's row blocks.
    gate_order: tuple[str, ...] = ()

    def initial_state(
        self, batch: int, *, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> State:
        """Zero state for a batch of ``batch`` sequences."""
        raise NotImplementedError

    def project_input(self, x: Tensor) -> Tensor:
        """Input part of the pre-activations: (..., D) -> (..., G*H)."""
        raise NotImplementedError

    def recur(self, xp: Tensor, state: State, valid: Tensor | None = None) -> tuple[Tensor, State]:
        """Advance one step from projected input ``xp`` (B, G*H).

        ``valid`` (B,) bool marks the rows that are real time steps (the rest are padding); only
        cells with batch statistics need it, the runner itself keeps padded rows' state.
        """
        raise NotImplementedError

    def check_state(self, state: State, batch: int) -> None:
        """Raise a ValueError naming the state field whose shape is wrong."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        """One step. ``x`` (B, D), ``state`` as from :meth:`initial_state` (zeros if None).

        Returns ``(h_t, new_state)`` with ``h_t`` (B, output_size).
        """
        check_input(x, "x", self.input_size, ndim=(2,))
        weight = self.weight_ih
        if x.device != weight.device or (
            x.dtype != weight.dtype and not torch.is_autocast_enabled(x.device.type)
        ):
            raise ValueError(
                f"x: expected {weight.dtype} on {weight.device} (the parameters'), "
                f"got {x.dtype} on {x.device}"
            )
        if state is None:
            state = self.initial_state(x.shape[0], device=x.device, dtype=x.dtype)
        else:
            self.check_state(state, x.shape[0])
            named = (
                [("state", state)]
                if isinstance(state, Tensor)
                else [("state.h", state[0]), ("state.c", state[1])]
            )
            for name, t in named:
                if t.dtype != x.dtype or t.device != x.device:
                    raise ValueError(
                        f"{name}: expected {x.dtype} on {x.device} (the input's), "
                        f"got {t.dtype} on {t.device}"
                    )
        return self.recur(self.project_input(x), state)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def check_sizes(**sizes: int) -> None:
    """Raise a ValueError naming the first size that is not a positive integer."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")


def check_flags(**flags: bool) -> None:
    """Raise a ValueError naming the first flag that is not a bool ("False" is truthy)."""
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise ValueError(f"{name}: expected True or False, got {value!r}")


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


class TensorStateCell(RecurrentCell):
    """Shared plumbing of the cells whose state is their output ``h`` (B, H): RNN and GRU."""

    def reset_parameters(self) -> None:
        uniform_init(self)

    def initial_state(self, batch, *, device=None, dtype=None) -> Tensor:
        return torch.zeros(batch, self.hidden_size, device=device, dtype=dtype)

    def check_state(self, state, batch: int) -> None:
        check_shape(state, "state", (batch, self.hidden_size))

    def project_input(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_ih, self.bias_ih)
