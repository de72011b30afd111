"""``rnnkit train --task forecast --data FILE --target y`` with every default, on series
statsmodels bundles and on synthetic ones, against the run's own baselines (naive, seasonal
naive, ETS, SARIMA, refitted at each origin) and, optionally, neuralforecast's LSTM and GRU
with their defaults on the same origins.

    python benchmarks/bench_forecast_defaults.py [--series nile sunspots ...] [--seeds 1]
        [--nf /path/to/venv/bin/python --nf-origins 1]   # neuralforecast, its own venv

Nothing here is chosen per series: the season, lookback, normalization, training length and
the combination with ETS are what the README command picks for a user (``--season auto``,
``--lookback auto``, ``--scaling auto``, ``--steps auto``, ``--combine auto``). The only
field given is ``--horizon`` where the series' frequency has a usual one (M4's: yearly 6,
quarterly 8, monthly 18 is M4's, 12 here, the README default). The backtest origins are the
run's (up to 5 over its test period); neuralforecast is fitted on the history before each.

neuralforecast is an optional extra with heavy dependencies (Lightning, Ray): install it in a
separate virtual environment (torch==2.13.0 pinned) and pass its python with ``--nf``;
``benchmarks/nf_baseline.py`` runs there. The CPU and its flags are printed first; never time
two things at once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import rnnkit
from rnnkit.layers.paths import describe_cpu

HERE = Path(__file__).parent


def _synthetic(kind: str) -> pd.DataFrame:
    """Monthly series with a known structure (seed 0): ``mult``: trend x seasonal swing
    growing with the level (airline-like); ``add``: a damped trend + a fixed season + AR(1)
    noise; ``walk``: a yearly random walk with drift (nothing to learn beyond the drift)."""
    rng = np.random.default_rng(0)
    if kind == "walk":
        y = 100 + np.cumsum(0.5 + rng.normal(size=60))
        return pd.DataFrame({"date": pd.date_range("1960", periods=60, freq="YS"), "y": y})
    t = np.arange(144)
    if kind == "mult":
        y = (100 + 2 * t) * (1 + 0.25 * np.sin(2 * np.pi * t / 12)) * np.exp(
            0.04 * rng.normal(size=144))  # fmt: skip
    else:
        noise = np.zeros(144)
        for i in range(1, 144):
            noise[i] = 0.6 * noise[i - 1] + rng.normal()
        y = 50 + 10 * (1 - 0.98**t) + 4 * np.sin(2 * np.pi * t / 12) + 1.5 * noise
    return pd.DataFrame({"date": pd.date_range("2000", periods=144, freq="MS"), "y": y})


def _statsmodels(name: str) -> pd.DataFrame:
    import statsmodels.api as sm

    if name == "nile":  # yearly volume of the Nile at Aswan, 1871-1970 (numbers as times)
        d = sm.datasets.nile.load_pandas().data
        return pd.DataFrame({"date": d["year"].astype(int), "y": d["volume"]})
    if name == "sunspots":  # yearly, 1700-2008
        d = sm.datasets.sunspots.load_pandas().data
        return pd.DataFrame({"date": d["YEAR"].astype(int), "y": d["SUNACTIVITY"]})
    if name == "elnino":  # monthly sea temperature, the last 12 years (144 months)
        from rnnkit.timeseries.bundled import load

        d = load("elnino").rename(columns={"temp": "y"})
        return d.iloc[-144:].reset_index(drop=True)
    if name == "co2-monthly":  # Mauna Loa CO2, monthly means, the last 12 years
        d = sm.datasets.co2.load_pandas().data["co2"].interpolate()
        monthly = d.resample("MS").mean().iloc[-145:-1]
        return pd.DataFrame({"date": monthly.index, "y": monthly.to_numpy()})
    # macrodata: quarterly US series 1959-2009 (203 quarters)
    d = sm.datasets.macrodata.load_pandas().data
    dates = pd.date_range("1959-01-01", periods=len(d), freq="QS")
    return pd.DataFrame({"date": dates, "y": d[name.split(":")[1]]})


SERIES = {  # name -> (loader, horizon: None = the README default, 12)
    "nile": (_statsmodels, 6),
    "sunspots": (_statsmodels, 6),
    "elnino": (_statsmodels, None),
    "co2-monthly": (_statsmodels, None),
    "macro:realgdp": (_statsmodels, 8),
    "macro:unemp": (_statsmodels, 8),
    "macro:cpi": (_statsmodels, 8),
    "synthetic-mult": (lambda n: _synthetic("mult"), None),
    "synthetic-add": (lambda n: _synthetic("add"), None),
    "synthetic-walk": (lambda n: _synthetic("walk"), 6),
}


def neuralforecast(python: str, values: np.ndarray, origins: list[int], horizon: int,
                   season: int, freq: str | None, seed: int, tmp: Path) -> dict:  # fmt: skip
    """neuralforecast's LSTM and GRU (defaults) from each origin, run by ``python``."""
    request, answer = tmp / "nf_in.json", tmp / "nf_out.json"
    request.write_text(json.dumps({
        "horizon": horizon, "season": season, "freq": freq, "seed": seed, "origins": origins,
        "series": [{"name": "y", "values": [float(v) for v in values]}],
    }))  # fmt: skip
    # One thread: on two cores Lightning's default threads spin against each other.
    subprocess.run([python, str(HERE / "nf_baseline.py"), str(request), str(answer)],
                   check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    return json.loads(answer.read_text())


def neuralforecast_scores(out: Path, python: str, count: int, seed: int, tmp: Path) -> dict:
    """MASE of neuralforecast's LSTM and GRU, and of rnnkit's forecast, ETS and seasonal naive
    on the same windows: the last ``count`` of the run's backtest origins (a default
    neuralforecast fit takes minutes on this CPU, so not every origin)."""
    from rnnkit.training.runs import load_run

    _, task, model = load_run(out)
    task.load()
    task.attach(out)
    series, starts, truth, _, _, net, stats = task.origin_forecasts(
        model, "test", task.config.backtest_origins, tuple({task.partner, "ets"}))  # fmt: skip
    ets = stats["ets"]
    keep = np.isin(starts, np.unique(starts)[-count:])
    cuts = [int(t) for t in np.unique(starts)[-count:]]
    answer = neuralforecast(python, task.series.target[0], cuts, task.horizon, task.season,
                            (task.clock or {}).get("frequency"), seed, tmp)  # fmt: skip
    w = task.weight
    partner = stats[task.partner] if w < 1 else net
    forecasts = {"nf rnnkit": w * net + (1 - w) * partner, "nf ets": ets,
                 "nf LSTM": np.asarray(answer["LSTM"]),
                 "nf GRU": np.asarray(answer["GRU"])}  # fmt: skip
    scores = {}
    for name, pred in forecasts.items():
        pred = pred[keep] if len(pred) == len(keep) else pred
        err = np.abs(truth[keep] - pred).mean(axis=1) / task.mase_scale[series[keep]]
        scores[name] = float(err.mean())
    scores["nf origins"] = cuts
    scores["nf seconds"] = answer["seconds"]
    return scores


def run_one(name: str, seed: int, tmp: Path, nf: str | None, nf_origins: int = 1) -> dict:
    loader, horizon = SERIES[name]
    frame = loader(name)
    path = tmp / f"{name.replace(':', '-')}.csv"
    frame.to_csv(path, index=False)
    out = tmp / f"{name.replace(':', '-')}-{seed}"
    command = [sys.executable, "-m", "rnnkit", "train", "--task", "forecast", "--data",
               str(path), "--target", "y", "--out", str(out), "--seed", str(seed),
               "--quiet"]  # fmt: skip
    if horizon:
        command += ["--horizon", str(horizon)]
    began = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - began
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["model"]: r for r in summary["backtest"]["ranking"]}
    kinds = {r["kind"]: r for r in summary["backtest"]["ranking"] if r["kind"] != "baseline"}
    delivered = kinds.get("combined", kinds["neural"])
    result = {"name": name, "seed": seed, "N": len(frame), "horizon": horizon or 12,
              "season": summary["season"], "lookback": summary["lookback"],
              "normalization": summary["normalization"], "steps": summary["steps"],
              "weight": (summary.get("combination") or {}).get("weight", 1.0),
              "rnnkit": delivered["mase"], "network": kinds["neural"]["mase"],
              "seconds": seconds,
              **{b: rows[b]["mase"] for b in ("naive", "seasonal_naive", "ets",
                                              "sarima")}}  # fmt: skip
    if nf:
        result.update(neuralforecast_scores(out, nf, nf_origins, seed, tmp))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", nargs="+", default=list(SERIES), choices=list(SERIES))
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--nf", metavar="PYTHON", help="a python with neuralforecast installed")
    parser.add_argument("--nf-origins", type=int, default=1, metavar="K",
                        help="neuralforecast from the last K backtest origins only "
                        "(default 1)")  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}; {os.cpu_count()} CPUs; rnnkit {rnnkit.__version__}; load "
          f"average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.series:
            for seed in range(args.seeds):
                row = run_one(name, seed, Path(tmp), args.nf, args.nf_origins)
                rows.append(row)
                print(json.dumps(row), flush=True)
    columns = ["rnnkit", "network", "naive", "seasonal_naive", "ets", "sarima"]
    print()
    print("MASE over the run's backtest origins (median over seeds); rnnkit = what the README "
          "command delivers (network, or its combination with ETS chosen on "
          "validation)")  # fmt: skip
    print(f"{'series':16s} {'N':>4s} {'H':>3s} {'m':>3s} {'L':>4s} {'w':>5s} "
          + " ".join(f"{c:>9s}" for c in columns) + "  seconds")  # fmt: skip
    wins = {c: 0 for c in columns[1:]}
    for name in args.series:
        group = [r for r in rows if r["name"] == name]
        med = {c: statistics.median(r[c] for r in group) for c in columns}
        r = group[0]
        for c in columns[1:]:
            wins[c] += med["rnnkit"] < med[c]
        w = statistics.median(g["weight"] for g in group)
        seconds = statistics.median(g["seconds"] for g in group)
        print(f"{name:16s} {r['N']:4d} {r['horizon']:3d} {r['season']:3d} {r['lookback']:4d} "
              f"{w:5.2f} " + " ".join(f"{med[c]:9.3f}" for c in columns)
              + f"  {seconds:7.1f}")  # fmt: skip
    print("rnnkit beats: " + ", ".join(f"{c} on {k}/{len(args.series)}" for c, k in wins.items()))
    if args.nf:
        nf_columns = ["nf rnnkit", "nf ets", "nf LSTM", "nf GRU"]
        print(f"\nMASE from the last {args.nf_origins} backtest origin(s), the same windows for "
              "all (neuralforecast LSTM and GRU with their defaults, refitted at each "
              "origin)")  # fmt: skip
        print(f"{'series':16s} " + " ".join(f"{c[3:]:>9s}" for c in nf_columns))
        for name in args.series:
            group = [r for r in rows if r["name"] == name]
            print(f"{name:16s} " + " ".join(
                f"{statistics.median(r[c] for r in group):9.3f}" for c in nf_columns))  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
