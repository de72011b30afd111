"""Reading labelled series (UCR wide form, long form), normalization, and the 1-NN Euclidean
baseline against a brute-force computation."""

from __future__ import annotations

import numpy as np
import pytest

from rnnkit.timeseries import SeriesError
from rnnkit.timeseries.classify import Labelled, nearest_neighbour, normalize, read_long, read_wide


def brute_force(train: Labelled, test: Labelled) -> list[str]:
    labels = []
    for s in test.x:
        dists = []
        for r in train.x:
            n = min(len(s), len(r))
            dists.append(np.sqrt(((s[:n] - r[:n]) ** 2).sum() * max(len(s), len(r)) / n))
        labels.append(train.labels[int(np.argmin(dists))])
    return labels


@pytest.mark.parametrize("equal", [True, False])
def test_nearest_neighbour_equals_brute_force(equal):
    rng = np.random.default_rng(0)

    def make(n):
        lengths = [20] * n if equal else rng.integers(8, 20, size=n)
        return Labelled([rng.normal(size=(int(t), 2)) for t in lengths],
                        [str(rng.integers(3)) for _ in range(n)])  # fmt: skip

    train, test = make(30), make(15)
    assert nearest_neighbour(train, test) == brute_force(train, test)


def test_nearest_neighbour_finds_a_planted_copy():
    rng = np.random.default_rng(1)
    train = Labelled([rng.normal(size=(10, 1)) for _ in range(5)], list("abcde"))
    test = Labelled([train.x[3] + 1e-3, train.x[0] - 1e-3], ["?", "?"])
    assert nearest_neighbour(train, test) == ["d", "a"]


def test_wide_form_reads_variable_lengths_and_refuses_gaps(tmp_path):
    path = tmp_path / "u.tsv"
    path.write_text("1\t0.5\t1.5\t2.5\n2\t3\t4\tNaN\n")
    data = read_wide(path)
    assert data.labels == ["1", "2"] and [len(s) for s in data.x] == [3, 2]
    np.testing.assert_array_equal(data.x[1][:, 0], [3, 4])
    bad = tmp_path / "bad.csv"
    bad.write_text("1,0.5,,2.5\n")
    with pytest.raises(SeriesError, match=r"bad.csv:1: column 3: missing value inside"):
        read_wide(bad)
    bad.write_text("1,0.5\n2,x\n")
    with pytest.raises(SeriesError, match=r"bad.csv:2: column 2: 'x' is not a number"):
        read_wide(bad)


def test_long_form_groups_by_id_in_time_order(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("id,time,a,b,label\n7,2,3,30,walk\n7,1,1,10,walk\n8,1,5,50,run\n")
    data = read_long(path)
    assert data.labels == ["walk", "run"] and data.channels == 2
    np.testing.assert_array_equal(data.x[0], [[1, 10], [3, 30]])
    path.write_text("id,time,a,label\n7,1,1,walk\n7,2,2,run\n")
    with pytest.raises(SeriesError, match="series 7 has several labels"):
        read_long(path)


def test_normalization_per_series_and_global():
    x = Labelled([np.array([[1.0], [3.0]]), np.array([[10.0], [10.0], [40.0]])], ["a", "b"])
    per = normalize(x, "series")
    for s in per.x:
        assert s.mean() == pytest.approx(0) and s.std() == pytest.approx(1)
    glob = normalize(x, "global")
    stacked = np.concatenate(glob.x)
    assert stacked.mean() == pytest.approx(0) and stacked.std() == pytest.approx(1)
