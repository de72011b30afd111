"""Reading time series files: both layouts, covariates, the missing-value policies, and a
one-line error naming file, column and line for every kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.timeseries import SeriesError, read_series


def write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_wide_form_reads_each_target_column_as_a_series(tmp_path):
    path = write(
        tmp_path, "date,a,b,temp\n2024-01-01,1,10,5\n2024-01-02,2,20,6\n2024-01-03,3,30,7\n"
    )
    s = read_series(path, time_col="date", target="a,b", future=["temp"])
    assert s.names == ["a", "b"]
    np.testing.assert_array_equal(s.target, [[1, 2, 3], [10, 20, 30]])
    assert s.future.shape == (2, 3, 1) and s.past.shape == (2, 3, 0)
    np.testing.assert_array_equal(s.future[1, :, 0], [5, 6, 7])
    assert s.times[0] == np.datetime64("2024-01-01")


def test_long_form_aligns_series_by_id(tmp_path):
    text = "id,t,y\nx,1,1.5\ny,1,7\nx,2,2.5\ny,2,8\nx,3,3.5\ny,3,9\n"
    s = read_series(write(tmp_path, text), time_col="t", target="y", id_col="id")
    assert s.names == ["x", "y"]
    np.testing.assert_array_equal(s.target, [[1.5, 2.5, 3.5], [7, 8, 9]])
    np.testing.assert_array_equal(s.times, [1, 2, 3])


@pytest.mark.parametrize(
    "policy, expected",
    [("ffill", [1, 1, 1, 4, 5]), ("interpolate", [1, 2, 3, 4, 5])],
)
def test_missing_values_are_filled_only_when_asked(policy, expected, tmp_path):
    path = write(tmp_path, "t,y\n1,1\n2,\n3,NaN\n4,4\n5,5\n")
    with pytest.raises(SeriesError, match=r"s.csv:3: column 'y': missing value \(fill gaps"):
        read_series(path, time_col="t", target="y")
    s = read_series(path, time_col="t", target="y", missing=policy)
    np.testing.assert_array_equal(s.target[0], expected)


@pytest.mark.parametrize(
    "text, kwargs, message",
    [
        ("t,y\n1,2\n", {"target": "z"}, r"s.csv: no column 'z' \(columns: t, y\)"),
        (
            "t,y\n2024-01-01,1\ntomorrow,2\n",
            {},
            r"s.csv:3: column 't': cannot read 'tomorrow' as a time",
        ),
        ("t,y\n1,1\n3,2\n2,3\n", {}, r"s.csv:4: column 't': goes back in time from line 3"),
        ("t,y\n1,1\n2,2\n2,3\n", {}, r"s.csv:4: column 't': repeats the time of line 3"),
        ("t,y\n1,1\n2,abc\n", {}, r"s.csv:3: column 'y': 'abc' is not a number"),
        ("t,y\n1,\n2,2\n", {"missing": "ffill"}, r"s.csv:2: column 'y': missing value before"),
        ("t,y\n", {}, r"s.csv: no rows"),
        ("", {}, r"s.csv: empty file"),
        ("id,t,y\na,1,1\nb,2,1\n", {"id_col": "id"}, r"series 'b' has other times than series 'a'"),
    ],
)
def test_bad_files_get_one_line_naming_column_and_line(text, kwargs, message, tmp_path):
    kwargs = {"time_col": "t", "target": "y", **kwargs}
    with pytest.raises(SeriesError, match=message):
        read_series(write(tmp_path, text), **kwargs)


def test_a_missing_file_and_an_unknown_policy_are_refused(tmp_path):
    with pytest.raises(SeriesError, match="no such file"):
        read_series(tmp_path / "nope.csv", time_col="t", target="y")
    with pytest.raises(SeriesError, match="missing: expected one of"):
        read_series(write(tmp_path, "t,y\n1,1\n"), time_col="t", target="y", missing="zero")


def test_interpolation_follows_time_not_rows_and_lines_count_blank_lines(tmp_path):
    # Irregular times (3.5 is no multiple of 1): the value missing at t=3 lies 1/4.5 of the
    # way from t=2 to t=6.5.
    path = write(tmp_path, "t,y\n1,0\n2,1\n3,\n6.5,5\n")
    s = read_series(path, time_col="t", target="y", missing="interpolate")
    np.testing.assert_allclose(s.target[0], [0, 1, 1 + 4 / 4.5, 5])
    path = write(tmp_path, "t,y\n1,1\n\n2,2\n3,x\n")  # a blank line 3
    with pytest.raises(SeriesError, match=r"s.csv:5: column 'y': 'x' is not a number"):
        read_series(path, time_col="t", target="y")
    path = write(tmp_path, "id,t,y\na,1,1\n,1,2\n")
    with pytest.raises(SeriesError, match=r"s.csv:3: column 'id': missing series id"):
        read_series(path, time_col="t", target="y", id_col="id")


def test_bundled_statsmodels_series_read_like_files():
    import statsmodels.api as sm

    from rnnkit.timeseries.data import SeriesError, read_series

    elnino = read_series("statsmodels:elnino", time_col="date", target="temp")
    table = sm.datasets.elnino.load_pandas().data
    assert elnino.target.shape == (1, 732)
    # Row-major years of monthly columns, in time order: 1950 JAN, FEB, ..., then 1951.
    np.testing.assert_array_equal(elnino.target[0, :12], table.iloc[0, 1:].to_numpy(float))
    np.testing.assert_array_equal(elnino.target[0, 12:24], table.iloc[1, 1:].to_numpy(float))
    assert str(elnino.times[13])[:10] == "1951-02-01"
    co2 = read_series("statsmodels:co2", time_col="date", target="co2", missing="interpolate")
    assert co2.length == 2284 and np.isfinite(co2.target).all()
    with pytest.raises(SeriesError, match=r"statsmodels:co2:\d+: column 'co2': missing value"):
        read_series("statsmodels:co2", time_col="date", target="co2")
    with pytest.raises(SeriesError, match="no such bundled series; choose one of statsmodels:co2"):
        read_series("statsmodels:airline", time_col="date", target="y")
