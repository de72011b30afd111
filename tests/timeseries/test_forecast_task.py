"""The forecast task: no leakage from later periods into training batches, scores on the
original scale, and the three likelihoods' outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.tasks.forecast import ForecastTask
from rnnkit.training.config import RunConfig


def task_for(tmp_path, values, **kw) -> ForecastTask:
    path = tmp_path / "s.csv"
    lines = ["t,y"] + [f"{i},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    defaults = dict(task="forecast", data=str(path), time_col="t", target="y", horizon=4,
                    lookback=8, valid_steps=20, test_steps=20)  # fmt: skip
    task = ForecastTask(RunConfig().replace(**{**defaults, **kw}).task)
    task.load()
    return task


@pytest.mark.parametrize("scaling", ["auto", "series", "window", "additive", "multiplicative"])
def test_training_batches_never_see_validation_or_test_values(tmp_path, scaling):
    task = task_for(tmp_path, 1 + np.arange(200.0), scaling=scaling)  # value = time index + 1
    end = task.parts.train_end
    assert end == 160
    H, L = 4, task.lookback
    for step in range(50):
        x, y = task.train_batch(step, 32, seed=0)
        series, shift, start = y[:, H].long().numpy(), y[:, H + 1].numpy(), y[:, H + 2].numpy()
        seen_in = task.unscale(x.past[..., 0].numpy(), series, shift, start.astype(int) - L)
        seen_out = task.unscaler(y)(y[:, :H].numpy())
        # Back on the data's scale, every input and target is its own time index + 1.
        np.testing.assert_allclose(seen_in, start[:, None] - L + np.arange(L) + 1, rtol=1e-5)
        np.testing.assert_allclose(seen_out, start[:, None] + np.arange(H) + 1, rtol=1e-5)
        assert seen_in.max() < end + 0.5 and seen_out.max() < end + 0.5
    _, y_test = task.eval_set("test")
    assert task.unscaler(y_test)(y_test[:, :H].numpy()).min() > 181 - 0.5


@pytest.mark.parametrize("scaling", ["series", "window"])
def test_a_perfect_forecast_scores_zero_and_the_scale_is_undone(scaling, tmp_path):
    rng = np.random.default_rng(0)
    values = 100 + 10 * rng.normal(size=200)
    task = task_for(tmp_path, values, season=1, scaling=scaling)
    x, y = task.eval_set("test")
    scores = task.score(y[:, :4].clone(), y)
    assert scores["mase"] == pytest.approx(0, abs=1e-5) and scores["mae"] == pytest.approx(
        0, abs=1e-4)  # fmt: skip
    off = y[:, :4] + 1.0 / task.normalizer.std[0]  # one unit too high on the data's scale
    assert task.score(off, y)["mae"] == pytest.approx(1.0, rel=1e-4)
    # The first test window's targets, back on the data's scale, are the file's values.
    truth = task.unscaler(y[:1])(y[:1, :4].numpy())
    np.testing.assert_allclose(truth[0], values[180:184], rtol=1e-5)
    if scaling == "window":  # inputs end at 0: the model sees changes from the present
        assert (x.past[:, -1, 0] == 0).all()


@pytest.mark.parametrize("likelihood, k", [("none", 1), ("gaussian", 2), ("quantile", 3)])
def test_likelihoods_size_the_head_and_give_intervals(likelihood, k, tmp_path):
    task = task_for(tmp_path, np.sin(np.arange(200) / 5), likelihood=likelihood)
    assert task.output_size == 4 * k
    x, y = task.eval_set("valid")
    out = torch.randn(len(y), task.output_size, requires_grad=True)
    loss = task.loss(out, y)
    loss.backward()
    assert torch.isfinite(loss) and out.grad.abs().sum() > 0
    scores = task.score(out.detach(), y)
    assert ("coverage" in scores) == (likelihood != "none")
    if likelihood != "none":
        point, lower, upper = task.forecast(out.detach())
        assert (lower <= point).all() and (point <= upper).all()


# -- known-future covariates, forecasting new data, the backtest ---------------------------------
def covariate_file(tmp_path, n=200, name="c.csv", open_rows=0):
    """y = a noisy function of t; 'step' is a known-future covariate equal to t."""
    rng = np.random.default_rng(1)
    lines = ["t,y,step"]
    for i in range(n):
        y = "" if i >= n - open_rows else f"{np.sin(i / 4) + 0.1 * rng.normal():.6f}"
        lines.append(f"{i},{y},{i}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_future_covariates_reach_the_decoder_at_the_target_times_and_never_leak(tmp_path):
    path = covariate_file(tmp_path)
    config = RunConfig().replace(task="forecast", data=str(path), time_col="t", target="y",
                                 future_covariates="step", horizon=4, lookback=8,
                                 valid_steps=20, test_steps=20)  # fmt: skip
    task = ForecastTask(config.task)
    task.load()
    assert task.input_size == 2 and task.future_size == 1
    mean, std = task.mean[0, 1], task.std[0, 1]
    for step in range(20):
        x, y = task.train_batch(step, 16, seed=0)
        t_future = x.future[..., 0].numpy() * std + mean  # back to t
        t_past = x.past[..., 1].numpy() * std + mean
        # The future covariates are those of the target steps, right after the lookback.
        np.testing.assert_allclose(t_future, t_past[:, -1:] + np.arange(1, 5), atol=1e-3)
        assert t_future.max() < task.parts.train_end - 0.5
    x, _ = task.eval_set("test")
    assert (x.future[..., 0].numpy() * std + mean).min() > 180 - 0.5


@pytest.mark.parametrize("model_name, scaling", [("sequence", "series"), ("seq2seq", "window")])
def test_forecasting_a_recent_file_equals_the_window_the_task_would_build(tmp_path, model_name,
                                                                          scaling):  # fmt: skip
    from rnnkit.timeseries.data import read_series
    from rnnkit.training.trainer import build_model

    path = covariate_file(tmp_path)
    config = RunConfig().replace(task="forecast", data=str(path), time_col="t", target="y",
                                 future_covariates="step", horizon=4, lookback=8, model=model_name,
                                 scaling=scaling, hidden=8, likelihood="gaussian",
                                 valid_steps=20, test_steps=20)  # fmt: skip
    task = ForecastTask(config.task)
    task.load()
    torch.manual_seed(0)
    model = build_model(config, task).eval()
    # Rebuilt from its state alone, as rnnkit forecast does.
    fresh = ForecastTask(config.task, task.state_dict())
    full = read_series(path, time_col="t", target="y", future=["step"])
    # Recent data: the 30 steps up to t = 150, then 4 rows of known future (target empty).
    recent = covariate_file(tmp_path, n=154, name="recent.csv", open_rows=4)
    lines = recent.read_text().splitlines()
    recent.write_text("\n".join(lines[:1] + lines[-34:]) + "\n")
    got = fresh.predict(model, fresh.read_recent(recent))
    inputs, y = task._gather(np.array([0]), np.array([150]))
    point, lower, upper = task.forecast(task.outputs(model, inputs))
    shift = y[:, 5].double().numpy()
    want = task.unscale(point.numpy(), np.zeros(1, int), shift)
    np.testing.assert_allclose(got["point"], want, rtol=1e-5)
    assert (got["lower"] < got["point"]).all() and (got["point"] < got["upper"]).all()
    assert np.isfinite(full.target).all()
    frame = fresh.forecast_frame(model, fresh.read_recent(recent))
    assert frame["t"].tolist() == [150, 151, 152, 153] and frame["step"].tolist() == [1, 2, 3, 4]


def test_recent_files_that_cannot_be_forecast_say_why(tmp_path):
    from rnnkit.timeseries.data import SeriesError

    path = covariate_file(tmp_path)
    config = RunConfig().replace(task="forecast", data=str(path), time_col="t", target="y",
                                 future_covariates="step", horizon=4, lookback=8,
                                 valid_steps=20, test_steps=20)  # fmt: skip
    task = ForecastTask(config.task)
    task.load()
    filled = covariate_file(tmp_path, n=40, name="filled.csv")  # no empty rows at the end
    with pytest.raises(SeriesError, match=r"filled.csv:38: column 'y': the last 4 rows are the "
                       "times to forecast"):  # fmt: skip
        task.read_recent(filled)
    short = covariate_file(tmp_path, n=10, name="short.csv", open_rows=4)
    with pytest.raises(SeriesError, match=r"6 steps of history, fewer than the model's lookback"):
        task.predict(None, task.read_recent(short))


def test_backtest_origins_are_spread_over_the_period_and_end_at_its_last_window():
    from rnnkit.timeseries.backtest import origins

    np.testing.assert_array_equal(origins(100, 150, horizon=10, count=5), [100, 110, 120, 130, 140])
    np.testing.assert_array_equal(origins(100, 150, horizon=10, count=1), [140])
    np.testing.assert_array_equal(origins(100, 103, horizon=2, count=5), [100, 101])
    assert len(origins(100, 105, horizon=10, count=3)) == 0


def test_backtest_scores_every_model_on_the_same_windows(tmp_path):
    from rnnkit.timeseries.baselines import seasonal_naive
    from rnnkit.training.trainer import build_model

    noise = 0.1 * np.random.default_rng(0).normal(size=240)
    values = 10 + np.sin(2 * np.pi * np.arange(240) / 12) + noise
    task = task_for(
        tmp_path,
        values,
        horizon=6,
        lookback=24,
        season=12,
        valid_steps=24,
        test_steps=36,
        backtest_origins=4,
        baselines="naive,seasonal_naive",
    )
    torch.manual_seed(0)
    model = build_model(RunConfig().replace(**task_config_fields(task), hidden=8), task)
    entries = task.backtest(model)
    assert [e.name for e in entries] == ["direct lstm", "naive", "seasonal_naive"]
    series, starts, truth = task._backtest
    np.testing.assert_array_equal(starts, [204, 214, 224, 234])
    np.testing.assert_allclose(truth, np.stack([values[t : t + 6] for t in starts]), rtol=1e-5)
    snaive = entries[2]
    np.testing.assert_allclose(snaive.point, np.stack([seasonal_naive(values[:t], 6, 12)
                                                       for t in starts]))  # fmt: skip
    scale = np.mean(np.abs(values[12:180] - values[:168]))  # in-sample seasonal naive MAE
    assert snaive.scores["mase"] == pytest.approx(np.mean(np.abs(truth - snaive.point)) / scale)
    inputs, y = task._gather(series, starts)
    neural = task.score(task.outputs(model, inputs), y)
    assert entries[0].scores["mase"] == pytest.approx(neural["mase"])


def task_config_fields(task: ForecastTask) -> dict:
    c = task.config
    return dict(task="forecast", data=c.data, time_col=c.time_col, target=c.target,
                horizon=c.horizon, lookback=c.lookback, season=c.season,
                valid_steps=c.valid_steps, test_steps=c.test_steps)  # fmt: skip


# -- a trained run: beats naive, forecasts from the command line, round-trips as an estimator ----
@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    """A GRU trained for a few seconds on a noisy sine (period 20, noise 0.2)."""
    from rnnkit.timeseries.estimator import Forecaster

    tmp = tmp_path_factory.mktemp("sine")
    t = np.arange(800)
    rng = np.random.default_rng(0)
    y = np.sin(2 * np.pi * t / 20) + 0.2 * rng.normal(size=len(t))
    path = tmp / "sine.csv"
    path.write_text("t,y\n" + "".join(f"{i},{v:.6f}\n" for i, v in zip(t, y, strict=True)))
    forecaster = Forecaster(horizon=5, lookback=30, season=1, cell="gru", hidden=24, steps=200,
                            eval_every=100, lr=3e-3, device="cpu", threads=2, seed=0,
                            valid_steps=80, test_steps=80, backtest_origins=3,
                            baselines="naive,seasonal_naive", out=tmp / "run")  # fmt: skip
    forecaster.fit(path, time_col="t", target="y")
    return forecaster, path, y


def test_a_recurrent_forecaster_beats_naive_on_a_noisy_sine(sine_run):
    forecaster, _, _ = sine_run
    summary = forecaster.summary_
    # season 1: MASE's scale and the baseline are the naive forecast's error.
    assert summary["test"]["mase"] < 0.6 * summary["baseline"]["mase"]
    ranking = {row["model"]: row for row in forecaster.backtest_}
    assert ranking["direct gru"]["mase"] < 0.6 * ranking["naive"]["mase"]
    assert forecaster.backtest_[0]["model"] == "direct gru"  # ranked first
    assert (forecaster.run_dir / "backtest.png").is_file()


def test_rnnkit_forecast_writes_the_estimators_forecast_and_a_plot(sine_run, tmp_path):
    import pandas as pd

    from rnnkit.cli.main import main
    from rnnkit.timeseries.estimator import Forecaster

    forecaster, path, _ = sine_run
    recent = pd.read_csv(path).iloc[:500]
    out = tmp_path / "f.csv"
    assert main(["forecast", str(forecaster.run_dir), "--data", str(path), "--output",
                 str(out)]) == 0  # fmt: skip
    written = pd.read_csv(out)
    assert written["t"].tolist() == [800, 801, 802, 803, 804] and out.with_suffix(".png").is_file()
    np.testing.assert_allclose(written["forecast"], forecaster.predict(path)["forecast"],
                               rtol=1e-5)  # fmt: skip
    saved = forecaster.save(tmp_path / "saved")
    again = Forecaster.load(saved).predict(recent)
    pd.testing.assert_frame_equal(again, forecaster.predict(recent))
    assert again["t"].tolist() == [500, 501, 502, 503, 504]
    with pytest.raises(FileExistsError):
        forecaster.save(saved)


def test_the_html_report_of_a_forecast_run_ranks_the_backtest(sine_run):
    from rnnkit.report.html import write_report

    forecaster, _, _ = sine_run
    page = write_report(forecaster.run_dir).read_text()
    assert "<h2>Backtest</h2>" in page and page.index("direct gru") < page.index("seasonal_naive")


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(model="seq2seq", bidirectional=True), r"^model\.bidirectional: not for --model s"),
        (dict(model="seq2seq", pooling="mean"), r"^model\.pooling: not for --model seq2seq"),
        (dict(model="seq2seq", layers=2, residual=True), r"^model\.residual: not for --model se"),
        (dict(attention="dot"), r"^task\.attention: only for --model seq2seq .*got 'dot'"),
        (dict(model="tree-lstm"), r"^model\.name: task 'forecast' builds 'sequence' or 'seq2seq'"),
        (dict(tbptt=4), r"^train\.tbptt: not for task 'forecast' \(windows are lookback steps"),
        (dict(baselines="naive,prophet"), r"^task\.baselines: unknown baseline 'prophet'"),
        (dict(horizon=0), r"^task\.horizon: expected a number > 0, got 0"),
        (dict(target=None), r"^task\.target: task 'forecast' needs --target COLUMN"),
    ],
)
def test_forecast_model_options_that_do_not_apply_are_refused(tmp_path, fields, message):
    from rnnkit.training.config import ConfigError
    from rnnkit.training.trainer import Trainer

    path = covariate_file(tmp_path)
    base = dict(task="forecast", data=str(path), time_col="t", target="y", out=str(tmp_path))
    with pytest.raises(ConfigError, match=message):
        Trainer(RunConfig().replace(**{**base, **fields}))


def test_the_estimator_refuses_fields_of_other_tasks(tmp_path):
    from rnnkit.timeseries.estimator import Forecaster
    from rnnkit.training.config import ConfigError

    path = covariate_file(tmp_path)
    with pytest.raises(ConfigError, match=r"^normalize: not a field of task 'forecast' \(only "
                       r"of task 'ts-classify'\)"):  # fmt: skip
        Forecaster(normalize="series", out=tmp_path / "run").fit(path, time_col="t", target="y")


def test_seq2seq_is_the_forecasters_model_only(tmp_path):
    from rnnkit.training.config import ConfigError
    from rnnkit.training.trainer import Trainer

    with pytest.raises(ConfigError, match=r"^model\.name: task 'adding' builds 'sequence', got "
                       "'seq2seq'"):  # fmt: skip
        Trainer(RunConfig().replace(task="adding", model="seq2seq", out=str(tmp_path)))


def test_the_forecast_config_owns_its_fields_and_old_files_still_read(tmp_path):
    """The forecaster's attention lives in the task section; a 0.1 file that set it under
    model is upgraded; the label and summary lines are the task's."""
    from rnnkit.tasks.forecast import ForecastConfig
    from rnnkit.training.config import load_file

    config = RunConfig().replace(task="forecast", data="s.csv", target="y", model="seq2seq",
                                 attention="dot", cell="gru")  # fmt: skip
    assert isinstance(config.task, ForecastConfig) and config.task.attention == "dot"
    assert ForecastTask(config.task).label(config) == "seq2seq (gru)"
    assert ForecastTask(config.task).label(config.replace(model="sequence")) == "gru"
    old = tmp_path / "old.yaml"
    old.write_text("task:\n  name: forecast\n  data: s.csv\n  target: y\n"
                   "model:\n  name: seq2seq\n  attention: additive\n")  # fmt: skip
    assert load_file(old).task.attention == "additive"
    ranking = [
        {"model": "direct gru", "kind": "neural", "mase": 0.5, "smape": 10.0, "seconds": 0.1},
        {"model": "naive", "kind": "baseline", "mase": 1.0, "smape": 20.0, "seconds": 0.0},
    ]
    summary = {"backtest": {"origins": 3, "ranking": ranking}}
    lines = ForecastTask.summary_lines(summary)
    assert lines[0] == "  backtest over 3 origins per series (test period), by MASE:"
    assert lines[1] == "    1. direct gru       MASE 0.5, sMAPE 10 (0.1 s)"
    assert len(lines) == 3 and ForecastTask.summary_lines({}) == []
