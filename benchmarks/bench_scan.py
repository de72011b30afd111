"""minGRU and minLSTM in each solver mode against torch.nn.GRU and torch.nn.LSTM: training step
time (forward + backward), median milliseconds and the ratio to ``torch.nn.LSTM`` in the same run.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_scan.py
    .venv/bin/python benchmarks/bench_scan.py --lengths 256 --repeat 3      # quick look

Also prints each mode's max abs error against a float64 sequential solve of the same layer, at
every length. Rows are interleaved within every repeat, so a slow spell of this shared machine
hits all rows alike.
"""

from __future__ import annotations

import argparse
import os
from unittest import mock

import torch
from bench_core import interleaved_medians
from torch import Tensor, nn

from rnnkit.layers import Recurrent
from rnnkit.scan import linear

MODES = ("sequential", "scan", "chunked", "auto")


class TorchOps(nn.Module):
    """A layer whose chunked solver runs in PyTorch operations even where the Triton kernel
    would take it (CUDA), to measure what the kernel gains."""

    def __init__(self, layer: Recurrent):
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor):
        with mock.patch.object(linear, "has_kernel", lambda *tensors: False):
            return self.layer(x)


def rows(D: int, H: int, device: torch.device):
    """(name, module factory) for every benchmarked configuration."""
    out = [
        ("torch.nn.LSTM", lambda: nn.LSTM(D, H, batch_first=True)),
        ("torch.nn.GRU", lambda: nn.GRU(D, H, batch_first=True)),
    ]
    for cell in ("mingru", "minlstm"):
        for mode in MODES:
            out.append((f"{cell} {mode}", lambda c=cell, m=mode: Recurrent(c, D, H, mode=m)))
        if device.type == "cuda":
            out.append((f"{cell} chunked (torch ops)",
                        lambda c=cell: TorchOps(Recurrent(c, D, H, mode="chunked"))))  # fmt: skip
    return out


def max_error(model: Recurrent, x: Tensor) -> float:
    """Max abs difference of the outputs from a float64 sequential solve of the same layer."""
    with torch.no_grad():
        out = model(x)[0]
        ref = Recurrent(model.cell_type, model.input_size, model.hidden_size, mode="sequential")
        ref.load_state_dict(model.state_dict())
        ref = ref.to(x.device, torch.float64)
        return (out.double() - ref(x.double())[0]).abs().max().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--input", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--only", nargs="*", help="substrings of row names to keep")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    B, D, H = args.batch, args.input, args.hidden
    torch.manual_seed(0)
    models = {
        name: make().to(device)
        for name, make in rows(D, H, device)
        if not args.only or any(s in name for s in args.only) or name.startswith("torch.nn")
    }
    columns = [f"T={T}" for T in args.lengths]
    jobs, errors = {}, {}
    for T in args.lengths:
        x = torch.randn(B, T, D, device=device, requires_grad=True)
        for name, model in models.items():

            def train_step(model=model, x=x):
                out, _ = model(x)
                out.sum().backward()

            jobs[name, f"T={T}"] = train_step
            if isinstance(model, Recurrent):
                errors[name, f"T={T}"] = max_error(model, x.detach())
    med = interleaved_medians(jobs, args.repeat, args.warmup, sync)
    print()
    print(
        f"training step (forward + backward), device={device.type} threads={args.threads} B={B} "
        f"D={D} H={H} float32 torch={torch.__version__} "
        f"THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE')} median of {args.repeat}"
    )
    print("| row | " + " | ".join(f"{c} ms | vs LSTM | max err" for c in columns) + " |")
    print("|---" * (1 + 3 * len(columns)) + "|")
    for name in models:
        cells = []
        for col in columns:
            t, ref = med[name, col], med["torch.nn.LSTM", col]
            err = errors.get((name, col))
            cells.append(f"{t:.1f} | {t / ref:.2f}x | {'-' if err is None else f'{err:.1e}'}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if "torch.nn.GRU" in models:
        print("\nspeed-up over torch.nn.GRU (its time / the row's):")
        for name in models:
            if name.startswith("min"):
                ups = (f"{c} {med['torch.nn.GRU', c] / med[name, c]:.1f}x" for c in columns)
                print(f"  {name}: " + ", ".join(ups))


if __name__ == "__main__":
    main()
