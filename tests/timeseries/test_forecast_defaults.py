"""The forecast task's defaults read from the data: the season (from the times' frequency or
the autocorrelation), the lookback and holdouts, the ES-RNN-style normalization, and the
combination with ETS chosen on the validation origins."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from rnnkit.tasks.forecast import ForecastTask, auto_lookback, holdouts
from rnnkit.timeseries import season as seasonality
from rnnkit.timeseries.data import SeriesError
from rnnkit.timeseries.normalize import Normalizer, multiplicative
from rnnkit.training.config import RunConfig


def airline(n=144, seed=0) -> np.ndarray:
    """Trend x a yearly swing proportional to the level, lognormal noise (monthly)."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    swing = 1 + 0.25 * np.sin(2 * np.pi * t / 12)
    return (100 + 2 * t) * swing * np.exp(0.03 * rng.normal(size=n))


def monthly_file(tmp_path, values, name="m.csv", start="2000-01-01"):
    dates = pd.date_range(start, periods=len(values), freq="MS")
    path = tmp_path / name
    pd.DataFrame({"date": dates, "y": values}).to_csv(path, index=False)
    return path


def task_of(path, **fields) -> ForecastTask:
    config = RunConfig().replace(task="forecast", data=str(path), target="y", **fields)
    task = ForecastTask(config.task)
    task.load()
    return task


# -- the season ------------------------------------------------------------------------------
@pytest.mark.parametrize("freq, season", [("MS", 12), ("ME", 12), ("QS-OCT", 4), ("QE-DEC", 4),
                                          ("YS", 1), ("W-SUN", 52), ("D", 7), ("B", 5),
                                          ("h", 24), ("BME", 12), ("2h", None), ("min", None),
                                          (None, None)])  # fmt: skip
def test_a_frequency_names_its_usual_cycle(freq, season):
    assert seasonality.season_from_frequency(freq) == season


def test_the_autocorrelation_finds_a_period_under_a_trend_and_none_in_noise():
    rng = np.random.default_rng(0)
    t = np.arange(300)
    weekly = 0.05 * t + np.sin(2 * np.pi * t / 7) + 0.3 * rng.normal(size=300)
    assert seasonality.season_from_values(weekly) == 7
    assert seasonality.season_from_values(rng.normal(size=300)) == 1
    assert seasonality.is_seasonal(weekly - 0.05 * t, 7)
    assert not seasonality.is_seasonal(rng.normal(size=300), 7)
    assert not seasonality.is_seasonal(weekly[:20], 7)  # fewer than three cycles: no test


def test_seasonal_indices_recover_an_additive_season():
    t = np.arange(120)
    pattern = np.array([3.0, 1, 0, -1, -2, -1])  # sums to 0
    values = 10 + 0.1 * t + pattern[t % 6]
    # A linear trend passes the centred moving average unchanged: the indices are exact.
    np.testing.assert_allclose(seasonality.seasonal_indices(values, 6), pattern, atol=1e-9)


def test_season_auto_comes_from_the_dates_or_the_autocorrelation(tmp_path):
    assert task_of(monthly_file(tmp_path, airline())).season == 12
    rng = np.random.default_rng(1)
    t = np.arange(400)
    values = 5 + np.sin(2 * np.pi * t / 9) + 0.2 * rng.normal(size=400)
    path = tmp_path / "n.csv"
    pd.DataFrame({"t": t, "y": values}).to_csv(path, index=False)
    task = task_of(path, time_col="t")
    assert task.season == 9 and task.clock == {"origin": 0.0, "step": 1.0}


# -- lookback and holdouts -------------------------------------------------------------------
def test_the_lookback_is_two_horizons_or_a_season_shortened_for_short_series():
    assert auto_lookback(12, 12, 1000) == 24
    assert auto_lookback(12, 52, 1000) == 52
    assert auto_lookback(2, 1, 1000) == 8
    assert auto_lookback(100, 1, 10_000) == 200
    assert auto_lookback(300, 1, 10_000) == 400
    # 70 training steps, horizon 12: room for 20 windows leaves 70 - 12 - 19 = 39 >= 24.
    assert auto_lookback(12, 12, 70) == 24
    assert auto_lookback(12, 12, 50) == 19  # 50 - 12 - 19
    assert auto_lookback(6, 1, 20) == 6  # no room for 20 windows: one horizon


def test_holdouts_give_several_origins_and_shrink_on_short_series():
    assert holdouts(1000, 12, None, None) == (100, 100)
    assert holdouts(144, 12, None, None) == (16, 14)  # five and three origins
    assert holdouts(144, 12, 30, None) == (30, 14)
    # 60 steps, horizon 6: 10 + 8 would leave 42 >= 2 * 6 + 10 = 22: unchanged.
    assert holdouts(60, 6, None, None) == (10, 8)
    valid, test = holdouts(40, 6, None, None)  # 10 + 8 leaves 22: just enough
    assert (valid, test) == (10, 8)
    valid, test = holdouts(36, 6, None, None)
    assert 36 - valid - test >= 22 and min(valid, test) >= 6
    assert holdouts(30, 12, None, None) == (12, 12)  # nothing left to shrink


def test_a_series_too_short_for_its_horizon_says_what_to_change(tmp_path):
    path = monthly_file(tmp_path, airline(36))
    with pytest.raises(SeriesError, match=r"the series has 36 steps.*shorten --horizon or "
                       r"--lookback, or hold out fewer steps"):  # fmt: skip
        task_of(path)


# -- the normalization -----------------------------------------------------------------------
def test_auto_chooses_the_log_for_positive_growing_series_only():
    assert multiplicative(airline())
    assert not multiplicative(np.sin(np.arange(100)))  # negative values
    assert not multiplicative(25 + np.sin(np.arange(100)))  # spans a factor < 1.5
    assert not multiplicative(np.r_[0.01, np.linspace(5, 50, 99)])  # comes near 0


@pytest.mark.parametrize("mode", ["auto", "additive", "multiplicative", "series", "window"])
def test_the_normalization_inverts_exactly_at_any_time_index(mode):
    values = airline()[None]
    norm = Normalizer.fit(values[:, :100], values, mode=mode, season=12)
    z = norm.transform(values, first=0)
    index = np.arange(37, 49)[None]
    np.testing.assert_allclose(norm.inverse(z[:, 37:49], np.array([0]), index),
                               values[:, 37:49], rtol=1e-10)  # fmt: skip
    # A later window given on its own (first = its time index) is the same z.
    np.testing.assert_allclose(norm.transform(values[:, 37:49], first=37), z[:, 37:49])


def test_a_multiplicative_season_is_taken_out_on_the_log_scale():
    values = airline(240)[None]
    norm = Normalizer.fit(values[:, :200], values, mode="auto", season=12)
    assert norm.log[0] and norm.seasonal[0].any()
    # The log of the swing (1 + 0.25 sin) less its mean, read from the data within noise.
    swing = np.log(1 + 0.25 * np.sin(2 * np.pi * np.arange(12) / 12))
    np.testing.assert_allclose(norm.seasonal[0], swing - swing.mean(), atol=0.02)
    z = norm.transform(values, 0)[0]
    phase_means = np.array([np.diff(z)[k::12].mean() for k in range(12)])
    assert np.abs(phase_means).max() < 0.5  # nothing seasonal left in the steps
    noise = np.random.default_rng(0).normal(size=200)
    flat = Normalizer.fit(noise[None], noise[None], mode="auto", season=12)
    assert not flat.seasonal.any()  # no season where M4's test finds none


def test_the_log_refuses_values_that_are_not_positive():
    values = airline()[None]
    norm = Normalizer.fit(values, values, mode="multiplicative", season=12)
    with pytest.raises(SeriesError, match=r"value -1 at step 3 .* the log of this series"):
        norm.transform(np.array([[5.0, 4.0, -1.0]]))
    with pytest.raises(SeriesError, match=r"'multiplicative' takes the log.*use 'additive'"):
        Normalizer.fit(-values, -values, mode="multiplicative", season=12)


# -- the combination with ETS, and forecasting new data ----------------------------------------
class Constant(nn.Module):
    """A 'network' that forecasts ``value`` on the normalized scale at every step."""

    def __init__(self, horizon: int, value: float) -> None:
        super().__init__()
        self.horizon, self.value = horizon, value

    def forward(self, past, future):
        return torch.full((past.shape[0], self.horizon), self.value)


def test_a_network_that_validates_badly_is_outweighed_by_a_statistical_model(tmp_path):
    from rnnkit.timeseries.baselines import BASELINES

    task = task_of(monthly_file(tmp_path, airline()))
    choice = task.choose(Constant(12, 40.0))  # 40 typical steps above the present
    assert choice["weight"] == 0.0 and task.weight == 0.0
    partner = choice["partner"]
    assert partner == task.partner and set(choice["mase"]) == {"ets", "sarima"}
    assert choice["mase"][partner]["0.0"] < choice["mase"][partner]["1.0"]
    other = {"ets": "sarima", "sarima": "ets"}[partner]
    assert choice["mase"][partner]["0.0"] <= choice["mase"][other]["0.0"]
    assert len(choice["origins"]) == 5 and len(choice["per_origin"]["chosen"]) == 5
    assert choice["per_origin"]["chosen"] == choice["per_origin"][partner]
    # rnnkit forecast's path: the point is the partner fitted on the recent history.
    recent = task.read_recent(monthly_file(tmp_path, airline()[:120], name="r.csv"))
    got = task.predict(Constant(12, 40.0), recent)["point"]
    np.testing.assert_allclose(got[0], BASELINES[partner](airline()[:120], 12, 12), rtol=1e-6)


def test_the_network_alone_when_it_validates_best(tmp_path, monkeypatch):
    from rnnkit.timeseries import baselines

    # A series that is its seasonal pattern and a level: the normalized future is the
    # present level, which a network forecasting 0 (no change) gets exactly; ETS and SARIMA
    # are made to forecast the last value plus 10.
    t = np.arange(144)
    values = 50 + 5 * np.sin(2 * np.pi * t / 12)
    for name in ("ets", "sarima"):
        monkeypatch.setitem(baselines.BASELINES, name, lambda h, H, m: np.full(H, h[-1] + 10.0))
    task = task_of(monthly_file(tmp_path, values), scaling="additive")
    choice = task.choose(Constant(12, 0.0))
    assert choice["weight"] == 1.0 and choice["mase"]["ets"]["1.0"] < 1e-6
    assert max(choice["per_origin"]["chosen"]) < 1e-6
    task = task_of(monthly_file(tmp_path, values), combine="none")
    assert task.choose(Constant(12, 0.0)) is None and task.weight == 1.0


def test_a_recent_file_is_placed_on_the_seasonal_cycle_by_its_dates(tmp_path):
    values = airline()
    task = task_of(monthly_file(tmp_path, values))
    model = Constant(12, 0.3)
    fresh = ForecastTask(task.config, task.state_dict())  # as rnnkit forecast rebuilds it
    # History from month 7 (mid-cycle) to 100: the forecast of months 101.. equals the
    # task's own window at 101.
    recent = monthly_file(tmp_path, values[7:101], name="r.csv", start="2000-08-01")
    got = fresh.predict(model, fresh.read_recent(recent))["point"]
    inputs, y = task._gather(np.array([0]), np.array([101]))
    want = task.unscaler(y)(task.outputs(model, inputs).double().numpy())
    np.testing.assert_allclose(got, want, rtol=1e-6)
    off_grid = tmp_path / "o.csv"
    dates = pd.date_range("2000-08-01", periods=94, freq="MS") + pd.Timedelta(days=14)
    pd.DataFrame({"date": dates, "y": values[7:101]}).to_csv(off_grid, index=False)
    with pytest.raises(SeriesError, match=r"not on the training data's MS grid"):
        fresh.predict(model, fresh.read_recent(off_grid))


def test_the_hidden_size_is_sized_to_the_training_targets(tmp_path):
    from rnnkit.tasks.adding import AddingTask

    path = monthly_file(tmp_path, airline())
    config = RunConfig().replace(task="forecast", data=str(path), target="y")
    assert config.model.hidden == "auto"
    # 144 months, horizon 12: about 90 training windows x 12 targets, far below 10,000.
    assert ForecastTask.hidden_size(config) == 32
    assert ForecastTask.hidden_size(config.replace(hidden=128)) == 128  # asked for: kept
    long = monthly_file(tmp_path, airline(1500), name="long.csv")
    # 1500 steps: about 1150 windows x 12 targets = 13,800: the middle size.
    assert ForecastTask.hidden_size(config.replace(data=str(long))) == 64
    assert AddingTask.hidden_size(RunConfig()) == 128


def test_the_backtests_combination_is_the_share_of_the_network_and_its_partner(tmp_path):
    task = task_of(monthly_file(tmp_path, airline()), baselines="naive,ets,sarima")
    model = Constant(12, 0.3)
    task.weight, task.partner = 0.25, "sarima"
    entries = task.backtest(model)
    net, combined = entries[:2]  # the network, then the forecast delivered
    assert (net.kind, combined.kind) == ("neural", "combined")
    assert combined.name == "0.25 model + 0.75 sarima"  # a model without a label: "model"
    sarima = next(e for e in entries if e.name == "sarima")
    np.testing.assert_allclose(combined.point, 0.25 * net.point + 0.75 * sarima.point)


def test_a_rewritten_file_is_read_anew(tmp_path):
    path = monthly_file(tmp_path, airline())
    first = task_of(path).series.target[0, 0]
    monthly_file(tmp_path, 2 * airline(150))  # same path, other values and size
    again = task_of(path)
    assert again.series.target[0, 0] == pytest.approx(2 * first) and again.series.length == 150
