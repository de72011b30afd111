"""ListOps: Tree-LSTM on the gold parse against sequence models on the flat tokens.

    python benchmarks/bench_listops.py [--steps 15000] [--models tree-lstm lstm bilstm-attention]
    python benchmarks/bench_listops.py --models tree-lstm --tree-cell nary --init-from DIR \
        --lr 5e-4 --schedule cosine        # a second phase from DIR's last checkpoint

Every model trains on the same generated expressions (at most 100 tokens, 90,000 distinct)
for the same number of steps of 64, and is tested on fresh expressions of every length (none
in the training set). Prints accuracy overall and by length; appends to
benchmarks/results/listops.jsonl.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from rnnkit.training import checkpoint as ckpt
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer
from rnnkit.tree.batch import TreeBatch

RESULTS = Path(__file__).parent / "results"
MODELS = {
    "tree-lstm": dict(model="tree-lstm", tree_cell="childsum"),
    "lstm": dict(model="sequence", cell="lstm"),
    "bilstm-attention": dict(
        model="sequence", cell="lstm", bidirectional=True, pooling="attention"
    ),  # fmt: skip
}
BUCKETS = [(1, 50), (51, 100), (101, 200), (201, 400), (401, 10**9)]


def by_length(task, model, device: str, batch_size: int = 250) -> dict[str, float]:
    """Test accuracy per length bucket (tokens without parentheses)."""
    trees = task.trees("test")
    correct: dict[str, list[int]] = {}
    model.eval()
    with torch.no_grad():
        for start in range(0, len(trees), batch_size):
            chunk = trees[start : start + batch_size]
            batch = TreeBatch.build(chunk, task.vocab).to(device)
            out = model(batch)
            roots = out[batch.roots] if out.shape[0] == batch.num_nodes else out
            hits = (roots.argmax(-1) == batch.labels[batch.roots]).tolist()
            for tree, hit in zip(chunk, hits, strict=True):
                n = len(tree.tokens())
                lo, hi = next(b for b in BUCKETS if b[0] <= n <= b[1])
                correct.setdefault(f"{lo}-{hi if hi < 10**9 else ''}", []).append(hit)
    return {
        k: sum(v) / len(v)
        for k, v in sorted(correct.items(), key=lambda kv: int(kv[0].split("-")[0]))
    } | {f"n {k}": len(v) for k, v in correct.items()}


def tree_options(name: str, args: argparse.Namespace) -> dict:
    """The tree cell and tree form: they apply to the Tree-LSTM only (sequence models read
    the flat tokens)."""
    if name != "tree-lstm":
        return {}
    return {"tree_cell": args.tree_cell, "tree_form": args.tree_form}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15000)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=None, help="also stop each run here")
    parser.add_argument("--out", default="/tmp/rnnkit-bench-listops")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tree-cell", default="childsum", choices=["childsum", "nary"])
    parser.add_argument("--tree-form", default="binary", choices=["binary", "operator"])
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--schedule", default="constant", help="learning-rate schedule")
    parser.add_argument(
        "--init-from",
        metavar="RUN_DIR",
        help="start from the weights of this "
        "run's last checkpoint (a fresh optimizer: a second phase of training)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    for name in args.models:
        out = Path(args.out) / name
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        trainer = Trainer(RunConfig().replace(
            task="listops", hidden=args.hidden, embed=args.embed, lr=args.lr, clip=5.0,
            steps=args.steps, batch_size=64, eval_every=1000, valid_size=1000,
            test_size=args.test_size, seed=0, quiet=True, tensorboard=False, out=str(out),
            max_time=args.minutes * 60 if args.minutes else None, device=args.device,
            dropout=args.dropout, schedule=args.schedule, **MODELS[name] | tree_options(name, args),
        ))  # fmt: skip
        if args.init_from:
            last = ckpt.checkpoint_dir(Path(args.init_from) / name, "last")
            ckpt.load_model_weights(trainer.model, last / "model.safetensors")
        run = trainer.fit()
        seconds = time.perf_counter() - start
        rows[name] = {
            "test": run.summary["test"]["accuracy"],
            "valid": run.summary["valid"]["accuracy"],
            "steps": run.summary["steps"],
            "train_seconds": run.summary["wall_time_s"],
            "total_seconds": seconds,
            "parameters": run.summary["parameters"],
            "by_length": by_length(run.task, run.model, run.summary["device"]),
        }
        RESULTS.mkdir(exist_ok=True)
        with open(RESULTS / "listops.jsonl", "a") as f:
            entry = {"model": name, **tree_options(name, args), "dropout": args.dropout,
                     "schedule": args.schedule, "init_from": args.init_from,
                     "device": run.summary["device"], "hidden": args.hidden,
                     "embed": args.embed, "lr": args.lr, "torch": torch.__version__,
                     "date": time.strftime("%Y-%m-%d %H:%M"), **rows[name]}  # fmt: skip
            f.write(json.dumps(entry) + "\n")
        print(f"{name}: test {rows[name]['test']:.4f} after {rows[name]['steps']} steps "
              f"({rows[name]['train_seconds']:.0f} s)", flush=True)  # fmt: skip
    buckets = [k for k in next(iter(rows.values()))["by_length"] if not k.startswith("n ")]
    print(
        f"ListOps, H={args.hidden}, E={args.embed}, batches of 64, lr {args.lr}; test on "
        f"{args.test_size} fresh expressions of every length"
    )
    print(
        "| model | steps | time | test accuracy | "
        + " | ".join(f"{b} tokens" for b in buckets)
        + " |"
    )
    print("|---|---|---|---|" + "---|" * len(buckets))
    for name, r in rows.items():
        cells = " | ".join(f"{r['by_length'].get(b, float('nan')):.3f}" for b in buckets)
        print(f"| {name} | {r['steps']} | {r['train_seconds']:.0f} s | {r['test']:.4f} | {cells} |")


if __name__ == "__main__":
    main()
