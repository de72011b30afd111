"""Remedies for what :func:`~rnnkit.diagnostics.diagnose` measured, ranked, each tied to the
measurement that calls for it and named by the ``rnnkit train`` flag that applies it.

The ranking follows the literature on long-range training (Pascanu et al. 2013 on clipping and
spectra; Le et al. 2015, IRNN; Tallec & Ollivier 2018, chrono initialization; Ba et al. 2016,
layer normalization; Bahdanau et al. 2015 and Yang et al. 2016, attention): the remedy that
removes the measured cause comes first, then the ones that work around it.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from rnnkit.cells import GRUCell, LSTMCell, MinGRUCell, MinLSTMCell, RNNCell
from rnnkit.diagnostics.measure import CLOSED, Diagnosis, _times


def advise(d: Diagnosis, cells: dict[str, nn.Module], context: dict[str, Any]) -> list[str]:
    """Advice for diagnosis ``d`` of a model with ``cells`` (name -> cell module); ``context``
    holds training settings (see :func:`~rnnkit.diagnostics.diagnose`)."""
    T = context.get("steps") or d.steps
    vanilla = [n for n, c in cells.items() if isinstance(c, RNNCell)]
    gated = [n for n, c in cells.items() if isinstance(c, (LSTMCell, GRUCell, MinGRUCell,
                                                          MinLSTMCell))]  # fmt: skip
    lstm = any(isinstance(c, LSTMCell) for c in cells.values())
    radius = max((s.radius for blocks in d.spectra.values() for s in blocks.values()), default=None)
    worst = min(d.cells, key=lambda c: c.ratio if c.ratio == c.ratio else 1.0)
    keep = _retention(d, cells)  # (name, mean kept share, share closed) of the worst gate
    sequence_head = context.get("head", "sequence") == "sequence"
    out: list[str] = []
    if d.verdict == "exploding":
        if not context.get("clip"):
            out.append(
                f"clip gradients (--clip 1.0): {d.reason}; clipping the global norm caps each "
                "update without changing its direction (Pascanu et al. 2013)"
            )
        if radius is not None and radius > 1:
            out.append(
                f"orthogonal initialization (--init orthogonal): the largest spectral radius of a "
                f"recurrent weight block is {radius:.2f} > 1, so the gradient can grow about "
                f"that much per step; orthogonal matrices start it at 1"
            )
        if vanilla:
            out.append(
                "a gated cell (--cell lstm or --cell gru): its additive state update keeps the "
                "backward product from compounding through W_hh at every step"
            )
        if lstm and context.get("norm", "none") == "none":
            out.append(
                "layer normalization (--norm layer): keeps the gate pre-activations at a fixed "
                "scale whatever the weights grow to"
            )
        if not context.get("tbptt") and T > 50:
            out.append(
                f"truncated backpropagation (--tbptt {max(T // 4, 10)}): bounds the number of "
                f"steps over which the gradient compounds ({T} now)"
            )
    elif d.verdict == "vanishing":
        fall = (
            f"the gradient at the first step is {_times(worst.ratio)} the last step's "
            f"({len(worst.grad_norms)} steps)"
        )
        if vanilla:
            out.append(
                f"a gated cell (--cell lstm or --cell gru): {fall} through a vanilla RNN, whose "
                "only way back is W_hh times tanh' at every step"
            )
            if radius is not None and radius < 1:
                out.append(
                    f"orthogonal initialization (--init orthogonal): the recurrent matrix's "
                    f"spectral radius is {radius:.2f}, so the gradient shrinks by about that "
                    f"factor per step; orthogonal starts it at 1"
                )
            out.append(
                "identity initialization with ReLU (IRNN: --init identity --nonlinearity relu, "
                "Le et al. 2015): the state is copied forward unchanged at first"
            )
        if gated and keep is not None:
            gate, mean_keep, closed = keep
            memory = 1 / max(1 - mean_keep, 1e-6)
            if context.get("init") != "chrono" and memory < T:
                out.append(
                    f"chrono initialization (--init chrono, T_max = {T}): {fall}; {gate} keeps "
                    f"{mean_keep:.0%} of the state per step on average ({closed:.0%} of its "
                    f"activations below {CLOSED}), a memory of about {memory:.0f} steps, far "
                    f"short of {T} (Tallec & Ollivier 2018)"
                )
            if lstm and context.get("forget_bias") is None and context.get("init") != "chrono":
                out.append(
                    "a forget-gate bias of 1 (--forget-bias 1.0, Jozefowicz et al. 2015): a "
                    "milder version of the same fix"
                )
        if sequence_head and context.get("pooling", "last") != "attention":
            out.append(
                "attention pooling (--pooling attention): the head reads every step's output "
                f"directly, so early inputs need not survive {T} steps of recurrence"
            )
        if lstm and context.get("norm", "none") == "none" and _saturated(d) > 0.5:
            out.append(
                f"layer normalization (--norm layer): {_saturated(d):.0%} of all gate "
                "activations are saturated (below 0.05 or above 0.95), where their derivative "
                "is nearly 0"
            )
    else:
        out.append(f"none needed: {d.reason}")
    return out


def _retention(d: Diagnosis, cells: dict[str, nn.Module]) -> tuple[str, float, float] | None:
    """The gate that keeps the old state, in the cell that keeps least: (``"f of
    encoder.cells.0"``, mean share kept, share of activations that keep < 5%)."""
    found = []
    for name, cell in cells.items():
        spec = getattr(cell, "retain_gate", None)
        stats = d.saturation.get(name, {})
        if spec is None or spec[0] not in stats:
            continue
        gate, high_keeps = spec
        s = stats[gate]
        mean_keep = s.mean if high_keeps else 1 - s.mean
        closed = s.closed if high_keeps else s.open
        found.append((f"the {gate} gate of {name}", mean_keep, closed))
    return min(found, key=lambda f: f[1]) if found else None


def _saturated(d: Diagnosis) -> float:
    """Mean share of saturated activations over all recorded gates."""
    shares = [s.closed + s.open for gates in d.saturation.values() for s in gates.values()]
    return sum(shares) / len(shares) if shares else 0.0
