"""Sequence-to-sequence benchmarks: reversal accuracy by length with and without attention,
date normalization, and English-German translation on Multi30k.

    python benchmarks/bench_seq2seq.py reversal [--steps 3000]
    python benchmarks/bench_seq2seq.py dates [--steps 2000]
    python benchmarks/bench_seq2seq.py multi30k --data ../shared/data/multi30k_en_de [--minutes 30]

Each prints a table and appends its raw results to benchmarks/results/seq2seq.jsonl; reversal
also writes benchmarks/results/reversal_by_length.png. Budgets are in optimizer steps (the same
for every row of a comparison), so a busy machine changes the wall time but not the results.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

import torch

from rnnkit.tasks import pairs as generators
from rnnkit.training.trainer import train

RESULTS = Path(__file__).parent / "results"


def fresh(path: Path) -> str:
    """``path`` emptied: each benchmark run starts a new run directory."""
    shutil.rmtree(path, ignore_errors=True)
    return str(path)


def record(entry: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    entry = {
        **entry,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    with open(RESULTS / "seq2seq.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def char_accuracy(hypothesis: str, reference: str) -> float:
    """Fraction of reference positions the hypothesis gets right (position by position)."""
    hits = sum(a == b for a, b in zip(hypothesis, reference, strict=False))
    return hits / max(len(reference), len(hypothesis))


def reversal(args: argparse.Namespace) -> None:
    lengths = list(range(10, 101, 10))
    rows = {}
    for attention in args.attention:
        out = Path(args.out) / f"reverse-{attention}"
        start = time.perf_counter()
        run = train(
            task="reverse", min_len=args.min_len, seq_len=args.max_len, cell="gru",
            hidden=args.hidden, bidirectional=True, attention=attention, steps=args.steps,
            batch_size=64, lr=args.lr, clip=1.0, eval_every=500, valid_size=500,
            test_size=500, seed=0, quiet=True, tensorboard=False, out=fresh(out),
            device=args.device, max_time=args.minutes * 60 if args.minutes else None,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        by_length = {}
        device = run.summary["device"]
        for length in lengths:
            pairs = generators.reversal(args.per_length, seed=10_000 + length,
                                        min_len=length, max_len=length)  # fmt: skip
            found = run.task.translate(run.model, [s for s, _ in pairs], batch_size=250,
                                       device=device)  # fmt: skip
            texts = [t.texts[0] for t in found]
            exact = sum(h == r for h, (_, r) in zip(texts, pairs, strict=True)) / len(pairs)
            chars = sum(char_accuracy(h, r) for h, (_, r) in zip(texts, pairs, strict=True))
            by_length[length] = {"exact_match": exact, "char_accuracy": chars / len(pairs)}
        rows[attention] = {"seconds": seconds, "by_length": by_length, "device": device,
                           "steps": run.summary["steps"],
                           "parameters": run.summary["parameters"]}  # fmt: skip
        record({"benchmark": "reversal", "attention": attention, "hidden": args.hidden,
                "train_lengths": [args.min_len, args.max_len], "per_length": args.per_length,
                **rows[attention]})  # fmt: skip
    steps = "/".join(str(r["steps"]) for r in rows.values())
    print(f"reversal, GRU H={args.hidden} bidirectional encoder, {steps} steps of 64, "
          f"trained on lengths {args.min_len}-{args.max_len}; exact match / char accuracy "
          f"on {args.per_length} strings per length")  # fmt: skip
    print("| length | " + " | ".join(f"{a} attention" for a in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for length in lengths:
        cells = [
            f"{r['by_length'][length]['exact_match']:.3f} / "
            f"{r['by_length'][length]['char_accuracy']:.3f}"
            for r in rows.values()
        ]
        print(f"| {length} | " + " | ".join(cells) + " |")
    print("| training time | " + " | ".join(f"{r['seconds']:.0f} s" for r in rows.values()) + " |")
    plot_reversal(rows, RESULTS / args.plot, args)


def plot_reversal(rows: dict, path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for attention, row in rows.items():
        lengths = sorted(row["by_length"])
        label = "with attention (Luong general)" if attention != "none" else "no attention"
        for ax, metric in zip(axes, ("exact_match", "char_accuracy"), strict=True):
            ax.plot(lengths, [row["by_length"][n][metric] for n in lengths], marker="o",
                    label=label)  # fmt: skip
    for ax, title in zip(axes, ("exact match", "character accuracy"), strict=True):
        ax.set_xlabel("source length")
        ax.set_title(title)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend()
    steps = "/".join(str(r["steps"]) for r in rows.values())
    fig.suptitle(f"string reversal: GRU H={args.hidden}, {steps} steps, trained on "
                 f"lengths {args.min_len}-{args.max_len}")  # fmt: skip
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def dates(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    run = train(
        task="dates", cell="gru", hidden=args.hidden, bidirectional=True, attention="general",
        steps=args.steps, batch_size=64, lr=args.lr, eval_every=250, valid_size=1000,
        test_size=args.test_size, seed=0, quiet=True, tensorboard=False,
        out=fresh(Path(args.out) / "dates"),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    s = run.summary
    record({"benchmark": "dates", "steps": args.steps, "hidden": args.hidden,
            "seconds": seconds, "test": s["test"], "valid": s["valid"],
            "reached": s["target"]["reached"]})  # fmt: skip
    print(
        f"dates, GRU H={args.hidden} bidirectional + Luong general attention, {args.steps} "
        f"steps of 64, {seconds:.0f} s; held-out dates (never seen in training, any format)"
    )
    print(f"test exact match {s['test']['exact_match']:.4f} on {args.test_size} "
          f"(target >= 0.99), valid {s['valid']['exact_match']:.4f}; first reached 0.99 on "
          f"valid: {s['target']['reached']}")  # fmt: skip


def multi30k(args: argparse.Namespace) -> None:
    d = Path(args.data)
    files = {split: f"{d / split}.en,{d / split}.de" for split in
             ("train", "val", "test_2016_flickr")}  # fmt: skip
    start = time.perf_counter()
    run = train(
        task="translate", data=files["train"], valid=files["val"],
        test=files["test_2016_flickr"], tokenizer="bpe", bpe_size=args.bpe_size,
        cell=args.cell, hidden=args.hidden, embed=args.embed, bidirectional=True,
        attention="general", dropout=args.dropout, steps=args.steps,
        max_time=args.minutes * 60, batch_size=args.batch_size, lr=args.lr, clip=5.0,
        eval_every=args.eval_every, eval_batch_size=250, seed=0, quiet=True,
        tensorboard=False, device=args.device, out=fresh(Path(args.out) / "multi30k"),
    )  # fmt: skip
    seconds = time.perf_counter() - start
    task, model = run.task, run.model
    test = task.pairs("test")
    sources, references = [s for s, _ in test], [t for _, t in test]
    rows = {}
    for beam in (1, 5):
        if args.device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        found = task.translate(model, sources, beam=beam, batch_size=args.translate_batch,
                               device=run.summary["device"])  # fmt: skip
        elapsed = time.perf_counter() - t0
        metrics = task.text_metrics([f.texts[0] for f in found], references)
        rows[beam] = {**metrics, "sentences_per_s": len(sources) / elapsed}
    record({"benchmark": "multi30k", "cell": args.cell, "hidden": args.hidden,
            "embed": args.embed, "bpe_size": args.bpe_size, "steps": run.summary["steps"],
            "train_seconds": run.summary["wall_time_s"], "total_seconds": seconds,
            "device": run.summary["device"], "parameters": run.summary["parameters"],
            "valid": run.summary["valid"], "test": {str(k): v for k, v in rows.items()},
            "baseline": run.summary["baseline"]})  # fmt: skip
    print(f"Multi30k en-de, {args.cell.upper()} H={args.hidden} E={args.embed} bidirectional "
          f"+ Luong general attention, BPE {args.bpe_size} per side, "
          f"{run.summary['steps']} steps of {args.batch_size} in "
          f"{run.summary['wall_time_s']:.0f} s on {run.summary['device']}")  # fmt: skip
    print("| decoding | BLEU | chrF | sentences/s |")
    print("|---|---|---|---|")
    for beam, r in rows.items():
        name = "greedy" if beam == 1 else f"beam {beam}"
        print(f"| {name} | {r['bleu']:.2f} | {r['chrf']:.2f} | {r['sentences_per_s']:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("reversal")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--min-len", type=int, default=1)
    p.add_argument("--max-len", type=int, default=100)
    p.add_argument("--per-length", type=int, default=200)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--attention", nargs="+", default=["general", "none"])
    p.add_argument("--minutes", type=float, default=None, help="also stop each run after this")
    p.add_argument("--device", default="cpu")
    p.add_argument("--plot", default="reversal_by_length.png")
    p.set_defaults(func=reversal)
    p = sub.add_parser("dates")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--test-size", type=int, default=5000)
    p.add_argument("--lr", type=float, default=3e-3)
    p.set_defaults(func=dates)
    p = sub.add_parser("multi30k")
    p.add_argument("--data", default="../shared/data/multi30k_en_de")
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--steps", type=int, default=100_000)
    p.add_argument("--cell", default="gru")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--embed", type=int, default=256)
    p.add_argument("--bpe-size", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--translate-batch", type=int, default=100)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=multi30k)
    for q in sub.choices.values():
        q.add_argument("--out", default="/tmp/rnnkit-bench-seq2seq")
        q.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.func(args)


if __name__ == "__main__":
    main()
