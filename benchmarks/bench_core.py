"""Core benchmark: training step (forward + backward) and inference of recurrent layers.

Prints median milliseconds and the ratio to ``torch.nn.LSTM`` measured in the same run.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_core.py            # full table
    .venv/bin/python benchmarks/bench_core.py --lengths 100 --repeat 3           # quick look

Both sides of every ratio run in the same process and environment.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch import nn

from rnnkit.layers import Recurrent


def rows(D: int, H: int):
    """(name, module factory) for every benchmarked configuration."""
    return [
        ("torch.nn.LSTM", lambda: nn.LSTM(D, H, batch_first=True)),
        ("torch.nn.GRU", lambda: nn.GRU(D, H, batch_first=True)),
        ("rnnkit LSTM (fused)", lambda: Recurrent("lstm", D, H)),
        ("rnnkit GRU (fused)", lambda: Recurrent("gru", D, H, path="fused")),
        ("rnnkit GRU (custom)", lambda: Recurrent("gru", D, H, path="custom")),
        ("rnnkit LSTM (custom)", lambda: Recurrent("lstm", D, H, path="custom")),
        ("rnnkit peephole LSTM", lambda: Recurrent("lstm", D, H, peephole=True)),
        ("rnnkit layer-norm LSTM", lambda: Recurrent("lstm", D, H, norm="layer")),
        ("rnnkit projected LSTM (P=128)", lambda: Recurrent("lstm", D, H, proj_size=128)),
        ("torch.nn.LSTM (P=128)", lambda: nn.LSTM(D, H, batch_first=True, proj_size=128)),
    ]


def time_ms(fn, repeat: int, warmup: int, sync) -> float:
    for _ in range(warmup):
        fn()
    sync()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def interleaved_medians(jobs: dict, repeat: int, warmup: int, sync) -> dict:
    """Median milliseconds of every job, ``repeat`` passes with the jobs interleaved within
    each, so a slow spell of this shared machine hits all rows alike instead of skewing one
    row's ratio; ``warmup`` calls of each first (oneDNN primitive creation, allocator growth)."""
    samples: dict = {key: [] for key in jobs}
    for fn in jobs.values():
        for _ in range(warmup):
            fn()
    for rep in range(repeat):
        for key, fn in jobs.items():
            samples[key].append(time_ms(fn, 1, 0, sync))
        print(f"  repeat {rep + 1}/{repeat} done", flush=True)
    return {key: statistics.median(v) for key, v in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--lengths", type=int, nargs="+", default=[100, 400])
    parser.add_argument("--infer-length", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", help="substrings of row names to keep")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    B, D, H = args.batch, args.input, args.hidden
    torch.manual_seed(0)

    columns = [f"train T={T}" for T in args.lengths] + [f"infer T={args.infer_length}"]
    models = {}
    for name, make in rows(D, H):
        if args.only and not any(s in name for s in args.only):
            continue
        models[name] = make().to(device)

    jobs = {}  # one per (row, column), timed interleaved
    for T in args.lengths:
        x = torch.randn(B, T, D, device=device, requires_grad=True)
        for name, model in models.items():

            def train_step(model=model, x=x):
                out, _ = model(x)
                out.sum().backward()

            jobs[name, f"train T={T}"] = train_step
    x_infer = torch.randn(B, args.infer_length, D, device=device)
    for name, model in models.items():

        def infer(model=model):
            with torch.no_grad():
                model(x_infer)

        jobs[name, f"infer T={args.infer_length}"] = infer

    med = interleaved_medians(jobs, args.repeat, args.warmup, sync)
    results = {name: [med[name, col] for col in columns] for name in models}
    ref = results.get("torch.nn.LSTM")
    print()
    print(
        f"device={device.type} threads={args.threads} B={B} D={D} H={H} float32 "
        f"torch={torch.__version__} THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')} "
        f"median of {args.repeat}"
    )
    header = "| row | " + " | ".join(f"{c} ms | ratio" for c in columns) + " |"
    print(header)
    print("|---" * (1 + 2 * len(columns)) + "|")
    for name, times in results.items():
        cells = []
        for j, t in enumerate(times):
            ratio = f"{t / ref[j]:.2f}x" if ref else "-"
            cells.append(f"{t:.1f} | {ratio}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
