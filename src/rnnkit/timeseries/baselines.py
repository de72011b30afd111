"""The forecasts every neural model must beat: naive, seasonal naive, and statsmodels'
exponential smoothing (ETS) and SARIMA, each fitted on the history before a forecast origin.

Every baseline is ``f(history, horizon, season) -> forecast``: history (N,) float64 up to
the origin, the forecast (horizon,) of the next steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

Baseline = Callable[[np.ndarray, int, int], np.ndarray]


def naive(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """The last value, repeated."""
    return np.full(horizon, float(history[-1]))


def seasonal_naive(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """The value one season earlier: f_{N+h} = y_{N+h-m·k} for the smallest k that reaches
    back into the history (the last season, repeated)."""
    if len(history) < season:
        raise ValueError(f"history: {len(history)} steps, fewer than one season ({season})")
    last = np.asarray(history[-season:], dtype=np.float64)
    return last[np.arange(horizon) % season]


def ets(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """Holt-Winters exponential smoothing with additive damped trend and, given two full
    seasons, additive seasonality; parameters by maximum likelihood (statsmodels)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = season > 1 and len(history) >= 2 * season
    model = ExponentialSmoothing(
        np.asarray(history, dtype=np.float64),
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=season if seasonal else None,
        initialization_method="estimated",
    )
    with warnings.catch_warnings():  # convergence chatter on short or flat series
        warnings.simplefilter("ignore")
        return np.asarray(model.fit().forecast(horizon), dtype=np.float64)


SARIMA_SEASONS = 10  # SARIMA fits on at most this many seasons (or 200 steps) of history


def sarima(history: np.ndarray, horizon: int, season: int = 1) -> np.ndarray:
    """SARIMA(1,1,1)(1,1,1)_m (plain ARIMA(1,1,1) when m = 1 or under two seasons of
    history), fitted by statsmodels' state-space maximum likelihood on the last
    ``SARIMA_SEASONS`` seasons (at least 200 steps) of history.

    The differences (1 - B)(1 - B^m) are taken before fitting (``simple_differencing``) and
    undone after: the same model with a state m times smaller, 3-4x faster on weekly data
    (m = 52), where a fit would otherwise take half a minute."""
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    y = np.asarray(history, dtype=np.float64)
    seasonal = season > 1 and len(y) >= 2 * season + 2
    if seasonal:
        y = y[-max(SARIMA_SEASONS * season, 200) :]
    model = SARIMAX(
        y,
        order=(1, 1, 1),
        seasonal_order=(1, 1, 1, season) if seasonal else (0, 0, 0, 0),
        simple_differencing=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        changes = np.asarray(model.fit(disp=False).forecast(horizon), dtype=np.float64)
    # Undo the differences: z_t = y_t - y_{t-1} (- y_{t-m} + y_{t-m-1} when seasonal).
    out = list(y)
    for z in changes:
        value = z + out[-1]
        if seasonal:
            value += out[-season] - out[-season - 1]
        out.append(value)
    return np.array(out[len(y) :])


BASELINES: dict[str, Baseline] = {
    "naive": naive,
    "seasonal_naive": seasonal_naive,
    "ets": ets,
    "sarima": sarima,
}


def backtest(baseline: Baseline, values: np.ndarray, origins: np.ndarray, *, horizon: int,
             season: int) -> np.ndarray:  # fmt: skip
    """Forecasts (len(origins), horizon) of one series ``values`` (N,), each fitted on
    ``values[:origin]`` (rolling origin: refitted at every cut-off)."""
    return np.stack([baseline(values[:t], horizon, season) for t in origins])
