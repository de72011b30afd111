"""Overhead of recording the gradient-by-time profile during training (``--grad-flow-every``):
the same run with and without it, training time per step, median of alternating repeats.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_grad_flow.py

A recorded step runs the reference loop (every state kept with its gradient) instead of the
fused kernel, so its cost is that of the reference path, paid once every N steps.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import torch

from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer


def seconds(args: argparse.Namespace, every: int) -> float:
    out = tempfile.mkdtemp(prefix="bench-flow-")
    config = RunConfig().replace(
        task="adding", seq_len=args.seq_len, cell=args.cell, hidden=args.hidden,
        batch_size=args.batch, steps=args.steps, eval_every=args.steps, valid_size=256,
        test_size=256, quiet=True, tensorboard=False, out=out, grad_flow_every=every,
    )  # fmt: skip
    trainer = Trainer(config)
    trainer.fit()
    return trainer.elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--seq-len", type=int, default=200)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, nargs="+", default=[0, 50])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    times: dict[int, list[float]] = {e: [] for e in args.every}
    for rep in range(args.repeat):
        for every in args.every:
            times[every].append(seconds(args, every))
            print(f"  repeat {rep + 1}: every {every}: {times[every][-1]:.1f} s", flush=True)
    print(f"\nadding T={args.seq_len}, {args.cell} H={args.hidden}, batch {args.batch}, "
          f"{args.steps} steps, torch {torch.__version__}, median of {args.repeat}")  # fmt: skip
    print("| recording | training s | ms/step | overhead |")
    print("|---|---|---|---|")
    base = statistics.median(times[args.every[0]])
    for every in args.every:
        t = statistics.median(times[every])
        label = "off" if every == 0 else f"every {every} steps"
        print(f"| {label} | {t:.1f} | {1000 * t / args.steps:.1f} | {100 * (t / base - 1):+.0f}% |")


if __name__ == "__main__":
    main()
