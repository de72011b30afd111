"""``rnnkit diagnose``: does this model's gradient vanish or explode, where, and what to do.

With RUN_DIR it loads the run's best (or last) checkpoint; without, it builds the untrained
model that the training flags (or --config) describe. Either way it runs one training batch
forward and backward, prints the verdict, the measurements and ranked advice, and writes
``diagnosis.json`` and ``gradient_flow.png`` (into RUN_DIR, or --out).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub, add_config_flags) -> None:
    p = sub.add_parser(
        "diagnose",
        help="measure gradient flow through time and advise remedies",
        usage="rnnkit diagnose [RUN_DIR | --config FILE | --FIELD VALUE ...] [options]",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        epilog="examples: rnnkit diagnose runs/x;  rnnkit diagnose --task adding --seq-len 200 "
        "--cell lstm;  rnnkit diagnose --task adding --seq-len 200 --cell lstm --init chrono",
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a directory written by "
                   "rnnkit train (omit to diagnose an untrained model)")  # fmt: skip
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--config", metavar="FILE", help="untrained model: YAML or TOML config")
    p.add_argument("--diagnose-batch", type=int, default=None, metavar="B", help="sequences "
                   "in the diagnosed batch (default: the config's batch size)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the diagnosis as JSON instead")
    add_config_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from rnnkit.cli.flags import config_overrides
    from rnnkit.diagnostics.runs import diagnose_run
    from rnnkit.errors import UsageError
    from rnnkit.report.plots import plot_gradient_flow
    from rnnkit.training.config import RunConfig, apply_overrides, load_file

    overrides = config_overrides(args)
    if args.run_dir is not None:
        unused = sorted(k for k in overrides if k != "out")
        if args.config or unused:
            raise UsageError(
                f"RUN_DIR: a trained run keeps its own config; drop "
                f"{'--config' if args.config else '--' + unused[0].replace('_', '-')}"
            )
        if not Path(args.run_dir).is_dir():
            raise UsageError(f"{args.run_dir}: no such run directory")
        diagnosis, config = _diagnose(
            diagnose_run, args.run_dir, which=args.checkpoint, batch_size=args.diagnose_batch
        )
        out = Path(overrides.get("out") or args.run_dir)
    else:
        base = load_file(args.config) if args.config else RunConfig()
        config = apply_overrides(base, overrides)
        diagnosis, config = _diagnose(diagnose_run, config=config, batch_size=args.diagnose_batch)
        out = Path(config.train.out) if config.train.out else None
    if args.json:
        print(json.dumps(diagnosis.to_dict(), default=str))
    else:
        print(diagnosis.summary())
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        diagnosis.to_json(out / "diagnosis.json")
        plot_gradient_flow(diagnosis, out / "gradient_flow.png")
        if not args.json:
            print(f"wrote {out / 'diagnosis.json'} and {out / 'gradient_flow.png'}")
    return 0


def _diagnose(diagnose_run, *args, **kwargs):
    """``diagnose_run``, with a model it cannot diagnose reported as a usage error."""
    from rnnkit.errors import UsageError
    from rnnkit.training.config import ConfigError

    try:
        return diagnose_run(*args, **kwargs)
    except ConfigError:
        raise
    except ValueError as e:
        raise UsageError(str(e)) from None
