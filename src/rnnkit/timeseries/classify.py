"""Labelled time series for classification: reading the UCR/UEA layouts, normalizing, and the
1-nearest-neighbour Euclidean baseline every result is compared with.

Three layouts:

- **wide** (the UCR archive's): one series per row, ``label,x0,x1,...`` (comma- or
  tab-separated); a shorter series leaves its last cells empty or ``NaN``. A first line of
  column names (``label,0,1,2,...``, ``target,att1,att2,...``) is a header: skipped, with a
  notice on stderr;
- **long**: a header with ``id``, ``time``, one column per channel and ``label``; one row per
  (series, time), so series may be multivariate and of any length;
- **.ts** (the UEA archive's, sktime's and aeon's): ``@tags``, ``@data``, then one series per
  line, ``dim1:dim2:...:label``, values separated by commas (see :func:`read_ts`).

A dataset is a list of (T_i, C) float arrays, one per series, and their labels.
:func:`read_labelled` reads a ``.ts`` file by its extension and tells the other layouts apart
by the first line (see :func:`detect_layout`).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from rnnkit.text.parallel import decode_lines, read_bytes
from rnnkit.timeseries.data import SeriesError, read_csv, shown


@dataclass
class Labelled:
    """Series ``x`` (each (T_i, C)) and their ``labels`` (strings as read); ``names``: the
    channels' column names (long form), or None (wide form: one unnamed channel; .ts files)."""

    x: list[np.ndarray]
    labels: list[str]
    names: list[str] | None = None

    @property
    def channels(self) -> int:
        return self.x[0].shape[1]


def _cells(line: str) -> list[str]:
    """A wide-form line's cells (commas or tabs), stripped."""
    return [c.strip() for c in line.replace("\t", ",").split(",")]


def _first_cell(line: str) -> str:
    return re.split("[,\t]", line, maxsplit=1)[0].strip()


def _names_columns(cells: list[str]) -> bool:
    """Whether the cells after the first name columns: none is a number (``att1``, ``t0``),
    or they count up from 0 or 1 (``0,1,2,...``). Trailing empty cells are ignored."""
    rest = cells[1:]
    while rest and rest[-1] == "":
        rest.pop()
    if not rest:
        return False
    if not any(c == "" or _is_number(c) for c in rest):
        return True
    # Digits only: a series of values written as floats ("0.0,1.0") is never a header.
    return any(rest == [str(k) for k in range(start, start + len(rest))] for start in (0, 1))


def _wide_header(lines: list[str]) -> int | None:
    """The (0-based) index of the first non-blank line if it is a wide-form header: it names
    columns (:func:`_names_columns`) and its first cell is no other line's label."""
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None or not _names_columns(_cells(lines[first])):
        return None
    name = _first_cell(lines[first])
    labels = {_first_cell(line) for line in lines[first + 1 :] if line.strip()}
    return None if name in labels else first


def _header_notice(path: Path, number: int, cells: list[str]) -> None:
    preview = ",".join(cells[:3]) + (",..." if len(cells) > 3 else "")
    if len(preview) > 60:
        preview = preview[:56] + "..."
    print(f"{path}: line {number} is a header ({preview}), skipped", file=sys.stderr)


def read_wide(path: str | Path) -> Labelled:
    """A UCR file: ``label,x0,x1,...`` per line (commas or tabs).

    A shorter series leaves its last cells empty or ``NaN``; a gap inside a series, a cell that
    is not a number and a label without values are errors naming the line (and column). A first
    line that names columns (``label,0,1,...``, ``target,att1,...``) and whose first cell is no
    other line's label is a header: skipped, with a notice on stderr.

    Returns:
        :class:`Labelled`: ``x`` a list of (T_i, 1) float64 arrays, ``labels`` each line's
        first cell, ``names`` None.
    """
    path = Path(path)
    x, labels = [], []
    # Lines end at "\n" only: str.splitlines() also splits at \f, \v, \x1c-\x1e, \x85 and
    # U+2028, which shifted the line numbers of every message after such a character.
    lines = decode_lines(read_bytes(path, SeriesError), str(path), error=SeriesError)
    header = _wide_header(lines)
    if header is not None:
        _header_notice(path, header + 1, _cells(lines[header]))
    skip = -1 if header is None else header + 1  # the header's line number
    for number, line in enumerate(lines, 1):
        if not line.strip() or number == skip:
            continue
        cells = _cells(line)
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
        after = "" if header is None else f" after the header (line {skip})"
        raise SeriesError(f"{path}: no series{after}")
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


def detect_layout(path: str | Path, *, id_col: str = "id", time_col: str = "time",
                  label_col: str = "label") -> Literal["wide", "long", "ts"]:  # fmt: skip
    """How :func:`read_labelled` reads ``path``.

    - ``"ts"``: a ``.ts`` file, by its extension;
    - ``"wide"``: the first non-blank line holds a label, then only numbers (an empty cell or
      NaN counts as one); or it names columns (``target,att1,att2,...``), its first cell is no
      other line's label, and the next lines hold a label and numbers (a UCR file with a
      header, see :func:`read_wide`);
    - ``"long"``: any other first line, a long-form header. One naming the ``id_col`` or the
      ``time_col``, or the ``label_col`` after its first cell, always is.
    """
    path = Path(path)
    if not path.is_file():
        raise SeriesError(f"{path}: no such file")
    if path.suffix.lower() == ".ts":
        return "ts"
    # Bytes that are not UTF-8 are replaced here; the reader then names their line.
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        first = next((line for line in f if line.strip()), None)
    if first is None:
        raise SeriesError(f"{path}: no series (empty file)")
    cells = _cells(first)
    if all(_is_number(c) for c in cells[1:]):
        return "wide"
    named = [c.strip('"') for c in cells]
    if id_col in named or time_col in named or label_col in named[1:]:
        return "long"
    # Only a first line that names columns reads the whole file: to see whether its first
    # cell is a label of the series below (then it is no header).
    text = path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    header = _wide_header(lines)
    if header is None:
        return "long"
    # A few lines tell a UCR file with a header from a long-form file with other column
    # names (its rows end with a label); a bad cell further down is read_wide's to name.
    rows = [line for line in lines[header + 1 :] if line.strip()][:5]
    return "wide" if all(all(map(_is_number, _cells(r)[1:])) for r in rows) else "long"


def _is_number(cell: str) -> bool:
    if cell == "":
        return True
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_ts(path: str | Path) -> Labelled:
    """A ``.ts`` file (the UEA archive's format, as sktime and aeon write it).

    Layout: ``#`` (or ``%``) comments; ``@tags`` (``@problemName``, ``@timeStamps false``,
    ``@univariate``, ``@dimensions``, ``@classLabel true <label> ...``, ...); ``@data``; then
    one series per line, ``dim1:dim2:...:label``, each dimension's values separated by commas,
    ``?`` or ``NaN`` for a missing value. As in wide form, missing values at the end of a
    dimension are padding (a shorter series) and are dropped; one inside a dimension is an
    error, and so are dimensions of different lengths on one line.

    Returns:
        :class:`Labelled`: ``x`` a list of (T_i, C) float64 arrays, C the number of
        dimensions (every line has the first line's); ``labels`` each line's class label,
        one of ``@classLabel``'s; ``names`` None.
    """
    path = Path(path)
    lines = decode_lines(read_bytes(path, SeriesError), str(path), error=SeriesError)
    classes: list[str] | None = None
    declared: tuple[int, int] | None = None  # (dimensions, line) from @dimensions/@univariate
    data_line = width = first = None
    x, labels = [], []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith(("#", "%")):  # "%": sktime's bundled files have both
            continue
        where = f"{path}:{number}"
        if data_line is None:
            tag, *words = text.split()
            tag = tag.lower()
            if not tag.startswith("@"):
                raise SeriesError(f"{where}: {shown(text)} before @data (the header holds only "
                                  "@tags and # comments)")  # fmt: skip
            value = words[0].lower() if words else ""
            if tag == "@data":
                if classes is None:
                    raise SeriesError(f"{where}: @data before any '@classLabel true <labels>' "
                                      "(a classification file declares its labels)")  # fmt: skip
                data_line = number
            elif tag == "@classlabel":
                if value != "true" or len(words) < 2:
                    raise SeriesError(f"{where}: expected '@classLabel true <label> ...' (the "
                                      f"labels of the series), got {shown(text)}")  # fmt: skip
                classes = words[1:]
            elif tag == "@timestamps" and value != "false":
                raise SeriesError(f"{where}: {shown(text)}: only '@timeStamps false' is read "
                                  "(series of values, not of (time, value) pairs)")  # fmt: skip
            elif tag == "@targetlabel" and value == "true":
                raise SeriesError(f"{where}: @targetLabel true is a regression file; "
                                  "classification reads '@classLabel true <labels>'")  # fmt: skip
            elif tag == "@dimensions" or (tag == "@univariate" and value == "true"):
                if tag == "@univariate":
                    words = ["1"]
                if len(words) != 1 or not words[0].isdigit() or int(words[0]) < 1:
                    raise SeriesError(f"{where}: expected '@dimensions <count>', got "
                                      f"{shown(text)}")  # fmt: skip
                declared = (int(words[0]), number)
            continue
        head, colon, label = text.rpartition(":")
        label = label.strip()
        if not colon:
            raise SeriesError(f"{where}: no ':' before a class label (a series is "
                              "dim1:dim2:...:label)")  # fmt: skip
        if label not in classes:
            known = ", ".join(classes[:20]) + (", ..." if len(classes) > 20 else "")
            raise SeriesError(f"{where}: label {shown(label)} is not one of @classLabel's: "
                              f"{known}")  # fmt: skip
        dims = head.split(":")
        if width is None:
            width, first = len(dims), number
            if declared is not None and declared[0] != width:
                raise SeriesError(f"{where}: {width} dimension(s), but line {declared[1]} "
                                  f"declares {declared[0]}")  # fmt: skip
        elif len(dims) != width:
            raise SeriesError(f"{where}: {len(dims)} dimension(s), but the first series (line "
                              f"{first}) has {width}")  # fmt: skip
        x.append(_ts_series(dims, where))
        labels.append(label)
    if data_line is None:
        raise SeriesError(f"{path}: no @data line (a .ts file holds @tags, then @data, then one "
                          "series per line)")  # fmt: skip
    if not x:
        raise SeriesError(f"{path}: no series after @data (line {data_line})")
    return Labelled(x, labels)


def _ts_series(dims: list[str], where: str) -> np.ndarray:
    """One .ts line's dimensions (each ``v1,v2,...``) as a (T, C) array, trailing missing
    values dropped; ``where`` (``file:line``) starts the errors."""
    columns = []
    for d, dim in enumerate(dims, 1):
        if not dim.strip():
            raise SeriesError(f"{where}: dimension {d}: no values")
        cells = [c.strip() for c in dim.split(",")]
        values = np.empty(len(cells))
        for k, cell in enumerate(cells):
            if cell == "?" or cell.lower() == "nan":
                values[k] = np.nan
                continue
            try:
                values[k] = float(cell)
            except ValueError:
                what = "an empty value" if cell == "" else f"{shown(cell)} is not a number"
                raise SeriesError(f"{where}: dimension {d}, value {k + 1}: {what}") from None
        present = np.flatnonzero(~np.isnan(values))
        if not len(present):
            raise SeriesError(f"{where}: dimension {d}: no values (all missing)")
        if present[-1] + 1 != len(present):
            gap = int(np.flatnonzero(np.isnan(values[: present[-1]]))[0]) + 1
            raise SeriesError(f"{where}: dimension {d}, value {gap}: missing value inside the "
                              "series (only trailing values may be missing)")  # fmt: skip
        columns.append(values[: len(present)])
    lengths = [len(c) for c in columns]
    if len(set(lengths)) > 1:
        counts = ", ".join(map(str, lengths))
        raise SeriesError(f"{where}: dimensions of different lengths ({counts} values); a "
                          "series' dimensions have one length")  # fmt: skip
    return np.stack(columns, axis=1)


def read_labelled(path: str | Path, *, id_col: str = "id", time_col: str = "time",
                  label_col: str = "label") -> Labelled:  # fmt: skip
    """Read a file in any layout (see :func:`detect_layout`)."""
    layout = detect_layout(path, id_col=id_col, time_col=time_col, label_col=label_col)
    if layout == "ts":
        return read_ts(path)
    if layout == "wide":
        return read_wide(path)
    try:
        return read_long(path, id_col=id_col, time_col=time_col, label_col=label_col)
    except SeriesError as e:
        if ": no column " not in str(e):
            raise
        raise SeriesError(f"{e}; its first line has a cell that is not a number, so it was read "
                          "as a long-form header (a wide UCR file has a label, then only numbers, "
                          "on every line but a header of column names)") from None  # fmt: skip


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
