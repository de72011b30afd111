"""Forecasting from a file of time series: ``lookback`` steps in, ``horizon`` steps out, as
point forecasts or with 80% prediction intervals (Gaussian or quantile), by a direct
multi-horizon model or a sequence-to-sequence one (``rnnkit.models.forecast``).

The series are split in time (``rnnkit.timeseries.windows``): training windows lie wholly
before the validation period, validation windows before the test period. The target is
normalized per series as ES-RNN does (``rnnkit.timeseries.normalize``: log for
multiplicative series, seasonal indices out, each window measured from its last value), the
covariates by their mean and standard deviation, all fitted on the training part only.
Season, lookback, holdouts, hidden size and steps default to values read from the data, and
after training the forecast may combine the network with ETS or SARIMA, chosen on the
validation origins (:meth:`ForecastTask.choose`).
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
from rnnkit.timeseries.normalize import LEVEL_MODES, Normalizer
from rnnkit.timeseries.windows import split, window_starts
from rnnkit.training.config import TaskConfig

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

QUANTILES = (0.1, 0.5, 0.9)
WEIGHTS = (1.0, 0.75, 0.5, 0.25, 0.0)  # the network's shares tried (combine auto)
PARTNERS = ("ets", "sarima")  # the statistical models it may be combined with
CHOICE_ORIGINS = 10  # validation origins per series that choose the combination
Z80 = 1.2815515655446004  # the 90% point of the standard normal: an 80% central interval
OUTPUTS = {"none": 1, "gaussian": 2, "quantile": len(QUANTILES)}


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


def _columns_of(series: Series) -> np.ndarray:
    """(S, N, D) on the data's scale: the target, the past, the known-future covariates."""
    return np.concatenate([series.target[..., None], series.past, series.future], axis=-1)


@functools.lru_cache(maxsize=2)
def _read(path: str, time_col: str, target: str, id_col: str | None, past: tuple, future: tuple,
          missing: str, modified: tuple[int, int]) -> Series:  # fmt: skip
    """``read_series``, remembered: a run reads its file up to three times (``--hidden auto``,
    ``--season auto`` and the task itself); ``modified`` (the file's mtime) keys a changed file
    anew. Nothing downstream writes into the
    arrays."""
    return read_series(path, time_col=time_col, target=target, id_col=id_col, past=list(past),
                       future=list(future), missing=missing)  # fmt: skip


def _modified(path: str) -> tuple[int, int]:
    """The file's modification time (ns) and size, (0, 0) for a bundled series or a missing
    file (whose read reports it)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


def _clock(times: np.ndarray) -> dict[str, Any] | None:
    """How to count steps on ``times`` (N,): the first time and the frequency (dates) or the
    step (numbers); None for irregular times, which no phase of a season can be given to."""
    from rnnkit.timeseries.data import infer_frequency, numeric_step

    if np.issubdtype(times.dtype, np.datetime64):
        freq = infer_frequency(times)
        return None if freq is None else {"origin": str(times[0]), "frequency": freq}
    step = numeric_step(times)
    return None if step is None else {"origin": float(times[0]), "step": float(step)}


def _auto_season(series: Series, end: int, clock: dict[str, Any] | None) -> int:
    """``--season auto``: the usual cycle of the times' frequency, else the period the
    autocorrelation of the training part ``[:end]`` shows (the most common one over the
    series); 1 when the training part is not longer than it."""
    from collections import Counter

    from rnnkit.timeseries import season as seasonality

    m = seasonality.season_from_frequency((clock or {}).get("frequency"))
    if m is None:
        found = [seasonality.season_from_values(v[:end]) for v in series.target]
        m = Counter(found).most_common(1)[0][0]
    return m if m < end else 1


def holdouts(length: int, horizon: int, valid: int | None, test: int | None) -> tuple[int, int]:
    """The validation and test lengths: as given, else 10% of the series each, at least
    horizon + 4 (five validation origins) and horizon + 2 (three test origins); on a short
    series those not given shrink, down to one horizon, until the training part keeps
    2 x horizon + 10 steps (a lookback of one horizon and ten windows)."""
    sizes = {"valid": valid or max(length // 10, horizon + 4),
             "test": test or max(length // 10, horizon + 2)}  # fmt: skip
    free = [k for k, given in (("valid", valid), ("test", test)) if not given]
    while length - sum(sizes.values()) < 2 * horizon + 10:
        shrinkable = [k for k in free if sizes[k] > horizon]
        if not shrinkable:
            break
        sizes[max(shrinkable, key=sizes.get)] -= 1
    return sizes["valid"], sizes["test"]


def auto_lookback(horizon: int, season: int, train: int) -> int:
    """``--lookback auto``: two horizons or one season, whichever is longer (at least 8, at
    most 400), shortened to leave 20 training windows in ``train`` steps, but not below
    min(that, max(horizon, 4))."""
    wanted = min(max(2 * horizon, season, 8), 400)
    room = train - horizon - 19
    return max(min(wanted, room), min(wanted, max(horizon, 4)))


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
    lookback: int | Literal["auto"] = "auto"
    """L: past steps the model reads; auto: two horizons or one season, whichever is longer
    (at least 8, at most 400), shortened so that a short series keeps 20 training windows."""
    season: int | Literal["auto"] = "auto"
    """The seasonal period in steps (12 for monthly data with a yearly cycle): the seasonal
    naive baseline, MASE's scale and the seasonal indices taken out; 1: none; auto: from the
    times' frequency (monthly 12, quarterly 4, weekly 52, daily 7, hourly 24, yearly 1), else
    from the autocorrelation of the training part."""
    missing: Literal["error", "ffill", "interpolate"] = "error"
    """What a missing value does: stop with its line, or fill it (forward, or a straight line
    in time)."""
    valid_steps: int | None = None
    """Time steps held out for validation (the checkpoint and the combination are chosen on
    the forecasts from every origin in it); None: 10% of the series, at least horizon + 4
    (five origins)."""
    test_steps: int | None = None
    """The last time steps, held out for testing; None: 10% of the series, at least
    horizon + 2 (three backtest origins)."""
    scaling: Literal["auto", "additive", "multiplicative", "series", "window"] = "auto"
    """What the network sees (``rnnkit.timeseries.normalize``): auto, additive and
    multiplicative take out each series' seasonal indices (when it passes M4's test of
    seasonality) and each window's level, on the log scale for multiplicative series (auto:
    positive series spanning a factor of 1.5 or more); series: the training part's mean and
    standard deviation only; window: that, less each window's last input."""
    combine: Literal["auto", "none"] = "auto"
    """auto: after training, the forecast is w x network + (1 - w) x S, S being ETS or
    SARIMA and w one of 1, 0.75, 0.5, 0.25, 0, whichever pair scores the best MASE from up
    to 10 origins over the validation period (S refitted at each), so a network that
    validates worse than a statistical model is outweighed; the summary shows the choice and
    the errors per origin. none: the network alone."""
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
    and log standard deviation) or 3 (quantiles). Targets y are (B, horizon + 3): the scaled
    future values, then the window's series index, its shift (the last input value,
    subtracted from the target channel and the targets; 0 with ``scaling="series"``) and
    the time index of its first target (the seasonal phase), which the scores need to undo
    the normalization (:meth:`unscaler`).

    ``state`` (from :meth:`state_dict`) rebuilds a trained run's task without its data: the
    series names, the covariates' training mean and standard deviation, the target's
    normalization, the resolved season and lookback, and the clock that places new data on
    the seasonal cycle, which :meth:`predict` needs to forecast from new data."""

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
        self.horizon = config.horizon
        # "auto" is read from the data (load) or from a trained run's state.
        self.lookback = None if config.lookback == "auto" else config.lookback
        self.season = None if config.season == "auto" else config.season
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
        self.weight = 1.0  # the network's share of the forecast: see choose() and attach()
        self.partner = "ets"  # the statistical model it is combined with
        if state:  # a trained run's task: its series and scaling, no data read
            self.names = list(state["series"])
            self.lookback = state.get("lookback", self.lookback)
            self.season = state.get("season", self.season)
            self.mean = np.asarray(state["mean"], dtype=np.float64)  # (S, D)
            self.std = np.asarray(state["std"], dtype=np.float64)
            self.mase_scale = np.asarray(state["mase_scale"], dtype=np.float64)
            self.clock = state.get("clock")
            if "normalizer" in state:
                self.normalizer = Normalizer.from_state(state["normalizer"])
            else:  # a run of rnnkit 0.1: the series' mean and standard deviation
                S = len(self.names)
                self.normalizer = Normalizer(np.zeros(S, bool), np.zeros((S, 1)),
                                             self.mean[:, 0], self.std[:, 0])  # fmt: skip

    @classmethod
    def resolve_config(cls, config: RunConfig) -> RunConfig:
        """``config`` with ``--season auto`` and ``--lookback auto`` read from the data, so
        the run records the numbers."""
        c = config.task
        if c.season != "auto" and c.lookback != "auto":
            return config
        task = cls(c)
        task.load()
        return config.replace(season=task.season, lookback=task.lookback)

    @classmethod
    def hidden_size(cls, config: RunConfig) -> int:
        """``--hidden auto``: sized to the training targets (windows x horizon, all series):
        32 below 10,000, 64 below 100,000, else 128. A network of 128 units (67k weights)
        fitted to the few hundred windows of a short series forecasts worse than one of 32
        (4k weights), which validation cannot fully repair by picking an early checkpoint."""
        if config.model.hidden != "auto":
            return config.model.hidden
        task = cls(config.task)
        task.load()
        targets = len(task.names) * len(task.starts["train"]) * task.horizon
        return 32 if targets < 10_000 else 64 if targets < 100_000 else 128

    def default_steps(self, batch_size: int) -> int:
        """``--steps auto``: 100 passes over the training windows, within 500-2000 steps."""
        windows = len(self.names) * len(self.starts["train"])
        return int(np.clip(np.ceil(100 * windows / batch_size), 500, 2000))

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
                "mase_scale": self.mase_scale.tolist(), "lookback": self.lookback,
                "season": self.season, "normalizer": self.normalizer.state(),
                "clock": self.clock}  # fmt: skip

    # -- data ----------------------------------------------------------------------------------
    def load(self) -> None:
        if self.loaded:
            return
        c = self.config
        series = _read(c.data, c.time_col, c.target, c.id_col, tuple(self.past),
                       tuple(self.future), c.missing, _modified(c.data))  # fmt: skip
        N, H = series.length, self.horizon
        valid, test = holdouts(N, H, c.valid_steps, c.test_steps)
        end = N - valid - test  # the training part's length, whatever the lookback
        self.clock = _clock(series.times)
        if self.season is None:
            self.season = _auto_season(series, end, self.clock)
        if self.lookback is None:
            self.lookback = auto_lookback(H, self.season, end)
        self.parts = split(N, lookback=self.lookback, horizon=H, valid=valid, test=test)
        if self.season >= end:
            raise SeriesError(f"task.season: {self.season} steps is not shorter than the "
                              f"training part ({end} steps)")  # fmt: skip
        self.series, self.names = series, list(series.names)
        raw = _columns_of(series)  # (S, N, D)
        self.mean = raw[:, :end].mean(axis=1)  # (S, D): the training part's, per column
        std = raw[:, :end].std(axis=1)
        self.std = np.where(std > 0, std, 1.0)  # a constant column keeps its scale
        self.normalizer = Normalizer.fit(series.target[:, :end], series.target, mode=c.scaling,
                                         season=self.season,
                                         deseasonalize=self.clock is not None)  # fmt: skip
        self.features = self._scale(raw, 0)  # (S, N, D)
        self.scaled = self.features[..., 0]  # (S, N)
        # MASE's scale per series: the in-sample seasonal naive error on the training part.
        scales = [M.seasonal_scale(series.target[s, :end], self.season)
                  for s in range(len(series.names))]  # fmt: skip
        # A series that repeats exactly has no in-sample error (up to rounding): scale 1.
        size = np.abs(series.target[:, :end]).mean(axis=1)
        self.mase_scale = np.array([x if x > 1e-9 * size[s] else 1.0
                                    for s, x in enumerate(scales)])  # fmt: skip
        self.starts = {
            name: window_starts(
                *self.parts.part(name), lookback=self.lookback, horizon=self.horizon
            )  # fmt: skip
            for name in ("train", "valid", "test")
        }
        self.loaded = True
        self.baseline = {"mase": self._seasonal_naive_mase("valid")}

    def _scale(self, raw: np.ndarray, first: int) -> np.ndarray:
        """(S, N, D) columns on the data's scale, the first at time index ``first`` -> scaled
        float32: the target by the normalizer, the covariates by their mean and deviation."""
        out = (raw - self.mean[:, None]) / self.std[:, None]
        out[..., 0] = self.normalizer.transform(raw[..., 0], first)
        return out.astype(np.float32)

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
        return self._pack(x, future, y, series, starts)

    def _pack(self, x: np.ndarray, future: np.ndarray, y: np.ndarray | None,
              series: np.ndarray, starts: np.ndarray
              ) -> tuple[ForecastInputs, Tensor | None]:  # fmt: skip
        """Shift by the window's last input (its level; every scaling but ``series``) and
        append the series index, the shift and the first target's time index to the targets
        (None: no targets, only the three columns)."""
        level = self.config.scaling in LEVEL_MODES
        shift = x[:, -1, 0].astype(np.float64) if level else np.zeros(len(x))
        x = x.copy()
        x[..., 0] -= shift[:, None]
        y = np.zeros((len(x), 0)) if y is None else y - shift[:, None]
        y = np.concatenate([y, series[:, None], shift[:, None], starts[:, None]], 1)
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

    def unscale(self, values: np.ndarray, series: np.ndarray, shift=0.0, start=0) -> np.ndarray:
        """(B, horizon) scaled values of windows from ``series`` (B,), shifted by ``shift``
        (B,) or 0, whose first step has time index ``start`` (B,) or 0, to the data's scale."""
        shift = np.broadcast_to(np.asarray(shift, dtype=np.float64), series.shape)[:, None]
        start = np.broadcast_to(np.asarray(start, dtype=np.int64), series.shape)[:, None]
        index = start + np.arange(values.shape[1])
        return self.normalizer.inverse(values + shift, series, index)

    def unscaler(self, y: Tensor):
        """The unscale of the windows whose targets are ``y`` (their last three columns)."""
        H = self.horizon
        start = np.rint(y[:, H + 2].double().numpy()).astype(np.int64)
        return functools.partial(self.unscale, series=y[:, H].long().numpy(),
                                 shift=y[:, H + 1].double().numpy(), start=start)  # fmt: skip

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        series = y[:, self.horizon].long().numpy()
        unscale = self.unscaler(y)
        point, lower, upper = (None if t is None else t.detach().numpy()
                               for t in self.forecast(output))  # fmt: skip
        truth = unscale(y[:, : self.horizon].double().numpy())
        pred = unscale(point)
        scores = self._accuracy(truth, pred, series)
        if lower is not None:
            scores["coverage"] = M.coverage(truth, unscale(lower), unscale(upper))
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
        each (S, horizon) on the data's scale, series in this task's order. With a
        combination chosen (:meth:`attach`), its statistical partner (ETS or SARIMA) is
        fitted on each history and the point is ``weight`` x network + (1 - weight) x
        partner, the intervals moved with it."""
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
        first = self._index_of(series.times)
        features = self._scale(raw, first)
        S = len(self.names)
        x = features[:, known - self.lookback : known]
        future = features[:, known:, self.input_size - self.future_size :]
        if not self.future:
            future = np.zeros((S, self.horizon, 0), dtype=np.float32)
        inputs, y = self._pack(x, future, None, np.arange(S), np.full(S, first + known))
        point, lower, upper = self.forecast(self.outputs(model, inputs, device=device))
        unscale = self.unscaler(torch.cat([torch.zeros(S, self.horizon), y], 1))
        raw_out = {"point": point, "lower": lower, "upper": upper}
        out = {k: unscale(v.double().numpy()) for k, v in raw_out.items() if v is not None}
        if self.weight < 1:
            fit = BASELINES[self.partner]
            stat = np.stack([fit(raw[s, :known, 0], self.horizon, self.season)
                             for s in range(S)])  # fmt: skip
            move = (1 - self.weight) * (stat - out["point"])
            out = {k: v + move for k, v in out.items()}
        return out

    def _index_of(self, times: np.ndarray) -> int:
        """The time index (steps since the training file's first time) of ``times[0]``, which
        places new data on the seasonal cycle; 0 when the run takes out no season."""
        if self.normalizer.season == 1 or self.clock is None:
            return 0
        import pandas as pd

        origin = self.clock["origin"]
        if "frequency" in self.clock:
            if not np.issubdtype(times.dtype, np.datetime64):
                raise SeriesError("the times are numbers, but the model was trained on dates")
            first, origin = pd.Timestamp(times[0]), pd.Timestamp(origin)
            low, high = sorted([first, origin])
            steps = len(pd.date_range(low, high, freq=self.clock["frequency"])) - 1
            if pd.Timestamp(high) not in pd.date_range(low, periods=steps + 1,
                                                       freq=self.clock["frequency"]):  # fmt: skip
                raise SeriesError(f"the first time {first} is not on the training data's "
                                  f"{self.clock['frequency']} grid from {origin}")  # fmt: skip
            return steps if first >= origin else -steps
        steps = (float(times[0]) - origin) / self.clock["step"]
        if abs(steps - round(steps)) > 1e-6:
            raise SeriesError(f"the first time {times[0]} is not on the training data's grid "
                              f"(from {origin}, every {self.clock['step']:g})")  # fmt: skip
        return int(round(steps))

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

    # -- after training: the combination and the backtest ---------------------------------------
    def origin_forecasts(self, model, part: str, count: int, partners: tuple[str, ...],
                         *, device="cpu"):  # fmt: skip
        """Forecasts from up to ``count`` origins per series over ``part``: the windows'
        series (B,) and starts (B,), the truth, the network's output and its point forecast,
        and each statistical partner's (refitted at each origin; None when a fit fails),
        (B, horizon) each on the data's scale."""
        cuts = bt.origins(*self.parts.part(part), horizon=self.horizon, count=count)
        S = len(self.names)
        series, starts = np.repeat(np.arange(S), len(cuts)), np.tile(cuts, S)
        x, y = self._gather(series, starts)
        output = self.outputs(model, x, device=device)
        unscale = self.unscaler(y)
        truth = unscale(y[:, : self.horizon].double().numpy())
        net = unscale(self.forecast(output)[0].double().numpy())
        stats = {}
        for name in partners:
            try:
                pred = np.stack([BASELINES[name](self.series.target[s, :t], self.horizon,
                                                 self.season)
                                 for s, t in zip(series, starts, strict=True)])  # fmt: skip
            except (ValueError, np.linalg.LinAlgError):
                pred = None
            stats[name] = pred if pred is not None and np.isfinite(pred).all() else None
        return series, starts, truth, output, y, net, stats

    def choose(self, model, *, device="cpu") -> dict[str, Any] | None:
        """``combine auto``: the partner (ETS or SARIMA) and the network's share w of
        w x network + (1 - w) x partner with the best MASE over the validation origins (ties
        to the larger share, then to ETS); sets :attr:`weight` and :attr:`partner` and
        returns the choice, the MASE of every share and the errors per origin, or None
        (``combine none``, or no partner can be fitted)."""
        self.load()
        if self.config.combine == "none":
            return None
        series, starts, truth, _, _, net, stats = self.origin_forecasts(
            model, "valid", CHOICE_ORIGINS, PARTNERS, device=device)  # fmt: skip
        stats = {name: pred for name, pred in stats.items() if pred is not None}
        if not stats:
            return None
        scores = {(name, w): self._accuracy(truth, w * net + (1 - w) * pred, series)["mase"]
                  for name, pred in stats.items() for w in WEIGHTS}  # fmt: skip
        order = {name: k for k, name in enumerate(PARTNERS)}
        self.partner, self.weight = min(scores, key=lambda c: (scores[c], -c[1], order[c[0]]))
        chosen = self.weight * net + (1 - self.weight) * stats[self.partner]

        def per_origin(pred: np.ndarray) -> list[float]:
            err = np.abs(truth - pred).mean(axis=1) / self.mase_scale[series]
            return [round(float(err[starts == t].mean()), 4) for t in np.unique(starts)]

        return {"weight": self.weight, "partner": self.partner,
                "origins": [int(t) for t in np.unique(starts)],
                "mase": {name: {str(w): round(scores[name, w], 4) for w in WEIGHTS}
                         for name in stats},
                "per_origin": {"network": per_origin(net), "chosen": per_origin(chosen),
                               **{name: per_origin(pred)
                                  for name, pred in stats.items()}}}  # fmt: skip

    def attach(self, run_dir: str | Path) -> None:
        """Use the combination a finished run chose (its ``summary.json``), as ``rnnkit
        forecast`` and the Forecaster do."""
        import json

        path = Path(run_dir) / "summary.json"
        summary = json.loads(path.read_text()) if path.is_file() else {}
        choice = summary.get("combination") or {}
        self.weight = float(choice.get("weight", 1.0))
        self.partner = choice.get("partner", "ets")

    def backtest(self, model, *, device="cpu", label: str | None = None) -> list[bt.Entry]:
        """Rolling-origin backtest over the test period: ``model`` (and, when a combination
        with a statistical partner was chosen, the forecast it makes) and every baseline of
        ``task.baselines``, scored on the same windows (``task.backtest_origins`` cut-offs
        per series)."""
        self.load()
        clock = time.perf_counter()
        names = _columns(self.config.baselines)
        # A partner that is also a baseline is fitted once, in the baselines' loop below.
        partners = (self.partner,) if self.weight < 1 and self.partner not in names else ()
        series, starts, truth, output, y, net, stats = self.origin_forecasts(
            model, "test", self.config.backtest_origins, partners, device=device)  # fmt: skip
        seconds = time.perf_counter() - clock
        unscale = self.unscaler(y)
        _, lower, upper = (None if t is None else t.double().numpy()
                           for t in self.forecast(output))  # fmt: skip
        scores = self.score(output, y)
        scores.pop("loss")
        label = label or getattr(model, "label", "model")
        entries = [bt.Entry(label, "neural", scores, net,
                            None if lower is None else unscale(lower),
                            None if upper is None else unscale(upper), seconds)]  # fmt: skip
        baselines = []
        for name in names:
            fit = BASELINES[name]
            clock = time.perf_counter()
            pred = np.stack([fit(self.series.target[s, :t], self.horizon, self.season)
                             for s, t in zip(series, starts, strict=True)])  # fmt: skip
            baselines.append(bt.Entry(name, "baseline", self._accuracy(truth, pred, series),
                                      pred, seconds=time.perf_counter() - clock))  # fmt: skip
            if name == self.partner:
                stats[name] = pred if np.isfinite(pred).all() else None
        if self.weight < 1 and stats.get(self.partner) is not None:
            w, combined = self.weight, self.weight * net + (1 - self.weight) * stats[self.partner]
            entries.append(bt.Entry(f"{w:g} {label} + {1 - w:g} {self.partner}", "combined",
                                    self._accuracy(truth, combined, series), combined,
                                    seconds=seconds))  # fmt: skip
        entries += baselines
        self._backtest = (series, starts, truth)
        return entries

    def report(self, model, run_dir: Path, *, device="cpu") -> dict[str, Any] | None:
        """Choose the combination on the validation origins (:meth:`choose`), then
        backtest (:meth:`backtest`) into ``backtest.csv``, ``backtest.txt`` and
        ``backtest.png``; returns the choices (season, lookback, normalization, combination)
        and the ranking for the run's summary."""
        self.load()
        report = {"season": self.season, "lookback": self.lookback,
                  "normalization": self.normalizer.describe(self.names),
                  "combination": self.choose(model, device=device)}  # fmt: skip
        if not self.config.backtest_origins:
            return report
        from rnnkit.report.plots import plot_forecasts
        from rnnkit.training.checkpoint import atomic_write_text

        entries = self.backtest(model, device=device)
        atomic_write_text(run_dir / "backtest.csv", bt.to_csv(entries))
        atomic_write_text(run_dir / "backtest.txt", bt.to_text(entries))
        series, starts, _ = self._backtest
        best = next((e for e in bt.ranking(entries) if e.kind == "baseline"), None)
        delivered = entries[1] if entries[1].kind == "combined" else entries[0]
        shown = [delivered] + ([best] if best is not None else [])
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
                        "style": "--" if e.kind == "baseline" else "-",
                    })  # fmt: skip
            values, times = self.series.target[s, first:], self.series.times[first:]
            panels.append({"name": self.names[s], "times": times, "values": values,
                           "forecasts": forecasts})  # fmt: skip
        title = f"backtest: {len(set(starts.tolist()))} origins over the test period"
        plot_forecasts(panels, run_dir / "backtest.png", title=title)
        return {**report, "backtest": {
            "origins": len(set(starts.tolist())),
            "ranking": [{"model": row[1], "kind": row[2],
                         **{m: v for m, v in zip(bt.METRICS, row[3:8], strict=True)
                            if v is not None}, "seconds": row[8]}
                        for row in bt.table_rows(entries)],
        }}  # fmt: skip

    @staticmethod
    def summary_lines(summary: dict[str, Any]) -> list[str]:
        """The choices and the backtest's ranking (from :meth:`report`), one line per model,
        best first."""
        lines = []
        if "season" in summary:
            lines.append(f"  season {summary['season']}, lookback {summary['lookback']}; "
                         + "; ".join(summary["normalization"]))  # fmt: skip
        choice = summary.get("combination")
        if choice:
            w, partner = choice["weight"], choice.get("partner", "ets").upper()
            mix = f"{w:g} x network + {1 - w:g} x {partner}"
            what = "the network alone" if w == 1 else f"{partner} alone" if w == 0 else mix
            tried = "; ".join(f"{name}: " + ", ".join(f"{k} -> {v:.3g}" for k, v in by.items())
                              for name, by in choice["mase"].items())  # fmt: skip
            lines.append(f"  forecast: {what}, chosen by MASE over {len(choice['origins'])} "
                         f"validation origins (network share with {tried})")  # fmt: skip
        backtest = summary.get("backtest")
        if not backtest:
            return lines
        lines.append(f"  backtest over {backtest['origins']} origins per series (test period), "
                     "by MASE:")  # fmt: skip
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
