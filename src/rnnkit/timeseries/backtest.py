"""Rolling-origin backtests: forecasts from several cut-off points ("origins") over a held-out
period, every model scored on the same windows, and a ranking by MASE.

The statistical baselines are refitted on all history before each origin; a neural model
is trained once (on the training part) and reads each origin's last ``lookback`` steps.
Both see exactly the data before the origin, so the comparison is fair.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

METRICS = ("mase", "smape", "mae", "rmse", "coverage")


def origins(start: int, end: int, *, horizon: int, count: int) -> np.ndarray:
    """Up to ``count`` cut-offs t spread evenly over [start, end - horizon], the last at
    end - horizon (so every forecast [t, t + horizon) lies in [start, end)); fewer when the
    period holds fewer distinct ones."""
    last = end - horizon
    if last < start or count < 1:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.round(np.linspace(last, start, count)).astype(np.int64))


@dataclass
class Entry:
    """One model's backtest: its scores and forecasts on the data's scale.

    Attributes:
        name: the model, for people. kind: ``"neural"`` or ``"baseline"``.
        scores: metric name -> value (``coverage`` only for models with intervals).
        point: (B, horizon) forecasts, one row per (series, origin) window.
        lower, upper: (B, horizon) 80% interval bounds, or None.
        seconds: wall time to fit (baselines, refitted at every origin) and forecast.
    """

    name: str
    kind: str
    scores: dict[str, float]
    point: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None
    seconds: float = 0.0


def ranking(entries: list[Entry]) -> list[Entry]:
    """Entries by MASE, best first (a failed fit, NaN, last)."""
    return sorted(entries, key=lambda e: (not np.isfinite(e.scores["mase"]), e.scores["mase"]))


def table_rows(entries: list[Entry]) -> list[list]:
    """Rank, model, kind, the metrics (None where absent) and seconds, best first."""
    rows = []
    for rank, e in enumerate(ranking(entries), 1):
        values = [e.scores.get(m) for m in METRICS]
        rows.append([rank, e.name, e.kind, *values, round(e.seconds, 3)])
    return rows


HEADER = ["rank", "model", "kind", *METRICS, "seconds"]


def to_csv(entries: list[Entry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for row in table_rows(entries):
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


def to_text(entries: list[Entry]) -> str:
    """A fixed-width table for the terminal and for ``backtest.txt``."""

    def fmt(v) -> str:
        if v is None:
            return "-"
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    rows = [HEADER] + [[fmt(v) for v in row] for row in table_rows(entries)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows) + "\n"  # fmt: skip
