"""Labelled time series for classification: reading the UCR/UEA layouts, normalizing, and the
1-nearest-neighbour Euclidean baseline every result is compared with.

Two layouts:

- **wide** (the UCR archive's): one series per row, ``label,x0,x1,...`` (comma- or
  tab-separated, no header); a shorter series leaves its last cells empty or ``NaN``;
- **long**: a header with ``id``, ``time``, one column per channel and ``label``; one row per
  (series, time), so series may be multivariate and of any length.

A dataset is a list of (T_i, C) float arrays, one per series, and their labels.
:func:`read_labelled` tells the layouts apart by the first line: a header (a cell after the
first that is not a number) means long form, numbers after the first cell mean wide form.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rnnkit.text.parallel import decode_lines, read_bytes
from rnnkit.timeseries.data import SeriesError, read_csv, shown


@dataclass
class Labelled:
    """Series ``x`` (each (T_i, C)) and their ``labels`` (strings as read); ``names``: the
    channels' column names (long form), or None (wide form: one unnamed channel)."""

    x: list[np.ndarray]
    labels: list[str]
    names: list[str] | None = None

    @property
    def channels(self) -> int:
        return self.x[0].shape[1]


def read_wide(path: str | Path) -> Labelled:
    """A UCR file: ``label,x0,x1,...`` per line (commas or tabs), trailing gaps allowed."""
    path = Path(path)
    x, labels = [], []
    # Lines end at "\n" only: str.splitlines() also splits at \f, \v, \x1c-\x1e, \x85 and
    # U+2028, which shifted the line numbers of every message after such a character.
    lines = decode_lines(read_bytes(path, SeriesError), str(path), error=SeriesError)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.replace("\t", ",").split(",")]
        values = []
        for k, cell in enumerate(cells[1:], 1):
            if cell == "" or cell.lower() == "nan":
                values.append(np.nan)
                continue
            try:
                values.append(float(cell))
            except ValueError:
                raise SeriesError(f"{path}:{number}: column {k + 1}: {shown(cell)} is not a "
                                  "number") from None  # fmt: skip
        if not cells[0]:
            raise SeriesError(f"{path}:{number}: column 1: empty label")
        series = np.asarray(values)
        present = np.flatnonzero(~np.isnan(series))
        if not len(present):
            raise SeriesError(f"{path}:{number}: no values after the label")
        if present[-1] + 1 != len(present):
            gap = int(np.flatnonzero(np.isnan(series[: present[-1]]))[0]) + 2
            raise SeriesError(f"{path}:{number}: column {gap}: missing value inside the "
                              "series (only trailing cells may be empty)")  # fmt: skip
        x.append(series[: len(present), None])
        labels.append(cells[0])
    if not x:
        raise SeriesError(f"{path}: no series")
    return Labelled(x, labels)


def read_long(path: str | Path, *, id_col: str = "id", time_col: str = "time",
              label_col: str = "label") -> Labelled:  # fmt: skip
    """A long-form CSV: every column but id, time and label is a channel."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise SeriesError(f"{path}: no such file")
    # Only empty cells are missing: pandas' other NA words ("NA", "None", "null", "n/a", ...)
    # are ids and class names like any other (a "None" class was refused as missing).
    frame = read_csv(path, dtype={id_col: str, label_col: str}, keep_default_na=False,
                     na_values=[""])  # fmt: skip
    for col in (id_col, time_col, label_col):
        if col not in frame.columns:
            raise SeriesError(f"{path}: no column {col!r} (columns: "
                              f"{', '.join(map(str, frame.columns))})")  # fmt: skip
    channels = [c for c in frame.columns if c not in (id_col, time_col, label_col)]
    if not channels:
        raise SeriesError(f"{path}: no channel columns besides {id_col}, {time_col}, {label_col}")
    line = np.arange(len(frame)) + 2  # row i of the frame is line i + 2 (after the header)
    blank = frame.isna().all(axis=1).to_numpy()
    frame, line = frame[~blank], line[~blank]
    for c in (id_col, time_col, label_col):
        missing = frame[c].isna().to_numpy()
        if missing.any():
            _refuse_short_row(path, int(line[np.argmax(missing)]), len(frame.columns))
            raise SeriesError(f"{path}:{line[np.argmax(missing)]}: column {c!r}: missing value")
    for c in channels:
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            cell = frame[c].iloc[i]
            if pd.isna(cell):
                _refuse_short_row(path, int(line[i]), len(frame.columns))
            what = "missing value" if pd.isna(cell) else f"{shown(cell)} is not a number"
            raise SeriesError(f"{path}:{line[i]}: column {c!r}: {what}")
        frame[c] = values
    x, labels = [], []
    for key, g in frame.groupby(id_col, sort=False):
        g = g.sort_values(time_col, kind="stable")
        names = g[label_col].astype(str).unique()
        if len(names) > 1:
            raise SeriesError(f"{path}: series {key} has several labels: {', '.join(names)}")
        x.append(g[channels].to_numpy(dtype=np.float64))
        labels.append(names[0])
    if not x:
        raise SeriesError(f"{path}: no series")
    return Labelled(x, labels, [str(c) for c in channels])


def _refuse_short_row(path: Path, number: int, columns: int) -> None:
    """Raise for line ``number`` if it has fewer cells than the header's ``columns`` (pandas
    fills them with NaN, which would read as an empty cell)."""
    import csv
    import itertools

    with path.open(encoding="utf-8", newline="") as f:
        line = next(itertools.islice(f, number - 1, None), "")
    cells = len(next(csv.reader([line]), []))
    if cells < columns:
        raise SeriesError(f"{path}:{number}: {cells} cells, but the header names {columns} "
                          "columns (a ragged row)")  # fmt: skip


def detect_layout(path: str | Path) -> Literal["wide", "long"]:
    """``"long"`` when the first non-blank line is a header (a cell after the first is not a
    number, an empty cell or NaN), else ``"wide"``."""
    path = Path(path)
    if not path.is_file():
        raise SeriesError(f"{path}: no such file")
    # Bytes that are not UTF-8 are replaced here; the reader then names their line.
    with path.open(encoding="utf-8", errors="replace") as f:
        first = next((line for line in f if line.strip()), None)
    if first is None:
        raise SeriesError(f"{path}: no series (empty file)")
    cells = [c.strip() for c in first.replace("\t", ",").split(",")][1:]
    return "wide" if all(_is_number(c) for c in cells) else "long"


def _is_number(cell: str) -> bool:
    if cell == "":
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_labelled(path: str | Path, *, id_col: str = "id", time_col: str = "time",
                  label_col: str = "label") -> Labelled:  # fmt: skip
    """Read a file in either layout (see :func:`detect_layout`)."""
    if detect_layout(path) == "wide":
        return read_wide(path)
    try:
        return read_long(path, id_col=id_col, time_col=time_col, label_col=label_col)
    except SeriesError as e:
        if ": no column " not in str(e):
            raise
        raise SeriesError(f"{e}; its first line has a cell that is not a number, so it was read "
                          "as a long-form header (a wide UCR file has a label, then only numbers, "
                          "on every line)") from None  # fmt: skip


def channel_stats(data: Labelled) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation (1 where a channel is constant) over every
    step of every series: the statistics of ``"global"`` normalization."""
    stacked = np.concatenate(data.x)
    mean, std = stacked.mean(axis=0), stacked.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)


def normalize(data: Labelled, how: Literal["series", "global", "none"],
              reference: Labelled | None = None, *,
              stats: tuple[np.ndarray, np.ndarray] | None = None) -> Labelled:  # fmt: skip
    """z-normalize each series on its own (``"series"``, the UCR convention, per channel), or
    every series with the mean and std of ``reference`` (``"global"``: the training set), or
    with given ``stats`` (mean, std) per channel."""
    if how == "none":
        return data
    if how == "series":
        out = []
        for s in data.x:
            std = s.std(axis=0)
            out.append((s - s.mean(axis=0)) / np.where(std > 0, std, 1.0))
        return Labelled(out, data.labels, data.names)
    if how != "global":
        raise ValueError(f"how: expected 'series', 'global' or 'none', got {how!r}")
    mean, std = stats if stats is not None else channel_stats(reference or data)
    return Labelled([(s - mean) / std for s in data.x], data.labels, data.names)


def nearest_neighbour(train: Labelled, test: Labelled) -> list[str]:
    """1-NN with Euclidean distance: each test series takes the label of the closest training
    series. Series of different lengths are compared over their common prefix, the distance
    scaled to the longer length (sqrt(T_max / T_common)), so a short overlap is not favoured;
    ties go to the earlier training series."""
    lengths = {len(s) for s in train.x} | {len(s) for s in test.x}
    if len(lengths) == 1:  # the common case: one matrix of distances
        a = np.stack([s.ravel() for s in test.x])
        b = np.stack([s.ravel() for s in train.x])
        d2 = (a**2).sum(1)[:, None] - 2 * a @ b.T + (b**2).sum(1)[None, :]
        return [train.labels[i] for i in np.argmin(d2, axis=1)]
    out = []
    for s in test.x:
        best, label = np.inf, None
        for r, name in zip(train.x, train.labels, strict=True):
            n = min(len(s), len(r))
            d = np.sqrt(np.sum((s[:n] - r[:n]) ** 2) * max(len(s), len(r)) / n)
            if d < best:
                best, label = d, name
        out.append(label)
    return out
