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


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import SeriesError, UsageError
    from rnnkit.report.plots import plot_forecasts
    from rnnkit.training.checkpoint import atomic_write_text
    from rnnkit.training.trainer import load_run

    config, task, model = load_run(args.run_dir, which=args.checkpoint, device=args.device)
    if config.task.name != "forecast":
        raise UsageError(f"{args.run_dir}: a {config.task.name} run does not forecast; use "
                         "rnnkit predict")  # fmt: skip
    task.attach(args.run_dir)  # the combination with ETS the run chose, if any
    series = task.read_recent(args.data)
    try:
        frame = task.forecast_frame(model, series, device=args.device)
    except SeriesError as e:  # too short a history, a series the model was not trained on
        raise SeriesError(f"{args.data}: {e}") from None
    output = Path(args.output) if args.output else Path(args.run_dir) / "forecast.csv"
    shown = frame.drop(columns="series") if len(task.names) == 1 else frame
    atomic_write_text(output, shown.to_csv(index=False, float_format="%.6g"))
    H, time_col = task.horizon, config.task.time_col
    history = series.length - (H if task.future else 0)
    start = max(0, history - max(3 * H, task.lookback))
    panels = []
    for name, rows in list(frame.groupby("series", sort=False))[:4]:
        i = series.names.index(name)
        forecast = {
            "label": "forecast",
            "times": rows[time_col].to_numpy(),
            "point": rows["forecast"].to_numpy(),
            "lower": rows["lower_80"].to_numpy() if "lower_80" in rows else None,
            "upper": rows["upper_80"].to_numpy() if "upper_80" in rows else None,
        }
        values = series.target[i, start:history]
        times = series.times[start:history]
        panels.append({"name": name, "times": times, "values": values, "forecasts": [forecast]})
    plot = plot_forecasts(panels, output.with_suffix(".png"),
                          title=f"{H}-step forecast from {Path(args.data).name}")  # fmt: skip
    print(f"forecast: {len(task.names)} series x {H} steps -> {output} (plot: {plot})")
    return 0
