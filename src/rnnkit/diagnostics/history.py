"""The gradient-by-time profile recorded during training (``train.grad_flow_every``):
``RUN_DIR/grad_flow.jsonl``, one line per recorded step,
``{"step": 50, "cells": {"encoder.cells.0": {"h": [...], "c": [...]}}}`` with ||dL/dh_t||
(and ||dL/dc_t|| for LSTMs) for t = 0 .. T-1 (null where no gradient reached a state), and
its heatmaps, ``grad_flow.png`` (one per recorded cell: ``grad_flow-<cell>.png`` when there
are several)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from torch import nn

from rnnkit.diagnostics.measure import cell_names
from rnnkit.diagnostics.probe import Probe

FILE = "grad_flow.jsonl"


class FlowHistory:
    """Appends profiles to ``RUN_DIR/grad_flow.jsonl``; on resume, drops the lines written
    after the checkpoint (``resume_step``), as the metrics log does."""

    def __init__(self, run_dir: str | Path, resume_step: int | None = None) -> None:
        self.path = Path(run_dir) / FILE
        if resume_step is not None and self.path.is_file():
            kept = [r for r in read(run_dir) if r["step"] <= resume_step]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, step: int, probe: Probe, model: nn.Module) -> None:
        names = cell_names(model)
        cells = {}
        for cell, rec in probe.records.items():
            if not rec.states:
                continue
            entry = {"h": _plain(rec.grad_norms("h"))}
            if "c" in rec.states[0]:
                entry["c"] = _plain(rec.grad_norms("c"))
            cells[names.get(cell, (type(cell).__name__,))[0]] = entry
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, "cells": cells}) + "\n")


def _plain(values: list[float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values]


def read(run_dir: str | Path) -> list[dict]:
    """The recorded profiles of a run, in step order (empty if none were recorded)."""
    path = Path(run_dir) / FILE
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{number}: malformed JSON ({e.msg})") from None
    return rows


def plot(run_dir: str | Path) -> list[Path]:
    """Heatmaps of the recorded ||dL/dh_t|| over training, one per cell; returns the files."""
    from rnnkit.report.plots import plot_gradient_heatmap

    rows = read(run_dir)
    if not rows:
        return []
    names = list(rows[-1]["cells"])
    written = []
    for name in names:
        kept = [r for r in rows if name in r["cells"]]
        norms = [[v if v is not None else float("nan") for v in r["cells"][name]["h"]]
                 for r in kept]  # fmt: skip
        file = "grad_flow.png" if len(names) == 1 else f"grad_flow-{name}.png"
        title = f"||dL/dh_t|| during training: {name}"
        steps = [r["step"] for r in kept]
        written.append(plot_gradient_heatmap(steps, norms, Path(run_dir) / file, title=title))
    return written
