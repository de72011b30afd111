"""Reading time series from CSV or Parquet into aligned arrays, with every check a user's file
needs: the columns exist, times parse and strictly increase, values are numbers, and missing
values are either an error or filled as asked.

Two layouts:

- **wide**: one row per time, one column per series (``target="a,b,c"`` or a single column);
- **long**: one row per (series, time), an ``id_col`` naming the series; every series must
  have the same times (they are aligned into one table).

A regular series (dates at a frequency, or numbers at a common step) with times absent from
its grid has gaps: an error by default, else rows inserted there and filled like missing
values, so that the result lies on the grid. Irregular times are read as they are.

Errors name the file, the column and the line (the header is line 1), e.g.
``sales.csv:14: column 'date': cannot read 'tomorrow' as a time``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from rnnkit.errors import SeriesError

Missing = Literal["error", "ffill", "interpolate"]
MISSING = ("error", "ffill", "interpolate")


@dataclass(frozen=True)
class Series:
    """S aligned series over N times.

    Attributes:
        times: (N,) the time index (datetime64, or numbers), strictly increasing.
        names: the S series' names (columns in wide form, ids in long form).
        target: (S, N) float64 values to forecast.
        past: (S, N, Cp) covariates known only up to the present (may be empty, Cp = 0).
        future: (S, N, Cf) covariates known ahead, e.g. calendar features (Cf may be 0).
    """

    times: np.ndarray
    names: list[str]
    target: np.ndarray
    past: np.ndarray
    future: np.ndarray
    past_names: list[str] = field(default_factory=list)
    future_names: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        return self.target.shape[1]

    @classmethod
    def from_arrays(cls, target, times=None, names=None) -> Series:
        """Series from a (N,) or (S, N) array, no covariates (tests, bundled data)."""
        target = np.atleast_2d(np.asarray(target, dtype=np.float64))
        S, N = target.shape
        times = np.arange(N) if times is None else np.asarray(times)
        names = names or [f"series{i}" for i in range(S)]
        empty = np.zeros((S, N, 0))
        return cls(times, list(names), target, empty, empty.copy())


def read_series(
    path: str | Path,
    *,
    time_col: str,
    target: str | list[str],
    id_col: str | None = None,
    past: list[str] = (),
    future: list[str] = (),
    missing: Missing = "error",
    open_end: int = 0,
) -> Series:
    """Read ``path`` (``.csv``, or ``.parquet`` with pyarrow installed) into :class:`Series`.

    Args:
        time_col: the time column (dates in any format pandas reads, or numbers).
        target: the column to forecast (long form), or one or more columns, each a series
            (wide form; a comma-separated string or a list).
        id_col: long form: the column naming each row's series.
        past, future: covariate columns (past-only; known in the future).
        missing: what an empty or NaN value does: ``"error"`` (the default) stops with its
            line; ``"ffill"`` repeats the last value; ``"interpolate"`` draws a straight line
            in time. A value missing before a series' first number is always an error. The
            same for a time missing from a regular series (see :func:`infer_frequency` and
            :func:`numeric_step`): an error naming the line after the gap, or a row inserted
            and filled (target and covariates), so that every series lies on its grid.
        open_end: the last ``open_end`` rows of each series are times to forecast: their
            target must be empty (NaN in the result); their covariates are read as usual.
    """
    import pandas as pd

    path = Path(path)
    if missing not in MISSING:
        raise SeriesError(f"missing: expected one of {MISSING}, got {missing!r}")
    frame = _read_table(path)
    targets = [t.strip() for t in target.split(",")] if isinstance(target, str) else list(target)
    columns = [time_col, *targets, *past, *future] + ([id_col] if id_col else [])
    for col in columns:
        if col not in frame.columns:
            raise SeriesError(
                f"{path}: no column {col!r} (columns: {', '.join(map(str, frame.columns))})"
            )
    if id_col and len(targets) != 1:
        raise SeriesError(f"{path}: long form (id column {id_col!r}) takes one target column, "
                          f"got {', '.join(targets)}")  # fmt: skip
    if frame.empty:
        raise SeriesError(f"{path}: no rows")
    # The header is line 1 and read_csv kept blank lines in its row count (then dropped
    # them), so row label i is line i + 2.
    line = pd.Series(frame.index.to_numpy() + 2, index=frame.index)
    times = _parse_times(frame[time_col], line, path, time_col)
    for col in [*targets, *past, *future]:
        frame[col] = _numbers(frame[col], line, path, col)
    if id_col and frame[id_col].isna().any():
        i = frame[id_col].isna().idxmax()
        raise SeriesError(f"{path}:{line[i]}: column {id_col!r}: missing series id")
    frame = frame.assign(_time=times, _line=line)
    groups = [(str(k), g) for k, g in frame.groupby(id_col, sort=False)] if id_col else [
        (None, frame)]  # fmt: skip
    reference = None
    series_names, values, pasts, futures = [], [], [], []
    for name, g in groups:
        _check_order(g, path, time_col, where=where(name))
        g = _fill_gaps(g, path, name, missing, open_end)
        if reference is None:
            reference = g["_time"].to_numpy()
        elif not np.array_equal(g["_time"].to_numpy(), reference):
            t = g["_time"].to_numpy()
            n = min(len(t), len(reference))
            k = int(np.argmin(t[:n] == reference[:n])) if (t[:n] != reference[:n]).any() else n
            at = f":{g['_line'].iloc[k]}" if k < len(g) else ""  # else: the series ends early
            raise SeriesError(
                f"{path}{at}: series {name!r} has other times than series {series_names[0]!r}; "
                "every series of a long-form file needs the same times"
            )
        if open_end and len(g) <= open_end:
            raise SeriesError(f"{path}: {len(g)} rows{where(name)}, but the last {open_end} "
                              "are the times to forecast: no history left")  # fmt: skip
        known = g.iloc[: len(g) - open_end]
        for col in targets if not id_col else targets[:1]:
            series_names.append(col if not id_col else name)
            if open_end and g[col].iloc[-open_end:].notna().any():
                i = int(np.argmax(g[col].iloc[-open_end:].notna().to_numpy()))
                raise SeriesError(
                    f"{path}:{g['_line'].iloc[len(g) - open_end + i]}: column {col!r}: the last "
                    f"{open_end} rows{where(name)} are the times to forecast (they carry the "
                    "known-future covariates); leave their target empty"
                )
            filled = _fill(known[col], known, path, col, missing)
            values.append(np.concatenate([filled, np.full(open_end, np.nan)]))
            pasts.append(np.concatenate([_stack(known, past, path, missing),
                                         np.full((open_end, len(past)), np.nan)]))  # fmt: skip
            futures.append(_stack(g, future, path, missing))
    return Series(
        times=reference,
        names=series_names,
        target=np.stack(values),
        past=np.stack(pasts),
        future=np.stack(futures),
        past_names=list(past),
        future_names=list(future),
    )


def where(name: str | None) -> str:
    """`` (series 'a')`` in long form, nothing in wide form."""
    return f" (series {name!r})" if name else ""


def _read_table(path: Path):
    import pandas as pd

    from rnnkit.timeseries import bundled

    if str(path).startswith(bundled.PREFIX):
        return bundled.load(str(path)[len(bundled.PREFIX) :])
    if not path.is_file():
        raise SeriesError(f"{path}: no such file")
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except ImportError:
            raise SeriesError(f"{path}: reading Parquet needs pyarrow (pip install "
                              "pyarrow)") from None  # fmt: skip
    if path.suffix not in (".csv", ".txt", ".tsv"):
        raise SeriesError(f"{path}: expected a .csv or .parquet file")
    if path.stat().st_size == 0:
        raise SeriesError(f"{path}: empty file")
    # Blank lines kept (then dropped) so that row i is line i + 2 in every message.
    frame = read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    return frame.dropna(how="all")


def _exact_floats(pd) -> dict:
    """pandas 3 reads numbers exactly by default and deprecates ``float_precision``; pandas 2
    needs ``round_trip`` for that."""
    return {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_csv(path: Path, sep: str = ",", **options):
    """``pd.read_csv`` with blank lines kept (row i is line i + 2), every failure a one-line
    SeriesError (with the line wherever one is at fault), and numbers read exactly (pandas'
    default converter can be one unit in the last place off: 1.9990706018527362 read as
    1.999070601852736)."""
    import warnings

    import pandas as pd

    try:
        with warnings.catch_warnings():
            # index_col=False: by default pandas reads a row with one cell more than the header
            # as index + cells, shifting them under the wrong columns; this warning is that row.
            warnings.filterwarnings("error", "Length of header", pd.errors.ParserWarning)
            frame = pd.read_csv(path, sep=sep, skip_blank_lines=False, index_col=False,
                                **_exact_floats(pd), **options)  # fmt: skip
    except pd.errors.ParserWarning:
        raise ragged_row(path, sep) from None
    except pd.errors.ParserError as e:
        raise malformed_csv(path, e) from None
    except pd.errors.EmptyDataError:
        raise SeriesError(f"{path}: no header and no rows") from None
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    except OSError as e:  # permissions, a file gone since the check
        raise SeriesError(f"{path}: cannot read ({e.strerror or e})") from None
    if options.get("header", "infer") is not None:
        # pandas renames a repeated column ("a", "a.1"); which one the user meant is unknown.
        import csv
        from collections import Counter

        with path.open(encoding="utf-8", newline="") as f:
            try:
                names = next(csv.reader(f, delimiter=sep), [])
            except csv.Error:  # a header cell over csv's field limit: pandas read it
                names = []
        twice = sorted(n for n, count in Counter(names).items() if count > 1)
        if twice:
            raise SeriesError(f"{path}:1: column {shown(twice[0])} appears twice in the header")
    return frame


def shown(value) -> str:
    """``repr(value)`` cut to 60 characters: a cell of megabytes stays a short message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:56] + "...'"


def not_utf8(path: Path) -> SeriesError:
    """The error for a file pandas could not decode, naming its first line that is not UTF-8."""
    from rnnkit.text.parallel import decode_lines

    try:
        decode_lines(path.read_bytes(), str(path), error=SeriesError)
    except SeriesError as e:
        return e
    return SeriesError(f"{path}: not UTF-8")


def malformed_csv(path: Path, error: Exception) -> SeriesError:
    """The error for a CSV file pandas could not split into cells, with the line pandas gives
    (it counts rows, the header included, as lines)."""
    message = str(error).strip()
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", message)
    if found:
        header, line, cells = found.groups()
        return SeriesError(f"{path}:{line}: {cells} cells, but the header names {header} "
                           "columns (a ragged row)")  # fmt: skip
    found = re.search(r"EOF inside string starting at row (\d+)", message)
    if found:  # rows count from 0, the header's
        return SeriesError(f"{path}:{int(found.group(1)) + 1}: a quote opens a cell that no "
                           "quote closes before the end of the file")  # fmt: skip
    return SeriesError(f"{path}: malformed CSV: {' '.join(message.split())}")


def ragged_row(path: Path, sep: str) -> SeriesError:
    """The error for the first row with more cells than the header names columns."""
    import csv

    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter=sep)
        try:
            header = len(next((cells for cells in rows if cells), []))
            for cells in rows:
                if len(cells) > header:
                    return SeriesError(f"{path}:{rows.line_num}: {len(cells)} cells, but the "
                                       f"header names {header} columns (a ragged row)")  # fmt: skip
        except csv.Error:
            pass
    return SeriesError(f"{path}: rows with more cells than the header names columns (ragged)")


def _parse_times(column, line, path: Path, name: str):
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        bad = column.isna()
        parsed = column.astype("float64")
    else:
        try:
            parsed = pd.to_datetime(column, errors="coerce", format="mixed")
        except ValueError as e:  # pandas refuses times in several time zones
            raise _mixed_zones(column, line, path, name, e) from None
        bad = parsed.isna()
        # Numbers do not parse as dates: in a column of numbers with one bad cell, every cell
        # is NaT, so name the first cell that is neither a date nor a number (the bad one).
        neither = bad & pd.to_numeric(column, errors="coerce").isna()
        if neither.any():
            bad = neither
    if bad.any():
        i = bad.idxmax()
        if pd.isna(column[i]):
            raise SeriesError(f"{path}:{line[i]}: column {name!r}: missing time")
        raise SeriesError(f"{path}:{line[i]}: column {name!r}: cannot read {shown(column[i])} as a "
                          "time")  # fmt: skip
    return parsed


def _mixed_zones(column, line, path: Path, name: str, error: Exception) -> SeriesError:
    """The error for times pandas cannot put on one axis: the first line whose time zone (or
    lack of one) differs from the first time's."""
    import pandas as pd

    first = None
    for i, cell in column.items():
        t = pd.to_datetime(cell, errors="coerce", format="mixed")
        if pd.isna(t):
            continue
        zone = (t.tzinfo is not None, t.utcoffset())
        if first is None:
            first = zone
        elif zone != first:
            return SeriesError(f"{path}:{line[i]}: column {name!r}: {shown(cell)} is in "
                               "another time zone than the times before it (write every time in "
                               "one zone)")  # fmt: skip
    return SeriesError(f"{path}: column {name!r}: cannot read the times: {error}")


def _numbers(column, line, path: Path, name: str):
    import pandas as pd

    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() & column.notna() & (column.astype(str).str.strip() != "")
    if bad.any():
        i = bad.idxmax()
        raise SeriesError(f"{path}:{line[i]}: column {name!r}: {shown(column[i])} is not a number")
    if not pd.api.types.is_numeric_dtype(column):  # cells kept as text (a column with blanks):
        # pandas' converter can be one unit in the last place off, Python's float() is exact
        values = values.astype("float64")
        present = values.notna()
        values[present] = [
            _exact(c, v) for c, v in zip(column[present], values[present], strict=True)
        ]
    return values.astype("float64")


def _exact(cell, value: float) -> float:
    try:
        return float(cell)
    except (TypeError, ValueError):  # a spelling pandas reads and Python does not
        return value


def _check_order(g, path: Path, name: str, where: str) -> None:
    t = g["_time"].to_numpy()
    if len(t) < 2:
        return
    steps = t[1:] > t[:-1]
    if not steps.all():
        k = int(np.argmin(steps)) + 1
        line, before = g["_line"].iloc[k], g["_line"].iloc[k - 1]
        if t[k] == t[k - 1]:
            raise SeriesError(f"{path}:{line}: column {name!r}{where}: repeats the time of line "
                              f"{before}, {_when(t[k])} (each time once per series)")  # fmt: skip
        raise SeriesError(f"{path}:{line}: column {name!r}{where}: goes back in time from line "
                          f"{before} ({_when(t[k])} after {_when(t[k - 1])}; times must strictly "
                          "increase)")  # fmt: skip


def infer_frequency(times) -> str | None:
    """The pandas alias (``"MS"``, ``"QS-JAN"``, ``"W-SUN"``, ``"D"``, ``"B"``, ``"h"``, ...)
    of the grid that datetime ``times`` (N,), strictly increasing, lie on with a few times
    absent; None for numbers, irregular times, or fewer than 3 times.

    ``pd.infer_freq`` needs every time present, so with gaps the candidates are what it infers
    on short runs of consecutive times; a candidate counts only if every time lies on
    ``pd.date_range(times[0], times[-1], freq)`` and at least half of that grid is present
    (sparse dates are irregular, not gappy). Of those, the coarsest grid wins (business days
    over days when no weekend day is present).
    """
    import pandas as pd

    index = pd.Index(times)
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 3:
        return None
    if not (index.is_unique and index.is_monotonic_increasing):
        return None
    # pd.infer_freq checks the days of calendar frequencies, not the time of day: verify it too.
    candidates = {_pandas_freq(index): None}
    # Runs of 7 then 3 times, at up to 25 places each: at least one misses every gap of a
    # series with a few, and 7 spans a weekend (3 consecutive weekdays read as daily).
    for w in (7, 3):
        if len(index) > w:
            for s in np.unique(np.linspace(0, len(index) - w, 25).astype(int)):
                found = _pandas_freq(index[s : s + w])
                if found is not None:
                    candidates.setdefault(found, None)
    fits = []
    for freq in filter(None, candidates):
        grid = pd.date_range(index[0], index[-1], freq=freq)
        if len(grid) <= 2 * len(index) and index.isin(grid).all():
            fits.append((len(grid), freq))
    return min(fits)[1] if fits else None


def numeric_step(times) -> float | None:
    """The common step of numeric ``times`` (N,), strictly increasing: the smallest spacing,
    if every spacing is a whole multiple of it (a multiple k > 1 is a gap of k - 1 times) and
    at least half the grid from the first time to the last is present; else None (datetimes,
    fewer than 2 times, irregular or sparse times)."""
    t = np.asarray(times)
    if t.ndim != 1 or len(t) < 2 or t.dtype.kind not in "iuf":
        return None
    spacing = np.diff(t.astype(np.float64))
    if not np.isfinite(spacing).all() or (spacing <= 0).any():
        return None
    step = spacing.min()
    k = spacing / step
    if not np.allclose(k, np.rint(k), rtol=0, atol=1e-6) or np.rint(k).sum() + 1 > 2 * len(t):
        return None
    return float(step)


def _pandas_freq(index) -> str | None:
    """``pd.infer_freq`` as an alias (pandas 3.1 deprecates returning strings; its offsets'
    ``freqstr`` is the same alias)."""
    import pandas as pd

    try:
        with pd.option_context("future.infer_freq_returns_offset", True):
            found = pd.infer_freq(index)
    except pd.errors.OptionError:  # pandas before 3.1: the alias itself
        found = pd.infer_freq(index)
    return None if found is None else getattr(found, "freqstr", found)


FREQUENCY_WORDS = {
    "Y": "yearly", "A": "yearly", "Q": "quarterly", "M": "monthly", "W": "weekly", "D": "daily",
    "B": "business-daily", "h": "hourly", "H": "hourly", "min": "minutely", "T": "minutely",
    "s": "secondly", "S": "secondly",
}  # fmt: skip


def _rhythm(freq: str) -> str:
    """``"monthly, MS"``: the frequency in words (a common one; else "regular") and its alias."""
    head = freq.split("-")[0]
    calendar = re.fullmatch(r"B?([YAQM])[SE]?", head)  # MS, BQE, YS: where the period is anchored
    return f"{FREQUENCY_WORDS.get(calendar.group(1) if calendar else head, 'regular')}, {freq}"


def _when(t) -> str:
    """A time as its file would write it: ``2021-03-01`` (midnight), ``2021-03-01 13:00:00``,
    ``4`` (a whole number), ``2.5``."""
    import pandas as pd

    if isinstance(t, (float, int, np.floating, np.integer)):
        return str(int(t)) if float(t).is_integer() else repr(float(t))
    stamp = pd.Timestamp(t)
    return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else str(stamp)


def _absent(times):
    """The times missing from the grid of ``times`` (a Series: datetimes or numbers) and how
    the grid steps (``"the series is monthly, MS"``), or None when the times are irregular."""
    import pandas as pd

    index = pd.Index(times.to_numpy())
    if isinstance(index, pd.DatetimeIndex):
        freq = infer_frequency(index)
        if freq is None:
            return None
        grid = pd.date_range(index[0], index[-1], freq=freq)
        return grid[~grid.isin(index)], f"the series is {_rhythm(freq)}"
    t = index.to_numpy(dtype=np.float64)
    step = numeric_step(t)
    if step is None:
        return None
    k = np.rint(np.diff(t) / step).astype(int)
    # Each gap's times divide its two neighbours' spacing evenly: no drift from step's rounding.
    inside = [t[i] + (t[i + 1] - t[i]) * np.arange(1, k[i]) / k[i] for i in np.flatnonzero(k > 1)]
    return np.concatenate([np.empty(0), *inside]), f"the times step by {_when(step)}"


def _fill_gaps(g, path: Path, name: str | None, missing: Missing, open_end: int):
    """Group ``g`` (its ``_time``, ``_line`` and value columns) with a row of NaN values at
    each time missing from its regular grid (an error with ``missing="error"``, or when a gap
    lies among the last ``open_end`` rows, the times to forecast); ``g`` itself when the times
    are irregular or complete. An inserted row carries the line of the row after its gap."""
    import pandas as pd

    found = _absent(g["_time"])
    if found is None or len(found[0]) == 0:
        return g
    absent, rhythm = found
    after = pd.Index(g["_time"].to_numpy()).searchsorted(absent)  # (M,) the row after each gap
    # A gap between two of the last open_end rows would change the times to forecast.
    late = after > len(g) - open_end if open_end else np.zeros(len(after), bool)
    if missing == "error" or late.any():
        k = after[0] if missing == "error" else after[int(np.argmax(late))]
        gap = [_when(t) for t in absent[after == k]]
        n, more = len(gap), int((after > k).sum())
        expected = ", ".join(gap if n <= 3 else [gap[0], gap[1], "...", gap[-1]])
        head = (f"{path}:{g['_line'].iloc[k]}: {n} time{'s' if n > 1 else ''} missing before "
                f"{_when(g['_time'].iloc[k])}{f' in series {name!r}' if name else ''}")  # fmt: skip
        if open_end and k > len(g) - open_end:
            raise SeriesError(f"{head} ({rhythm}: expected {expected}), among the last "
                              f"{open_end} rows (the times to forecast); add the rows")  # fmt: skip
        later = f"; {more} more missing after it" if more else ""
        raise SeriesError(f"{head} ({rhythm}: expected {expected}{later}); fill them with "
                          "--missing ffill|interpolate or add the rows")  # fmt: skip
    rows = pd.DataFrame({"_time": pd.Series(absent).astype(g["_time"].dtype).to_numpy(),
                         "_line": g["_line"].iloc[after].to_numpy()})  # fmt: skip
    filled = pd.concat([g, rows], ignore_index=True)
    return filled.sort_values("_time", kind="stable", ignore_index=True)


def _fill(column, g, path: Path, name: str, missing: Missing) -> np.ndarray:
    """``column`` of group ``g`` (its ``_time`` and ``_line``) with gaps filled by policy;
    interpolation is linear in time, not in row position."""
    line = g["_line"]
    values = column.to_numpy(dtype=np.float64)
    gaps = np.isnan(values)
    if not gaps.any():
        return values
    first = int(np.argmax(gaps))
    if missing == "error":
        raise SeriesError(f"{path}:{line.iloc[first]}: column {name!r}: missing value (fill "
                          "gaps with --missing ffill or --missing interpolate)")  # fmt: skip
    if gaps[0]:
        raise SeriesError(f"{path}:{line.iloc[0]}: column {name!r}: missing value before the "
                          "series' first number (nothing to fill it from)")  # fmt: skip
    if missing == "ffill":
        return column.ffill().to_numpy(dtype=np.float64)
    import pandas as pd

    timed = column.set_axis(pd.Index(g["_time"].to_numpy()))
    # A DatetimeIndex, time zone or not (np.issubdtype refuses a zone's dtype).
    method = "time" if isinstance(timed.index, pd.DatetimeIndex) else "index"
    return timed.interpolate(method).ffill().to_numpy(dtype=np.float64)


def _stack(g, columns, path: Path, missing: Missing) -> np.ndarray:
    if not columns:
        return np.zeros((len(g), 0))
    return np.stack([_fill(g[c], g, path, c, missing) for c in columns], axis=-1)


def future_times(times: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` times after ``times`` (N,): the frequency pandas infers from the last
    steps, else the last step's spacing repeated."""
    import pandas as pd

    if np.issubdtype(times.dtype, np.datetime64):
        index = pd.DatetimeIndex(times)
        freq = _pandas_freq(index[-min(len(index), 25) :]) if len(index) >= 3 else None
        if freq is not None:
            return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:].to_numpy()
    step = times[-1] - times[-2] if len(times) >= 2 else 1
    return times[-1] + step * np.arange(1, horizon + 1)
