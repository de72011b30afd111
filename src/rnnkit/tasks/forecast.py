"""Forecasting from a file of time series: ``lookback`` steps in, ``horizon`` steps out, with a
direct multi-horizon head (one output per future step), as point forecasts or with 80%
prediction intervals (Gaussian or quantile).

The series are split in time (``rnnkit.timeseries.windows``): training windows lie wholly
before the validation period, validation windows before the test period; each series is
scaled with the mean and standard deviation of its training part only. Inputs per step: the
scaled target, then the scaled covariates over the lookback (known-future covariates enter
as lagged inputs too, for now: the forecaster that reads their future values is still to
come). Metrics are computed
on the original scale: MASE (scaled by each series' in-sample seasonal naive error; the
main metric), sMAPE, MAE, RMSE, and for intervals their coverage. The task's baseline is the
seasonal naive forecast scored the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.tasks.base import Split, Task, stream_generator
from rnnkit.timeseries import metrics as M
from rnnkit.timeseries.data import SeriesError, read_series
from rnnkit.timeseries.windows import Scaler, split, window_starts, windows

if TYPE_CHECKING:
    from rnnkit.training.config import TaskConfig

QUANTILES = (0.1, 0.5, 0.9)
Z80 = 1.2815515655446004  # the 90% point of the standard normal: an 80% central interval
OUTPUTS = {"none": 1, "gaussian": 2, "quantile": len(QUANTILES)}


def _columns(text: str | None) -> list[str]:
    return [c.strip() for c in text.split(",") if c.strip()] if text else []


class ForecastTask(Task):
    """Windows of a file's series: x (B, lookback, D) -> forecasts (B, horizon * K), K = 1
    (point), 2 (Gaussian mean and log standard deviation) or 3 (quantiles). Targets y are
    (B, horizon + 2): the scaled future values, then the window's series index and its shift
    (with ``scaling="window"`` the last input value, subtracted from the target channel and
    the targets; else 0), which the scores need to undo the scaling."""

    name = "forecast"
    output = "regression"
    baseline_label = "seasonal naive, on the validation windows"

    def __init__(self, config: TaskConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.horizon, self.lookback, self.season = config.horizon, config.lookback, config.season
        self.likelihood = config.likelihood
        self.past, self.future = (
            _columns(config.past_covariates),
            _columns(config.future_covariates),
        )
        self.input_size = 1 + len(self.past) + len(self.future)
        self.output_size = self.horizon * OUTPUTS[self.likelihood]
        self.metrics = {"mase": "min", "smape": "min", "mae": "min", "rmse": "min"}
        if self.likelihood != "none":
            self.metrics["coverage"] = "max"
        self.baseline = {}
        self.loaded = False
        self.state = state

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
        self.series = series
        self.scaler = Scaler.fit(series.target, end)
        features = [self.scaler.transform(series.target)[..., None]]
        for extra in (series.past, series.future):
            for k in range(extra.shape[-1]):
                features.append(Scaler.fit(extra[..., k], end).transform(extra[..., k])[..., None])
        self.features = np.concatenate(features, axis=-1).astype(np.float32)  # (S, N, D)
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

    def _windows(self, part: str) -> tuple[Tensor, Tensor]:
        starts = self.starts[part]
        x, _ = windows(self.features, starts, lookback=self.lookback, horizon=self.horizon)
        _, y = windows(self.scaled, starts, lookback=self.lookback, horizon=self.horizon)
        series = np.repeat(np.arange(self.features.shape[0]), len(starts))
        return self._pack(x, y, series)

    def _pack(self, x: np.ndarray, y: np.ndarray, series: np.ndarray) -> tuple[Tensor, Tensor]:
        """Shift by the window's last input (``scaling="window"``) and append the series
        index and the shift to the targets."""
        shift = x[:, -1, 0].copy() if self.config.scaling == "window" else np.zeros(len(x))
        x = x.copy()
        x[..., 0] -= shift[:, None]
        y = np.concatenate([y - shift[:, None], series[:, None], shift[:, None]], 1)
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.float32))

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        self.load()
        S, W = self.features.shape[0], len(self.starts["train"])
        gen = stream_generator(seed, "train", step)
        pick = torch.randint(0, S * W, (batch_size,), generator=gen).numpy()
        series, starts = pick // W, self.starts["train"][pick % W]
        rows_in = starts[:, None] + np.arange(-self.lookback, 0)
        rows_out = starts[:, None] + np.arange(self.horizon)
        x = self.features[series[:, None], rows_in]  # (B, lookback, D)
        y = self.scaled[series[:, None], rows_out]  # (B, horizon)
        return self._pack(x, y, series)

    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        self.load()
        return self._windows(split)

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

    def describe(self) -> str:
        if not self.loaded:
            return f"forecast of {self.config.target} ({self.config.data})"
        S, N = self.series.target.shape
        where = f"{S} series x {N} steps, {self.config.data}"
        return f"forecast {self.horizon} steps from {self.lookback} ({where})"
