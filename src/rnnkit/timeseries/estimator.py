"""A scikit-learn-style face of the forecast task for Python users: ``fit``, ``predict``,
``save``, ``load``.

Example::

    >>> import statsmodels.api as sm
    >>> co2 = sm.datasets.co2.load_pandas().data.interpolate()    # weekly, DatetimeIndex
    >>> f = Forecaster(horizon=12, lookback=104, season=52, cell="gru", steps=600)
    >>> f.fit(co2.rename_axis("date"), target="co2")               # doctest: +SKIP
    >>> f.predict(co2.rename_axis("date").iloc[-200:])              # doctest: +SKIP
       date        series  step  forecast
    0  2002-01-05  co2     1     371.4 ...

Every keyword of the constructor is a flat config field of ``rnnkit train``: a field of the
forecast task's config (:class:`~rnnkit.tasks.forecast.ForecastConfig`:
``likelihood="quantile"``, ``attention``, ``valid_steps``, ...) or of the model, optimizer and
training sections (``cell``, ``hidden``, ``model="seq2seq"``, ``steps``, ``lr``, ...); a field
of another task is refused. ``fit`` trains exactly as ``rnnkit train --task forecast`` does,
into ``out`` (a temporary directory by default, removed with the object), including the
backtest against the baselines (``backtest_``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from rnnkit.timeseries.data import SeriesError


class Forecaster:
    """Train and apply a recurrent forecaster.

    Args:
        horizon, lookback, season: as ``--horizon``, ``--lookback``, ``--season``.
        out: the run directory (default: a temporary one, deleted with this object).
        **config: any other flat config field of the forecast task or of every run
            (``likelihood="gaussian"``, ``cell="gru"``, ``steps=1000``, ...).

    Attributes (after :meth:`fit` or :meth:`load`):
        summary_: the run's summary (validation and test metrics, baseline, backtest).
        backtest_: the backtest's ranking, best first (list of dicts), or None.
        task_, model_, config_: the task (with its scaling), the model and the config.
    """

    def __init__(self, *, horizon: int = 12, lookback: int | str = "auto",
                 season: int | str = "auto",
                 out: str | Path | None = None, **config: Any) -> None:  # fmt: skip
        self.params = dict(horizon=horizon, lookback=lookback, season=season, **config)
        self.params.setdefault("quiet", True)
        self.out = out
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.run_dir: Path | None = None

    # -- training ----------------------------------------------------------------------------
    def fit(self, data, *, target: str, time_col: str = "date", id_col: str | None = None,
            past_covariates: str | None = None,
            future_covariates: str | None = None) -> Forecaster:  # fmt: skip
        """Train on ``data``: a CSV/Parquet path or a pandas DataFrame (its index is used as
        the time column when it is named ``time_col``). Columns as for ``rnnkit train
        --task forecast``; comma-separated names where several are allowed."""
        from rnnkit.training.config import RunConfig
        from rnnkit.training.trainer import train

        if self.out is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="rnnkit-forecaster-")
            run_dir = Path(self._tmp.name) / "run"
        else:
            run_dir = Path(self.out)
        run_dir.mkdir(parents=True, exist_ok=True)
        path = _as_file(data, run_dir / "data.csv", time_col)
        config = RunConfig().replace(
            task="forecast", data=str(path), target=target, time_col=time_col, id_col=id_col,
            past_covariates=past_covariates, future_covariates=future_covariates,
            out=str(run_dir), **self.params,
        )  # fmt: skip
        train(config)
        self._open(run_dir)
        return self

    def _open(self, run_dir: Path) -> None:
        import json

        from rnnkit.training.trainer import load_run

        self.run_dir = Path(run_dir)
        self.config_, self.task_, self.model_ = load_run(self.run_dir)
        self.task_.attach(self.run_dir)
        summary = self.run_dir / "summary.json"
        self.summary_ = json.loads(summary.read_text()) if summary.is_file() else {}
        self.backtest_ = self.summary_.get("backtest", {}).get("ranking")

    # -- forecasting ---------------------------------------------------------------------------
    def predict(self, data):
        """Forecast the ``horizon`` steps after ``data`` (a path or a DataFrame with the
        training data's columns and at least ``lookback`` steps; with known-future
        covariates, its last ``horizon`` rows give them, target empty). Returns a DataFrame:
        time, ``series``, ``step``, ``forecast`` (and ``lower_80``, ``upper_80``)."""
        self._fitted()
        with tempfile.TemporaryDirectory(prefix="rnnkit-predict-") as tmp:
            path = _as_file(data, Path(tmp) / "recent.csv", self.config_.task.time_col)
            series = self.task_.read_recent(path)
        return self.task_.forecast_frame(self.model_, series)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Copy the trained run (config, best checkpoint, summary, plots) to ``path``, a new
        directory; written beside it first and renamed, so it is never half there."""
        self._fitted()
        path = Path(path)
        if path.exists():
            raise FileExistsError(f"{path}: already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        keep = shutil.ignore_patterns("data.csv", "tensorboard")
        shutil.copytree(self.run_dir, staging, ignore=keep, dirs_exist_ok=True)
        staging.rename(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Forecaster:
        """A Forecaster from a directory written by :meth:`save` or ``rnnkit train``."""
        path = Path(path)
        if not (path / "config.yaml").is_file():
            raise SeriesError(f"{path}: not a saved forecaster (no config.yaml)")
        model = cls(out=path)
        model._open(path)
        if model.config_.task.name != "forecast":
            raise SeriesError(f"{path}: a {model.config_.task.name} run, not a forecaster")
        model.params.update(horizon=model.task_.horizon, lookback=model.task_.lookback,
                            season=model.task_.season)  # fmt: skip
        return model

    def _fitted(self) -> None:
        if self.run_dir is None:
            raise RuntimeError("Forecaster: call fit() or Forecaster.load() first")


def _as_file(data, path: Path, time_col: str) -> Path:
    """``data`` as a file: a path as it is; a DataFrame written to ``path`` as CSV."""
    if isinstance(data, (str, Path)):
        return Path(data)
    import pandas as pd

    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data: expected a path or a pandas DataFrame, got {type(data).__name__}")
    if time_col not in data.columns and data.index.name == time_col:
        data = data.reset_index()
    data.to_csv(path, index=False)
    return path
