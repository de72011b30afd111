"""Chronological splits, scaling fitted on the training part only, and (lookback, horizon)
windows that never let a later period's targets into an earlier period's data.

The N times split into three consecutive parts, train [0, a), validation [a, b), test [b, N).
A window is ``lookback`` inputs followed by ``horizon`` targets. A part's windows have all
their targets inside the part; their inputs may reach back into earlier parts (at forecast
time the past is known) but never into later ones. Training windows lie wholly in [0, a), so
no validation or test value reaches training, as input or as target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.timeseries.data import SeriesError


@dataclass(frozen=True)
class Split:
    """Boundaries of the three parts: train [0, train_end), validation [train_end,
    valid_end), test [valid_end, length)."""

    train_end: int
    valid_end: int
    length: int

    def part(self, name: str) -> tuple[int, int]:
        """[start, end) of ``"train"``, ``"valid"`` or ``"test"``."""
        return {"train": (0, self.train_end), "valid": (self.train_end, self.valid_end),
                "test": (self.valid_end, self.length)}[name]  # fmt: skip


def split(length: int, *, lookback: int, horizon: int, valid: int, test: int) -> Split:
    """Hold out the last ``test`` times for testing and the ``valid`` before them for
    validation; raises :class:`SeriesError` unless training keeps at least one window."""
    for name, value in (("lookback", lookback), ("horizon", horizon)):
        if value < 1:
            raise SeriesError(f"{name}: expected a positive number of steps, got {value}")
    for name, value in (("valid", valid), ("test", test)):
        if value and value < horizon:
            raise SeriesError(f"{name}: {value} steps hold no window of horizon {horizon}")
    train_end = length - valid - test
    if train_end < lookback + horizon:
        raise SeriesError(
            f"the series has {length} steps: after {valid} for validation and {test} for "
            f"testing, {max(train_end, 0)} remain for training, fewer than lookback + horizon "
            f"= {lookback + horizon}; shorten --horizon or --lookback, or hold out fewer "
            "steps (--valid-steps, --test-steps)"
        )
    return Split(train_end, train_end + valid, length)


@dataclass(frozen=True)
class Scaler:
    """Per series: (x - mean) / std, with mean and std (S,) from the training part only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, end: int) -> Scaler:
        """From ``values[:, :end]`` of (S, N) values (a constant series gets std 1)."""
        part = values[:, :end]
        std = part.std(axis=1)
        return cls(part.mean(axis=1), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """(S, ...) values, series first."""
        shape = (-1,) + (1,) * (values.ndim - 1)
        return (values - self.mean.reshape(shape)) / self.std.reshape(shape)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        shape = (-1,) + (1,) * (values.ndim - 1)
        return values * self.std.reshape(shape) + self.mean.reshape(shape)


def window_starts(start: int, end: int, *, lookback: int, horizon: int, stride: int = 1,
                  earliest: int = 0) -> np.ndarray:  # fmt: skip
    """The first target index t of every window whose targets [t, t + horizon) lie in
    [start, end) and whose inputs [t - lookback, t) lie in [earliest, end)."""
    first = max(start, earliest + lookback)
    last = end - horizon
    if last < first:
        return np.zeros(0, dtype=np.int64)
    return np.arange(first, last + 1, stride, dtype=np.int64)


def windows(values: np.ndarray, starts: np.ndarray, *, lookback: int, horizon: int
            ) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Inputs (S * W, lookback, ...) and targets (S * W, horizon, ...) of (S, N, ...) values
    at the W window ``starts``, series-major."""
    idx_in = starts[:, None] + np.arange(-lookback, 0)  # (W, lookback)
    idx_out = starts[:, None] + np.arange(horizon)  # (W, horizon)
    x = values[:, idx_in]  # (S, W, lookback, ...)
    y = values[:, idx_out]
    return x.reshape(-1, *x.shape[2:]), y.reshape(-1, *y.shape[2:])
