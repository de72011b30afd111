"""``rnnkit ablate``: which remedy works on this task? Trains every entry of a grid (the
default: vanilla RNN, + clipping, + orthogonal init, IRNN, GRU, LSTM, + chrono init, + layer
norm, + attention pooling, minGRU) with the same budget and several seeds, then ranks them.
Run the same command again to resume: finished runs are kept."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path


def add_parser(sub, add_config_flags) -> None:
    p = sub.add_parser(
        "ablate",
        help="train a grid of remedies with equal budgets and seeds, and rank them",
        usage="rnnkit ablate [--grid FILE] [--budget B] [--seeds N] [--FIELD VALUE ...]",
        description=__doc__.split("\n\n", 1)[0].split(": ", 1)[1].replace("\n", " "),
        epilog="example: rnnkit ablate --task adding --seq-len 200 --budget 3m --seeds 3",
    )
    p.add_argument("--grid", metavar="FILE", help="YAML or TOML mapping of entry name -> "
                   "overrides, e.g. 'lstm + chrono: {cell: lstm, init: chrono}' (default: "
                   "the built-in grid)")  # fmt: skip
    p.add_argument("--budget", default="3m", help="per run: steps (2000) or training time "
                   "(90s, 3m, 1h) (default: 3m)")  # fmt: skip
    p.add_argument("--seeds", type=int, default=3, help="seeds per entry (default: 3)")
    p.add_argument("--config", metavar="FILE", help="base config (YAML or TOML) that flags "
                   "override and every entry starts from")  # fmt: skip
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.ablation import DEFAULT_GRID, Budget, read_grid, run_ablation
    from rnnkit.ablation.run import text_table
    from rnnkit.cli.flags import config_overrides
    from rnnkit.training.config import RunConfig, apply_overrides, load_file

    overrides = config_overrides(args)
    out = overrides.pop("out", None)
    base = apply_overrides(load_file(args.config) if args.config else RunConfig(), overrides)
    grid = read_grid(args.grid) if args.grid else DEFAULT_GRID
    budget = Budget.parse(args.budget)
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = f"runs/ablation-{base.task.name}-{stamp}"
    print(f"ablation of {len(grid)} entries x {args.seeds} seeds, {budget} each, in {out}")
    rows = run_ablation(base, grid, out, budget=budget, seeds=args.seeds)
    print()
    print(text_table(rows))
    print(f"\nwrote {Path(out) / 'ablation.md'} (also .csv, .txt, ablation.png, curves.png)")
    return 0
