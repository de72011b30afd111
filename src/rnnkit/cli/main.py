"""The ``rnnkit`` command: ``demo``, ``train``, ``diagnose``, ``ablate``, ``report``,
``evaluate``, ``predict``, ``translate``, ``tag``, ``info``, ``export``.

Every ``train`` flag is a config field (``rnnkit.training.config``); ``--config FILE`` gives a
YAML/TOML base that flags override. Errors rnnkit can explain (a bad flag value, an unknown
config key, a malformed input file, a run directory that does not match) print one line and
exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

# Nothing here imports torch: the parser (and so --help) is built without it, and each command
# imports what it runs.
import rnnkit
from rnnkit.cli import ablate as ablate_command
from rnnkit.cli import diagnose as diagnose_command
from rnnkit.cli.flags import add_config_flags, config_overrides, foreign_flag, task_named
from rnnkit.errors import CheckpointError, ConfigError, ExportError, RnnkitError, UsageError
from rnnkit.tasks import registry
from rnnkit.training.threads import threads_setting

if TYPE_CHECKING:
    pass


# -- train -----------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> int:
    from rnnkit.training.config import apply_overrides, load_file
    from rnnkit.training.trainer import Trainer

    if args.nproc != 1:
        return _launch(args)
    overrides = config_overrides(args)
    if args.resume is not None:
        if args.config is not None:
            raise UsageError("--resume continues the run's own config; do not pass --config")
        run_dir = Path(args.resume)
        base = load_file(run_dir / "config.yaml")
        config = apply_overrides(base, {**overrides, "out": str(run_dir)})
        trainer = Trainer(config, resume=True)
    else:
        base = load_file(args.config) if args.config else None
        from rnnkit.training.config import RunConfig

        config = apply_overrides(base or RunConfig(), overrides)
        if args.print_config:
            import yaml

            print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
            return 0
        trainer = Trainer(config)
    trainer.fit()
    return 0


def _launch(args: argparse.Namespace) -> int:
    """``rnnkit train ... --nproc N``: the same command in N worker processes (torchrun)."""
    from rnnkit.training import distributed
    from rnnkit.training.config import RunConfig, apply_overrides, load_file
    from rnnkit.training.trainer import default_run_dir, resolve_device

    if args.nproc < 1:
        raise UsageError(f"--nproc: expected a positive number of workers, got {args.nproc}")
    if distributed.context().enabled:
        raise UsageError("--nproc: this process is already a torchrun worker; drop --nproc")
    argv = _without_flag(args.argv, "--nproc")
    run_dir = args.resume or getattr(args, "out", None)
    base = load_file(args.config) if args.config else RunConfig()
    config = apply_overrides(base, config_overrides(args))
    if resolve_device(config.train.device).type == "cuda":
        try:
            distributed.check_gpus(args.nproc)
        except ValueError as e:
            raise UsageError(f"--nproc: {e}") from None
    if run_dir is None:  # one directory for all workers, named once here
        run_dir = str(default_run_dir(config))
        argv += ["--out", run_dir]
    # Without a limit each worker would start one thread per core, W times too many.
    cores = os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // args.nproc)))
    distributed.launch(argv, args.nproc, run_dir)
    return 0


def _without_flag(argv: list[str], flag: str) -> list[str]:
    """``argv`` without ``flag VALUE`` or ``flag=VALUE``."""
    out, skip = [], False
    for item in argv:
        if skip:
            skip = False
        elif item == flag:
            skip = True
        elif not item.startswith(flag + "="):
            out.append(item)
    return out


# -- evaluate, predict, info, export ---------------------------------------------------------


def evaluate(args: argparse.Namespace) -> int:
    from rnnkit.training.trainer import evaluate as score
    from rnnkit.training.trainer import load_run

    config, task, model = load_run(args.run_dir, which=args.checkpoint)
    print(f"{args.run_dir}: {task.describe()}, {args.checkpoint} checkpoint")
    results = {}
    t = config.train
    for split in args.splits:
        metrics = score(model, task, split, batch_size=t.eval_batch_size, final=True)
        results[split] = metrics
        print(f"  {split:5s} " + "  ".join(f"{k} {v:.5g}" for k, v in metrics.items()))
    if args.json:
        print(json.dumps(results))
    return 0


def predict(args: argparse.Namespace) -> int:
    from rnnkit.training.trainer import load_run

    _, task, model = load_run(args.run_dir, which=args.checkpoint)
    items = task.predict_input(args.input)  # the task's own input, or why it reads none
    if args.workers < 1:
        raise UsageError(f"--workers: expected a positive number of processes, got {args.workers}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    size = args.batch_size
    batches = [items[start : start + size] for start in range(0, len(items), size)]
    if args.workers == 1:
        results = map(functools.partial(task.predict_batch, model), batches)
    else:
        # Each process loads the run once, then takes whole batches; map() keeps input order.
        # Items are numpy arrays or strings, pickled by value (tensors would travel as shared-
        # memory file descriptors, one per sequence, and run out of them on large inputs).
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // args.workers)
        pool = ProcessPoolExecutor(
            args.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_predict_worker,
            initargs=(args.run_dir, args.checkpoint, threads),
        )
        results = pool.map(_predict_in_worker, batches)
    out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115
    try:
        for lines in results:
            out.writelines(lines)
    finally:
        if out is not sys.stdout:
            out.close()
        if args.workers > 1:
            pool.shutdown(cancel_futures=True)
    return 0


_WORKER: dict = {}  # in a predict worker process: its model and task


def _predict_worker(run_dir: str, checkpoint: str, threads: int) -> None:
    import torch

    from rnnkit.training.trainer import load_run

    torch.set_num_threads(threads)
    _, task, model = load_run(run_dir, which=checkpoint)
    _WORKER.update(model=model, task=task)


def _predict_in_worker(items: list) -> list[str]:
    return _WORKER["task"].predict_batch(_WORKER["model"], items)


def info(args: argparse.Namespace) -> int:
    if args.run_dir is not None:
        return _run_info(Path(args.run_dir))
    import torch

    from rnnkit.layers import Recurrent, paths
    from rnnkit.training.threads import apply_policy

    policy = apply_policy(args.threads, adaptive=False)
    print(f"rnnkit {rnnkit.__version__}, torch {torch.__version__}")
    print(f"CPU: {paths.describe_cpu()}")
    print(f"threads: {policy.describe()}")
    measure = "measured on first use" if paths.measuring() else "fixed rules (measuring off)"
    print(f"execution path for a training batch of 64 sequences of 100 steps, hidden size 256, "
          f"on CPU ({measure}):")  # fmt: skip
    x = torch.zeros(64, 100, 8)
    for cell, opts in [
        ("lstm", {}),
        ("lstm", {"proj_size": 128}),
        ("lstm", {"peephole": True}),
        ("lstm", {"norm": "layer"}),
        ("gru", {}),
        ("gru", {"reset_after": False}),
        ("rnn", {}),
        ("mingru", {}),
        ("minlstm", {}),
    ]:
        rnn = Recurrent(cell, 8, 256, **opts)
        label = cell + "".join(f" {k}={v}" for k, v in opts.items())
        choice = rnn.explain_path(x, measure=args.paths)
        print(f"  {label:22s} -> {choice.path}  ({choice.reason})")
    if not args.paths:
        print("(rnnkit info --paths times the paths of the cells that have two, and lists every "
              "choice made on this machine)")  # fmt: skip
        return 0
    table = paths.table()
    print(f"\npath choices on this machine ({len(table)}; cache {paths.cache_file()}):")
    for key, choice in sorted(table.items()):
        print(f"  {key}\n      -> {choice.path}  ({choice.reason})")
    return 0


def _run_info(run_dir: Path) -> int:
    from rnnkit.training import checkpoint as ckpt
    from rnnkit.training.config import load_file
    from rnnkit.training.trainer import format_summary

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: no such run directory")
    config = load_file(run_dir / "config.yaml")
    print(f"run {run_dir}")
    for section, values in config.to_dict().items():
        print(f"  {section}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for which in ("last", "best"):
        try:
            directory = ckpt.checkpoint_dir(run_dir, which)
            state = ckpt.read_state(directory)
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in state["metrics"].items())
            print(f"  {which} checkpoint: step {state['step']} ({metrics})")
        except CheckpointError as e:
            print(f"  {which} checkpoint: none ({e})")
    summary_path = run_dir / "summary.json"
    if summary_path.is_file():
        print(format_summary(ckpt.read_json(summary_path), run_dir))
    else:
        print("  no summary.json: the run has not finished (continue it with --resume)")
    return 0


def report(args: argparse.Namespace) -> int:
    from rnnkit.report.html import write_report

    if not Path(args.directory).is_dir():
        raise UsageError(f"{args.directory}: no such directory")
    try:
        path = write_report(args.directory, output=args.output)
    except ValueError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {path}")
    return 0


def export(args: argparse.Namespace) -> int:
    from rnnkit.export import export as export_model
    from rnnkit.training.trainer import load_run

    _, task, model = load_run(args.run_dir, which=args.checkpoint)
    try:
        example = task.export_example()  # (2, T, D), or why this model cannot be exported
    except ExportError as e:
        raise ExportError(f"{args.run_dir}: {e}") from None
    suffix = {"onnx": ".onnx", "torchscript": ".pt"}[args.format]
    path = Path(args.output) if args.output else Path(args.run_dir) / f"model{suffix}"
    written = export_model(model, path, format=args.format, example=example)
    print(f"wrote {written}")
    return 0


# -- parser ----------------------------------------------------------------------------------


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``rnnkit`` parser for command line ``argv``: its config flags are those of the task
    it names (see :mod:`rnnkit.cli.flags`), and a task's own command is built only when it is
    the one run (``rnnkit --help`` lists them without importing them)."""
    argv = [] if argv is None else argv
    command = argv[0] if argv else None
    task = task_named(argv[1:]) if command in ("train", "diagnose", "ablate") else None
    flags = functools.partial(add_config_flags, task=task)
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent networks on PyTorch: train, evaluate and compare them.",
        epilog="Run 'rnnkit COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, entry in registry.COMMANDS.items():
        if name == command:
            registry.command(name).add_parser(sub)
        else:
            sub.add_parser(name, help=entry.summary)
    diagnose_command.add_parser(sub, flags)
    ablate_command.add_parser(sub, flags)

    p = sub.add_parser(
        "train",
        help="train a model on a task",
        usage="rnnkit train [--config FILE | --resume RUN_DIR] [--FIELD VALUE ...]",
        description="Train a model. Flags override --config; unset flags keep the file's (or "
        "the default) value. The resolved config is saved as RUN_DIR/config.yaml.",
        epilog="example: rnnkit train --task adding --seq-len 200 --cell lstm --hidden 128 "
        "--optimizer adam --lr 1e-3 --clip 1.0 --init orthogonal --steps 3000 --out runs/x",
    )
    p.add_argument("--config", metavar="FILE", help="YAML or TOML file with sections task, "
                   "model, optim, train")  # fmt: skip
    p.add_argument("--resume", metavar="RUN_DIR", help="continue RUN_DIR from its last "
                   "checkpoint (flags such as --steps still override)")  # fmt: skip
    p.add_argument("--nproc", type=int, default=1, metavar="N", help="train data-parallel in "
                   "N worker processes on this machine (torch.distributed: gloo on CPU, NCCL "
                   "on GPUs); --batch-size is the global batch, split over the workers "
                   "(default: 1). For several machines start 'torchrun ... -m rnnkit train' "
                   "on each (see the README)")  # fmt: skip
    p.add_argument("--print-config", action="store_true", help="print the resolved config "
                   "and exit")  # fmt: skip
    flags(p)
    p.set_defaults(func=train)

    def run_parser(name: str, help: str) -> argparse.ArgumentParser:
        q = sub.add_parser(name, help=help, description=help)
        q.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by rnnkit train")
        q.add_argument("--checkpoint", choices=["best", "last"], default="best",
                       help="which checkpoint to load (default: best)")  # fmt: skip
        return q

    p = run_parser("evaluate", "score a trained run on its task's validation and test sets")
    p.add_argument("--splits", nargs="+", choices=["valid", "test"], default=["valid", "test"])
    p.add_argument("--json", action="store_true", help="also print the metrics as JSON")
    p.set_defaults(func=evaluate)

    p = run_parser("predict", "run a trained model on sequences from a file")
    p.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help="JSON lines, one sequence per line: [[x1, x2, ...], ...] with one list of D "
        "numbers per step (a bare number per step when D is 1); for a classify run, UTF-8 "
        "text, one text per line (each output line: the label and every class's "
        "probability); - for stdin",
    )
    p.add_argument("--output", metavar="FILE", help="write JSON lines here (default: stdout)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="predict in N processes, "
        "each taking whole batches; output keeps the input's order (default: 1)",
    )
    p.set_defaults(func=predict)

    p = sub.add_parser("info", help="a run's config and results, or versions and paths",
                       description="With RUN_DIR: its config, checkpoints and summary. Without: "
                       "versions and the execution path each cell takes here.")  # fmt: skip
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR")
    p.add_argument(
        "--paths",
        action="store_true",
        help="time fused against custom where both can run a cell (as training does "
        "on first sight of a shape), then list every path choice cached here",
    )
    p.add_argument("--threads", default="auto", type=threads_setting,
                   help="'auto' (default) or a number: the thread policy to show")  # fmt: skip
    p.set_defaults(func=info)

    p = sub.add_parser("report", help="one self-contained HTML page for a run or an ablation",
                       description="Write DIR/report.html: results, curves, gradient flow, the "
                       "diagnosis, the task's figures and the config (a run), or the ranked "
                       "table and plots (an ablation). Figures are embedded; the page needs "
                       "no network.")  # fmt: skip
    p.add_argument("directory", metavar="RUN_DIR|ABLATION_DIR")
    p.add_argument("--output", metavar="FILE", help="default: DIR/report.html")
    p.set_defaults(func=report)

    p = run_parser("export", "export a trained model for deployment (ONNX or TorchScript)")
    p.add_argument("--format", choices=["onnx", "torchscript"], required=True)
    p.add_argument(
        "--output", metavar="PATH", help="default: RUN_DIR/model.onnx or RUN_DIR/model.pt"
    )
    p.set_defaults(func=export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser(argv)
    except ConfigError as e:  # an unknown --task, or a task's config that cannot load
        print(f"rnnkit {argv[0]}: error: {e}", file=sys.stderr)
        return 2
    args, extra = parser.parse_known_args(argv)
    if extra:
        why = foreign_flag(extra, getattr(args, "config_task", None))
        parser.error(why or f"unrecognized arguments: {' '.join(extra)}")
    args.argv = argv
    try:
        return args.func(args)
    except RnnkitError as e:
        print(f"rnnkit {args.command}: error: {e}", file=sys.stderr)
        return 2
    except FloatingPointError as e:
        print(f"rnnkit {args.command}: training stopped: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"rnnkit {args.command}: interrupted{f': {e}' if str(e) else ''}", file=sys.stderr)
        return 130
    except RuntimeError as e:  # WorkerFailed is one; torch was imported by whatever raised it
        from rnnkit.training import distributed

        if isinstance(e, distributed.WorkerFailed):
            print(f"rnnkit {args.command}: {e}", file=sys.stderr)
            return 1
        ctx = distributed.context()
        if not (ctx.enabled and distributed.lost_peer(e)):
            raise
        print(f"rnnkit {args.command}: worker rank {ctx.rank} stopped: another worker is gone "
              f"({str(e).splitlines()[0][:200]})", file=sys.stderr)  # fmt: skip
        return distributed.PEER_LOST


if __name__ == "__main__":
    sys.exit(main())
