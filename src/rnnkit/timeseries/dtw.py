"""Dynamic time warping (DTW) between multivariate series of any lengths, and the 1-nearest-
neighbour classifier on it: the baseline time-series classifiers are measured against.

Shapes: a series is (T, C), T steps of C channels; a set of series is a list of them, each
with its own length T_i and the same C. Q queries are compared with N references.

The distance is *dependent* DTW (DTW_D): one warping path for all channels. Matching step i
of ``a`` with step j of ``b`` costs the squared Euclidean distance over the channels,

.. math::

    c(i, j) = \\lVert a_i - b_j \\rVert^2, \\qquad
    D(i, j) = c(i, j) + \\min\\{D(i-1, j-1),\\ D(i-1, j),\\ D(i, j-1)\\},

and the distance is D(T_a - 1, T_b - 1): the least sum of costs along a path from the first
steps to the last that moves by (1, 1), (1, 0) or (0, 1). No square root is taken (as in
sktime's ``dtw_distance``), so with window 0 two series of one length are matched step by
step and their distance is the squared Euclidean one.

The Sakoe-Chiba band keeps the path within w steps of the diagonal, |i - j| <= w, where
w = floor(window * max(T_a, T_b)) (the UCR Suite's rounding), widened to |T_a - T_b| so that
series of different lengths can always be matched end to end (:func:`band`); ``window=None``:
no band.

Two implementations that the tests hold equal (in float64, to the bit):

- :func:`dtw_reference`, the textbook double loop over one pair's cells, for the tests;
- :func:`dtw_distances`, every query against every reference at once, in torch. Cells on the
  anti-diagonal k = i + j depend only on the two anti-diagonals before it, so one step updates
  a whole anti-diagonal, for a block of queries x references, with a handful of tensor
  operations; there is no Python loop over series or cells, only over the T_a + T_b - 1
  anti-diagonals of each block. A cell is stored at its offset d = j - i from the diagonal,
  which is where its predecessors are too: d two anti-diagonals back, d - 1 and d + 1 one
  back. Queries are padded with +inf and references with -inf, so every cell outside a pair's
  own (T_a, T_b) rectangle costs inf, and series of different lengths share a block; series
  are sorted by length into blocks so that little of a block is padding. Blocks run in
  threads, as many as torch's thread count.

Measured on 2 cores of an AMD EPYC, shared with other jobs (float64, window 0.1, the test set
against the training set): OSULeaf (242 x 200, length 427) 2-3 s, ACSF1 (100 x 100, length
1460) 6-7 s, PLAID (537 x 537, lengths 100-1344, 1.6e10 cells in the band) 45-65 s; 537 x 537
random walks of lengths drawn uniformly from 100-1344 (wider bands) 200 s.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

# Slots of one block (queries x references x offsets of one parity): large enough that the
# per-step Python overhead is small, small enough that a block's tensors stay near the cache.
BLOCK_ELEMENTS = 1 << 20
REF_GROUP = 256  # references per block, at most


def band(length_a, length_b, window: float | None):
    """Half-width w of the Sakoe-Chiba band, |i - j| <= w, for series of these lengths
    (ints, or numpy arrays that broadcast): floor(window * max(T_a, T_b)), at least
    |T_a - T_b|; ``window=None``: max(T_a, T_b), no constraint. The one rule both
    implementations use."""
    longer = np.maximum(length_a, length_b)
    if window is None:
        return longer
    # 1e-9: 0.29 * 100 is 28.999999999999996 in floating point, and means 29.
    w = np.floor(window * longer + 1e-9).astype(np.int64)
    return np.maximum(w, np.abs(np.asarray(length_a) - np.asarray(length_b)))


def _check_window(window: float | None) -> None:
    ok = isinstance(window, int | float) and not isinstance(window, bool) and 0 <= window <= 1
    if window is not None and not ok:
        raise ValueError(f"window: expected a fraction in [0, 1] of the longer length, or None "
                         f"(no band), got {window!r}")  # fmt: skip


def _as_series(series: Sequence, name: str) -> list[np.ndarray]:
    """Each series as a (T_i, C) float64 array; 1-D arrays are one channel."""
    if len(series) == 0:
        raise ValueError(f"{name}: expected at least one series, got none")
    out = []
    for k, s in enumerate(series):
        s = np.asarray(s, dtype=np.float64)
        s = s[:, None] if s.ndim == 1 else s
        if s.ndim != 2 or len(s) == 0:
            raise ValueError(f"{name}[{k}]: expected a non-empty (T, C) series, got shape "
                             f"{np.shape(series[k])}")  # fmt: skip
        if not np.isfinite(s).all():
            raise ValueError(f"{name}[{k}]: NaN or infinite values; DTW needs finite series")
        out.append(s)
    return out


def dtw_reference(a: np.ndarray, b: np.ndarray, window: float | None = 0.1) -> float:
    """DTW distance of two series by the textbook double loop: the plain reference of
    :func:`dtw_distances`, O(T_a T_b) Python steps, for tests.

    Args:
        a, b: (T_a, C) and (T_b, C) series, or 1-D (one channel).
        window: the Sakoe-Chiba band as a fraction of the longer length (:func:`band`);
            None: unconstrained.

    Returns:
        The least sum of squared step distances along a warping path.
    """
    _check_window(window)
    (a, b) = _as_series([a, b], "series")
    ta, tb = len(a), len(b)
    w = int(band(ta, tb, window))
    D = np.full((ta + 1, tb + 1), np.inf)  # D[i + 1, j + 1]: cell (i, j); row/column 0: borders
    D[0, 0] = 0.0
    for i in range(1, ta + 1):
        for j in range(max(1, i - w), min(tb, i + w) + 1):
            cost = float(np.sum((a[i - 1] - b[j - 1]) ** 2))
            D[i, j] = cost + min(D[i - 1, j - 1], D[i - 1, j], D[i, j - 1])
    return float(D[ta, tb])


def dtw_distances(
    queries: Sequence[np.ndarray],
    references: Sequence[np.ndarray],
    window: float | None = 0.1,
    *,
    dtype: torch.dtype = torch.float64,
) -> np.ndarray:
    """DTW distance of every query to every reference, anti-diagonal by anti-diagonal for
    blocks of pairs at once (see the module docstring); equal to :func:`dtw_reference`.

    Args:
        queries: Q series, each (T_i, C) (or 1-D: one channel), finite.
        references: N series, each (T_j, C), the same C.
        window: the Sakoe-Chiba band as a fraction of the longer length of each pair
            (:func:`band`); None: unconstrained.
        dtype: of the computation; float32 is faster (PLAID's sizes: 27 s against 39 s),
            with sums rounded to about 7 digits.

    Shapes:
        Returns (Q, N) float64: ``out[q, n]`` the distance of ``queries[q]`` to
        ``references[n]``.

    Example:
        >>> a, b = np.sin(np.arange(30.0)), np.sin(np.arange(30.0) + 1)
        >>> d = dtw_distances([a], [a, b], window=0.1)  # (1, 2)
        >>> float(d[0, 0]), bool(d[0, 1] < np.sum((a - b) ** 2))
        (0.0, True)
    """
    _check_window(window)
    qs, rs = _as_series(queries, "queries"), _as_series(references, "references")
    channels = {s.shape[1] for s in qs + rs}
    if len(channels) > 1:
        raise ValueError(f"queries, references: expected one number of channels, got "
                         f"{sorted(channels)}")  # fmt: skip
    q_len = np.array([len(s) for s in qs])
    r_len = np.array([len(s) for s in rs])
    q_order = np.argsort(q_len, kind="stable")
    r_order = np.argsort(r_len, kind="stable")
    # Blocks run side by side in threads (torch releases the GIL in its kernels), each
    # torch operation on one thread: OpenMP's threads spin at the barrier of every small
    # operation, and on a busy machine that made the same work 5-20x slower.
    workers = torch.get_num_threads()
    jobs = []  # (work, query indices, reference indices)
    for r_pick in _groups(r_order, r_len, REF_GROUP):
        for q_group in _groups(q_order, q_len, len(qs)):
            # Blocks of about BLOCK_ELEMENTS slots per parity of offsets (see _block):
            # Qb x Nb x (offsets / 2 + 3).
            tq, tr = int(q_len[q_group].max()), int(r_len[r_pick].max())
            w = int(band(tq, tr, window))
            rows = (min(w, tq - 1) + min(w, tr - 1)) // 2 + 3
            blocks = -(-len(q_group) * len(r_pick) * rows // BLOCK_ELEMENTS)  # ceil
            blocks = min(-(-blocks // workers) * workers, len(q_group))  # a share per worker
            for q_pick in np.array_split(q_group, blocks):
                work = (tq + tr) * min(w + 1, tq, tr) * len(q_pick) * len(r_pick)
                jobs.append((work, q_pick, r_pick))
    jobs.sort(key=lambda job: -job[0])  # the longest first: the workers finish together

    def run(job: tuple) -> np.ndarray:
        _, q_pick, r_pick = job
        q = _time_major([qs[n] for n in q_pick], reverse=True, dtype=dtype)
        r = _time_major([rs[n] for n in r_pick], reverse=False, dtype=dtype)
        return _block(q, q_len[q_pick], r, r_len[r_pick], window)

    torch.set_num_threads(1)
    try:
        if workers > 1 and len(jobs) > 1:
            with ThreadPoolExecutor(min(workers, len(jobs))) as pool:
                blocks = list(pool.map(run, jobs))
        else:
            blocks = [run(job) for job in jobs]
    finally:
        torch.set_num_threads(workers)
    out = np.empty((len(qs), len(rs)))
    for (_, q_pick, r_pick), block in zip(jobs, blocks, strict=True):
        out[np.ix_(q_pick, r_pick)] = block
    return out


def _groups(order: np.ndarray, lengths: np.ndarray, most: int) -> list[np.ndarray]:
    """Runs of ``order`` (indices sorted by length) of similar lengths (the longest at most
    10% + 8 steps over the shortest), at most ``most`` each: a block's padding and band then
    stay near its own series'."""
    runs, start = [], 0
    for k in range(1, len(order) + 1):
        if (k == len(order) or k - start == most
                or lengths[order[k]] > 1.1 * lengths[order[start]] + 8):  # fmt: skip
            runs.append(order[start:k])
            start = k
    return runs


def _time_major(series: list[np.ndarray], *, reverse: bool, dtype: torch.dtype) -> Tensor:
    """(T + 2, C, B), T the longest length: step t of series b in row t + 1 (references), or
    in row T - t (queries, ``reverse``, so that a query's steps run up the anti-diagonal as a
    reference's run down it); every other row inf, -inf for references: a cell outside a
    pair's rectangle then costs (inf - x)^2, (x + inf)^2 or (inf + inf)^2, all inf."""
    T = max(len(s) for s in series)
    x = torch.full((T + 2, series[0].shape[1], len(series)), -np.inf if not reverse else np.inf,
                   dtype=dtype)  # fmt: skip
    for b, s in enumerate(series):
        s = torch.from_numpy(s)  # (T_b, C)
        if reverse:
            x[T - len(s) + 1 : T + 1, :, b] = s.flip(0)
        else:
            x[1 : len(s) + 1, :, b] = s
    return x


def _block(q: Tensor, q_len: np.ndarray, r: Tensor, r_len: np.ndarray,
           window: float | None) -> np.ndarray:  # fmt: skip
    """DTW of each of Qb queries to each of Nb references: q (Tq + 2, C, Qb) and r
    (Tr + 2, C, Nb) as :func:`_time_major` lays them out; returns (Qb, Nb) float64.

    The cell (i, j) on anti-diagonal k = i + j has offset d = j - i, at most W (the block's
    widest band) from 0 and within [-(Tq - 1), Tr - 1]: [d_lo, d_hi]. It is stored at
    u = d - d_lo:
    even u in row u // 2 + 1 of ``slots[0]``, odd u in row u // 2 + 1 of ``slots[1]``, each
    row (Qb, Nb) (the first and last rows: inf borders). Anti-diagonal k writes the offsets of
    k's parity from those of the other parity (anti-diagonal k - 1, offsets u - 1 and u + 1)
    and its own (k - 2, offset u): two arrays, updated in turn, hold all that the recurrence
    needs. Along an anti-diagonal i falls as j rises, so the query's and the reference's
    steps are both contiguous rows, and so are the slots one step touches.
    """
    Qb, Nb = len(q_len), len(r_len)
    Tq, Tr = int(q_len.max()), int(r_len.max())
    dtype = q.dtype
    w = band(q_len[:, None], r_len[None, :], window)  # (Qb, Nb)
    W = int(w.max())
    d_lo, d_hi = max(-W, -(Tq - 1)), min(W, Tr - 1)
    U = d_hi - d_lo  # u in [0, U]
    slots = [torch.full((U // 2 + 3, Qb, Nb), float("inf"), dtype=dtype) for _ in (0, 1)]
    slots[-d_lo % 2][-d_lo // 2 + 1] = 0.0  # d = 0 before the first cell: D(0, 0) = c(0, 0)
    penalty = None
    if (w < min(W, max(Tq, Tr))).any():  # a pair with a narrower band than the block's
        penalty = []
        for p in (0, 1):
            d = np.arange(U // 2 + 3) * 2 - 2 + p + d_lo  # the offset each row holds
            outside = np.abs(d)[:, None, None] > w[None]  # (U // 2 + 3, Qb, Nb)
            penalty.append(torch.from_numpy(np.where(outside, np.inf, 0.0)).to(dtype))
    # Where each pair ends: anti-diagonal Tq_i + Tr_j - 2, at offset Tr_j - Tq_i.
    end_k = (q_len[:, None] + r_len[None, :] - 2).ravel()  # (Qb Nb,)
    end_u = (r_len[None, :] - q_len[:, None] - d_lo).ravel()
    ends: dict[int, list] = {}
    for k in np.unique(end_k):
        for p in (0, 1):
            flat = np.flatnonzero((end_k == k) & (end_u % 2 == p))
            if len(flat):
                ends.setdefault(int(k), []).append((p, end_u[flat] // 2 + 1, flat))
    out = np.empty(Qb * Nb)
    # The most cells one step writes: those of an anti-diagonal, and the two spares.
    most = min(min(Tq, Tr) + 2, U // 2 + 1) * Qb * Nb
    cost_buf = torch.empty(most, dtype=dtype)
    prev_buf = torch.empty(most, dtype=dtype)
    channels = q.shape[1]
    for k in range(Tq + Tr - 1):
        p = (k - d_lo) % 2  # the parity of the u on anti-diagonal k
        # The anti-diagonal's cells in the block's rectangle and band, and one spare each
        # side, which costs inf: a cell that leaves the range reads as inf afterwards.
        lo = max(d_lo, k - 2 * (Tq - 1), -k) - d_lo
        hi = min(d_hi, k, 2 * (Tr - 1) - k) - d_lo
        lo += (lo - p) % 2
        hi -= (hi - p) % 2
        lo, hi = max(lo - 2, p), min(hi + 2, U - (U - p) % 2)
        if lo > hi:  # U = 0: no odd u
            continue
        a0, a1 = lo // 2 + 1, hi // 2 + 2  # rows [a0, a1) of slots[p]
        S = a1 - a0
        # The first cell, offset d = lo + d_lo: query step i = (k - d) / 2 in row Tq - i of
        # q, reference step j = (k + d) / 2 in row j + 1 of r; the next cells follow row by
        # row.
        qi = q[Tq - (k - lo - d_lo) // 2 :][:S]  # (S, C, Qb)
        rj = r[(k + lo + d_lo) // 2 + 1 :][:S]  # (S, C, Nb)
        cost = cost_buf[: S * Qb * Nb].view(S, Qb, Nb)
        prev = prev_buf[: S * Qb * Nb].view(S, Qb, Nb)
        torch.sub(qi[:, 0, :, None], rj[:, 0, None, :], out=cost)
        cost.square_()
        for c in range(1, channels):
            cost.add_((qi[:, c, :, None] - rj[:, c, None, :]).square_())
        own, other = slots[p], slots[1 - p]
        if p == 0:  # even u in row a: odd neighbours u - 1, u + 1 in rows a - 1, a
            torch.minimum(other[a0 - 1 : a1 - 1], other[a0:a1], out=prev)
        else:  # odd u in row a: even neighbours in rows a, a + 1
            torch.minimum(other[a0:a1], other[a0 + 1 : a1 + 1], out=prev)
        torch.minimum(prev, own[a0:a1], out=prev)
        if penalty is not None:
            prev.add_(penalty[p][a0:a1])
        torch.add(cost, prev, out=own[a0:a1])
        for parity, rows, flat in ends.get(k, ()):
            out[flat] = slots[parity].view(-1, Qb * Nb)[rows, flat].double().numpy()
    return out.reshape(Qb, Nb)


def nearest_neighbour_dtw(
    train_x: Sequence[np.ndarray],
    train_labels: Sequence[str],
    test_x: Sequence[np.ndarray],
    window: float | None = 0.1,
) -> list[str]:
    """1-NN with DTW: each test series takes the label of the training series at the least
    :func:`dtw_distances` (ties go to the earlier training series).

    Args:
        train_x: N reference series, each (T_i, C).
        train_labels: their N labels.
        test_x: Q series to classify, each (T_j, C).
        window: the Sakoe-Chiba band (:func:`band`); None: unconstrained.

    Returns:
        Q predicted labels.
    """
    if len(train_labels) != len(train_x):
        raise ValueError(f"train_labels: expected one label per training series "
                         f"({len(train_x)}), got {len(train_labels)}")  # fmt: skip
    distances = dtw_distances(test_x, train_x, window)  # (Q, N)
    return [train_labels[n] for n in np.argmin(distances, axis=1)]
