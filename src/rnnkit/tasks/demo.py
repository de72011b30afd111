"""``rnnkit demo``: why gates matter, in a few minutes.

A vanilla tanh RNN, an LSTM and a GRU train on the adding problem (T=100) with the same budget
of steps and the same optimizer, each stopping once it reaches MSE < 0.01; a table then shows
which of them beat the memoryless baseline, how many steps each needed, and how long it took.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from rnnkit.training.threads import threads_setting

NEXT_STEPS = """\
What to try next:
  rnnkit train --task adding --seq-len 200 --cell lstm --init chrono --clip 1.0 --lr 2e-3
      (at T=200 a default LSTM stalls at the baseline; chrono initialization fixes it)
  rnnkit train --task adding --cell rnn --nonlinearity relu --init identity --lr 1e-4 --clip 1.0
      (the IRNN of Le et al. 2015: a vanilla RNN that can learn this)
  rnnkit train --task copy --seq-len 50 --cell gru          (copy memory, Arjovsky et al. 2016)
  rnnkit train --task permuted_digits --cell lstm --steps 2000   (pixel-by-pixel digits)
  rnnkit train --help                                        (every option)"""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="train a vanilla RNN, an LSTM and a GRU on the adding problem and compare them",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
    )
    p.add_argument(
        "--cells",
        nargs="+",
        default=["rnn", "lstm", "gru"],
        choices=["rnn", "lstm", "gru"],
        help="models to compare (default: all three)",
    )
    p.add_argument("--seq-len", type=int, default=100, help="sequence length T (default: 100)")
    p.add_argument(
        "--steps", type=int, default=3000, help="training steps per model (default: 3000)"
    )
    p.add_argument("--hidden", type=int, default=128, help="hidden units (default: 128)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (default: 2e-3)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialization and batches")
    p.add_argument("--threads", type=threads_setting, default="auto",
                   help="CPU threads: 'auto' (default; see rnnkit info) or a number")  # fmt: skip
    p.add_argument(
        "--out", default="runs/demo", help="where runs and plots go (default: runs/demo)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.report.plots import plot_runs
    from rnnkit.tasks.adding import BASELINE_MSE
    from rnnkit.training.config import RunConfig
    from rnnkit.training.trainer import train

    out = Path(args.out)
    print(
        f"The adding problem, T={args.seq_len}: each sequence holds {args.seq_len} random "
        f"values and two markers;\nthe target is the sum of the two marked values. Always "
        f"answering 1.0 scores MSE {BASELINE_MSE:.3f}.\nEach model gets {args.steps} steps of "
        f"Adam (lr {args.lr:g}, batch 64, gradients clipped to norm 1.0); a model stops once it "
        f"reaches MSE < 0.01.\n"
    )
    runs = {}
    for cell in args.cells:
        run_dir = out / cell
        shutil.rmtree(run_dir, ignore_errors=True)  # the demo starts afresh each time
        config = RunConfig().replace(
            task="adding",
            seq_len=args.seq_len,
            cell=cell,
            hidden=args.hidden,
            lr=args.lr,
            clip=1.0,
            steps=args.steps,
            eval_every=100,
            seed=args.seed,
            # A solved model stops: the budget is the same, and the demo stays a few minutes.
            stop_at_target=True,
            threads=args.threads,
            quiet=args.quiet,
            out=str(run_dir),
        )
        runs[cell] = train(config)
        if not args.quiet:
            print()
    print(format_table(runs))
    plot = plot_runs(
        {cell: r.history for cell, r in runs.items()},
        out / "adding.png",
        metric="mse",
        title=f"Adding problem, T={args.seq_len}: a vanilla RNN against gated cells",
        baseline=BASELINE_MSE,
        target=0.01,
    )
    print(f"\nPlots: {plot} (all models), RUN_DIR/loss.png per model; runs in {out}/\n")
    print(NEXT_STEPS)
    return 0


def format_table(runs: dict) -> str:
    """model | test MSE | x baseline | steps to MSE < 0.01 | wall time | verdict."""
    from rnnkit.tasks.adding import BASELINE_MSE

    header = (
        f"{'model':6s} {'test MSE':>9s} {'/ baseline':>10s} {'steps to MSE<0.01':>18s} "
        f"{'wall time':>10s}  verdict"
    )
    lines = [header, "-" * len(header)]
    for cell, r in runs.items():
        s = r.summary
        mse = s["test"]["mse"]
        reached = s["target"]["reached"]
        when = f"{reached['step']} ({reached['time_s']:.0f} s)" if reached else "not reached"
        if mse < 0.01:
            verdict = "solved"
        elif mse < 0.5 * BASELINE_MSE:
            verdict = "learning"
        else:
            verdict = "stuck at the baseline"
        lines.append(
            f"{cell:6s} {mse:9.4f} {mse / BASELINE_MSE:9.2f}x {when:>18s} "
            f"{s['wall_time_s']:9.1f}s  {verdict}"
        )
    return "\n".join(lines)
