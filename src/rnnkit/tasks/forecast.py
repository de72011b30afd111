"""Forecasting from a file of time series: ``lookback`` steps in, ``horizon`` steps out, as
point forecasts or with 80% prediction intervals (Gaussian or quantile), by a direct
multi-horizon model or a sequence-to-sequence one (``rnnkit.models.forecast``).

The series are split in time (``rnnkit.timeseries.windows``): training windows lie wholly
before the validation period, validation windows before the test period; every column of
each series is scaled with the mean and standard deviation of its training part only.
Inputs per past step: the scaled target, the past covariates, the known-future covariates;
per future step: the known-future covariates (:class:`~rnnkit.models.forecast.ForecastInputs`).
Metrics are computed on the original scale: MASE (scaled by each series' in-sample seasonal
naive error; the main metric), sMAPE, MAE, RMSE, and for intervals their coverage. The
task's baseline is the seasonal naive forecast scored the same way; after training,
:meth:`ForecastTask.report` backtests the model against naive, seasonal naive, ETS and
SARIMA at rolling origins over the test period (``rnnkit.timeseries.backtest``).

The task's fields are :class:`ForecastConfig`'s (the ``task`` section; ``--attention`` is the
``--model seq2seq`` decoder's); ``rnnkit forecast`` (:mod:`rnnkit.tasks.forecast_command`)
forecasts new data with a trained run.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError, ExportError, UsageError
from rnnkit.models.forecast import DirectForecaster, ForecastInputs, Seq2SeqForecaster
from rnnkit.tasks.base import Split, Task, refuse, stream_generator
from rnnkit.timeseries import backtest as bt
from rnnkit.timeseries import metrics as M
from rnnkit.timeseries.baselines import BASELINES
from rnnkit.timeseries.data import Series, SeriesError, future_times, read_series
from rnnkit.timeseries.windows import Scaler, split, window_starts
from rnnkit.training.config import TaskConfig

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

QUANTILES = (0.1, 0.5, 0.9)
Z80 = 1.2815515655446004  # the 90% point of the standard normal: an 80% central interval
OUTPUTS = {"none": 1, "gaussian": 2, "quantile": len(QUANTILES)}


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _columns_of(series: Series) -> np.ndarray:
    """(S, N, D) on the data's scale: the target, the past, the known-future covariates."""
    return np.concatenate([series.target[..., None], series.past, series.future], axis=-1)


@dataclass(frozen=True)
class ForecastConfig(TaskConfig):
    """A file of time series, the windows read from it, the likelihood and the backtest."""

    data: str | None = None
    """A CSV or Parquet file of time series, split in time (the last test_steps for testing,
    the valid_steps before them for validation); or statsmodels:co2, statsmodels:sunspots,
    statsmodels:elnino, series statsmodels bundles."""
    time_col: str = "date"
    """The time column (dates, or numbers)."""
    target: str | None = None
    """The column to forecast; in wide form several, comma-separated, each a series."""
    id_col: str | None = None
    """Long form: the column naming each row's series; None: one series per target column."""
    past_covariates: str | None = None
    """Comma-separated columns known only up to the present (inputs only)."""
    future_covariates: str | None = None
    """Comma-separated columns known ahead (e.g. calendar features, holidays): read over the
    lookback, and at the forecast steps (the seq2seq decoder's inputs; a linear term of the
    direct model)."""
    horizon: int = 12
    """H: steps forecast at once."""
    lookback: int = 48
    """L: past steps the model reads."""
    season: int = 1
    """The seasonal period in steps (12 for monthly data with a yearly cycle): the seasonal
    naive baseline and MASE's scale; 1: no seasonality."""
    missing: Literal["error", "ffill", "interpolate"] = "error"
    """What a missing value does: stop with its line, or fill it (forward, or a straight line
    in time)."""
    valid_steps: int | None = None
    """Time steps held out for validation; None: 10% of the series, at least one horizon."""
    test_steps: int | None = None
    """The last time steps, held out for testing; None: as valid_steps."""
    scaling: Literal["series", "window"] = "series"
    """Inputs and targets scaled per series (training part's mean and std), or also shifted
    per window by its last input value, so the model forecasts changes from the present (for
    series that trend beyond their training range)."""
    likelihood: Literal["none", "gaussian", "quantile"] = "none"
    """Point forecasts trained on squared error, or prediction intervals: a Gaussian mean and
    standard deviation per step (negative log-likelihood), or the 10%, 50% and 90% quantiles
    (pinball loss). Intervals are 80%."""
    backtest_origins: int = 5
    """After training, backtest the model and the baselines from this many cut-off points
    spread over the test period (rolling origin; the baselines are refitted at each); 0: no
    backtest."""
    baselines: str = "naive,seasonal_naive,ets,sarima"
    """The baselines of the backtest, comma-separated: naive, seasonal_naive, ets
    (Holt-Winters, statsmodels), sarima (SARIMA(1,1,1)(1,1,1)_season, statsmodels)."""
    attention: Literal["none", "dot", "general", "additive"] = "general"
    """--model seq2seq only: the decoder's attention over the encoder's outputs on the
    lookback (Luong dot or general, Bahdanau additive), or none (the decoder sees only the
    encoder's final state)."""

    def _check(self) -> None:
        self._positive("horizon", "lookback", "season", "valid_steps", "test_steps")
        self._positive("backtest_origins", allow_zero=True)
        for name in _columns(self.baselines):
            if name not in BASELINES:
                raise ConfigError(f"task.baselines: unknown baseline {name!r}; allowed: "
                                  f"{', '.join(BASELINES)}")  # fmt: skip
        if self.data is None:
            raise ConfigError("task.data: task 'forecast' needs --data FILE (CSV or Parquet)")
        if self.target is None:
            raise ConfigError("task.target: task 'forecast' needs --target COLUMN[,COLUMN]")


class ForecastTask(Task):
    """Windows of a file's series: inputs :class:`ForecastInputs` (past (B, lookback, D),
    future (B, horizon, F)) -> forecasts (B, horizon * K), K = 1 (point), 2 (Gaussian mean
    and log standard deviation) or 3 (quantiles). Targets y are (B, horizon + 2): the scaled
    future values, then the window's series index and its shift (with ``scaling="window"``
    the last input value, subtracted from the target channel and the targets; else 0), which
    the scores need to undo the scaling.

    ``state`` (from :meth:`state_dict`) rebuilds a trained run's task without its data: the
    series names and each column's training mean and standard deviation, which
    :meth:`predict` needs to forecast from new data."""

    name = "forecast"
    output = "regression"
    baseline_label = "seasonal naive, on the validation windows"
    Config = ForecastConfig
    models = ("sequence", "seq2seq")
    no_tbptt = "windows are lookback steps long; shorten --lookback instead"
    shapes = ("horizon", "likelihood", "past_covariates", "future_covariates", "attention")

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        """Ten years of a monthly series with a yearly season and a trend."""
        t = np.arange(120)
        values = 10 + np.sin(2 * np.pi * t / 12) + 0.05 * t
        rows = [f"{2000 + k // 12}-{1 + k % 12:02d}-01" for k in t]
        path = directory / "series.csv"
        path.write_text(
            "date,y\n" + "".join(f"{d},{v:.4f}\n" for d, v in zip(rows, values, strict=True))
        )
        return {"data": str(path), "target": "y", "horizon": 3, "lookback": 12, "season": 12,
                "backtest_origins": 2, "baselines": "naive,seasonal_naive"}  # fmt: skip

    def __init__(self, config: ForecastConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.horizon, self.lookback, self.season = config.horizon, config.lookback, config.season
        self.likelihood = config.likelihood
        self.past, self.future = (
            _columns(config.past_covariates),
            _columns(config.future_covariates),
        )
        self.input_size = 1 + len(self.past) + len(self.future)
        self.future_size = len(self.future)
        self.output_size = self.horizon * OUTPUTS[self.likelihood]
        self.metrics = {"mase": "min", "smape": "min", "mae": "min", "rmse": "min"}
        if self.likelihood != "none":
            self.metrics["coverage"] = "max"
        self.baseline = {}
        self.loaded = False
        if state:  # a trained run's task: its series and scaling, no data read
            self.names = list(state["series"])
            self.mean = np.asarray(state["mean"], dtype=np.float64)  # (S, D)
            self.std = np.asarray(state["std"], dtype=np.float64)
            self.mase_scale = np.asarray(state["mase_scale"], dtype=np.float64)
            self.scaler = Scaler(self.mean[:, 0], self.std[:, 0])

    # -- the model -----------------------------------------------------------------------------
    @classmethod
    def check(cls, config: RunConfig) -> None:
        super().check(config)
        m = config.model
        if m.name == "seq2seq":
            refuse({"model.bidirectional": m.bidirectional, "model.pooling": m.pooling != "last",
                    "model.residual": m.residual},
                   "not for --model seq2seq (its encoder's final state starts the decoder); "
                   "leave it at its default")  # fmt: skip
        elif config.task.attention != "general":
            raise ConfigError(f"task.attention: only for --model seq2seq (the direct model has "
                              f"no decoder), got {config.task.attention!r}")  # fmt: skip

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """A direct multi-horizon forecaster (``--model sequence``) or an encoder-decoder one
        (``--model seq2seq``): (B, lookback, D), (B, horizon, F) -> (B, horizon * K)."""
        from rnnkit.models.build import initialize_runners, runner_options

        m = config.model
        runner = runner_options(m)
        sizes = (self.input_size, self.future_size, self.horizon, OUTPUTS[self.likelihood])
        if m.name == "seq2seq":
            del runner["bidirectional"], runner["residual"]  # refused by check
            model = Seq2SeqForecaster(*sizes, attention=config.task.attention, **runner)
            runners = [model.encoder, model.decoder]
        else:
            model = DirectForecaster(*sizes, pooling=m.pooling, **runner)
            runners = [model.encoder]
        if initialize:
            initialize_runners(m, runners, span=self.span())
        return model

    def label(self, config: RunConfig) -> str:
        m = config.model
        return f"seq2seq ({m.cell})" if m.name == "seq2seq" else m.cell

    def predict_input(self, path: str) -> list:
        raise UsageError("a forecast model reads recent history in the training file's layout "
                         "(CSV or Parquet), not JSON sequences; use rnnkit forecast")  # fmt: skip

    def export_example(self) -> Tensor:
        raise ExportError("export covers models of one input (B, T, D); a forecaster reads "
                          "two, the lookback window and the known-future covariates of the "
                          "horizon")  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        self.load()
        return {"series": self.names, "mean": self.mean.tolist(), "std": self.std.tolist(),
                "mase_scale": self.mase_scale.tolist()}  # fmt: skip

    # -- data ----------------------------------------------------------------------------------
    def load(self) -> None:
        if self.loaded:
            return
        c = self.config
        series = read_series(c.data, time_col=c.time_col, target=c.target, id_col=c.id_col,
                             past=self.past, future=self.future, missing=c.missing)  # fmt: skip
        N = series.length
        held = c.valid_steps or max(self.horizon, N // 10)
        self.parts = split(N, lookback=self.lookback, horizon=self.horizon, valid=held,
                           test=c.test_steps or held)  # fmt: skip
        end = self.parts.train_end
        if self.season >= end:
            raise SeriesError(f"task.season: {self.season} steps is not shorter than the "
                              f"training part ({end} steps)")  # fmt: skip
        self.series, self.names = series, list(series.names)
        raw = _columns_of(series)  # (S, N, D)
        self.mean = raw[:, :end].mean(axis=1)  # (S, D): the training part's, per column
        std = raw[:, :end].std(axis=1)
        self.std = np.where(std > 0, std, 1.0)  # a constant column keeps its scale
        self.scaler = Scaler(self.mean[:, 0], self.std[:, 0])
        self.features = self._scale(raw)  # (S, N, D)
        self.scaled = self.features[..., 0]  # (S, N)
        # MASE's scale per series: the in-sample seasonal naive error on the training part.
        scales = [M.seasonal_scale(series.target[s, :end], self.season)
                  for s in range(len(series.names))]  # fmt: skip
        self.mase_scale = np.array([x if x > 0 else 1.0 for x in scales])
        self.starts = {
            name: window_starts(
                *self.parts.part(name), lookback=self.lookback, horizon=self.horizon
            )  # fmt: skip
            for name in ("train", "valid", "test")
        }
        self.loaded = True
        self.baseline = {"mase": self._seasonal_naive_mase("valid")}

    def _scale(self, raw: np.ndarray) -> np.ndarray:
        """(S, N, D) columns on the data's scale -> scaled float32."""
        return ((raw - self.mean[:, None]) / self.std[:, None]).astype(np.float32)

    def _windows(self, part: str) -> tuple[ForecastInputs, Tensor]:
        starts = self.starts[part]
        S = self.features.shape[0]
        series = np.repeat(np.arange(S), len(starts))
        return self._gather(series, np.tile(starts, S))

    def _gather(self, series: np.ndarray, starts: np.ndarray) -> tuple[ForecastInputs, Tensor]:
        """The windows of ``series`` (B,) whose first target is at ``starts`` (B,)."""
        rows_in = starts[:, None] + np.arange(-self.lookback, 0)
        rows_out = starts[:, None] + np.arange(self.horizon)
        x = self.features[series[:, None], rows_in]  # (B, lookback, D)
        future = self.features[series[:, None], rows_out, self.input_size - self.future_size :]
        y = self.scaled[series[:, None], rows_out]  # (B, horizon)
        return self._pack(x, future, y, series)

    def _pack(self, x: np.ndarray, future: np.ndarray, y: np.ndarray | None,
              series: np.ndarray) -> tuple[ForecastInputs, Tensor | None]:  # fmt: skip
        """Shift by the window's last input (``scaling="window"``) and append the series
        index and the shift to the targets (None: no targets, only the two columns)."""
        shift = x[:, -1, 0].copy() if self.config.scaling == "window" else np.zeros(len(x))
        x = x.copy()
        x[..., 0] -= shift[:, None]
        y = np.zeros((len(x), 0)) if y is None else y - shift[:, None]
        y = np.concatenate([y, series[:, None], shift[:, None]], 1)
        inputs = ForecastInputs(
            torch.from_numpy(x.astype(np.float32)),
            torch.from_numpy(np.ascontiguousarray(future, np.float32)),
        )
        return inputs, torch.from_numpy(y.astype(np.float32))  # fmt: skip

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        self.load()
        S, W = self.features.shape[0], len(self.starts["train"])
        gen = stream_generator(seed, "train", step)
        pick = torch.randint(0, S * W, (batch_size,), generator=gen).numpy()
        return self._gather(pick // W, self.starts["train"][pick % W])

    def eval_set(self, split: Split) -> tuple[ForecastInputs, Tensor]:
        self.load()
        return self._windows(split)

    def evaluate(self, model, split: Split, *, batch_size: int = 500, device="cpu",
                 bf16: bool = False, final: bool = False,
                 **decoding) -> dict[str, float]:  # fmt: skip
        x, y = self.eval_set(split)
        return self.score(self.outputs(model, x, batch_size=batch_size, device=device,
                                       bf16=bf16), y)  # fmt: skip

    def outputs(self, model, x: ForecastInputs, *, batch_size: int = 500, device="cpu",
                bf16: bool = False) -> Tensor:  # fmt: skip
        """The model's raw outputs (B, horizon * K) for inputs ``x``, in eval mode, batched."""
        device = torch.device(device)
        was_training = model.training
        model.eval()
        outs = []
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for i in range(0, len(x.past), batch_size):
                part = ForecastInputs(*(t[i : i + batch_size] for t in x)).to(device)
                outs.append(model(*part).float().cpu())
        model.train(was_training)
        return torch.cat(outs) if outs else torch.zeros(0, self.output_size)

    # -- loss and scores -----------------------------------------------------------------------
    def _split_output(self, output: Tensor) -> Tensor:
        """(B, horizon * K) -> (B, K, horizon)."""
        return output.float().reshape(output.shape[0], OUTPUTS[self.likelihood], self.horizon)

    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        target = y[:, : self.horizon]
        out = self._split_output(output)
        if self.likelihood == "none":
            return torch.nn.functional.mse_loss(out[:, 0], target)
        if self.likelihood == "gaussian":
            mean, log_std = out[:, 0], out[:, 1].clamp(-7, 7)
            return (log_std + 0.5 * ((target - mean) * torch.exp(-log_std)) ** 2).mean()
        q = torch.tensor(QUANTILES, device=out.device)[None, :, None]  # (1, Q, 1)
        diff = target[:, None, :] - out
        return torch.maximum(q * diff, (q - 1) * diff).mean()  # pinball loss

    def forecast(self, output: Tensor) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Point forecast and the 80% interval's bounds (None for point models), each
        (B, horizon), on the scaled values."""
        out = self._split_output(output)
        if self.likelihood == "none":
            return out[:, 0], None, None
        if self.likelihood == "gaussian":
            std = torch.exp(out[:, 1].clamp(-7, 7))
            return out[:, 0], out[:, 0] - Z80 * std, out[:, 0] + Z80 * std
        ordered = out.sort(dim=1).values  # quantiles may cross early in training
        return ordered[:, 1], ordered[:, 0], ordered[:, 2]

    def unscale(self, values: np.ndarray, series: np.ndarray, shift=0.0) -> np.ndarray:
        """(B, horizon) scaled values of windows from ``series`` (B,), shifted by ``shift``
        (B,) or 0, to the data's scale."""
        shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), series.shape)[:, None]
        return (values + shift) * self.scaler.std[series, None] + self.scaler.mean[series, None]

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        series = y[:, self.horizon].long().numpy()
        shift = y[:, self.horizon + 1].double().numpy()
        point, lower, upper = (None if t is None else t.detach().numpy()
                               for t in self.forecast(output))  # fmt: skip
        truth = self.unscale(y[:, : self.horizon].numpy(), series, shift)
        pred = self.unscale(point, series, shift)
        scores = self._accuracy(truth, pred, series)
        if lower is not None:
            scores["coverage"] = M.coverage(truth, self.unscale(lower, series, shift),
                                            self.unscale(upper, series, shift))  # fmt: skip
        scores["loss"] = self.loss(output, y).item()
        return scores

    def _accuracy(self, truth: np.ndarray, pred: np.ndarray, series: np.ndarray):
        """MASE averages each window's MAE over its series' scale."""
        window_mae = np.abs(truth - pred).mean(axis=1)
        return {
            "mase": float(np.mean(window_mae / self.mase_scale[series])),
            "smape": M.smape(truth, pred),
            "mae": M.mae(truth, pred),
            "rmse": M.rmse(truth, pred),
        }

    def _seasonal_naive_mase(self, part: str) -> float:
        starts = self.starts[part]
        m = self.season
        truth, pred, series = [], [], []
        for s in range(self.series.target.shape[0]):
            values = self.series.target[s]
            for t in starts:
                truth.append(values[t : t + self.horizon])
                pred.append(values[t - m + np.arange(self.horizon) % m])
                series.append(s)
        return self._accuracy(np.array(truth), np.array(pred), np.array(series))["mase"]

    # -- forecasting new data ------------------------------------------------------------------
    def read_recent(self, path: str | Path) -> Series:
        """A file of recent history in the training file's layout and columns; with
        known-future covariates, its last ``horizon`` rows are the times to forecast (target
        empty, covariates given)."""
        c = self.config
        return read_series(path, time_col=c.time_col, target=c.target, id_col=c.id_col,
                           past=self.past, future=self.future, missing=c.missing,
                           open_end=self.horizon if self.future else 0)  # fmt: skip

    def predict(self, model, series: Series, *, device="cpu") -> dict[str, np.ndarray]:
        """Forecast the ``horizon`` steps after each series' history in ``series`` (from
        :meth:`read_recent`): ``point``, and with intervals ``lower`` and ``upper`` (80%),
        each (S, horizon) on the data's scale, series in this task's order."""
        index = {name: i for i, name in enumerate(series.names)}
        absent = [n for n in self.names if n not in index]
        if absent:
            trained = ", ".join(map(repr, self.names))
            raise SeriesError(f"the data has no series {', '.join(map(repr, absent))} (the "
                              f"model was trained on {trained})")  # fmt: skip
        order = np.array([index[n] for n in self.names])
        raw = _columns_of(series)[order]  # (S, N, D)
        known = raw.shape[1] - (self.horizon if self.future else 0)
        if known < self.lookback:
            raise SeriesError(f"{known} steps of history, fewer than the model's lookback "
                              f"({self.lookback})")  # fmt: skip
        features = self._scale(raw)
        S = len(self.names)
        x = features[:, known - self.lookback : known]
        future = features[:, known:, self.input_size - self.future_size :]
        if not self.future:
            future = np.zeros((S, self.horizon, 0), dtype=np.float32)
        inputs, y = self._pack(x, future, None, np.arange(S))
        point, lower, upper = self.forecast(self.outputs(model, inputs, device=device))
        shift = y[:, 1].double().numpy()
        out = {"point": point, "lower": lower, "upper": upper}
        return {k: self.unscale(v.numpy(), np.arange(S), shift) for k, v in out.items()
                if v is not None}  # fmt: skip

    def forecast_frame(self, model, series: Series, *, device="cpu"):
        """:meth:`predict` as a table: one row per series and future step, with columns
        time (``task.time_col``), ``series``, ``step`` (1..horizon), ``forecast``, and for
        models with intervals ``lower_80`` and ``upper_80``."""
        import pandas as pd

        result = self.predict(model, series, device=device)
        H = self.horizon
        # With known-future covariates the file's last H rows are the times to forecast.
        times = series.times[-H:] if self.future else future_times(series.times, H)
        columns = {self.config.time_col: np.tile(times, len(self.names)),
                   "series": np.repeat(self.names, H), "step": np.tile(np.arange(1, H + 1),
                   len(self.names)), "forecast": result["point"].ravel()}  # fmt: skip
        if "lower" in result:
            columns.update(lower_80=result["lower"].ravel(), upper_80=result["upper"].ravel())
        return pd.DataFrame(columns)

    # -- after training: the backtest -----------------------------------------------------------
    def backtest(self, model, *, device="cpu", label: str | None = None) -> list[bt.Entry]:
        """Rolling-origin backtest over the test period: ``model`` and every baseline of
        ``task.baselines``, scored on the same windows (``task.backtest_origins`` cut-offs
        per series)."""
        self.load()
        cuts = bt.origins(*self.parts.part("test"), horizon=self.horizon,
                          count=self.config.backtest_origins)  # fmt: skip
        S = len(self.names)
        series, starts = np.repeat(np.arange(S), len(cuts)), np.tile(cuts, S)
        x, y = self._gather(series, starts)
        clock = time.perf_counter()
        output = self.outputs(model, x, device=device)
        point, lower, upper = (None if t is None else t.numpy() for t in self.forecast(output))
        shift = y[:, self.horizon + 1].double().numpy()
        unscale = functools.partial(self.unscale, series=series, shift=shift)
        scores = self.score(output, y)
        scores.pop("loss")
        label = label or getattr(model, "label", "model")
        entries = [bt.Entry(label, "neural", scores, unscale(point),
                            None if lower is None else unscale(lower),
                            None if upper is None else unscale(upper),
                            time.perf_counter() - clock)]  # fmt: skip
        truth = unscale(y[:, : self.horizon].numpy())
        for name in _columns(self.config.baselines):
            fit = BASELINES[name]
            clock = time.perf_counter()
            pred = np.stack([fit(self.series.target[s, :t], self.horizon, self.season)
                             for s, t in zip(series, starts, strict=True)])  # fmt: skip
            entries.append(bt.Entry(name, "baseline", self._accuracy(truth, pred, series), pred,
                                    seconds=time.perf_counter() - clock))  # fmt: skip
        self._backtest = (series, starts, truth)
        return entries

    def report(self, model, run_dir: Path, *, device="cpu") -> dict[str, Any] | None:
        """Backtest (see :meth:`backtest`) into ``backtest.csv``, ``backtest.txt`` and
        ``backtest.png``; returns the ranking for the run's summary."""
        if not self.config.backtest_origins:
            return None
        from rnnkit.report.plots import plot_forecasts
        from rnnkit.training.checkpoint import atomic_write_text

        entries = self.backtest(model, device=device)
        atomic_write_text(run_dir / "backtest.csv", bt.to_csv(entries))
        atomic_write_text(run_dir / "backtest.txt", bt.to_text(entries))
        series, starts, _ = self._backtest
        best = next((e for e in bt.ranking(entries) if e.kind == "baseline"), None)
        shown = [entries[0]] + ([best] if best is not None else [])
        first = int(starts.min()) - 2 * self.horizon
        panels = []
        for s in range(min(len(self.names), 4)):
            rows = np.flatnonzero(series == s)
            forecasts = []
            for e in shown:
                for r in rows:
                    t = slice(starts[r], starts[r] + self.horizon)
                    forecasts.append({
                        "label": e.name, "times": self.series.times[t], "point": e.point[r],
                        "lower": None if e.lower is None else e.lower[r],
                        "upper": None if e.upper is None else e.upper[r],
                        "style": "-" if e.kind == "neural" else "--",
                    })  # fmt: skip
            values, times = self.series.target[s, first:], self.series.times[first:]
            panels.append({"name": self.names[s], "times": times, "values": values,
                           "forecasts": forecasts})  # fmt: skip
        title = f"backtest: {len(set(starts.tolist()))} origins over the test period"
        plot_forecasts(panels, run_dir / "backtest.png", title=title)
        return {"backtest": {
            "origins": len(set(starts.tolist())),
            "ranking": [{"model": row[1], "kind": row[2],
                         **{m: v for m, v in zip(bt.METRICS, row[3:8], strict=True)
                            if v is not None}, "seconds": row[8]}
                        for row in bt.table_rows(entries)],
        }}  # fmt: skip

    @staticmethod
    def summary_lines(summary: dict[str, Any]) -> list[str]:
        """The backtest's ranking (from :meth:`report`), one line per model, best first."""
        backtest = summary.get("backtest")
        if not backtest:
            return []
        lines = [f"  backtest over {backtest['origins']} origins per series (test period), "
                 "by MASE:"]  # fmt: skip
        for k, row in enumerate(backtest["ranking"], 1):
            extra = f", coverage {row['coverage']:.2f}" if "coverage" in row else ""
            lines.append(f"    {k}. {row['model']:<16} MASE {row['mase']:.4g}, sMAPE "
                         f"{row['smape']:.4g}{extra} ({row['seconds']:.1f} s)")  # fmt: skip
        return lines

    def describe(self) -> str:
        if not self.loaded:
            return f"forecast of {self.config.target} ({self.config.data})"
        S, N = self.series.target.shape
        where = f"{S} series x {N} steps, {self.config.data}"
        return f"forecast {self.horizon} steps from {self.lookback} ({where})"
