"""Batch inference in several processes: ``rnnkit predict --workers N`` against one process.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_predict.py

Trains a small adding-problem model (a few steps: only its shape matters here), writes
``--sequences`` random sequences of 50-``--max-len`` steps as JSON lines, and times the whole
``rnnkit predict`` command (start-up, reading, writing included) per worker count, alternating
``--repeat`` times; checks that every worker count writes the same predictions in the same order
(to float rounding: thread counts change summation order).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def rnnkit(*args: str) -> float:
    start = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-m", "rnnkit", *args], env=env, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sequences", type=int, default=20000)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-predict-"))
    run = work / "run"
    rnnkit("train", "--task", "adding", "--cell", args.cell, "--hidden", str(args.hidden),
           "--steps", "2", "--eval-every", "2", "--quiet", "--no-tensorboard",
           "--out", str(run))  # fmt: skip
    rng = random.Random(0)
    with open(work / "in.jsonl", "w") as f:
        for _ in range(args.sequences):
            T = rng.randint(50, args.max_len)
            f.write(json.dumps([[round(rng.random(), 4), float(rng.random() < 0.02)]
                                for _ in range(T)]) + "\n")  # fmt: skip
    times: dict[int, list[float]] = {w: [] for w in args.workers}
    for rep in range(args.repeat):
        for w in args.workers:
            out = work / f"out{w}.jsonl"
            times[w].append(rnnkit("predict", str(run), "--input", str(work / "in.jsonl"),
                                   "--output", str(out), "--workers", str(w),
                                   "--batch-size", str(args.batch_size)))  # fmt: skip
            print(f"  repeat {rep + 1}: {w} worker(s) {times[w][-1]:.1f} s", flush=True)
    # The same predictions in the same order, up to float rounding: 1 process runs torch on
    # every core, N processes on fewer threads each, and summation order varies with threads.
    preds = {w: [json.loads(line)["prediction"] for line in open(work / f"out{w}.jsonl")]
             for w in args.workers}  # fmt: skip
    first = preds[args.workers[0]]
    worst = max(abs(a - b) for w in args.workers for a, b in zip(first, preds[w], strict=True))
    assert worst < 1e-4, f"worker counts disagree by {worst}"
    print()
    print(
        f"rnnkit predict, {args.sequences} sequences of 50-{args.max_len} steps, {args.cell} "
        f"H={args.hidden}, batches of {args.batch_size}, cores={os.cpu_count()}, "
        f"median of {args.repeat}; outputs in the same order, largest difference between "
        f"worker counts {worst:.0e}"
    )
    print("| workers | seconds | sequences/s | speed-up |")
    print("|---|---|---|---|")
    base = statistics.median(times[args.workers[0]])
    for w in args.workers:
        t = statistics.median(times[w])
        print(f"| {w} | {t:.1f} | {args.sequences / t:.0f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
