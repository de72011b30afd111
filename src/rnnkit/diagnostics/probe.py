"""Recording a forward pass: every step's state and gate activations, per cell.

While :func:`recording` is active, every :class:`~rnnkit.layers.Recurrent` runs its reference
loop (the same results as its fast paths, to float rounding) and reports each step's state
to the probe, and cells report their gates. The probe keeps the state tensors with
``retain_grad()``, so after ``loss.backward()`` each holds dL/dh_t: the total gradient at
step t, through the outputs and all later steps.

Steps are counted per cell across calls, so a decoder run one step at a time records one
series, and so do chunks of truncated backpropagation. For a backward direction the loop
runs from each sequence's end, so its step 0 is the last input step.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from rnnkit.cells.base import PROBE


@dataclass
class CellRecord:
    """What one cell did over the recorded steps, in step order."""

    states: list[dict[str, Tensor]] = field(default_factory=list)
    """Per step: ``"h"`` (B, H_out) and, for LSTMs, the cell state ``"c"`` (B, H)."""
    valid: list[Tensor | None] = field(default_factory=list)
    """Per step: (B,) bool, the sequences still running (None: all of them)."""
    gates: dict[str, list[Tensor]] = field(default_factory=lambda: defaultdict(list))
    """Gate name -> per step, its activations (B, H), detached."""

    def grad_norms(self, name: str = "h") -> list[float]:
        """||dL/d state_t|| per step: each live sequence's L2 norm, averaged over them; NaN
        where no gradient reached the state (a step run without a graph)."""
        out = []
        for states, valid in zip(self.states, self.valid, strict=True):
            grad = states[name].grad if name in states else None
            if grad is None:
                out.append(float("nan"))
                continue
            norms = grad.detach().float().flatten(1).norm(dim=1)  # (B,)
            if valid is not None:
                norms = norms[valid]
            out.append(norms.mean().item() if norms.numel() else float("nan"))
        return out

    def gate_activations(self, name: str) -> Tensor:
        """All recorded activations of gate ``name`` at live steps, flattened to 1-D."""
        parts = []
        # A cell stepped by hand (not by a runner) reports gates but no states: count all rows.
        valids = self.valid if len(self.valid) == len(self.gates[name]) else [None] * len(
            self.gates[name])  # fmt: skip
        for values, valid in zip(self.gates[name], valids, strict=True):
            parts.append((values if valid is None else values[valid]).flatten())
        return torch.cat(parts) if parts else torch.empty(0)


class Probe:
    """Collects :class:`CellRecord` s by cell while recording (see the module docstring)."""

    def __init__(self) -> None:
        self.records: dict[nn.Module, CellRecord] = {}

    def record(self, cell: nn.Module) -> CellRecord:
        if cell not in self.records:
            self.records[cell] = CellRecord()
        return self.records[cell]

    def step(self, cell: nn.Module, state, valid: Tensor | None) -> None:
        """Called by the runner after each step with the new state. The carried state is
        recorded, not the step's output: with minGRU's block the output is the block's
        readout, which reaches no later step."""
        states = {"h": state if isinstance(state, Tensor) else state[0]}
        if isinstance(state, tuple) and len(state) >= 2 and isinstance(state[1], Tensor):
            states["c"] = state[1]  # LSTM cell state: the path long gradients take
        for t in states.values():
            if t.requires_grad:
                t.retain_grad()
        rec = self.record(cell)
        rec.states.append(states)
        rec.valid.append(None if valid is None else valid.detach().clone())

    def gates(self, cell: nn.Module, **gates: Tensor) -> None:
        """Called by a cell in each step with its gate activations, e.g. ``i=..., f=...``."""
        rec = self.record(cell)
        for name, value in gates.items():
            rec.gates[name].append(value.detach())


@contextlib.contextmanager
def recording() -> Iterator[Probe]:
    """Record every recurrent step run inside the block.

    Example::

        >>> rnn = Recurrent("lstm", 3, 8)
        >>> with recording() as probe:
        ...     out, _ = rnn(torch.randn(2, 5, 3))
        ...     out.sum().backward()
        >>> len(probe.records[rnn.cells[0]].grad_norms())
        5
    """
    probe, outer = Probe(), PROBE.active
    PROBE.active = probe
    try:
        yield probe
    finally:
        PROBE.active = outer
