"""Forecasting baselines: exact where the answer is known, and better than naive where the
series has the structure the model assumes."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.timeseries.baselines import backtest, ets, naive, sarima, seasonal_naive
from rnnkit.timeseries.metrics import mae


def test_naive_repeats_the_last_value_and_seasonal_naive_is_exact_on_a_periodic_series():
    np.testing.assert_array_equal(naive(np.array([3.0, 1.0, 7.0]), 4), [7, 7, 7, 7])
    period = np.array([1.0, 5.0, 2.0, 8.0])
    series = np.tile(period, 10)  # N = 40, season 4
    # Cut after 37 steps (37 = 9 periods + 1): the next values continue the period.
    np.testing.assert_array_equal(seasonal_naive(series[:37], 7, 4), np.tile(period, 3)[1:8])
    with pytest.raises(ValueError, match="fewer than one season"):
        seasonal_naive(series[:3], 2, 4)


def seasonal_trend(n: int, season: int = 12, noise: float = 0.1, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return 10 + 0.05 * t + 2 * np.sin(2 * np.pi * t / season) + noise * rng.normal(size=n)


@pytest.mark.parametrize("model", [ets, sarima])
def test_statistical_baselines_beat_naive_on_a_seasonal_trend(model):
    values = seasonal_trend(120)
    origins = np.array([96, 102, 108])
    truth = np.stack([values[t : t + 12] for t in origins])
    fitted = backtest(model, values, origins, horizon=12, season=12)
    simple = backtest(naive, values, origins, horizon=12, season=12)
    assert fitted.shape == (3, 12) and np.isfinite(fitted).all()
    assert mae(truth, fitted) < 0.5 * mae(truth, simple)
    assert mae(truth, fitted) < 0.3  # noise 0.1, amplitude 2: the structure is captured


def test_backtest_fits_only_on_the_history_before_each_origin():
    seen = []

    def spy(history, horizon, season):
        seen.append(len(history))
        return np.zeros(horizon)

    backtest(spy, np.arange(50.0), np.array([20, 30, 40]), horizon=5, season=1)
    assert seen == [20, 30, 40]
