"""Data-parallel throughput: the same training run in 1 process and in N workers (``--nproc``),
and with batches made ahead by data-loading processes (``--workers``).

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_ddp.py
    .venv/bin/python benchmarks/bench_ddp.py --nprocs 1 2 --steps 200 --device cuda
    .venv/bin/python benchmarks/bench_ddp.py --nprocs 1 --workers 0 1 --task listops \
        --model tree-lstm --seq-len 100 --hidden 128 --batch 64

Each run is ``rnnkit train`` in a fresh process (so N workers pay their own start-up, as a user
would), same global batch, same steps; throughput is training sequences per second from the
run's own wall time (``summary.json``: the training loop, start-up and final evaluation
excluded). Runs alternate between the process counts ``--repeat`` times; medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run(nproc: int, workers: int, args: argparse.Namespace) -> float:
    """Seconds of training for one run with ``nproc`` processes, each with ``workers``
    data-loading processes."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-ddp-{nproc}-")) / "run"
    model = ["--model", args.model] if args.model == "tree-lstm" else ["--cell", args.cell]
    cmd = [sys.executable, "-m", "rnnkit", "train", "--task", args.task, *model,
           "--workers", str(workers),
           "--seq-len", str(args.seq_len), "--hidden", str(args.hidden), "--steps",
           str(args.steps), "--batch-size", str(args.batch), "--eval-every", str(args.steps),
           "--valid-size", "256", "--test-size", "256", "--device", args.device, "--quiet",
           "--no-tensorboard", "--out", str(out)]  # fmt: skip
    if nproc > 1:
        cmd += ["--nproc", str(nproc)]
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run(cmd, env=env, check=True)
    return json.loads((out / "summary.json").read_text())["wall_time_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nprocs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--workers", type=int, nargs="+", default=[0])
    parser.add_argument("--task", default="adding")
    parser.add_argument("--model", default="sequence", choices=["sequence", "tree-lstm"])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=256, help="the global batch")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    combos = [(n, w) for n in args.nprocs for w in args.workers]
    times: dict[tuple[int, int], list[float]] = {c: [] for c in combos}
    for rep in range(args.repeat):
        for n, w in combos:
            times[n, w].append(run(n, w, args))
            print(f"  repeat {rep + 1}: {n} process(es), {w} loader(s): {times[n, w][-1]:.1f} s",
                  flush=True)  # fmt: skip
    print()
    print(
        f"data-parallel training, task={args.task} model={args.model} cell={args.cell} "
        f"T={args.seq_len} "
        f"H={args.hidden} global batch {args.batch}, {args.steps} steps, device={args.device}, "
        f"cores={os.cpu_count()}, torch={torch.__version__}, median of {args.repeat}"
    )
    print("| processes | data-loading workers | training s | sequences/s | speed-up |")
    print("|---|---|---|---|---|")
    base = statistics.median(times[combos[0]])
    for n, w in combos:
        t = statistics.median(times[n, w])
        rate = args.steps * args.batch / t
        print(f"| {n} | {w} | {t:.1f} | {rate:.0f} | {base / t:.2f}x |")


if __name__ == "__main__":
    main()
