"""What ``rnnkit predict`` and the task commands read: the lines of a UTF-8 file (or standard
input), JSON lines of sequences, one text per line. Errors are one line naming file and line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.errors import UsageError

if TYPE_CHECKING:
    import torch


def read_lines(path: str) -> tuple[list[str], str]:
    """The lines of a UTF-8 text file (``-``: standard input) and a name for messages.

    Lines end at ``\\n`` only, as every rnnkit reader reads them (``read_text_lines``):
    ``splitlines()`` would also break at ``\\x85``, ``\\u2028`` or a form feed inside a text,
    and the output would no longer have one line per input line. Bytes that are not UTF-8
    are an error naming their line."""
    from rnnkit.text.parallel import decode_lines, read_bytes

    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)  # bytes: the locale may not be UTF-8
        data = stream.read() if stream is not None else sys.stdin.read().encode()
        return decode_lines(data, "<stdin>"), "<stdin>"
    if not Path(path).exists():
        raise UsageError(f"{path}: no such input file")
    # read_bytes refuses a directory or an unreadable file; no lines is each command's to
    # explain (it says what it expected).
    return decode_lines(read_bytes(path), path), path


MAX_SOURCE_TOKENS = 10_000  # the longest line translate reads: decoding time grows with it


def translate(args: argparse.Namespace) -> int:
    import time

    from rnnkit.training.trainer import load_run

    _, task, model = load_run(args.run_dir, which=args.checkpoint, device=args.device)
    if task.output != "seq2seq":
        raise UsageError(f"{args.run_dir}: a {task.name} model does not translate; use predict")
    if args.beam < 1 or not 1 <= args.n_best <= args.beam:
        raise UsageError(
            f"--beam {args.beam}, --n-best {args.n_best}: expected 1 <= n-best <= beam"
        )
    lines, name = read_lines(args.input)
    if not lines:
        raise UsageError(f"{name}: no lines to translate (empty input)")
    from rnnkit.text.vocab import UNK

    unknown = 0
    for number, ids in enumerate(map(task.encode_source, lines), 1):
        # Decoding takes time in proportion to the source (the encoder reads all of it, the
        # default --max-len is twice it): a megabyte line would run for hours, not fail.
        if len(ids) - 1 > MAX_SOURCE_TOKENS:
            raise UsageError(f"{name}:{number}: a source of {len(ids) - 1:,} tokens, more "
                             f"than translate reads in a line ({MAX_SOURCE_TOKENS:,}); "
                             "split it")  # fmt: skip
        unknown += ids.count(UNK)
    start = time.perf_counter()
    translations = task.translate(
        model, lines, beam=args.beam, n_best=args.n_best, length_penalty=args.alpha,
        max_len=args.max_len, batch_size=args.batch_size, device=args.device,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for index, tr in enumerate(translations):
            if args.n_best == 1 and not args.scores:
                out.write(tr.texts[0] + "\n")
                continue
            for text, score in zip(tr.texts, tr.scores, strict=True):
                out.write(f"{index}\t{score:.4f}\t{text}\n")
    finally:
        if out is not sys.stdout:
            out.close()
    note = f"; {unknown} unknown source tokens read as <unk>" if unknown else ""
    print(
        f"translated {len(lines)} lines in {seconds:.2f} s ({len(lines) / seconds:.1f} "
        f"sentences/s, beam {args.beam}){note}",
        file=sys.stderr,
    )
    return 0


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
    if task.output == "seq2seq":
        raise UsageError(
            f"{args.run_dir}: export covers sequence models; a {task.name} model decodes step "
            f"by step (beam search), which ONNX and TorchScript do not capture"
        )
    if task.input_size == 0:
        raise UsageError(f"{args.run_dir}: export covers sequence models, not {task.name} models")
    example = task.eval_set("valid")[0]
    if isinstance(example, tuple):  # series with their lengths: the exported model takes x
        example = example[0]
    example = example[:2]
    suffix = {"onnx": ".onnx", "torchscript": ".pt"}[args.format]
    path = Path(args.output) if args.output else Path(args.run_dir) / f"model{suffix}"
    written = export_model(model, path, format=args.format, example=example)
    print(f"wrote {written}")
    return 0


def read_sequences(path: str, input_size: int) -> list[torch.Tensor]:
    """Read JSON lines, one sequence per line: a list of steps, each a list of ``input_size``
    numbers (or a bare number when ``input_size`` is 1). ``-`` reads standard input."""
    import torch

    lines, name = read_lines(path)
    sequences = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            # Integers as floats: an integer of hundreds of digits would overflow float() and
            # one of thousands exceed Python's int parsing limit; as a float it is infinite.
            steps = json.loads(line, parse_int=float)
        except json.JSONDecodeError as e:
            raise UsageError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:  # e.g. [[[[...: json recurses once per bracket
            raise UsageError(f"{where}: JSON nested too deeply") from None
        if not isinstance(steps, list) or not steps:
            raise UsageError(f"{where}: expected a non-empty list of steps")
        rows = []
        for t, step in enumerate(steps):
            values = [step] if input_size == 1 and not isinstance(step, list) else step
            if (
                not isinstance(values, list)
                or len(values) != input_size
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            ):
                raise UsageError(
                    f"{where}: step {t} should be {input_size} number(s), got {json.dumps(step)}"
                )
            rows.append([float(v) for v in values])
        tensor = torch.tensor(rows, dtype=torch.float32)
        if not torch.isfinite(tensor).all():  # 1e300 is finite but not in float32
            raise UsageError(f"{where}: a value NaN, infinite or beyond float32's range (3.4e38)")
        sequences.append(tensor)
    if not sequences:
        raise UsageError(f"{name}: no sequences (empty input)")
    return sequences


def read_texts(path: str) -> list[str]:
    """One text per line of a UTF-8 file (``-``: standard input); an empty line is an error
    (the output has one line per input line)."""
    lines, name = read_lines(path)
    if not lines:
        raise UsageError(f"{name}: no texts (empty input)")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise UsageError(f"{name}:{number}: empty line (expected one text per line)")
    return lines
