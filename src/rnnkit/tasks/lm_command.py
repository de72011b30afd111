"""``rnnkit generate RUN_DIR``: text sampled from a trained language model (task lm).

The prompt is read first; then ``--length`` tokens (characters, words or subwords, as the
model was trained) are drawn one at a time from the model's distribution, sharpened by
``--temperature`` (0: always the most likely token) and cut to the ``--top-k`` most likely.
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.errors import UsageError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample text from a trained language model",
        description=__doc__.split("\n\n", 1)[1].replace("\n", " "),
        epilog='example: rnnkit generate runs/shakespeare --prompt "ROMEO:" --length 300 '
        "--temperature 0.8 --top-k 40",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="a directory written by rnnkit train "
                   "--task lm")  # fmt: skip
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument("--prompt", default=None, help="text to continue (default: the first token "
                   "of the training text)")  # fmt: skip
    p.add_argument("--length", type=int, default=200, help="tokens to generate (default: 200)")
    p.add_argument("--temperature", type=float, default=1.0, help="divides the log-"
                   "probabilities; < 1 sharper, 0 greedy (default: 1)")  # fmt: skip
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely "
                   "tokens only (default: all)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the draws (default: 0)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.training.trainer import load_run

    if args.length < 1:
        raise UsageError(f"--length: expected a positive number of tokens, got {args.length}")
    if args.temperature < 0:
        raise UsageError(f"--temperature: expected a number >= 0, got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        raise UsageError(f"--top-k: expected a positive number of tokens, got {args.top_k}")
    config, task, model = load_run(args.run_dir, which=args.checkpoint, device=args.device)
    if config.task.name != "lm":
        raise UsageError(f"{args.run_dir}: a {config.task.name} run does not generate text; "
                         "train one with --task lm")  # fmt: skip
    _, unknown = task.prompt_ids(args.prompt)
    if unknown:
        shown = ", ".join(repr(t) for t in dict.fromkeys(unknown))
        print(f"rnnkit generate: note: not in the vocabulary, read as <unk>: {shown}",
              file=sys.stderr)  # fmt: skip
    text = task.generate(model, args.prompt, length=args.length, temperature=args.temperature,
                         top_k=args.top_k, seed=args.seed, device=args.device)  # fmt: skip
    sys.stdout.write((args.prompt or "") + text + "\n")
    return 0
