"""Time-series classification (``--task ts-classify``) on two multivariate sets that sktime
bundles, against 1-NN Euclidean computed in the same run and against the archive's published
1-NN accuracies.

    pip install -e '.[bench]'        # sktime, for its bundled .ts files and their loader
    python benchmarks/bench_ts_classify.py [--seeds 3 --steps 1000 --normalize global series]

BasicMotions (4 activities, 6 channels of accelerometer and gyroscope, length 100; 40 training
and 40 test series) and JapaneseVowels (9 speakers, 12 LPC cepstrum channels, lengths 7-29;
270 and 370). Each set is written as long-form CSVs (``id,time,c0..,label``) to a temporary
directory and trained through ``rnnkit.train`` exactly as ``rnnkit train --task ts-classify
--data TRAIN --test TEST`` would: the default validation split (a stratified 10% of the
training series), the best checkpoint by validation loss, the archive's own test set scored
once at the end. One fixed recipe for every row (below); models differ only in --cell, runs
only in --seed (initialization and batches). "1-NN ED" is the task's baseline from the same
run (every training series as a reference, the same normalization; series of different
lengths compared over their common prefix). Times are training seconds per run (1 thread).

Published accuracies (1-NN with Euclidean distance, and with dimension-independent and
dimension-dependent DTW) are from Bagnall et al., "The UEA multivariate time series
classification archive, 2018", arXiv:1811.00075, as reproduced in later papers' tables (e.g.
Table 13 of the appendix of "TEST: Text prototype aligned embedding to activate LLM's ability
for time series", Sun et al. 2024; the DTW columns also in the teNN README, Marteau 2024). We
could not check against the original table which normalization those numbers used, and the
2018 archive padded JapaneseVowels to equal length, while sktime's copy keeps the true
lengths: read those columns as context, not as a like-for-like comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import rnnkit

# Bagnall et al. 2018 (see the module docstring): test accuracy of 1-NN ED, DTW_I, DTW_D.
PUBLISHED = {
    "BasicMotions": {"ed": 0.676, "dtw_i": 1.000, "dtw_d": 0.975},
    "JapaneseVowels": {"ed": 0.924, "dtw_i": 0.959, "dtw_d": 0.949},
}
# One recipe for every dataset, cell and normalization (tuned by hand on a few runs).
RECIPE = dict(
    hidden=128, lr=3e-3, schedule="cosine", clip=1.0, steps=1000, batch_size=32,
    pooling="last", eval_every=50, early_stopping="loss", early_stopping_patience=1000,
)  # fmt: skip


def load(name: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    """Series (T_i, C) and labels of one of sktime's bundled datasets."""
    from sktime.datasets import load_basic_motions, load_japanese_vowels

    loader = {"BasicMotions": load_basic_motions, "JapaneseVowels": load_japanese_vowels}[name]
    X, y = loader(split=split, return_type="nested_univ")  # one cell per (series, channel)
    series = [
        np.stack([np.asarray(X.iloc[i, k], dtype=float) for k in range(X.shape[1])], axis=1)
        for i in range(len(X))
    ]
    return series, [str(label) for label in y]


def write_long(path: Path, series: list[np.ndarray], labels: list[str]) -> None:
    """Long form: one row per (series, step), ``id,time,c0,...,label``."""
    C = series[0].shape[1]
    rows = [",".join(["id", "time", *(f"c{k}" for k in range(C)), "label"])]
    for i, (s, label) in enumerate(zip(series, labels, strict=True)):
        rows += [
            ",".join([str(i), str(t), *map(repr, s[t].tolist()), label]) for t in range(len(s))
        ]
    path.write_text("\n".join(rows) + "\n")


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(PUBLISHED))
    parser.add_argument("--cells", nargs="+", default=["lstm", "gru"])
    parser.add_argument("--normalize", nargs="+", default=["global", "series"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=RECIPE["steps"])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    recipe = {**RECIPE, "steps": args.steps}
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for name in args.datasets:
            files = {}
            for split in ("train", "test"):
                files[split] = tmp / f"{name}_{split}.csv"
                write_long(files[split], *load(name, split))
            for how in args.normalize:
                for cell in args.cells:
                    acc, f1, seconds, nn = [], [], [], None
                    for seed in range(args.seeds):
                        run = rnnkit.train(
                            task="ts-classify", data=str(files["train"]),
                            test=str(files["test"]), normalize=how, cell=cell, seed=seed,
                            device="cpu", threads=args.threads, quiet=True, tensorboard=False,
                            out=str(tmp / f"{name}-{how}-{cell}-{seed}"), **recipe,
                        )  # fmt: skip
                        s = run.summary
                        acc.append(s["test"]["accuracy"])
                        f1.append(s["test"]["macro_f1"])
                        seconds.append(s["wall_time_s"])
                        nn = s["baseline"]
                        print(f"{name} {how} {cell} seed {seed}: accuracy "
                              f"{acc[-1]:.3f}, 1-NN ED {nn['ed_accuracy']:.3f}, "
                              f"{seconds[-1]:.1f} s",
                              file=sys.stderr, flush=True)  # fmt: skip
                    rows.append((name, how, cell, acc, f1, nn, seconds))
    published = "archive 1-NN: ED / DTW_I / DTW_D"
    header = (f"{'dataset':15s} {'normalize':9s} {'model':5s} {'accuracy':>15s} "
              f"{'macro-F1':>15s} {'1-NN ED':>14s}  {published}  {'train s':>7s}")  # fmt: skip
    print(
        f"ts-classify, {args.seeds} seeds per row (mean ± sd), recipe: "
        + ", ".join(f"{k}={v}" for k, v in recipe.items())
    )
    print(header)
    print("-" * len(header))
    for name, how, cell, acc, f1, nn, seconds in rows:
        p = PUBLISHED[name]
        nn_text = f"{nn['ed_accuracy']:.3f} ({nn['ed_macro_f1']:.3f})"
        pub = f"{p['ed']:.3f} / {p['dtw_i']:.3f} / {p['dtw_d']:.3f}"
        train_s = statistics.mean(seconds)
        print(f"{name:15s} {how:9s} {cell:5s} {mean_sd(acc):>15s} {mean_sd(f1):>15s} "
              f"{nn_text:>14s}  {pub:>{len(published)}s}  {train_s:7.1f}")  # fmt: skip
    print(f"1-NN ED: accuracy (macro-F1) of this run's baseline. Whole benchmark: "
          f"{time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
