"""``rnnkit`` subcommands: ``demo`` (why gates matter, in one minute) and ``info``."""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch import nn

import rnnkit
from rnnkit.layers import Recurrent
from rnnkit.tasks.adding import BASELINE_MSE, adding_batch


class _Regressor(nn.Module):
    """A recurrent layer and a linear read-out of its last output: (B, T, D) -> (B,)."""

    def __init__(self, cell: str, hidden: int) -> None:
        super().__init__()
        self.rnn = Recurrent(cell, 2, hidden)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def demo(args: argparse.Namespace) -> int:
    """Train each cell briefly on the adding problem and compare with the 0.167 baseline."""
    torch.set_num_threads(args.threads)
    print(
        f"rnnkit {rnnkit.__version__} demo: the adding problem, T={args.length} steps "
        f"(target: the sum of two marked values; always answering 1.0 scores MSE "
        f"{BASELINE_MSE:.3f})"
    )
    val_x, val_y = adding_batch(1000, args.length, generator=torch.Generator().manual_seed(1))
    results = []
    for cell in args.cells:
        torch.manual_seed(args.seed)
        model = _Regressor(cell, args.hidden)
        opt = torch.optim.Adam(model.parameters(), lr=args.lr)
        gen = torch.Generator().manual_seed(args.seed)
        start = time.perf_counter()
        for step in range(1, args.steps + 1):
            x, y = adding_batch(args.batch, args.length, generator=gen)
            loss = nn.functional.mse_loss(model(x), y)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % args.log_every == 0 or step == args.steps:
                print(f"  {cell:5s} step {step:5d}  train MSE {loss.item():.4f}", flush=True)
        with torch.no_grad():
            val = nn.functional.mse_loss(model(val_x), val_y).item()
        elapsed = time.perf_counter() - start
        path = model.rnn.resolve_path(val_x)
        results.append((cell, val, elapsed, path))
    print()
    print(f"{'cell':6s} {'path':8s} {'valid MSE':>10s} {'vs baseline':>12s} {'time':>7s}")
    for cell, val, elapsed, path in results:
        verdict = "learned" if val < 0.1 * BASELINE_MSE else "not yet"
        print(
            f"{cell:6s} {path:8s} {val:10.4f} {val / BASELINE_MSE:11.2f}x "
            f"{elapsed:6.1f}s  {verdict}"
        )
    return 0


def info(args: argparse.Namespace) -> int:
    """Print versions and the execution path each kind of cell takes here."""
    threads = torch.get_num_threads()
    print(f"rnnkit {rnnkit.__version__}, torch {torch.__version__}, {threads} threads")
    print("execution path for a training batch of 64 sequences, hidden size 256, on CPU:")
    x = torch.zeros(64, 1, 8)
    for cell, opts in [
        ("lstm", {}),
        ("lstm", {"proj_size": 128}),
        ("lstm", {"peephole": True}),
        ("lstm", {"norm": "layer"}),
        ("gru", {}),
        ("gru", {"reset_after": False}),
        ("rnn", {}),
    ]:
        rnn = Recurrent(cell, 8, 256, **opts)
        label = cell + "".join(f" {k}={v}" for k, v in opts.items())
        print(f"  {label:22s} -> {rnn.resolve_path(x)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnnkit", description="Recurrent networks on PyTorch.")
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train LSTM, GRU and a vanilla RNN on the adding problem")
    p.add_argument(
        "--cells", nargs="+", default=["lstm", "gru", "rnn"], choices=["lstm", "gru", "rnn"]
    )
    p.add_argument("--length", type=int, default=50, help="sequence length T")
    p.add_argument("--steps", type=int, default=600, help="training steps per cell")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-every", type=int, default=100)
    p.set_defaults(func=demo)
    p = sub.add_parser("info", help="versions and execution paths")
    p.set_defaults(func=info)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
