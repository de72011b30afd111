"""Forecast accuracy: MAE, RMSE, sMAPE, MASE and prediction-interval coverage.

Shapes: ``y`` and ``forecast`` (..., horizon), any leading dimensions (windows, series);
every metric averages over all of them.
"""

from __future__ import annotations

import numpy as np


def mae(y: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(forecast))))


def rmse(y: np.ndarray, forecast: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(forecast)) ** 2)))


def smape(y: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent, 200 |y - f| / (|y| + |f|) averaged (M4's definition);
    terms where y = f = 0 count as 0."""
    y, f = np.asarray(y, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(200 * np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(terms.mean())


def seasonal_scale(history: np.ndarray, season: int) -> float:
    """MASE's denominator: the in-sample MAE of the seasonal naive forecast,
    mean |h_t - h_{t-m}| over the ``history`` (N,) (m = ``season``; 1 for the naive)."""
    history = np.asarray(history, dtype=np.float64)
    if history.shape[-1] <= season:
        raise ValueError(f"history: {history.shape[-1]} steps, need more than season {season}")
    return float(np.mean(np.abs(history[season:] - history[:-season])))


def mase(y: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: MAE / ``scale`` (from :func:`seasonal_scale` on the
    training part); < 1 beats the in-sample seasonal naive forecast."""
    if not scale > 0:
        raise ValueError(f"scale: expected a positive in-sample error, got {scale}")
    return mae(y, forecast) / scale


def coverage(y: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """The share of ``y`` inside [lower, upper]."""
    y = np.asarray(y)
    return float(np.mean((y >= np.asarray(lower)) & (y <= np.asarray(upper))))
