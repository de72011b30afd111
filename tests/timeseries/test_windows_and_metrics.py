"""Splits, scaling and windows (no leakage), and the forecast metrics against hand-computed
values."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.timeseries import Scaler, SeriesError, split, window_starts, windows
from rnnkit.timeseries.metrics import coverage, mae, mase, rmse, seasonal_scale, smape


@pytest.mark.parametrize("lookback, horizon, stride", [(5, 3, 1), (12, 6, 2), (1, 1, 1)])
def test_no_test_or_validation_value_reaches_a_training_window(lookback, horizon, stride):
    N = 120
    parts = split(N, lookback=lookback, horizon=horizon, valid=20, test=20)
    # Tag each time with its index: the windows' contents say where they came from.
    index = np.arange(N, dtype=float)[None, :]
    for name in ("train", "valid", "test"):
        start, end = parts.part(name)
        starts = window_starts(start, end, lookback=lookback, horizon=horizon, stride=stride)
        x, y = windows(index, starts, lookback=lookback, horizon=horizon)
        assert len(starts) > 0
        assert y.min() >= start and y.max() < end  # targets inside the part
        assert x.max() < end and (x.max(axis=1) < y.min(axis=1)).all()  # inputs strictly before
        if name == "train":
            assert x.max() < parts.train_end and y.max() < parts.train_end
    assert parts.part("test") == (100, 120)


def test_windows_hold_the_right_values_for_several_series():
    values = np.stack([np.arange(10.0), 100 + np.arange(10.0)])  # (S=2, N=10)
    x, y = windows(values, np.array([3, 5]), lookback=3, horizon=2)
    np.testing.assert_array_equal(x, [[0, 1, 2], [2, 3, 4], [100, 101, 102], [102, 103, 104]])
    np.testing.assert_array_equal(y, [[3, 4], [5, 6], [103, 104], [105, 106]])


def test_too_short_a_series_is_refused_with_the_numbers():
    with pytest.raises(SeriesError, match="the series has 30 steps: .* 10 remain for training, "
                                          "fewer than lookback \\+ horizon = 13"):  # fmt: skip
        split(30, lookback=10, horizon=3, valid=10, test=10)


def test_scaling_uses_the_training_part_only_and_inverts_exactly():
    rng = np.random.default_rng(0)
    values = rng.normal(5, 3, size=(3, 50))
    values[:, 40:] += 1000  # a shift in the held-out part must not move the scaler
    scaler = Scaler.fit(values, end=40)
    np.testing.assert_allclose(scaler.mean, values[:, :40].mean(1))
    np.testing.assert_allclose(scaler.std, values[:, :40].std(1))
    scaled = scaler.transform(values)
    np.testing.assert_allclose(scaled[:, :40].mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(scaler.inverse(scaled), values, rtol=0, atol=1e-12)
    flat = Scaler.fit(np.ones((1, 10)), end=10)  # a constant series: no division by zero
    np.testing.assert_array_equal(flat.transform(np.ones((1, 10))), 0)


def test_metrics_equal_hand_computed_values():
    y = np.array([[1.0, 2.0, 4.0]])
    f = np.array([[2.0, 2.0, 1.0]])
    assert mae(y, f) == pytest.approx((1 + 0 + 3) / 3)
    assert rmse(y, f) == pytest.approx(np.sqrt((1 + 0 + 9) / 3))
    assert smape(y, f) == pytest.approx((200 * 1 / 3 + 0 + 200 * 3 / 5) / 3)
    assert smape(np.zeros(2), np.zeros(2)) == 0.0
    history = np.array([1.0, 3.0, 2.0, 6.0])  # season 2: |2-1|, |6-3| -> 2
    assert seasonal_scale(history, 2) == pytest.approx(2.0)
    assert mase(y, f, 2.0) == pytest.approx(mae(y, f) / 2)
    assert coverage(np.array([1, 2, 3, 4]), np.array([0, 2.5, 3, 0]), np.array([2, 3, 3, 3])) \
        == pytest.approx(0.5)  # fmt: skip
