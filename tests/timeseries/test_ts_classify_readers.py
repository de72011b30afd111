"""Readers of labelled series as UCR/UEA files come in the wild (issue 23): wide files with a
header line, bad cells named by line and column, and the ``.ts`` format (checked against
sktime's reader on its bundled BasicMotions and JapaneseVowels)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.timeseries import SeriesError
from rnnkit.timeseries.classify import detect_layout, read_labelled, read_ts, read_wide
from rnnkit.training.config import RunConfig

ROWS = ["1,0.5,1.5,2.5,3.5", "2,-1,0,1,NaN", "1,4,3,,", "3,7.25,8,9,10"]


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def message(read, path, **kw) -> str:
    with pytest.raises(SeriesError) as e:
        read(path, **kw)
    return str(e.value)


def same(a, b) -> None:
    assert a.labels == b.labels and len(a.x) == len(b.x)
    for s, r in zip(a.x, b.x, strict=True):
        np.testing.assert_array_equal(s, r)


# ----------------------------------------------------------------------------- wide: headers


@pytest.mark.parametrize(
    "header, shown",
    [
        ("label,0,1,2,3", "label,0,1,..."),
        ("label,1,2,3,4", "label,1,2,..."),
        ("target,att1,att2,att3,att4", "target,att1,att2,..."),
        ("class,t0,t1,t2,t3", "class,t0,t1,..."),
        ("class,t0", "class,t0"),  # fewer names than values: still names
        ("label,0,1,2,3,", "label,0,1,..."),  # a trailing empty cell
    ],
)
@pytest.mark.parametrize("tabs", [False, True])
def test_a_header_line_is_skipped_with_a_notice(tmp_path, capsys, header, shown, tabs):
    def tabbed(lines):
        return [line.replace(",", "\t") for line in lines] if tabs else lines

    plain = read_wide(write(tmp_path / "plain.csv", tabbed(ROWS)))
    assert capsys.readouterr().err == ""
    path = write(tmp_path / "headed.csv", tabbed([header, *ROWS]))
    for read in (read_wide, read_labelled):
        same(read(path), plain)
        assert capsys.readouterr().err == f"{path}: line 1 is a header ({shown}), skipped\n"
    assert detect_layout(path) == "wide"
    assert plain.labels == ["1", "2", "1", "3"] and [len(s) for s in plain.x] == [4, 3, 2, 4]


def test_the_header_line_number_counts_blank_lines(tmp_path, capsys):
    path = write(tmp_path / "u.csv", ["", "  ", "label,0,1,2,3", *ROWS])
    assert read_labelled(path).labels == ["1", "2", "1", "3"]
    assert capsys.readouterr().err == f"{path}: line 3 is a header (label,0,1,...), skipped\n"


@pytest.mark.parametrize(
    "first",
    [
        "1,0,1,2,3",  # the label of other rows: a series that counts up
        "a,0.0,1.0,2.0,3.0",  # floats, not column numbers
        "a,0,1,3,4",  # not consecutive
        "a,2,3,4,5",  # not from 0 or 1
    ],
)
def test_a_first_line_of_numbers_that_is_no_header_is_a_series(tmp_path, capsys, first):
    path = write(tmp_path / "u.csv", [first, *ROWS])
    data = read_labelled(path)
    assert data.labels == [first.split(",")[0], "1", "2", "1", "3"]
    np.testing.assert_array_equal(data.x[0][:, 0], [float(c) for c in first.split(",")[1:]])
    assert capsys.readouterr().err == ""


def test_a_header_alone_is_no_series(tmp_path):
    path = write(tmp_path / "h.csv", ["label,0,1,2"])
    assert message(read_wide, path) == f"{path}: no series after the header (line 1)"
    assert message(read_labelled, path) == f"{path}: no series after the header (line 1)"


# ----------------------------------------------------------------------------- wide or long


@pytest.mark.parametrize(
    "lines, layout",
    [
        (ROWS, "wide"),
        (["label,0,1,2,3", *ROWS], "wide"),
        (["target,att1,att2,att3,att4", *ROWS], "wide"),
        (["id,time,a,label", "s1,0,0.5,walk"], "long"),
        # a header naming the id and label columns is long form, even over rows of numbers
        (["id,time,a,label", "1,0,0.5,2", "1,1,0.7,2"], "long"),
        (['"id","time","a","label"', "1,0,0.5,2"], "long"),
        # other names, rows ending with a label: long form (read_long names what is missing)
        (["series,t,value,class", "s1,0,0.5,walk"], "long"),
        # a cell that is not a number among numbers names no columns: long form, as before
        (["a,1,x,3", "b,4,5,6"], "long"),
        # the first cell is the label of a row below: no header
        (["a,x,y", "a,1,2"], "long"),
    ],
)
def test_detect_layout(tmp_path, lines, layout):
    assert detect_layout(write(tmp_path / "f.csv", lines)) == layout


def test_long_form_with_numeric_labels_is_read_as_long_form(tmp_path):
    path = write(tmp_path / "l.csv", ["id,time,a,label", "7,1,0.5,2", "7,0,0.25,2", "8,0,1,3"])
    data = read_labelled(path)
    assert data.labels == ["2", "3"] and data.names == ["a"]
    np.testing.assert_array_equal(data.x[0], [[0.25], [0.5]])


def test_a_long_form_header_with_other_column_names_says_so(tmp_path):
    path = write(tmp_path / "f.csv", ["a,1,x,3", "b,4,5,6"])
    assert message(read_labelled, path) == (
        f"{path}: no column 'id' (columns: a, 1, x, 3); its first line has a cell that is not a "
        "number, so it was read as a long-form header (a wide UCR file has a label, then only "
        "numbers, on every line but a header of column names)"
    )
    path = write(tmp_path / "g.csv", ["series,time,value,class", "s1,0,0.5,walk"])
    assert message(read_labelled, path, id_col="series").startswith(
        f"{path}: no column 'label' (columns: series, time, value, class); "
    )


# ----------------------------------------------------------------------------- wide: errors


def test_a_cell_that_is_not_a_number_names_line_and_column(tmp_path):
    lines = ["label," + ",".join(map(str, range(12)))]
    lines += [f"{k % 2},{','.join(['0.5'] * 12)}" for k in range(5)]
    lines += ["1," + ",".join(["0.5"] * 10 + ["abc", "0.5"])]  # line 7, column 12
    path = write(tmp_path / "data.csv", lines)
    for read in (read_wide, read_labelled):
        assert message(read, path) == f"{path}:7: column 12: 'abc' is not a number"


@pytest.mark.parametrize(
    "lines, error",
    [
        (["a,1,2", "b,1,abc,3"], "2: column 3: 'abc' is not a number"),
        (["a,1,2", "b\t1\t2\tx y"], "2: column 4: 'x y' is not a number"),
        (["a,1,2", "b"], "2: no values after the label"),
        (["a,1,2", "", "b,,,"], "3: no values after the label"),
        (["a,1,2", "b,NaN,nan"], "2: no values after the label"),
        (["label,0,1", "a,1,2", "b"], "3: no values after the label"),
        (["a,1,2", "b,1,,3"], "2: column 3: missing value inside the series (only trailing "
                              "cells may be empty)"),
        (["a,1,2", ",1,2"], "2: column 1: empty label"),
    ],
)  # fmt: skip
def test_bad_wide_lines_are_named(tmp_path, lines, error):
    path = write(tmp_path / "f.csv", lines)
    for read in (read_wide, read_labelled):
        assert message(read, path) == f"{path}:{error}"


def test_nan_and_empty_trailing_cells_pad_shorter_series(tmp_path):
    path = write(tmp_path / "f.csv", ["label,0,1,2", "a,1,2,NaN", "b,1,,", "c,1,2,3", "d,4,nan,"])
    data = read_labelled(path)
    assert [len(s) for s in data.x] == [2, 1, 3, 1] and data.labels == ["a", "b", "c", "d"]


# ----------------------------------------------------------------------------- .ts files

TS_HEAD = ["# a comment", "@problemName Tiny", "@timeStamps false", "@missing true",
           "@univariate false", "@dimensions 2", "@equalLength false",
           "@classLabel true walk run", "@data"]  # fmt: skip


def test_ts_multivariate_with_missing_padding_and_comments(tmp_path):
    path = write(tmp_path / "tiny.ts", [*TS_HEAD, "1,2,3:4,5,6:walk", "", "# between",
                                        " 0.5, NaN , ? : 7,?,? : run ", "1e3:-2:walk"])  # fmt: skip
    for read in (read_ts, read_labelled):
        data = read(path)
        assert data.labels == ["walk", "run", "walk"] and data.names is None
        assert [s.shape for s in data.x] == [(3, 2), (1, 2), (1, 2)]
        np.testing.assert_array_equal(data.x[0], [[1, 4], [2, 5], [3, 6]])
        np.testing.assert_array_equal(data.x[1], [[0.5, 7]])
        np.testing.assert_array_equal(data.x[2], [[1000, -2]])
    assert detect_layout(path) == "ts"


def test_ts_univariate_read_by_extension(tmp_path):
    head = ["@problemName U", "@timeStamps false", "@univariate true", "@classLabel true 1 2",
            "@data"]  # fmt: skip
    path = write(tmp_path / "U_TRAIN.TS", [*head, "0.1,0.2,0.3:1", "0.4,0.5:2"])
    data = read_labelled(path)
    assert data.labels == ["1", "2"] and data.channels == 1
    np.testing.assert_array_equal(data.x[1][:, 0], [0.4, 0.5])


@pytest.mark.parametrize(
    "data, error",
    [
        (["1,2:3,4:walk", "1,2:walk"], "11: 1 dimension(s), but the first series (line 10) has 2"),
        (["1,2:3,4:walk", "1,2:3,4:5,6:run"],
         "11: 3 dimension(s), but the first series (line 10) has 2"),
        (["1,2:3,4:jog"], "10: label 'jog' is not one of @classLabel's: walk, run"),
        (["1,2:3,4:"], "10: label '' is not one of @classLabel's: walk, run"),
        (["1,2:3,abc:walk"], "10: dimension 2, value 2: 'abc' is not a number"),
        (["1,,2:3,4,5:walk"], "10: dimension 1, value 2: an empty value"),
        (["1,?,2:3,4,5:walk"], "10: dimension 1, value 2: missing value inside the series (only "
                               "trailing values may be missing)"),
        (["1,2,3:3,4:walk"], "10: dimensions of different lengths (3, 2 values); a series' "
                             "dimensions have one length"),
        (["1,2:?,NaN:walk"], "10: dimension 2: no values (all missing)"),
        (["1,2: :walk"], "10: dimension 2: no values"),
        (["1,2,3,4"], "10: no ':' before a class label (a series is dim1:dim2:...:label)"),
        (["1:2:3:walk"], "10: 3 dimension(s), but line 6 declares 2"),
    ],
)  # fmt: skip
def test_bad_ts_lines_are_named(tmp_path, data, error):
    path = write(tmp_path / "bad.ts", [*TS_HEAD, *data])
    for read in (read_ts, read_labelled):
        assert message(read, path) == f"{path}:{error}"


@pytest.mark.parametrize(
    "lines, error",
    [
        (TS_HEAD[:-1], ": no @data line (a .ts file holds @tags, then @data, then one series per "
                       "line)"),
        (TS_HEAD, ": no series after @data (line 9)"),
        (["@problemName X", "@data", "1:a"], ":2: @data before any '@classLabel true <labels>' "
                                             "(a classification file declares its labels)"),
        (["@classLabel false", "@data", "1:a"],
         ":1: expected '@classLabel true <label> ...' (the labels of the series), got "
         "'@classLabel false'"),
        (["@classLabel true", "@data"], ":1: expected '@classLabel true <label> ...' (the labels "
                                        "of the series), got '@classLabel true'"),
        (["@timeStamps true", "@classLabel true a", "@data", "(0,1):a"],
         ":1: '@timeStamps true': only '@timeStamps false' is read (series of values, not of "
         "(time, value) pairs)"),
        (["@targetLabel true", "@data", "1:0.5"],
         ":1: @targetLabel true is a regression file; classification reads '@classLabel true "
         "<labels>'"),
        (["@dimensions two"], ":1: expected '@dimensions <count>', got '@dimensions two'"),
        (["@classLabel true a", "1,2:a", "@data"], ":2: '1,2:a' before @data (the header holds "
                                                   "only @tags and # comments)"),
    ],
)  # fmt: skip
def test_bad_ts_headers_are_named(tmp_path, lines, error):
    path = write(tmp_path / "bad.ts", lines)
    assert message(read_labelled, path) == f"{path}{error}"


def test_a_ts_file_trains_like_a_wide_one(tmp_path):
    from rnnkit.tasks.ts_classify import TSClassifyTask

    rng = np.random.default_rng(0)
    wide, ts = [], ["@problemName T", "@timeStamps false", "@univariate true",
                    "@classLabel true a b", "@data"]  # fmt: skip
    for i in range(20):
        values = ",".join(f"{v:.4f}" for v in rng.normal(size=8) + (i % 2))
        wide.append(f"{'ab'[i % 2]},{values}")
        ts.append(f"{values}:{'ab'[i % 2]}")
    tasks = []
    for path in (write(tmp_path / "d.csv", wide), write(tmp_path / "d.ts", ts)):
        config = RunConfig().replace(task="ts-classify", data=str(path), test=str(path)).task
        tasks.append(TSClassifyTask(config))
        tasks[-1].load()
    assert tasks[0].classes == tasks[1].classes == ["a", "b"]
    assert tasks[0].baseline == tasks[1].baseline


# ----------------------------------------------------------------------------- sktime agrees


@pytest.mark.parametrize("name", ["BasicMotions", "JapaneseVowels"])
@pytest.mark.parametrize("split", ["TRAIN", "TEST"])
def test_ts_reader_agrees_with_sktime(name, split):
    pytest.importorskip("sktime")
    import sktime
    from sktime.datasets import load_from_tsfile_to_dataframe

    path = Path(sktime.__file__).parent / "datasets" / "data" / name / f"{name}_{split}.ts"
    if not path.is_file():
        pytest.skip(f"{path}: not bundled with this sktime")
    X, y = load_from_tsfile_to_dataframe(str(path))
    data = read_labelled(path)
    # sktime lowercases every line it reads; rnnkit keeps labels as written.
    assert [label.lower() for label in data.labels] == [str(label) for label in y]
    assert len(data.x) == len(X) and data.channels == X.shape[1]
    for i, s in enumerate(data.x):
        expected = np.stack([X.iloc[i, c].to_numpy(dtype=np.float64) for c in range(X.shape[1])], 1)
        np.testing.assert_array_equal(s, expected)
