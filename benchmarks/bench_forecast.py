"""Forecasting on real series that statsmodels bundles: recurrent forecasters against naive,
seasonal naive, ETS and SARIMA, all scored by the same rolling-origin backtest over each
series' test period (the last 10% of the series, 5 origins; the baselines refitted at every
origin, the networks trained once on the first 80%, selected on the next 10%).

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_forecast.py --seeds 3

Prints one table per series: MASE (mean ± std over seeds for the networks) and sMAPE, the
ratio of MASE to the best statsmodels model's (< 1: the network is better), and seconds
(training + backtest for a network; all fits of the backtest for a baseline).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from rnnkit.training.trainer import train

# Series: (name, target column, season, horizon, lookback, extra task fields).
SERIES = {
    "co2": ("co2", 52, 12, 104, {"missing": "interpolate"}),
    "elnino": ("temp", 12, 12, 48, {}),
    "sunspots": ("sunactivity", 11, 10, 44, {}),
}
MODELS = {
    "direct lstm": {"cell": "lstm"},
    "direct gru": {"cell": "gru"},
    "seq2seq gru": {"cell": "gru", "model": "seq2seq"},
}
BASELINES = ("naive", "seasonal_naive", "ets", "sarima")


def run(name: str, model: dict, seed: int, baselines: bool, args) -> tuple[dict, float]:
    target, season, horizon, lookback, extra = SERIES[name]
    start = time.perf_counter()
    result = train(
        task="forecast", data=f"statsmodels:{name}", target=target, season=season,
        horizon=horizon, lookback=lookback, scaling="window", hidden=args.hidden,
        steps=args.steps, eval_every=100, early_stopping="mase", early_stopping_patience=5,
        lr=args.lr, batch_size=64, seed=seed, threads=args.threads, quiet=True,
        tensorboard=False, out=tempfile.mkdtemp(prefix=f"bench-forecast-{name}-"),
        baselines=",".join(BASELINES) if baselines else "", backtest_origins=5,
        **model, **extra,
    )  # fmt: skip
    return result.summary, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", default=list(SERIES), choices=list(SERIES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"steps <= {args.steps} (early stopping on validation MASE, patience 5 x 100 steps), "
          f"hidden {args.hidden}, lr {args.lr}, batch 64, window scaling, seeds "
          f"{args.seeds}")  # fmt: skip
    for name in args.series:
        rows: dict[str, dict] = {}
        for label in args.models:
            mase, smape, seconds = [], [], []
            for seed in range(args.seeds):
                summary, wall = run(name, MODELS[label], seed, not rows, args)
                ranking = {r["model"]: r for r in summary["backtest"]["ranking"]}
                for base in BASELINES:
                    if base in ranking:
                        rows[base] = {"mase": [ranking[base]["mase"]],
                                      "smape": [ranking[base]["smape"]],
                                      "seconds": [ranking[base]["seconds"]]}  # fmt: skip
                mine = next(r for r in summary["backtest"]["ranking"] if r["kind"] == "neural")
                mase.append(mine["mase"])
                smape.append(mine["smape"])
                seconds.append(wall - sum(r["seconds"] for r in ranking.values()
                                          if r["kind"] == "baseline"))  # fmt: skip
            rows[label] = {"mase": mase, "smape": smape, "seconds": seconds}
        best = min(("ets", "sarima"), key=lambda b: rows[b]["mase"][0])
        target, season, horizon, lookback, _ = SERIES[name]
        print(f"\n{name} ({target}; season {season}, horizon {horizon}, lookback {lookback}); "
              f"best statsmodels model: {best}")  # fmt: skip
        print(f"{'model':<16}{'MASE':>16}{'sMAPE':>10}{'vs ' + best:>12}{'seconds':>10}")
        for label, r in sorted(rows.items(), key=lambda kv: statistics.mean(kv[1]["mase"])):
            m = statistics.mean(r["mase"])
            spread = f" ± {statistics.stdev(r['mase']):.3f}" if len(r["mase"]) > 1 else ""
            ratio = m / rows[best]["mase"][0]
            print(f"{label:<16}{f'{m:.3f}{spread}':>16}{statistics.mean(r['smape']):>10.3f}"
                  f"{ratio:>11.2f}x{statistics.median(r['seconds']):>10.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
