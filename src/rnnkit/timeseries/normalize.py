"""What the network sees of a series' values: per-series normalization fitted on the training
part only, in the manner of ES-RNN (Smyl 2020, winner of M4): the level and the seasonality
are taken out by a classical model, and the network learns what is left.

Per series s and time index t (0 = the training file's first time), the target becomes

    z_t = (g_s(y_t) - season_s[t mod m] - mean_s) / std_s

- ``g_s`` is the log for a multiplicative series (its seasonal swing and its noise grow with
  its level), else the identity (additive);
- ``season_s`` (m,) the seasonal indices of g_s(y) (classical decomposition), zero unless the
  series passes M4's seasonality test;
- ``mean_s`` and ``std_s`` the mean of what is left and the spread of its steps (its first
  differences): a change of one unit is a typical step of the series.

The task then subtracts each window's last input (its level), so the network forecasts changes
from the present on a deseasonalized, variance-stabilized scale. Modes:

=================  ==================================================================
``series``         g = identity, no season; mean and standard deviation of the values
``window``         as ``series``; the task also subtracts each window's last input
``additive``       g = identity, season when the data show one, step-sized scale
``multiplicative`` g = log (all values must be positive)
``auto``           multiplicative when the series is positive and spans at least a
                   factor of 1.5 (growth, or a swing proportional to the level), and
                   never comes near 0 (below 2% of its median); else additive
=================  ==================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rnnkit.errors import SeriesError
from rnnkit.timeseries import season as seasonality
from rnnkit.timeseries.windows import Scaler

MODES = ("auto", "additive", "multiplicative", "series", "window")
LEVEL_MODES = ("auto", "additive", "multiplicative", "window")  # windows shifted to their level


def multiplicative(values: np.ndarray) -> bool:
    """``auto``'s choice for one series (N,) (all of it: a log needs every value positive)."""
    y = values[np.isfinite(values)]
    if len(y) == 0 or y.min() <= 0:
        return False
    return bool(y.max() / y.min() >= 1.5 and y.min() >= 0.02 * np.median(y))


@dataclass(frozen=True)
class Normalizer:
    """The normalization of S series (see the module's docstring).

    Attributes:
        log: (S,) whether g_s is the log.
        seasonal: (S, m) seasonal indices on g's scale (zeros: none); m = 1 without a season.
        mean, std: (S,) the centre and the unit of what is left.
    """

    log: np.ndarray
    seasonal: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, whole: np.ndarray, *, mode: str, season: int,
            deseasonalize: bool = True) -> Normalizer:  # fmt: skip
        """From the training part ``values`` (S, N) of the series ``whole`` (S, M), the
        whole only deciding the log (g must apply to every value the task will read).
        ``deseasonalize``: False when the times cannot be counted in steps (irregular), so no
        phase can be given to later data."""
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        S, N = values.shape
        if mode in ("series", "window"):
            plain = Scaler.fit(values, N)
            return cls(np.zeros(S, bool), np.zeros((S, 1)), plain.mean, plain.std)
        if mode == "multiplicative":
            for s in range(S):
                if not (whole[s][np.isfinite(whole[s])] > 0).all():
                    raise SeriesError(f"task.scaling: 'multiplicative' takes the log of every "
                                      f"value, and series {s} has values <= 0; use "
                                      "'additive'")  # fmt: skip
            log = np.ones(S, bool)
        elif mode == "additive":
            log = np.zeros(S, bool)
        else:
            log = np.array([multiplicative(w) for w in whole])
        g = np.where(log[:, None], np.log(np.where(log[:, None], values, 1.0)), values)
        m = season if deseasonalize and season > 1 and N >= 3 * season else 1
        seasonal = np.zeros((S, m))
        for s in range(S):
            if m > 1 and seasonality.is_seasonal(g[s], m):
                seasonal[s] = seasonality.seasonal_indices(g[s], m)
        left = g - seasonal[:, np.arange(N) % m]
        steps = np.diff(left, axis=1).std(axis=1) if N > 1 else np.zeros(S)
        spread = left.std(axis=1)
        # Rounding leaves ~1e-15 of a series that is exactly level + season: that is no unit.
        tiny = 1e-9 * (np.abs(left).mean(axis=1) + spread)
        std = np.where(steps > tiny, steps, np.where(spread > tiny, spread, 1.0))
        return cls(log, seasonal, left.mean(axis=1), std)

    @property
    def season(self) -> int:
        return self.seasonal.shape[1]

    def transform(self, values: np.ndarray, first: int = 0, series: np.ndarray | None = None
                  ) -> np.ndarray:  # fmt: skip
        """(S, N) values whose first time has index ``first`` -> z (S, N). ``series``: which of
        the S fitted series the rows are (default: all, in order)."""
        s = np.arange(len(values)) if series is None else series
        log = self.log[s][:, None]
        bad = log & np.isfinite(values) & (values <= 0)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise SeriesError(f"value {values[row, col]:g} at step {col + 1} of series {row}: "
                              "the model works on the log of this series (positive values "
                              "only)")  # fmt: skip
        g = np.where(log, np.log(np.where(log, values, 1.0)), values)
        phase = (first + np.arange(values.shape[1])) % self.season
        left = g - self.seasonal[s][:, phase] - self.mean[s][:, None]
        return left / self.std[s][:, None]

    def inverse(self, z: np.ndarray, series: np.ndarray, index: np.ndarray) -> np.ndarray:
        """z (B, H) of rows from ``series`` (B,) at time indices ``index`` (B, H) -> values."""
        g = (z * self.std[series, None] + self.mean[series, None]
             + self.seasonal[series[:, None], index % self.season])  # fmt: skip
        # A wild forecast early in training must stay finite: exp overflows beyond ~709.
        return np.where(self.log[series, None], np.exp(np.clip(g, -700, 700)), g)

    def state(self) -> dict:
        return {"log": self.log.tolist(), "seasonal": self.seasonal.tolist(),
                "mean": self.mean.tolist(), "std": self.std.tolist()}  # fmt: skip

    @classmethod
    def from_state(cls, state: dict) -> Normalizer:
        numbers = {k: np.asarray(state[k], np.float64) for k in ("seasonal", "mean", "std")}
        return cls(np.asarray(state["log"], bool), **numbers)

    def describe(self, names: list[str]) -> list[str]:
        """One line per series: multiplicative or additive, and the season taken out."""
        lines = []
        for s, name in enumerate(names):
            kind = "multiplicative (log)" if self.log[s] else "additive"
            season = (f"seasonal indices of period {self.season} taken out"
                      if self.seasonal[s].any() else "no season taken out")  # fmt: skip
            lines.append(f"{name}: {kind}, {season}")
        return lines
