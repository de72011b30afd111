"""Dynamic time warping: the block-wise anti-diagonal implementation against the textbook
double loop (values, lengths, windows, channels, dtypes), its relations to the Euclidean
distance, symmetry, the band rule, 1-NN against the reference's choices, and a shifted pattern
that DTW classifies and the Euclidean distance does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.timeseries import dtw
from rnnkit.timeseries.classify import Labelled, nearest_neighbour
from rnnkit.timeseries.dtw import band, dtw_distances, dtw_reference, nearest_neighbour_dtw


def random_series(rng, n: int, lengths: tuple[int, int], channels: int) -> list[np.ndarray]:
    """n random walks (T_i, C), T_i drawn from [lengths[0], lengths[1]]."""
    return [np.cumsum(rng.normal(size=(int(rng.integers(lengths[0], lengths[1] + 1)),
                                       channels)), axis=0) for _ in range(n)]  # fmt: skip


def reference_matrix(queries, references, window) -> np.ndarray:
    return np.array([[dtw_reference(a, b, window) for b in references] for a in queries])


@pytest.mark.parametrize("window", [0.0, 0.1, 0.25, 1.0, None])
@pytest.mark.parametrize(
    "lengths, channels",
    [((12, 12), 1), ((1, 4), 1), ((5, 30), 1), ((8, 20), 3), ((25, 25), 2)],
)
def test_distances_equal_the_double_loop(lengths, channels, window):
    rng = np.random.default_rng(sum(lengths) + channels)
    queries = random_series(rng, 5, lengths, channels)
    references = random_series(rng, 6, lengths, channels)
    got = dtw_distances(queries, references, window)
    assert got.shape == (5, 6)
    np.testing.assert_allclose(got, reference_matrix(queries, references, window), rtol=1e-12)
    single = dtw_distances(queries, references, window, dtype=torch.float32)
    np.testing.assert_allclose(single, got, rtol=1e-4)


def test_blocks_and_threads_do_not_change_the_distances(monkeypatch):
    rng = np.random.default_rng(3)
    queries, references = random_series(rng, 9, (3, 40), 2), random_series(rng, 7, (3, 40), 2)
    expected = reference_matrix(queries, references, 0.1)
    np.testing.assert_allclose(dtw_distances(queries, references), expected, rtol=1e-12)
    threads = torch.get_num_threads()
    monkeypatch.setattr(dtw, "BLOCK_ELEMENTS", 50)  # a block per query and length group
    monkeypatch.setattr(dtw, "REF_GROUP", 2)
    try:
        for count in (1, 2, 3):  # blocks run in one thread, or side by side in several
            torch.set_num_threads(count)
            got = dtw_distances(queries, references)
            assert torch.get_num_threads() == count  # restored after the blocks' threads
            np.testing.assert_allclose(got, expected, rtol=1e-12)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("window", [0.0, 0.05, 0.3, None])
def test_never_above_euclidean_and_equal_to_it_without_warping(window):
    rng = np.random.default_rng(4)
    x = random_series(rng, 8, (30, 30), 2)
    d = dtw_distances(x, x, window)
    squared = np.array([[np.sum((a - b) ** 2) for b in x] for a in x])  # (8, 8)
    if window == 0.0:
        np.testing.assert_allclose(d, squared, rtol=1e-12)
    else:
        assert np.all(d <= squared * (1 + 1e-12))
        assert np.any(d < squared * 0.99)  # warping found a cheaper path
    np.testing.assert_allclose(np.diag(d), 0.0, atol=0)


def test_symmetric_for_any_lengths():
    rng = np.random.default_rng(5)
    a, b = random_series(rng, 6, (4, 30), 2), random_series(rng, 5, (4, 30), 2)
    for window in (0.1, None):
        np.testing.assert_allclose(dtw_distances(a, b, window), dtw_distances(b, a, window).T,
                                   rtol=1e-12)  # fmt: skip


def test_the_band_reaches_the_end_of_unequal_lengths():
    assert band(100, 100, 0.1) == 10 and band(100, 120, 0.1) == 20 and band(100, 103, 0.1) == 10
    assert band(100, 100, 0.29) == 29  # not 28: 0.29 * 100 is 28.999999999999996
    assert band(7, 12, None) == 12
    np.testing.assert_array_equal(band(np.array([10, 50]), np.array([[10], [30]]), 0.1),
                                  [[1, 40], [20, 20]])  # fmt: skip
    # Window 0 with unequal lengths still matches every step: finite, and as the loop says.
    a, b = np.arange(5.0), np.array([0.0, 1.0, 1.0, 2.0, 3.0, 4.0, 4.0])
    assert dtw_distances([a], [b], 0.0)[0, 0] == dtw_reference(a, b, 0.0) == 0.0


def test_nearest_neighbour_makes_the_reference_choices():
    rng = np.random.default_rng(6)
    train = random_series(rng, 12, (10, 30), 1)
    labels = [f"c{k % 3}" for k in range(12)]
    test = random_series(rng, 10, (10, 30), 1)
    expected = [labels[int(np.argmin([dtw_reference(s, r, 0.1) for r in train]))] for s in test]
    assert nearest_neighbour_dtw(train, labels, test, window=0.1) == expected
    # A query equal to a training series finds it; ties go to the earlier one.
    assert nearest_neighbour_dtw(train + train, labels + ["x"] * 12, [train[4]]) == [labels[4]]


def test_dtw_classifies_shifted_bumps_that_euclidean_misses():
    """Class 'bump': a narrow peak at step 20; class 'flat': noise. Test bumps move by 3-5
    steps: the Euclidean distance counts the peak twice against a bump reference but once
    against a flat one, and picks 'flat'; DTW (window 10% of 60: 6 steps) moves it back."""
    rng = np.random.default_rng(7)
    t = np.arange(60.0)

    def bump(at: float) -> np.ndarray:
        return (np.exp(-0.5 * (t - at) ** 2) * 3 + 0.02 * rng.normal(size=60))[:, None]

    train = [bump(20), bump(20), 0.02 * rng.normal(size=(60, 1)), 0.02 * rng.normal(size=(60, 1))]
    labels = ["bump", "bump", "flat", "flat"]
    test = [bump(20 + s) for s in (3, -4, 5, -5)]
    truth = ["bump"] * 4
    assert nearest_neighbour(Labelled(train, labels), Labelled(test, truth)) == ["flat"] * 4
    assert nearest_neighbour_dtw(train, labels, test, window=0.1) == truth


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: dtw_distances(x, x, window=1.5),
         r"^window: expected a fraction in \[0, 1\] of the longer length, or None \(no band\), "
         r"got 1\.5$"),
        (lambda x: dtw_distances(x, x, window=True), r"^window: .* got True$"),
        (lambda x: dtw_distances([], x), r"^queries: expected at least one series, got none$"),
        (lambda x: dtw_distances(x, [np.ones((3, 2))]),
         r"^queries, references: expected one number of channels, got \[1, 2\]$"),
        (lambda x: dtw_distances(x, [np.array([1.0, np.nan])]),
         r"^references\[0\]: NaN or infinite values; DTW needs finite series$"),
        (lambda x: dtw_distances(x, [np.ones((2, 2, 2))]),
         r"^references\[0\]: expected a non-empty \(T, C\) series, got shape \(2, 2, 2\)$"),
        (lambda x: nearest_neighbour_dtw(x, ["a"], x),
         r"^train_labels: expected one label per training series \(2\), got 1$"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call([np.zeros(4), np.ones(5)])
