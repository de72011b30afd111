"""``rnnkit tag RUN_DIR --input FILE``: tag every token with a trained ``--task tag`` run.

The input is tokenized text, one sentence per line (tokens separated by spaces), or a CoNLL
column file (the token in the first column, any other columns ignored, blank lines between
sentences); --format auto takes a file with a tab in it for CoNLL. A language prefix such as
WikiANN's en: is stripped when every token has the same one, as in training. The output is
CoNLL: token<TAB>tag per line, the tokens as written in the input, a blank line after each
sentence. Unknown tokens read as <unk> and are counted on stderr, with the speed.
"""

from __future__ import annotations

import argparse
import sys
import time

from rnnkit.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "tag",
        help="tag the tokens of sentences with a trained tag run (NER, POS)",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        epilog="example: rnnkit tag runs/ner --input sentences.txt --output tagged.conll",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by rnnkit train "
                   "--task tag")  # fmt: skip
    p.add_argument("--checkpoint", choices=["best", "last"], default="best",
                   help="which checkpoint to load (default: best)")  # fmt: skip
    p.add_argument("--input", required=True, metavar="FILE", help="UTF-8 text, one sentence "
                   "per line, or a CoNLL column file; - for stdin")  # fmt: skip
    p.add_argument("--format", choices=["auto", "text", "conll"], default="auto",
                   help="how to read the input; auto: CoNLL if a line has a tab, else "
                   "text (space-separated CoNLL needs --format conll; default: auto)")  # fmt: skip
    p.add_argument("--output", metavar="FILE", help="write the tagged tokens here (default: "
                   "stdout)")  # fmt: skip
    p.add_argument("--batch-size", type=int, default=256, help="sentences per batch "
                   "(default: 256)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(func=run)


def read_input(path: str, form: str):
    """The sentences of ``path`` (``-``: stdin) as read in ``form`` ("auto", "text" or
    "conll"), tokens as written (language prefixes kept)."""
    from rnnkit.inputs import read_lines
    from rnnkit.text.conll import parse_conll, parse_token_lines

    # As predict and translate read: lines end at \n only, stdin as bytes, bad UTF-8 named.
    lines, name = read_lines(path)
    if form == "auto":
        form = "conll" if any("\t" in line for line in lines) else "text"
    if form == "conll":
        return parse_conll(lines, name, tagged=False, prefix="keep")
    return parse_token_lines(lines, name, prefix="keep")


def run(args: argparse.Namespace) -> int:
    from rnnkit.text.conll import strip_prefixes
    from rnnkit.training.trainer import load_run

    if args.batch_size < 1:
        raise UsageError(f"--batch-size: expected a positive integer, got {args.batch_size}")
    config, task, model = load_run(args.run_dir, which=args.checkpoint, device=args.device)
    if config.task.name != "tag":
        raise UsageError(f"{args.run_dir}: a {config.task.name} run does not tag tokens; use "
                         "rnnkit predict")  # fmt: skip
    sentences = read_input(args.input, args.format)
    lines = [0] * sum(len(s.tokens) for s in sentences)  # prefixes are all-or-none: no lines
    words = [s.tokens for s in strip_prefixes(sentences, lines, "auto", args.input)]
    unknown = task.unknown(words)
    start = time.perf_counter()
    tags = task.tag(model, words, batch_size=args.batch_size, device=args.device)
    seconds = time.perf_counter() - start
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        for sentence, row in zip(sentences, tags, strict=True):
            out.writelines(f"{token}\t{tag}\n" for token, tag in zip(sentence.tokens, row,
                                                                     strict=True))  # fmt: skip
            out.write("\n")
    finally:
        if out is not sys.stdout:
            out.close()
    tokens = sum(len(w) for w in words)
    note = f"; {unknown} unknown tokens read as <unk>" if unknown else ""
    speed = len(words) / max(seconds, 1e-9)
    print(f"tagged {len(words)} sentences ({tokens} tokens) in {seconds:.2f} s ({speed:.1f} "
          f"sentences/s){note}", file=sys.stderr)  # fmt: skip
    return 0
