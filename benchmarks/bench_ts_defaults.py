"""``rnnkit train --task ts-classify --data TRAIN --test TEST`` with every default, on the sets
sktime bundles, against 1-NN Euclidean and 1-NN DTW computed in the same run.

    pip install -e '.[bench]'        # sktime, for its bundled .ts files
    python benchmarks/bench_ts_defaults.py [--datasets OSULeaf ACSF1 PLAID BasicMotions
                                            JapaneseVowels] [--seeds 1]

The archive's own .ts files are given to rnnkit as they are (its .ts reader), so nothing here
chooses a setting: the model, normalization, validation split and training length are the
defaults a user gets. Times are the training loop's seconds (summary ``wall_time_s``) and the
whole run's wall seconds (reading, baselines, training, final scores). The CPU and its flags
are printed first; never time two things at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import rnnkit
from rnnkit.layers.paths import describe_cpu

DATASETS = ["OSULeaf", "ACSF1", "PLAID", "BasicMotions", "JapaneseVowels"]


def ts_file(name: str, split: str) -> Path:
    """sktime's bundled ``NAME_TRAIN.ts`` / ``NAME_TEST.ts``."""
    import sktime

    return Path(sktime.__file__).parent / "datasets" / "data" / name / f"{name}_{split}.ts"


def dtw_baseline(name: str, window: float = 0.1) -> dict[str, float]:
    """1-NN DTW (dependent, Sakoe-Chiba window ``window``) on the test set, read and normalized
    by the task as a run does, every series of the training file a reference."""
    from rnnkit.tasks.base import classification_scores
    from rnnkit.tasks.ts_classify import TSClassifyTask
    from rnnkit.timeseries.classify import Labelled, read_labelled
    from rnnkit.timeseries.dtw import nearest_neighbour_dtw
    from rnnkit.training.config import task_config

    data, test = str(ts_file(name, "TRAIN")), str(ts_file(name, "TEST"))
    task = TSClassifyTask.from_config(task_config("ts-classify", data=data, test=test))
    task.load()
    train = read_labelled(data)
    test_x, y_test = task.data["test"]
    predicted = nearest_neighbour_dtw(task._normalize(train), train.labels, test_x, window=window)
    return classification_scores(task._targets(Labelled(test_x, predicted), data), y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--baselines-only", action="store_true",
                        help="only 1-NN DTW (window 10%%) of each set, no training")  # fmt: skip
    args = parser.parse_args()
    print(f"CPU: {describe_cpu()}; {os.cpu_count()} CPUs; rnnkit {rnnkit.__version__}")
    if args.baselines_only:
        for name in args.datasets:
            began = time.perf_counter()
            scores = dtw_baseline(name)
            print(f"{name:15s} 1-NN DTW (window 10%): accuracy {scores['accuracy']:.3f}, "
                  f"macro-F1 {scores['macro_f1']:.3f} ({time.perf_counter() - began:.0f} s)",
                  flush=True)  # fmt: skip
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.datasets:
            for seed in range(args.seeds):
                began = time.perf_counter()
                out = str(Path(tmp) / f"{name}-{seed}")
                run = rnnkit.train(task="ts-classify", data=str(ts_file(name, "TRAIN")),
                                   test=str(ts_file(name, "TEST")), seed=seed, quiet=True,
                                   tensorboard=False, out=out)  # fmt: skip
                wall = time.perf_counter() - began
                s = run.summary
                rows.append((name, seed, s, wall))
                print(f"{name} seed {seed}: {s['test']}, baseline {s['baseline']}, "
                      f"{s['steps']} steps, {s['wall_time_s']:.0f} s", file=sys.stderr,
                      flush=True)  # fmt: skip
    header = (f"{'dataset':15s} {'model':9s} {'steps':>5s} {'accuracy':>8s} {'macro-F1':>8s} "
              f"{'1-NN ED':>7s} {'1-NN DTW':>8s} {'train s':>7s} {'run s':>6s}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for name, _, s, wall in rows:
        base = s["baseline"]
        ed = base.get("ed_accuracy", base.get("accuracy"))
        dtw = base.get("accuracy") if "ed_accuracy" in base else float("nan")
        print(f"{name:15s} {s['cell']:9s} {s['steps']:5d} {s['test']['accuracy']:8.3f} "
              f"{s['test']['macro_f1']:8.3f} {ed:7.3f} {dtw:8.3f} {s['wall_time_s']:7.1f} "
              f"{wall:6.1f}")  # fmt: skip
    wins = [s["test"]["accuracy"] > s["baseline"].get("accuracy", 0) for _, _, s, _ in rows]
    print(
        f"beats the run's main baseline (1-NN DTW where reported): {sum(wins)} of {len(wins)}; "
        f"median train s {statistics.median(r[2]['wall_time_s'] for r in rows):.0f}"
    )


if __name__ == "__main__":
    main()
