"""Measure a model's gradient flow on one batch: ||dL/dh_t|| per step and layer, gradient norms
per parameter, gate saturation, recurrent spectra; then the verdict and the advice.

The verdict reads the ratio r = ||dL/dh_first|| / ||dL/dh_last|| of each recorded cell (its
first and last steps in loop order, averaged over the live sequences; for LSTMs the cell
state c_t, through which their long-range gradient travels):

- ``exploding`` if any gradient is not finite, or r > ``EXPLODING`` (1e3) for some cell: the
  gradient grows more than a thousandfold on its way back;
- ``vanishing`` if r < ``VANISHING`` (1e-3) for some cell: the first step receives less than
  a thousandth of what the last one does;
- ``healthy`` otherwise.

For tasks with a loss at every step (tagging, language models) each h_t also receives its own
step's gradient, so r understates how little crosses many steps; the per-step profile shows
it. Gates count as saturated below ``CLOSED`` (0.05) or above ``OPEN`` (0.95).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from rnnkit.cells.base import RecurrentCell
from rnnkit.diagnostics.probe import CellRecord, recording

VANISHING = 1e-3
EXPLODING = 1e3
CLOSED, OPEN = 0.05, 0.95

Verdict = Literal["vanishing", "exploding", "healthy"]


@dataclass
class CellFlow:
    """The gradient through time of one cell (one layer and direction)."""

    name: str
    """The cell's module path, e.g. ``encoder.cells.0``."""
    kind: str
    """Its class, e.g. ``LSTMCell``."""
    layer: int
    direction: int
    """0 forward, 1 backward (whose step 0 is each sequence's last input)."""
    grad_norms: list[float]
    """||dL/dh_t|| for t = 0 .. T-1 (mean over the live sequences)."""
    cell_grad_norms: list[float] | None = None
    """LSTMs: ||dL/dc_t|| likewise (the cell state, where long gradients travel)."""

    @property
    def carrier(self) -> list[float]:
        """The series the verdict reads: ||dL/dc_t|| for LSTMs (their long-range gradient
        travels through c; h_t reaches later steps only through the gates), else
        ||dL/dh_t||."""
        return self.cell_grad_norms if self.cell_grad_norms is not None else self.grad_norms

    @property
    def ratio(self) -> float:
        """The carrier's norm at its first step over its norm at its last step, among the
        steps a gradient reached (padding-only steps and steps run without a graph have
        none: NaN); NaN if fewer than two such steps, infinite if the gradient is."""
        seen = [v for v in self.carrier if not math.isnan(v)]
        if len(seen) < 2:
            return float("nan")
        first, last = seen[0], seen[-1]
        if math.isinf(first) or math.isinf(last):
            return float("inf")
        if last == 0:
            return float("inf") if first > 0 else float("nan")
        return first / last


@dataclass
class GateStats:
    """One gate's activations over the batch's live steps."""

    closed: float
    """Fraction below 0.05."""
    open: float
    """Fraction above 0.95."""
    mean: float


@dataclass
class Spectrum:
    """One recurrent weight block (one gate's H x H part of ``weight_hh``)."""

    norm: float
    """Largest singular value."""
    radius: float
    """Largest eigenvalue modulus (with a projection: of the block times ``weight_hr``)."""


@dataclass
class Diagnosis:
    """What :func:`diagnose` measured and concluded; ``to_json`` / ``summary`` to keep it."""

    verdict: Verdict
    reason: str
    loss: float
    batch: int
    steps: int
    cells: list[CellFlow]
    parameters: dict[str, float]
    """Gradient L2 norm of each parameter, by name."""
    saturation: dict[str, dict[str, GateStats]]
    """Cell name -> gate name -> statistics."""
    spectra: dict[str, dict[str, Spectrum]]
    """Cell name -> gate name -> spectral norm and radius of its recurrent block."""
    advice: list[str] = field(default_factory=list)
    """Remedies, most promising first, each tied to a measurement."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for flow, item in zip(self.cells, out["cells"], strict=True):
            item["ratio"] = flow.ratio
        return out

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(_finite(self.to_dict()), indent=1) + "\n")
        return path

    def summary(self) -> str:
        """A few lines for people: verdict, per-cell ratios, saturation, spectra, advice."""
        lines = [
            f"verdict: {self.verdict} ({self.reason})",
            f"loss {self.loss:.4g} on a batch of {self.batch}, {self.steps} steps",
        ]
        for c in self.cells:
            where = f"{c.name} ({c.kind}, layer {c.layer}{', backward' if c.direction else ''})"
            series = [("h", c.grad_norms)]
            if c.cell_grad_norms is not None:
                series.append(("c", c.cell_grad_norms))
            text = "; ".join(
                f"||dL/d{s}|| {v[-1]:.2e} at the last step, {v[0]:.2e} at the first"
                for s, v in series
            )
            lines.append(f"  {where}: {text} (ratio {c.ratio:.1e})")
        for name, gates in self.saturation.items():
            text = ", ".join(
                f"{g} {s.closed:.0%} closed / {s.open:.0%} open (mean {s.mean:.2f})"
                for g, s in gates.items()
            )
            lines.append(f"  gates of {name}: {text}")
        for name, blocks in self.spectra.items():
            text = ", ".join(f"{g} {s.norm:.2f} / {s.radius:.2f}" for g, s in blocks.items())
            lines.append(f"  recurrent weights of {name} (spectral norm / radius): {text}")
        if self.advice:
            lines.append("advice, most promising first:")
            lines += [f"  {i}. {a}" for i, a in enumerate(self.advice, 1)]
        return "\n".join(lines)


def _times(ratio: float) -> str:
    """``1.2e-05 times``, or ``0 times (below float32's range)`` when it underflowed."""
    return f"{ratio:.1e} times" if ratio > 0 else "0 times (below float32's range)"


def _finite(obj: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


# -- measuring -------------------------------------------------------------------------------


def diagnose(
    model: nn.Module,
    x: Any,
    y: Any,
    loss_fn: Callable[[Tensor, Any], Tensor],
    *,
    context: dict[str, Any] | None = None,
) -> Diagnosis:
    """Run ``loss_fn(model(x), y)`` forward and backward once while recording, and diagnose.

    Args:
        model: any module whose recurrent layers are :class:`~rnnkit.layers.Recurrent`
            (their reference loop runs, so every step's state is seen; results agree with the
            fast paths to float rounding). Dropout is off (eval mode) during the pass; the
            parameters' ``.grad`` are overwritten.
        x: the model's input (a tuple is passed as separate arguments).
        context: what the advice may mention, from the training config: ``steps`` (T),
            ``clip``, ``init``, ``pooling``, ``head``, ``norm``, ``forget_bias``, ``tbptt``.

    Returns:
        A :class:`Diagnosis`.
    """
    from rnnkit.diagnostics.advice import advise

    was_training = model.training
    model.eval()
    model.zero_grad(set_to_none=True)
    try:
        with recording() as probe:
            out = model(*x) if isinstance(x, tuple) else model(x)
            loss = loss_fn(out, y)
            loss.backward()
    finally:
        model.train(was_training)
    names = cell_names(model)
    cells = [_flow(cell, rec, names) for cell, rec in probe.records.items() if rec.states]
    if not cells:
        raise ValueError(
            "model: no recurrent layer ran (diagnostics cover rnnkit.layers.Recurrent over "
            "time; Tree-LSTMs and plain modules record nothing)"
        )
    parameters = {
        name: p.grad.detach().float().norm().item()
        for name, p in model.named_parameters()
        if p.grad is not None
    }
    saturation = {names[c][0]: gate_stats(rec) for c, rec in probe.records.items() if rec.gates}
    spectra = {
        names[c][0]: spectra_of(c)
        for c in probe.records
        if getattr(c, "weight_hh", None) is not None
    }
    verdict, reason = judge(cells, parameters, loss.item())
    d = Diagnosis(
        verdict=verdict,
        reason=reason,
        loss=loss.item(),
        batch=_batch_size(x),
        steps=max(len(c.grad_norms) for c in cells),
        cells=cells,
        parameters=parameters,
        saturation=saturation,
        spectra=spectra,
    )
    kinds = {names[c][0]: c for c in probe.records}
    d.advice = advise(d, kinds, context or {})
    return d


def _batch_size(x: Any) -> int:
    first = x[0] if isinstance(x, tuple) else x
    return int(first.shape[0]) if isinstance(first, Tensor) else len(first)


def cell_names(model: nn.Module) -> dict[nn.Module, tuple[str, int, int]]:
    """Cell -> (module path, layer, direction), from the runners that hold the cells."""
    out = {}
    for name, module in model.named_modules():
        cells = getattr(module, "cells", None)
        if isinstance(cells, nn.ModuleList):
            dirs = getattr(module, "num_directions", 1)
            for i, cell in enumerate(cells):
                out[cell] = (f"{name}.cells.{i}" if name else f"cells.{i}", i // dirs, i % dirs)
    for name, module in model.named_modules():  # cells used on their own
        if isinstance(module, RecurrentCell) and module not in out:
            out[module] = (name or type(module).__name__, 0, 0)
    return out


def _flow(cell: nn.Module, rec: CellRecord, names) -> CellFlow:
    name, layer, direction = names.get(cell, (type(cell).__name__, 0, 0))
    has_c = "c" in rec.states[0]
    return CellFlow(
        name=name,
        kind=type(cell).__name__,
        layer=layer,
        direction=direction,
        grad_norms=rec.grad_norms("h"),
        cell_grad_norms=rec.grad_norms("c") if has_c else None,
    )


def gate_stats(rec: CellRecord) -> dict[str, GateStats]:
    """Saturation of every recorded gate at the live steps."""
    out = {}
    for gate in rec.gates:
        values = rec.gate_activations(gate).float()
        out[gate] = GateStats(
            closed=(values < CLOSED).float().mean().item(),
            open=(values > OPEN).float().mean().item(),
            mean=values.mean().item(),
        )
    return out


def spectra_of(cell: nn.Module) -> dict[str, Spectrum]:
    """Spectral norm and radius of each gate's block of ``weight_hh`` (H x H; for a
    projected LSTM the H x P block times ``weight_hr``, the map from h_{t-1}'s cell to the
    gate)."""
    weight = cell.weight_hh.detach().float().cpu()
    order = getattr(cell, "gate_order", None) or tuple(f"gate{i}" for i in range(cell.num_gates))
    project = getattr(cell, "weight_hr", None)
    out = {}
    for gate, block in zip(order, weight.split(cell.hidden_size), strict=True):
        square = block if project is None else block @ project.detach().float().cpu()
        out[gate] = Spectrum(
            norm=torch.linalg.matrix_norm(square, ord=2).item(),
            radius=torch.linalg.eigvals(square).abs().max().item(),
        )
    return out


def judge(cells: list[CellFlow], parameters: dict[str, float], loss: float) -> tuple[Verdict, str]:
    """The verdict and its reason (see the module docstring for the thresholds)."""
    finite = math.isfinite(loss) and all(math.isfinite(v) for v in parameters.values())
    # NaN in a profile means no gradient reached that step (padding, no graph): not a blow-up.
    finite = finite and not any(math.isinf(v) for c in cells for v in c.carrier)
    if not finite:
        return "exploding", "a loss or gradient is not finite"
    ratios = [(c.ratio, c) for c in cells if math.isfinite(c.ratio) or c.ratio == float("inf")]
    if ratios:
        high, worst = max(ratios, key=lambda rc: rc[0])
        if high > EXPLODING:
            return "exploding", (
                f"the gradient grows {high:.1e}x from the last step back to the first in "
                f"{worst.name}"
            )
        low, worst = min(ratios, key=lambda rc: rc[0])
        if low < VANISHING:
            return "vanishing", (
                f"the gradient at the first step is {_times(low)} the last step's in {worst.name} "
                f"(over {len(worst.grad_norms)} steps)"
            )
    if not ratios:
        return "healthy", "one step only: nothing to carry back"
    low, high = min(r for r, _ in ratios), max(r for r, _ in ratios)
    span = f"{low:.1e}" if low == high else f"{low:.1e} to {high:.1e}"
    return "healthy", (
        f"the gradient at the first step is {span} times the last step's, within "
        f"[{VANISHING:g}, {EXPLODING:g}]"
    )
