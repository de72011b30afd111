"""Property tests of the time-series loaders (issue 10): forecasting CSVs (read_series, wide and
long form) and labelled classification files (read_wide, read_long, read_labelled) either load
exactly the values written or raise a SeriesError naming the file and the line at fault; random
bytes, truncation, wrong encodings, ragged rows, huge lines included."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from robust import FUZZ, TEXTY, line_of, loads_or_explains

from rnnkit.errors import SeriesError
from rnnkit.timeseries.classify import read_labelled, read_long, read_wide
from rnnkit.timeseries.data import read_series

VALUE = st.floats(allow_nan=False, allow_infinity=False, width=64)


def wide_series(path):
    return read_series(path, time_col="t", target="a,b")


def long_series(path):
    return read_series(path, time_col="t", target="y", id_col="id")


def write(path, lines: list[str]) -> None:
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))


# ----------------------------------------------------------------------------- any bytes

ANY = TEXTY | st.binary(max_size=2000)
# Random bytes after a header the reader asks for reach past the "no column" check.
HEADED = {
    "wide": (wide_series, b"t,a,b\n"),
    "long": (long_series, b"id,t,y\n"),
    "read_wide": (read_wide, b""),
    "read_long": (read_long, b"id,time,label,x\n"),
    "read_labelled": (read_labelled, b""),
}


@FUZZ
@given(data=ANY, headed=st.booleans())
@pytest.mark.parametrize("reader", HEADED)
def test_any_bytes_load_or_explain(tmp_path, reader, data, headed):
    read, header = HEADED[reader]
    path = tmp_path / "any.csv"
    path.write_bytes(header + data if headed else data)
    loads_or_explains(read, path, error=SeriesError)


# ----------------------------------------------------------------------------- round trips


@st.composite
def times(draw, n: int, dates: bool) -> list:
    """``n`` strictly increasing times: dates, or numbers (integers or decimals); never a
    regular grid with holes (the reader refuses those: times missing, tested elsewhere)."""
    if dates:
        days = draw(st.lists(st.integers(0, 40_000), min_size=n, max_size=n, unique=True))
        values = [dt.date(1950, 1, 1) + dt.timedelta(days=d) for d in sorted(days)]
    else:
        numbers = st.integers(-(10**9), 10**9) | st.floats(-1e9, 1e9, allow_nan=False)
        values = sorted(draw(st.lists(numbers, min_size=n, max_size=n, unique_by=float)))
    assume(not holes(as_times(values)))
    return values


def holes(t: np.ndarray) -> bool:
    """Whether ``t`` lies on a regular grid (a frequency, or a common step) with times absent."""
    import pandas as pd

    from rnnkit.timeseries.data import infer_frequency, numeric_step

    if np.issubdtype(t.dtype, np.datetime64):
        freq = infer_frequency(t)
        return freq is not None and len(pd.date_range(t[0], t[-1], freq=freq)) > len(t)
    step = numeric_step(t)
    return step is not None and round((t[-1] - t[0]) / step) + 1 > len(t)


def as_times(values: list) -> np.ndarray:
    if isinstance(values[0], dt.date):
        return np.array(values, dtype="datetime64[ns]")
    return np.array(values, dtype=np.float64)


@FUZZ
@given(data=st.data(), n=st.integers(1, 12), dates=st.booleans())
def test_wide_series_round_trip(tmp_path, data, n, dates):
    t = data.draw(times(n, dates))
    a, b = (data.draw(st.lists(VALUE, min_size=n, max_size=n)) for _ in range(2))
    path = tmp_path / "wide.csv"
    write(path, ["t,a,b"] + [f"{ti},{x!r},{y!r}" for ti, x, y in zip(t, a, b, strict=True)])
    s = wide_series(path)
    assert s.names == ["a", "b"]
    np.testing.assert_array_equal(s.times, as_times(t))
    np.testing.assert_array_equal(s.target, [a, b])


@FUZZ
@given(data=st.data(), n=st.integers(1, 8), k=st.integers(1, 4), dates=st.booleans())
def test_long_series_round_trip(tmp_path, data, n, k, dates):
    t = data.draw(times(n, dates))
    values = [data.draw(st.lists(VALUE, min_size=n, max_size=n)) for _ in range(k)]
    # rows of different series interleave in any order; each series' rows stay in time order
    order = data.draw(st.permutations([s for s in range(k) for _ in range(n)]))
    seen = [0] * k
    lines = ["id,t,y"]
    for s in order:
        lines.append(f"s{s},{t[seen[s]]},{values[s][seen[s]]!r}")
        seen[s] += 1
    path = tmp_path / "long.csv"
    write(path, lines)
    result = long_series(path)
    first_seen = list(dict.fromkeys(order))
    assert result.names == [f"s{s}" for s in first_seen]
    np.testing.assert_array_equal(result.times, as_times(t))
    np.testing.assert_array_equal(result.target, [values[s] for s in first_seen])


def forward_filled(values: list[float | None]) -> list[float]:
    out: list[float] = []
    for v in values:
        out.append(out[-1] if v is None else v)
    return out


@FUZZ
@given(
    first=VALUE,
    rest=st.lists(st.none() | VALUE, min_size=1, max_size=10),
    gap=st.sampled_from(["", "NaN", "nan", " "]),
)
def test_missing_values_fail_or_forward_fill(tmp_path, first, rest, gap):
    values = [first, *rest]
    path = tmp_path / "gaps.csv"
    write(path, ["t,y"] + [f"{i},{gap if v is None else repr(v)}" for i, v in enumerate(values)])
    s = read_series(path, time_col="t", target="y", missing="ffill")
    np.testing.assert_array_equal(s.target[0], forward_filled(values))
    error = loads_or_explains(lambda p: read_series(p, time_col="t", target="y"), path)
    if None in values:
        assert isinstance(error, SeriesError) and "missing value" in str(error)
        assert line_of(error, path) == values.index(None) + 2  # the header is line 1
    else:
        np.testing.assert_array_equal(error.target[0], values)


# Labels of a UCR file: any text without the separators; form feeds, U+2028 and other
# characters that str.splitlines() takes for line breaks included.
LABEL = st.text(
    alphabet=st.characters(blacklist_characters=',\t\n\r"', blacklist_categories=["Cs"]),
    min_size=1,
    max_size=5,
).filter(lambda s: s.strip() == s and s != "" and not s.startswith("\ufeff"))
UCR_LABEL = LABEL | st.sampled_from(["a\x0cb", "x\u2028y", "1\x1c2", "y\x85z"])


@FUZZ
@given(
    rows=st.lists(
        st.tuples(UCR_LABEL, st.lists(VALUE, min_size=1, max_size=6), st.integers(0, 3)),
        min_size=1,
        max_size=6,
    ),
    tabs=st.booleans(),
)
def test_ucr_wide_files_round_trip(tmp_path, rows, tabs):
    sep = "\t" if tabs else ","
    path = tmp_path / "ucr.csv"
    # shorter series pad their row with empty or NaN cells, as the UCR archive does
    write(path, [sep.join([lab, *map(repr, xs), *["NaN", ""][:pad]]) for lab, xs, pad in rows])
    for read in (read_wide, read_labelled):
        data = read(path)
        assert data.labels == [lab for lab, _, _ in rows]
        assert len(data.x) == len(rows)
        for got, (_, xs, _) in zip(data.x, rows, strict=True):
            np.testing.assert_array_equal(got, np.array(xs)[:, None])


@FUZZ
@given(
    series=st.lists(
        # pandas' C parser reads a NUL byte as the end of the cell (an empty label: refused
        # as missing, with its line), so labels here hold none
        st.tuples(
            LABEL.filter(lambda s: "\x00" not in s),
            st.lists(st.tuples(VALUE, VALUE), min_size=1, max_size=5),
        ),
        min_size=1,
        max_size=5,
    ),
    data=st.data(),
)
def test_long_labelled_files_round_trip(tmp_path, series, data):
    rows = [(i, t, lab, x) for i, (lab, xs) in enumerate(series) for t, x in enumerate(xs)]
    rows = data.draw(st.permutations(rows))  # read_long sorts by time within each id
    path = tmp_path / "long.csv"
    write(
        path, ["id,time,label,c1,c2"] + [f"{i},{t},{lab},{x!r},{y!r}" for i, t, lab, (x, y) in rows]
    )
    order = list(dict.fromkeys(i for i, *_ in rows))
    for read in (read_long, read_labelled):
        got = read(path)
        assert got.names == ["c1", "c2"]
        assert got.labels == [series[i][0] for i in order]
        for x, i in zip(got.x, order, strict=True):
            np.testing.assert_array_equal(x, np.array(series[i][1]).reshape(-1, 2))


# ----------------------------------------------------------------------------- one bad line

SERIES_CORRUPTIONS = ["not a number", "latin-1", "invalid utf-8", "extra cell", "bad time",
                      "repeated time", "missing cell", "truncate"]  # fmt: skip


@FUZZ
@given(
    data=st.data(),
    how=st.sampled_from(SERIES_CORRUPTIONS),
    blanks=st.lists(st.integers(0, 20), max_size=3),
    long=st.booleans(),
)
def test_one_corrupt_row_names_its_line(tmp_path, data, how, blanks, long):
    n = data.draw(st.integers(2, 8))
    t = list(range(10, 10 + n))
    header = "id,t,y" if long else "t,a,b"
    values = data.draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n))
    rows = [
        f"s,{ti},{v!r}" if long else f"{ti},{v!r},{v + 1!r}"
        for ti, v in zip(t, values, strict=True)
    ]
    bad = data.draw(st.integers(1, n - 1))  # row 0 stays good, so a repeated time has a past
    cells = rows[bad].split(",")
    k = -1  # the cell spoiled: the last (a value) unless the time is the point
    if how == "not a number":
        cells[k] = "1.5x"
    elif how == "latin-1":
        cells[k] = "caf\udce9"  # encoded below as the byte 0xE9, not UTF-8
    elif how == "invalid utf-8":
        cells[k] = cells[k][:1] + "\udcff" + cells[k][1:]
    elif how == "extra cell":
        cells.append("7")
    elif how == "bad time":
        cells[-2 if long else 0] = "not-a-time"
    elif how == "repeated time":
        cells[-2 if long else 0] = str(t[bad - 1])
    elif how == "missing cell":
        cells.pop()
    else:  # truncated mid-line: at least the last character goes
        cut = data.draw(st.integers(1, len(rows[bad]) - 1))
        cells = rows[bad][:cut].split(",")
    rows[bad] = ",".join(cells)
    lines = [(header, False)] + [(row, i == bad) for i, row in enumerate(rows)]
    for b in sorted(blanks, reverse=True):  # blank lines count as lines in messages
        lines.insert(min(1 + b, len(lines)), ("", False))
    line = [is_bad for _, is_bad in lines].index(True) + 1
    path = tmp_path / "bad.csv"
    text = "".join(x + "\n" for x, _ in lines)
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    read = long_series if long else wide_series
    error = loads_or_explains(read, path, error=SeriesError)
    if isinstance(error, SeriesError):
        assert line_of(error, path) == line, str(error)
    else:
        # Only a truncation can leave a good row: one cut inside the last cell's digits that
        # still reads as a number, e.g. "12.25" -> "12.2" (or "1e5" -> "1").
        assert how == "truncate", f"{how} on line {line} was accepted"
        assert len(cells) == 3 and cells[-1] != ""


UCR_CORRUPTIONS = ["not a number", "latin-1", "invalid utf-8", "gap", "empty label"]


@FUZZ
@given(
    rows=st.lists(
        st.tuples(UCR_LABEL, st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=5)),
        min_size=1,
        max_size=5,
    ),
    data=st.data(),
    how=st.sampled_from(UCR_CORRUPTIONS),
)
def test_one_corrupt_ucr_line_is_named(tmp_path, rows, data, how):
    lines = [",".join([lab, *map(repr, xs)]) for lab, xs in rows]
    bad = data.draw(st.integers(0, len(lines) - 1))
    label, xs = rows[bad]
    cells = [label, *map(repr, xs)]
    column = data.draw(st.integers(2, len(cells) - 1))  # 1-based; not the last one
    if how == "not a number":
        cells[column - 1] = "x1"
    elif how == "latin-1":
        cells[column - 1] = "caf\udce9"
    elif how == "invalid utf-8":
        cells[column - 1] += "\udcff"
    elif how == "gap":  # only trailing cells may be empty
        cells[column - 1] = ""
    else:
        cells[0], column = " ", 1
    lines[bad] = ",".join(cells)
    path = tmp_path / "ucr.csv"
    path.write_bytes("".join(x + "\n" for x in lines).encode("utf-8", "surrogateescape"))
    for read in (read_wide, read_labelled):
        error = loads_or_explains(read, path, error=SeriesError)
        assert isinstance(error, SeriesError), f"{how} on line {bad + 1} was accepted"
        if (
            bad == 0
            and how in ("not a number", "latin-1", "invalid utf-8")
            and read is read_labelled
        ):
            # a first line with a cell that is not a number reads as a long-form header: any
            # error of that form is right (no "id" column, a ragged row, ...)
            continue
        assert line_of(error, path) == bad + 1, str(error)
        if how in ("not a number", "gap", "empty label"):
            assert f"column {column}:" in str(error)


LONG_CORRUPTIONS = ["not a number", "latin-1", "extra cell", "missing cell", "missing id"]


@FUZZ
@given(data=st.data(), how=st.sampled_from(LONG_CORRUPTIONS), n=st.integers(1, 8))
def test_one_corrupt_long_labelled_row_is_named(tmp_path, data, how, n):
    rows = [[str(i // 3), str(i % 3), "walk", repr(float(i)), "0.5"] for i in range(n)]
    bad = data.draw(st.integers(0, n - 1))
    if how == "not a number":
        rows[bad][3] = "1.2.3"
    elif how == "latin-1":
        rows[bad][2] = "caf\udce9"
    elif how == "extra cell":
        rows[bad].append("9")
    elif how == "missing cell":
        rows[bad].pop()
    else:
        rows[bad][0] = ""
    path = tmp_path / "long.csv"
    text = "".join(",".join(r) + "\n" for r in [["id", "time", "label", "a", "b"], *rows])
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    for read in (read_long, read_labelled):
        error = loads_or_explains(read, path, error=SeriesError)
        assert isinstance(error, SeriesError), f"{how} on line {bad + 2} was accepted"
        assert line_of(error, path) == bad + 2, str(error)


# ----------------------------------------------------------------------------- truncation


@FUZZ
@given(data=st.data(), reader=st.sampled_from(["wide", "long", "read_wide", "read_long"]))
def test_a_truncated_file_loads_a_prefix_or_explains(tmp_path, data, reader):
    n = data.draw(st.integers(1, 6))
    values = data.draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n))
    if reader == "wide":
        lines = ["t,a,b"] + [f"{i},{v!r},{v!r}" for i, v in enumerate(values)]
    elif reader == "long":
        lines = ["id,t,y"] + [f"s,{i},{v!r}" for i, v in enumerate(values)]
    elif reader == "read_wide":
        lines = [f"c{i},{v!r},{v!r}" for i, v in enumerate(values)]
    else:
        lines = ["id,time,label,a"] + [f"{i},0,c,{v!r}" for i, v in enumerate(values)]
    raw = "".join(x + "\n" for x in lines).encode()
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / "cut.csv"
    path.write_bytes(raw[:cut])
    result = loads_or_explains(HEADED[reader][0], path, error=SeriesError)
    if isinstance(result, SeriesError):
        return
    # What loaded is the rows before the cut; only the last may have lost trailing digits.
    got = result.target[0] if reader in ("wide", "long") else [x[0, 0] for x in result.x]
    rows = len(got)
    assert 1 <= rows <= n
    np.testing.assert_array_equal(got[: rows - 1], values[: rows - 1])


# ----------------------------------------------------------------------------- huge, empty


def test_huge_lines_load_or_name_their_line(tmp_path):
    n = 300_000  # a UCR series of 300,000 values: a line of several MB
    values = np.arange(n) / 8
    path = tmp_path / "huge.csv"
    path.write_text("a," + ",".join(map(repr, values.tolist())) + "\nb,1,2\n")
    data = loads_or_explains(read_wide, path, error=SeriesError)
    np.testing.assert_array_equal(data.x[0][:, 0], values)
    # a 5 MB cell: in a column the reader ignores it loads, in the target it is named, in a
    # message short enough to read
    path.write_text(f"t,a,note\n1,2,5\n2,3,{'y' * 5_000_000}\n3,4,6\n")
    s = loads_or_explains(lambda p: read_series(p, time_col="t", target="a"), path)
    np.testing.assert_array_equal(s.target, [[2, 3, 4]])
    error = loads_or_explains(lambda p: read_series(p, time_col="t", target="note"), path)
    assert isinstance(error, SeriesError) and line_of(error, path) == 3
    assert len(str(error)) < 300
    path.write_text("a,1,2\nb,1," + "9" * 5_000_000 + "x\n")
    error = loads_or_explains(read_wide, path, error=SeriesError)
    assert isinstance(error, SeriesError) and line_of(error, path) == 2
    assert len(str(error)) < 300


def test_times_in_several_time_zones_name_the_line(tmp_path):
    # pandas refuses to mix time zones with a raw ValueError; this escaped read_series
    path = tmp_path / "zones.csv"
    path.write_text("t,a\n2024-01-01T00:00+01:00,1\n2024-01-02T00:00+01:00,2\n"
                    "2024-01-03T00:00+02:00,3\n2024-01-04,4\n")  # fmt: skip
    error = loads_or_explains(lambda p: read_series(p, time_col="t", target="a"), path)
    assert isinstance(error, SeriesError) and line_of(error, path) == 4


def test_a_row_with_one_cell_too_many_is_not_shifted_into_the_index(tmp_path):
    # pandas reads the first cell of such rows as an index and shifts the rest under the
    # header: "t,a / 1,2,3" loaded as t=2, a=3.
    path = tmp_path / "ragged.csv"
    path.write_text("t,a\n1,2,3\n2,3,4\n")
    error = loads_or_explains(lambda p: read_series(p, time_col="t", target="a"), path)
    assert isinstance(error, SeriesError) and line_of(error, path) == 2
    path.write_text("id,time,label,x\n1,1,a,1,2\n")
    error = loads_or_explains(read_long, path, error=SeriesError)
    assert isinstance(error, SeriesError) and line_of(error, path) == 2


@pytest.mark.parametrize("reader", HEADED)
@pytest.mark.parametrize("content", [None, "dir", b"", b"\n\n  \n", b"\xef\xbb\xbf"])
def test_empty_blank_missing_and_directory_explain(tmp_path, reader, content):
    path = tmp_path / "input.csv"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    assert isinstance(loads_or_explains(HEADED[reader][0], path, error=SeriesError), SeriesError)


def test_a_repeated_column_name_is_refused_not_renamed(tmp_path):
    """pandas would read the second 'a' as 'a.1'; which column the user meant is unknown."""
    path = tmp_path / "dup.csv"
    path.write_text("t,a,b,a\n1,2,3,4\n2,3,4,5\n")
    with pytest.raises(SeriesError, match=r"dup.csv:1: column 'a' appears twice in the header"):
        read_series(path, time_col="t", target=["a"])
    path.write_text("t,a,b\n1,2,3\n2,3,4\n")
    assert read_series(path, time_col="t", target=["a"]).target.tolist() == [[2.0, 3.0]]
