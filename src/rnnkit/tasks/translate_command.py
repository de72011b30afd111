"""``rnnkit translate RUN_DIR --input FILE``: decode text with a trained sequence-to-sequence run
(``--task reverse``, ``sort``, ``dates`` or ``translate``).

The input is UTF-8 text, one source per line. The output is one translation per line, or with
--n-best N (or --scores) INDEX<TAB>SCORE<TAB>TEXT lines, best first, INDEX counting input lines
from 0. Unknown source tokens read as <unk> and are counted on stderr, with the speed.
"""

from __future__ import annotations

import argparse
import sys
import time

MAX_SOURCE_TOKENS = 10_000
"""The longest line translate reads: decoding time grows with it."""


def add_parser(sub) -> None:
    p = sub.add_parser(
        "translate",
        help="translate text with a trained sequence-to-sequence run",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        epilog="example: rnnkit translate runs/dates --input dates.txt --beam 5",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by rnnkit train")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="which checkpoint to load (default: best)")  # fmt: skip
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import UsageError
    from rnnkit.inputs import read_lines
    from rnnkit.tasks.translate import Seq2SeqTask
    from rnnkit.text.vocab import UNK
    from rnnkit.training.trainer import load_run

    _, task, model = load_run(args.run_dir, which=args.checkpoint, device=args.device)
    if not isinstance(task, Seq2SeqTask):
        raise UsageError(f"{args.run_dir}: a {task.name} model does not translate; use predict")
    if args.beam < 1 or not 1 <= args.n_best <= args.beam:
        raise UsageError(
            f"--beam {args.beam}, --n-best {args.n_best}: expected 1 <= n-best <= beam"
        )
    lines, name = read_lines(args.input)
    if not lines:
        raise UsageError(f"{name}: no lines to translate (empty input)")
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
