"""Core benchmark: training step (forward + backward) and inference of recurrent layers.

Prints median milliseconds, the spread (interquartile range over the median) and the ratio to
``torch.nn.LSTM`` measured in the same run; then, for each cell that can run more than one path,
``auto`` against the fastest explicit path of the same shape. ``--sweep`` times ``auto`` against
``fused`` and ``custom`` over a grid of shapes instead.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_core.py            # full table
    .venv/bin/python benchmarks/bench_core.py --lengths 100 --repeat 3           # quick look
    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_core.py --sweep    # auto's choices

Both sides of every ratio run in the same process and environment. ``auto`` measures its paths
on first sight of a shape (see rnnkit.layers.paths); the benchmark gives it an empty cache
folder of its own, so what it shows is the choice a new user's first run makes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import torch
from torch import nn

from rnnkit.layers import Recurrent


def rows(D: int, H: int):
    """(name, module factory) for every benchmarked configuration."""
    return [
        ("torch.nn.LSTM", lambda: nn.LSTM(D, H, batch_first=True)),
        ("torch.nn.GRU", lambda: nn.GRU(D, H, batch_first=True)),
        *family("LSTM", "lstm", D, H),
        *family("GRU", "gru", D, H),
        ("rnnkit peephole LSTM", lambda: Recurrent("lstm", D, H, peephole=True)),
        ("rnnkit layer-norm LSTM", lambda: Recurrent("lstm", D, H, norm="layer")),
        *family("projected LSTM (P=128)", "lstm", D, H, proj_size=128),
        ("torch.nn.LSTM (P=128)", lambda: nn.LSTM(D, H, batch_first=True, proj_size=128)),
    ]


PATHS = ("fused", "custom", "auto")


def family(label: str, cell: str, D: int, H: int, **options):
    """The rows of one cell that can run either path: fused, custom and auto."""
    return [(f"rnnkit {label} ({p})", lambda p=p: Recurrent(cell, D, H, path=p, **options))
            for p in PATHS]  # fmt: skip


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


def interleaved_samples(jobs: dict, repeat: int, warmup: int, sync, quiet=False) -> dict:
    """Milliseconds of every job, ``repeat`` passes with the jobs interleaved within each, so
    a slow spell of this shared machine hits all rows alike instead of skewing one row's ratio;
    ``warmup`` calls of each first (oneDNN primitive creation, allocator growth, auto's own
    timing of its paths)."""
    samples: dict = {key: [] for key in jobs}
    for fn in jobs.values():
        for _ in range(warmup):
            fn()
    for rep in range(repeat):
        for key, fn in jobs.items():
            samples[key].append(time_ms(fn, 1, 0, sync))
        if not quiet:
            print(f"  repeat {rep + 1}/{repeat} done", flush=True)
    return samples


def interleaved_medians(jobs: dict, repeat: int, warmup: int, sync) -> dict:
    """Median milliseconds of every job (see :func:`interleaved_samples`)."""
    samples = interleaved_samples(jobs, repeat, warmup, sync)
    return {key: statistics.median(v) for key, v in samples.items()}


def spread(samples: list[float]) -> float:
    """The interquartile range over the median: how much this machine's noise moved a row."""
    if len(samples) < 4:
        return (max(samples) - min(samples)) / statistics.median(samples)
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return (q3 - q1) / statistics.median(samples)


def cpu_header(args, device) -> str:
    from rnnkit.layers.paths import describe_cpu

    where = describe_cpu() if device.type == "cpu" else torch.cuda.get_device_name(device)
    return (f"device={device.type} ({where}) threads={args.threads} float32 "
            f"torch={torch.__version__} THP_MEM_ALLOC_ENABLE="
            f"{os.environ.get('THP_MEM_ALLOC_ENABLE')} median of {args.repeat}")  # fmt: skip


def train_job(model, x):
    def run():
        out, _ = model(x)
        out.sum().backward()

    return run


def infer_job(model, x):
    def run():
        with torch.no_grad():
            model(x)

    return run


def sweep(args, device, sync) -> None:
    """auto against fused and custom over a grid of shapes, train and inference."""
    print(cpu_header(args, device))
    print(
        "| cell | B | H | T | mode | fused ms | custom ms | auto ms | auto took | auto / fastest |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for cell, options in (("lstm", {}), ("gru", {}), ("lstm", {"proj_size": 32})):
        for B, H, T in ((8, 64, 50), (8, 64, 200), (64, 64, 200), (8, 256, 50), (64, 256, 100),
                        (64, 256, 400)):  # fmt: skip
            if options and H < 64:
                continue
            D = H
            models = {p: Recurrent(cell, D, H, path=p, **options).to(device) for p in PATHS}
            for mode in ("train", "infer"):
                x = torch.randn(B, T, D, device=device, requires_grad=mode == "train")
                make = train_job if mode == "train" else infer_job
                jobs = {p: make(m, x) for p, m in models.items()}
                med = interleaved_samples(jobs, args.repeat, args.warmup, sync, quiet=True)
                med = {p: statistics.median(v) for p, v in med.items()}
                if mode == "train":
                    took = models["auto"].resolve_path(x)
                else:
                    with torch.no_grad():
                        took = models["auto"].resolve_path(x)
                ratio = med["auto"] / min(med["fused"], med["custom"])
                worst = max(worst, ratio)
                label = cell + "".join(f" {k}={v}" for k, v in options.items())
                print(f"| {label} | {B} | {H} | {T} | {mode} | {med['fused']:.2f} | "
                      f"{med['custom']:.2f} | {med['auto']:.2f} | {took} | {ratio:.2f} |",
                      flush=True)  # fmt: skip
    print(f"worst auto / fastest: {worst:.2f}")


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
    parser.add_argument("--sweep", action="store_true", help="auto's choices over many shapes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    os.environ.setdefault("RNNKIT_CACHE_DIR", tempfile.mkdtemp(prefix="rnnkit-bench-"))
    if args.sweep:
        sweep(args, device, sync)
        return
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
            jobs[name, f"train T={T}"] = train_job(model, x)
    x_infer = torch.randn(B, args.infer_length, D, device=device)
    for name, model in models.items():
        jobs[name, f"infer T={args.infer_length}"] = infer_job(model, x_infer)

    samples = interleaved_samples(jobs, args.repeat, args.warmup, sync)
    med = {key: statistics.median(v) for key, v in samples.items()}
    results = {name: [med[name, col] for col in columns] for name in models}
    ref = results.get("torch.nn.LSTM")
    print()
    print(f"B={B} D={D} H={H} {cpu_header(args, device)}")
    header = "| row | " + " | ".join(f"{c} ms | ratio | spread" for c in columns) + " |"
    print(header)
    print("|---" * (1 + 3 * len(columns)) + "|")
    for name, times in results.items():
        cells = []
        for j, t in enumerate(times):
            ratio = f"{t / ref[j]:.2f}x" if ref else "-"
            cells.append(f"{t:.1f} | {ratio} | {spread(samples[name, columns[j]]):.0%}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    for name in results:
        if not name.endswith("(auto)"):
            continue
        stem = name.removesuffix("(auto)")
        explicit = [results.get(stem + "(fused)"), results.get(stem + "(custom)")]
        if None in explicit:
            continue
        ratios = [a / min(f, c) for a, f, c in zip(results[name], *explicit, strict=True)]
        shown = ", ".join(f"{col} {r:.2f}" for col, r in zip(columns, ratios, strict=True))
        print(f"{stem.strip()}: auto / fastest explicit path: {shown}")


if __name__ == "__main__":
    main()
