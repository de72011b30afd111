"""The ``rnnkit`` command: ``demo``, ``train``, ``diagnose``, ``ablate``, ``report``,
``evaluate``, ``predict``, ``translate``, ``tag``, ``info``, ``export``.

Every ``train`` flag is a config field (``rnnkit.training.config``); ``--config FILE`` gives a
YAML/TOML base that flags override. Errors rnnkit can explain (a bad flag value, an unknown
config key, a malformed input file, a run directory that does not match) print one line and
exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args, get_origin

# Nothing here imports torch: the parser (and so --help) is built without it, and each command
# imports what it runs.
import rnnkit
from rnnkit.cli import ablate as ablate_command
from rnnkit.cli import demo as demo_command
from rnnkit.cli import diagnose as diagnose_command
from rnnkit.cli import forecast as forecast_command
from rnnkit.cli import generate as generate_command
from rnnkit.cli import tag as tag_command
from rnnkit.errors import CheckpointError, ConfigError, RnnkitError, UsageError
from rnnkit.inputs import read_lines, read_sequences, read_texts
from rnnkit.training.config import (
    FLAT,
    SECTIONS,
    field_help,
    flat_name,
    parse_value,
)
from rnnkit.training.threads import threads_setting

if TYPE_CHECKING:
    import torch


# -- train -----------------------------------------------------------------------------------


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, grouped by section; unset flags do not override."""
    for section, cls in SECTIONS.items():
        title = cls.__doc__.splitlines()[0].rstrip(".").lower()
        group = parser.add_argument_group(f"{section}: {title}")
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            flat = flat_name(section, f.name)
            flag = "--" + flat.replace("_", "-")
            hint = hints[f.name]
            kwargs: dict = {"dest": flat, "default": argparse.SUPPRESS}
            default = f.default
            text = field_help(flat).replace("``", "'").replace("%", "%%")  # argparse formats it
            if hint is bool:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["type"] = _typed(flat)
                if get_origin(hint) is Literal:
                    kwargs["metavar"] = "{" + ",".join(get_args(hint)) + "}"
                else:
                    kwargs["metavar"] = flat.upper()
            group.add_argument(flag, help=f"{text} (default: {default})", **kwargs)


def _typed(flat: str):
    """An argparse ``type`` converting to the field's type, with the field's own message."""

    def convert(text: str):
        try:
            return parse_value(flat, text)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None

    convert.__name__ = flat
    return convert


def train(args: argparse.Namespace) -> int:
    from rnnkit.training.config import apply_overrides, load_file
    from rnnkit.training.trainer import Trainer

    if args.nproc != 1:
        return _launch(args)
    overrides = {k: v for k, v in vars(args).items() if k in FLAT}
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
    config = apply_overrides(base, {k: v for k, v in vars(args).items() if k in FLAT})
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
        metrics = score(
            model, task, split, batch_size=t.eval_batch_size, beam=t.beam,
            length_penalty=t.length_penalty,
        )  # fmt: skip
        results[split] = metrics
        print(f"  {split:5s} " + "  ".join(f"{k} {v:.5g}" for k, v in metrics.items()))
    if args.json:
        print(json.dumps(results))
    return 0


def predict(args: argparse.Namespace) -> int:
    from rnnkit.training.trainer import load_run

    _, task, model = load_run(args.run_dir, which=args.checkpoint)
    if task.output == "seq2seq":
        raise UsageError(f"{args.run_dir}: a {task.name} model reads text; use rnnkit translate")
    if task.name == "tag":
        raise UsageError(f"{args.run_dir}: a tag model reads sentences; use rnnkit tag")
    texts = task.name == "classify"  # raw text lines in; labels and class probabilities out
    if task.input_size == 0 and not texts:
        raise UsageError(
            f"{args.run_dir}: a {task.name} model reads trees, not JSON sequences; score files "
            f"of trees with rnnkit evaluate"
        )
    if texts:
        sequences = read_texts(args.input)
    else:
        sequences = read_sequences(args.input, task.input_size)
    if hasattr(task, "prepare"):  # e.g. ts-classify: normalize as the training series were
        sequences = task.prepare(sequences)
    if args.workers < 1:
        raise UsageError(f"--workers: expected a positive number of processes, got {args.workers}")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    batches = [
        sequences[start : start + args.batch_size]
        for start in range(0, len(sequences), args.batch_size)
    ]
    if args.workers == 1 and texts:
        results = map(functools.partial(_predict_texts, task, model), batches)
    elif args.workers == 1:
        results = map(functools.partial(_predict_batch, model, task.output), batches)
    else:
        # Each process loads the run once, then takes whole batches; map() keeps input order.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // args.workers)
        pool = ProcessPoolExecutor(
            args.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_predict_worker,
            initargs=(args.run_dir, args.checkpoint, threads),
        )
        # As numpy arrays: pickled by value. Tensors would travel as shared-memory file
        # descriptors, one per sequence, and run out of them on large inputs.
        if texts:
            results = pool.map(_predict_texts_in_worker, batches)
        else:
            results = pool.map(_predict_in_worker, ([s.numpy() for s in b] for b in batches))
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


def _predict_batch(model: torch.nn.Module, kind: str, chunk: list[torch.Tensor]) -> list[str]:
    """JSON lines of predictions for one batch of sequences."""
    import torch
    from torch.nn.utils.rnn import pad_sequence

    lengths = torch.tensor([len(s) for s in chunk])
    x = pad_sequence(chunk, batch_first=True)  # (B, T, D)
    with torch.no_grad():
        y = model(x, lengths)
    return [json.dumps(_prediction(kind, y[i], n)) + "\n" for i, n in enumerate(lengths.tolist())]


def _predict_texts(task, model: torch.nn.Module, chunk: list[str]) -> list[str]:
    """JSON lines for one batch of texts: ``{"label": NAME, "probabilities": {NAME: p}}``."""
    labels, probs = task.predict(model, chunk, batch_size=len(chunk))
    return [
        json.dumps({"label": label,
                    "probabilities": dict(zip(task.classes, map(_round6, p), strict=True))})
        + "\n"
        for label, p in zip(labels, probs.tolist(), strict=True)
    ]  # fmt: skip


def _round6(p: float) -> float:
    return round(p, 6)


def _predict_texts_in_worker(chunk: list[str]) -> list[str]:
    return _predict_texts(_WORKER["task"], _WORKER["model"], chunk)


_WORKER: dict = {}  # in a predict worker process: its model, task and task output kind


def _predict_worker(run_dir: str, checkpoint: str, threads: int) -> None:
    import torch

    from rnnkit.training.trainer import load_run

    torch.set_num_threads(threads)
    _, task, model = load_run(run_dir, which=checkpoint)
    _WORKER.update(model=model, kind=task.output, task=task)


def _predict_in_worker(chunk: list) -> list[str]:
    import torch

    tensors = [torch.from_numpy(s) for s in chunk]
    return _predict_batch(_WORKER["model"], _WORKER["kind"], tensors)


def _prediction(kind: str, y: torch.Tensor, length: int) -> dict:
    if kind == "regression":
        return {"prediction": round(y.item(), 6)}
    if kind == "classification":
        probs = y.softmax(-1)
        return {
            "label": int(probs.argmax()),
            "probabilities": [round(p, 6) for p in probs.tolist()],
        }
    return {"labels": y[:length].argmax(-1).tolist()}


# -- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnkit",
        description="Recurrent networks on PyTorch: train, evaluate and compare them.",
        epilog="Run 'rnnkit COMMAND --help' for a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"rnnkit {rnnkit.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo_command.add_parser(sub)
    diagnose_command.add_parser(sub, _add_config_flags)
    ablate_command.add_parser(sub, _add_config_flags)
    forecast_command.add_parser(sub)
    generate_command.add_parser(sub)
    tag_command.add_parser(sub)

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
    _add_config_flags(p)
    # The treebank literature's names for --classes fine / binary.
    p.add_argument("--fine-grained", dest="classes", action="store_const", const="fine",
                   default=argparse.SUPPRESS, help="trees: same as --classes fine")  # fmt: skip
    p.add_argument("--binary", dest="classes", action="store_const", const="binary",
                   default=argparse.SUPPRESS, help="trees: same as --classes binary")  # fmt: skip
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

    p = run_parser("translate", "translate text with a trained sequence-to-sequence run")
    p.add_argument("--input", required=True, metavar="FILE",
                   help="UTF-8 text, one source per line; - for stdin")  # fmt: skip
    p.add_argument("--output", metavar="FILE", help="write translations here (default: stdout)")
    p.add_argument("--beam", type=int, default=5, help="beam size; 1: greedy (default: 5)")
    p.add_argument("--n-best", type=int, default=1,
                   help="hypotheses per line, written as INDEX<TAB>SCORE<TAB>TEXT")  # fmt: skip
    p.add_argument("--scores", action="store_true", help="write INDEX<TAB>SCORE<TAB>TEXT "
                   "lines also for the 1-best")  # fmt: skip
    p.add_argument("--alpha", type=float, default=0.0,
                   help="length penalty exponent (Wu et al. 2016; default: 0)")  # fmt: skip
    p.add_argument("--max-len", type=int, default=None, help="most output tokens (default: "
                   "twice the longest source in the batch plus 10)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(func=translate)

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
    args = build_parser().parse_args(argv)
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
