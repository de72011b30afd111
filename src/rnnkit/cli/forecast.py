"""``rnnkit forecast RUN_DIR --data recent.csv``: the next ``horizon`` steps of every series.

The file has the training file's layout and columns, and at least ``lookback`` steps of
recent history. A model with known-future covariates also needs their values for the times
to forecast: the file's last ``horizon`` rows, with the target left empty. Writes a CSV of
forecasts (and 80% intervals, for a model trained with --likelihood gaussian or quantile)
and a PNG of history, forecast and intervals.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def add_parser(sub) -> None:
    p = sub.add_parser(
        "forecast",
        help="forecast the next steps of time series with a trained forecast run",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        epilog="example: rnnkit forecast runs/co2 --data recent.csv --output forecast.csv",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by rnnkit train "
                   "--task forecast")  # fmt: skip
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--data", required=True, metavar="FILE", help="recent history (CSV or "
                   "Parquet), in the training file's layout")  # fmt: skip
    p.add_argument("--output", metavar="FILE", help="the forecasts' CSV (default: "
                   "RUN_DIR/forecast.csv); the plot goes beside it as .png")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(func=run)


def future_times(times: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` times after ``times`` (N,): the frequency pandas infers from the last
    steps, else the last step's spacing repeated."""
    import pandas as pd

    if np.issubdtype(times.dtype, np.datetime64):
        index = pd.DatetimeIndex(times)
        freq = pd.infer_freq(index[-min(len(index), 25) :]) if len(index) >= 3 else None
        if freq is not None:
            return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:].to_numpy()
    step = times[-1] - times[-2] if len(times) >= 2 else 1
    return times[-1] + step * np.arange(1, horizon + 1)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from rnnkit.cli.main import UsageError
    from rnnkit.report.plots import plot_forecasts
    from rnnkit.training.checkpoint import atomic_write_text
    from rnnkit.training.trainer import load_run

    config, task, model = load_run(args.run_dir, which=args.checkpoint, device=args.device)
    if config.task.name != "forecast":
        raise UsageError(f"{args.run_dir}: a {config.task.name} run does not forecast; use "
                         "rnnkit predict")  # fmt: skip
    series = task.read_recent(args.data)
    result = task.predict(model, series, device=args.device)
    H = task.horizon
    if task.future:  # the file's last H rows are the times to forecast
        history, times = series.length - H, series.times[-H:]
    else:
        history, times = series.length, future_times(series.times, H)
    index = {name: i for i, name in enumerate(series.names)}
    rows = []
    for s, name in enumerate(task.names):
        for h in range(H):
            row = {config.task.time_col: times[h], "series": name, "step": h + 1,
                   "forecast": result["point"][s, h]}  # fmt: skip
            if "lower" in result:
                row.update(lower_80=result["lower"][s, h], upper_80=result["upper"][s, h])
            rows.append(row)
    frame = pd.DataFrame(rows)
    if len(task.names) == 1:
        frame = frame.drop(columns="series")
    output = Path(args.output) if args.output else Path(args.run_dir) / "forecast.csv"
    atomic_write_text(output, frame.to_csv(index=False, float_format="%.6g"))
    shown = max(3 * H, task.lookback)
    panels = []
    for s, name in enumerate(task.names[:4]):
        i = index[name]
        start = max(0, history - shown)
        forecast = {"label": "forecast", "times": times, "point": result["point"][s],
                    "lower": result.get("lower", [None] * len(task.names))[s],
                    "upper": result.get("upper", [None] * len(task.names))[s]}  # fmt: skip
        panels.append({"name": name, "times": series.times[start:history],
                       "values": series.target[i, start:history], "forecasts": [forecast]})  # fmt: skip
    plot = plot_forecasts(panels, output.with_suffix(".png"),
                          title=f"{H}-step forecast from {Path(args.data).name}")  # fmt: skip
    print(f"forecast: {len(task.names)} series x {H} steps -> {output} (plot: {plot})")
    return 0
