"""The Triton kernel of the chunked solver alone (forward + backward) for several tile shapes,
against the PyTorch chunked solver and the log-space scan; then whole minGRU and minLSTM layer
training steps, each with a CUDA profile of where the time goes. Needs a CUDA GPU.

    PYTHONPATH=src python3 benchmarks/bench_scan_kernel.py

Medians of 15 calls after 3 warm-ups, each followed by ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from rnnkit.layers import Recurrent
from rnnkit.scan import cuda as kernel
from rnnkit.scan import linear


def median_ms(fn, repeat: int = 15, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4096)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--input", type=int, default=128)
    args = parser.parse_args()
    T, B, H = args.steps, args.batch, args.hidden
    torch.manual_seed(0)
    log_a = (-torch.rand(T, B, H, device="cuda") * 3).requires_grad_()
    log_b = torch.randn(T, B, H, device="cuda").requires_grad_()
    h0 = torch.randn(B, H, device="cuda").requires_grad_()
    grad = torch.randn(T, B, H, device="cuda")

    def train(solver):
        return lambda: solver().backward(grad)

    print(f"the solver alone, forward + backward, T={T} B={B} H={H} (ms):")
    for block, rows in itertools.product([16, 32, 64, 128], repeat=2):
        kernel.BLOCK, kernel.MAX_ROWS = block, rows
        ms = median_ms(train(lambda: kernel.ChunkedScan.apply(log_a, log_b, h0, 128)))
        print(f"  Triton kernel, BLOCK={block} ROWS={rows}: {ms:.2f}", flush=True)
    kernel.BLOCK, kernel.MAX_ROWS = 32, 64
    torch_chunked = median_ms(train(lambda: linear.chunked_scan_torch(log_a, log_b, h0, 64)))
    print(f"  chunked scan in torch ops: {torch_chunked:.2f}")
    print(f"  log-space scan: {median_ms(train(lambda: linear.log_scan(log_a, log_b, h0))):.2f}")

    x = torch.randn(B, T, args.input, device="cuda", requires_grad=True)
    for cell in ("mingru", "minlstm"):
        layer = Recurrent(cell, args.input, H, mode="chunked").cuda()

        def step(layer=layer):
            out, _ = layer(x)
            out.sum().backward()

        print(f"\n{cell} layer (chunked), training step: {median_ms(step):.2f} ms")
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                step()
            torch.cuda.synchronize()
        table = prof.key_averages().table(
            sort_by="cuda_time_total", row_limit=14, max_name_column_width=60
        )
        print(table)


if __name__ == "__main__":
    main()
