"""Times missing from a regular series (gaps): an error naming the line after the gap and the
missing times, or rows inserted and filled so that the result lies on the grid; the frequency
and step they are found with; irregular times read as they are; repeated times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rnnkit.timeseries import SeriesError, read_series
from rnnkit.timeseries.data import infer_frequency, numeric_step


def write(tmp_path, text, name="s.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def monthly(tmp_path, skip=(2, 3), n=8):
    """2021-01-01 .. 2021-08-01 without the rows ``skip`` (March and April): y = 10 * month,
    a past covariate p = month, a future covariate f = -month."""
    dates = pd.date_range("2021-01-01", periods=n, freq="MS")
    rows = [f"{d:%Y-%m-%d},{10 * (i + 1)},{i + 1},{-(i + 1)}" for i, d in enumerate(dates)
            if i not in skip]  # fmt: skip
    return write(tmp_path, "date,y,p,f\n" + "\n".join(rows) + "\n"), dates


def test_a_monthly_file_missing_two_months_names_the_line_after_the_gap(tmp_path):
    path, _ = monthly(tmp_path)
    with pytest.raises(SeriesError) as error:
        read_series(path, time_col="date", target="y")
    # Lines: header 1, January 2, February 3, May 4.
    assert str(error.value) == (
        f"{path}:4: 2 times missing before 2021-05-01 (the series is monthly, MS: expected "
        "2021-03-01, 2021-04-01); fill them with --missing ffill|interpolate or add the rows"
    )
    path, _ = monthly(tmp_path, skip=(2, 3, 6), n=12)  # and July: the first gap, one more after it
    with pytest.raises(SeriesError, match=r"s.csv:4: 2 times missing before 2021-05-01 .*"
                       r"expected 2021-03-01, 2021-04-01; 1 more missing after it\)"):  # fmt: skip
        read_series(path, time_col="date", target="y")


def test_ffill_puts_the_rows_on_the_grid_and_repeats_the_last_values(tmp_path):
    path, dates = monthly(tmp_path)
    s = read_series(path, time_col="date", target="y", past=["p"], future=["f"], missing="ffill")
    np.testing.assert_array_equal(s.times, dates.to_numpy())
    np.testing.assert_array_equal(s.target[0], [10, 20, 20, 20, 50, 60, 70, 80])
    np.testing.assert_array_equal(s.past[0, :, 0], [1, 2, 2, 2, 5, 6, 7, 8])
    np.testing.assert_array_equal(s.future[0, :, 0], [-1, -2, -2, -2, -5, -6, -7, -8])


def test_interpolate_draws_a_straight_line_in_time_not_in_rows(tmp_path):
    path, dates = monthly(tmp_path)
    s = read_series(path, time_col="date", target="y", past=["p"], missing="interpolate")
    np.testing.assert_array_equal(s.times, dates.to_numpy())
    # February 1 (20) to May 1 (50) is 89 days; March 1 is 28 days in, April 1 is 59.
    np.testing.assert_allclose(s.target[0, 1:5], [20, 20 + 30 * 28 / 89, 20 + 30 * 59 / 89, 50])
    np.testing.assert_allclose(s.past[0, 1:5, 0], [2, 2 + 3 * 28 / 89, 2 + 3 * 59 / 89, 5])
    assert s.target[0, 2] != pytest.approx(30)  # by rows it would be 30


def test_numeric_times_with_a_common_step_have_gaps_too(tmp_path):
    path = write(tmp_path, "t,y\n0,0\n1,1\n2,2\n5,5\n6,6\n")
    with pytest.raises(SeriesError) as error:
        read_series(path, time_col="t", target="y")
    assert str(error.value) == (
        f"{path}:5: 2 times missing before 5 (the times step by 1: expected 3, 4); fill them "
        "with --missing ffill|interpolate or add the rows"
    )
    s = read_series(path, time_col="t", target="y", missing="interpolate")
    np.testing.assert_array_equal(s.times, [0, 1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(s.target[0], [0, 1, 2, 3, 4, 5, 6])
    path = write(tmp_path, "t,y\n0,1\n0.5,2\n1,3\n2,5\n")  # a step of 0.5; 1.5 missing
    with pytest.raises(SeriesError, match=r"s.csv:5: 1 time missing before 2 \(the times step "
                       r"by 0.5: expected 1.5\)"):  # fmt: skip
        read_series(path, time_col="t", target="y")
    s = read_series(path, time_col="t", target="y", missing="ffill")
    np.testing.assert_array_equal(s.times, [0, 0.5, 1, 1.5, 2])
    np.testing.assert_array_equal(s.target[0], [1, 2, 3, 3, 5])


def test_long_form_with_a_gap_in_one_series_is_filled_onto_the_shared_times(tmp_path):
    rows = [f"a,{t},{t}" for t in range(1, 7)] + [f"b,{t},{10 * t}" for t in (1, 2, 5, 6)]
    path = write(tmp_path, "id,t,y\n" + "\n".join(rows) + "\n")
    # Series b's rows are lines 8-11; its row at t = 5 is line 10.
    with pytest.raises(SeriesError, match=r"^\S*s.csv:10: 2 times missing before 5 in series "
                       r"'b' \(the times step by 1: expected 3, 4\); fill them"):  # fmt: skip
        read_series(path, time_col="t", target="y", id_col="id")
    s = read_series(path, time_col="t", target="y", id_col="id", missing="interpolate")
    assert s.names == ["a", "b"]
    np.testing.assert_array_equal(s.times, [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(s.target, [[1, 2, 3, 4, 5, 6], [10, 20, 30, 40, 50, 60]])


@pytest.mark.parametrize(
    "text",
    [
        "t,y\n2021-01-01,1\n2021-01-03,2\n2021-01-10,3\n2021-02-20,4\n2021-02-21,5\n",
        "t,y\n0,1\n0.5,2\n1.7,3\n4,4\n",  # spacings no multiple of the smallest
        "t,y\n0,1\n1,2\n2,3\n100,4\n",  # multiples, but most of the grid absent: sparse
    ],
)
def test_irregular_times_are_read_as_they_are(text, tmp_path):
    path = write(tmp_path, text)
    s = read_series(path, time_col="t", target="y")
    assert s.length == 4 or s.length == 5
    np.testing.assert_array_equal(s.target[0], np.arange(1, s.length + 1))
    frame = pd.read_csv(path)
    times = pd.to_datetime(frame["t"]) if "-" in text else frame["t"]
    np.testing.assert_array_equal(s.times, times.to_numpy())


def test_a_gap_among_the_times_to_forecast_is_refused_even_when_filling(tmp_path):
    rows = [f"{t},{t}" for t in range(6)] + ["6,", "8,"]  # the last 2 rows: times to forecast
    path = write(tmp_path, "t,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(SeriesError, match=r"s.csv:9: 1 time missing before 8 \(the times step by "
                       r"1: expected 7\), among the last 2 rows \(the times to forecast\); add "
                       "the rows$"):  # fmt: skip
        read_series(path, time_col="t", target="y", open_end=2, missing="ffill")
    # A gap just before them is history: filled, and the last 2 rows stay the times to forecast.
    rows = [f"{t},{t}" for t in (0, 1, 2, 3, 5)] + ["6,", "7,"]
    path = write(tmp_path, "t,y\n" + "\n".join(rows) + "\n")
    s = read_series(path, time_col="t", target="y", open_end=2, missing="interpolate")
    np.testing.assert_array_equal(s.times, np.arange(8))
    np.testing.assert_allclose(s.target[0], [0, 1, 2, 3, 4, 5, np.nan, np.nan])


@pytest.mark.parametrize("freq", ["MS", "QS", "W", "D", "h", "B", "ME", "15min"])
def test_infer_frequency_survives_a_missing_time(freq):
    full = pd.date_range("2021-01-04", periods=40, freq=freq)
    expected = infer_frequency(full.to_numpy())
    assert expected == pd.tseries.frequencies.to_offset(freq).freqstr
    assert infer_frequency(np.delete(full.to_numpy(), [1])) == expected
    assert infer_frequency(np.delete(full.to_numpy(), [7, 20, 21])) == expected
    # The grid is checked from the first time: a run of the frequency alone is not enough.
    shifted = full.to_numpy().copy()
    shifted[30] += np.timedelta64(1, "m")
    assert infer_frequency(shifted) is None


def test_infer_frequency_is_none_for_irregular_sparse_or_numeric_times():
    days = np.array(["2021-01-01", "2021-01-02", "2021-01-03", "2021-03-30", "2021-12-31"],
                    dtype="datetime64[ns]")  # fmt: skip
    assert infer_frequency(days) is None  # daily, but 5 of 365 days: sparse
    assert infer_frequency(np.array([1.0, 2.0, 3.0, 4.0])) is None
    assert infer_frequency(days[:2]) is None


def test_numeric_step():
    assert numeric_step(np.array([0.0, 1, 2, 5, 6])) == 1
    assert numeric_step(np.array([10, 20, 40])) == 10
    assert numeric_step(np.array([0.0, 0.1, 0.2, 0.4])) == pytest.approx(0.1)
    assert numeric_step(np.array([0.0, 0.5, 1.7])) is None  # 1.2 is no multiple of 0.5
    assert numeric_step(np.array([0.0, 1, 100])) is None  # 3 of 101 times: sparse
    assert numeric_step(np.array([3.0])) is None
    assert numeric_step(np.array(["2021-01-01", "2021-01-02"], dtype="datetime64[D]")) is None


def test_a_repeated_time_names_both_lines(tmp_path):
    path = write(tmp_path, "date,y\n2021-01-01,1\n2021-02-01,2\n2021-03-01,3\n2021-03-01,4\n")
    with pytest.raises(SeriesError) as error:
        read_series(path, time_col="date", target="y")
    assert str(error.value) == (
        f"{path}:5: column 'date': repeats the time of line 4, 2021-03-01 (each time once per "
        "series)"
    )
    path = write(tmp_path, "id,t,y\na,1,1\nb,1,1\na,2,1\nb,1,2\n")  # series b: lines 3 and 5
    with pytest.raises(SeriesError, match=r"s.csv:5: column 't' \(series 'b'\): repeats the time "
                       r"of line 3, 1 \(each time once per series\)"):  # fmt: skip
        read_series(path, time_col="t", target="y", id_col="id")
    path = write(tmp_path, "t,y\n1,1\n3,2\n2,3\n")
    with pytest.raises(SeriesError, match=r"s.csv:4: column 't': goes back in time from line 3 "
                       r"\(2 after 3; times must strictly increase\)"):  # fmt: skip
        read_series(path, time_col="t", target="y")
