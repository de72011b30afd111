"""Adding problem: steps and wall time until test MSE < 0.01, per model and sequence length.

Protocol (issue 3): batch 64, hidden 128, Adam lr 2e-3, gradients clipped to norm 1.0 (except
where a configuration says otherwise), validation on 1000 fixed sequences every ``--eval-every``
steps, stopping at the target or the budget. Each configuration runs through ``rnnkit.train``;
with ``--reference`` the gated ones also run as a plain ``torch.nn`` loop on the same batches in
the same process, and the table gives the time ratio rnnkit / torch.nn.

Each finished run is appended to ``--results`` (JSON lines), so an interrupted benchmark keeps
what it measured; ``--table`` prints the table from that file.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_adding.py --lengths 100 200 \
        --reference --results benchmarks/results/adding.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from rnnkit.tasks.adding import BASELINE_MSE, AddingTask
from rnnkit.training import RunConfig, train

# name -> (overrides of the run config, description)
CONFIGS: dict[str, tuple[dict, str]] = {
    "lstm": ({"cell": "lstm"}, "LSTM, default init"),
    "gru": ({"cell": "gru"}, "GRU, default init"),
    "lstm_chrono": ({"cell": "lstm", "init": "chrono"}, "LSTM, chrono init (T_max = T)"),
    "rnn": ({"cell": "rnn", "clip": 0.0}, "tanh RNN, no clipping"),
    "rnn_clip": ({"cell": "rnn"}, "tanh RNN, clip 1.0"),
    "rnn_orth": ({"cell": "rnn", "init": "orthogonal"}, "tanh RNN, orthogonal init, clip 1.0"),
    "irnn": (
        {"cell": "rnn", "nonlinearity": "relu", "init": "identity", "lr": 2e-4},
        "IRNN: ReLU RNN, identity init, lr 2e-4, clip 1.0",
    ),
    "mingru": ({"cell": "mingru"}, "minGRU, default init"),
    "minlstm": ({"cell": "minlstm"}, "minLSTM, default init"),
    "mingru_chrono": ({"cell": "mingru", "init": "chrono"}, "minGRU, chrono init (T_max = T)"),
}
REFERENCE = {"lstm", "gru", "lstm_chrono"}


def run_rnnkit(name: str, T: int, args: argparse.Namespace) -> dict:
    overrides, _ = CONFIGS[name]
    out = Path(tempfile.mkdtemp(prefix=f"bench-adding-{name}-{T}-"))
    shutil.rmtree(out)
    protocol = dict(
        task="adding",
        seq_len=T,
        hidden=128,
        batch_size=64,
        lr=2e-3,
        clip=1.0,
        steps=args.budget_steps,
        max_time=args.budget_time,
        eval_every=args.eval_every,
        stop_at_target=True,
        seed=args.seed,
        quiet=True,
        tensorboard=False,
        out=str(out),
    )
    config = RunConfig().replace(**{**protocol, **overrides})
    try:
        run = train(config)
    except FloatingPointError as e:  # diverged: the trainer gave up after non-finite steps
        shutil.rmtree(out, ignore_errors=True)
        step = int(str(e).split(":")[0].removeprefix("step "))
        return {"steps": step, "time_s": None, "reached_step": None, "reached_time_s": None,
                "best_valid_mse": None, "test_mse": None, "diverged": True}  # fmt: skip
    s = run.summary
    valid = [r["valid_mse"] for r in run.history if "valid_mse" in r]
    shutil.rmtree(out, ignore_errors=True)
    reached = s["target"]["reached"]
    return {
        "steps": s["steps"],
        "time_s": s["wall_time_s"],
        "reached_step": reached["step"] if reached else None,
        "reached_time_s": reached["time_s"] if reached else None,
        "best_valid_mse": min(valid),
        "test_mse": s["test"]["mse"],
        "path": s["path"],
    }


class _Reference(nn.Module):
    def __init__(self, cell: str, T: int, chrono: bool) -> None:
        super().__init__()
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU}[cell]
        self.rnn = rnn_class(2, 128, batch_first=True)
        self.head = nn.Linear(128, 1)
        if chrono:  # Tallec & Ollivier 2018: b_f = log U(1, T - 1), b_i = -b_f
            H = 128
            with torch.no_grad():
                b = torch.empty(H, dtype=torch.float64).uniform_(1.0, T - 1.0).log_().float()
                self.rnn.bias_ih_l0.zero_()
                self.rnn.bias_hh_l0.zero_()
                self.rnn.bias_ih_l0[H : 2 * H] = b
                self.rnn.bias_ih_l0[:H] = -b

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1]).squeeze(-1)


def run_reference(name: str, T: int, args: argparse.Namespace) -> dict:
    """The same protocol as a plain torch.nn loop: same batches, Adam, clipping, evaluation."""
    overrides, _ = CONFIGS[name]
    torch.manual_seed(args.seed)
    model = _Reference(overrides["cell"], T, overrides.get("init") == "chrono")
    task = AddingTask(T, seed=1234)
    vx, vy = task.eval_set("valid")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    reached, best, step = None, math.inf, 0
    while step < args.budget_steps:
        step += 1
        x, y = task.train_batch(step, 64, args.seed)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed = time.perf_counter() - start
        if step % args.eval_every == 0:
            model.eval()
            with torch.no_grad():
                mse = sum(
                    nn.functional.mse_loss(model(xb), yb, reduction="sum").item()
                    for xb, yb in zip(vx.split(500), vy.split(500), strict=True)
                ) / len(vy)
            model.train()
            best = min(best, mse)
            if mse < 0.01:
                reached = (step, elapsed)
                break
        if args.budget_time is not None and elapsed >= args.budget_time:
            break
    return {
        "steps": step,
        "time_s": round(time.perf_counter() - start, 3),
        "reached_step": reached[0] if reached else None,
        "reached_time_s": round(reached[1], 3) if reached else None,
        "best_valid_mse": best,
    }


def _fmt_reach(r: dict | None) -> str:
    if r is None:
        return "-"
    if r.get("diverged"):
        return f"diverged at step {r['steps']}"
    if r["reached_step"] is None:
        return f"no ({r['steps']} st, {r['time_s']:.0f} s)"
    return f"{r['reached_step']} st, {r['reached_time_s']:.0f} s"


def print_table(results: list[dict]) -> None:
    print(
        f"{'T':>5s}  {'configuration':44s} {'rnnkit: MSE<0.01 at':>24s} {'best MSE':>9s} "
        f"{'ms/step':>8s} {'torch.nn: MSE<0.01 at':>24s} {'time ratio':>10s}"
    )
    for r in results:
        ours, ref = r["rnnkit"], r.get("torch_nn")
        ratio = "-"
        if ref and ours["reached_time_s"] and ref["reached_time_s"]:
            ratio = f"{ours['reached_time_s'] / ref['reached_time_s']:.2f}x"
        ms = f"{1000 * ours['time_s'] / ours['steps']:.1f}" if ours["time_s"] else "-"
        best = f"{ours['best_valid_mse']:.4f}" if ours["best_valid_mse"] is not None else "-"
        print(
            f"{r['T']:5d}  {CONFIGS[r['config']][1]:44s} {_fmt_reach(ours):>24s} "
            f"{best:>9s} {ms:>8s} {_fmt_reach(ref):>24s} {ratio:>10s}"
        )
    print(f"(baseline MSE {BASELINE_MSE:.3f}; 'st' = steps; times include validation)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[100, 200])
    p.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument("--budget-steps", type=int, default=5000)
    p.add_argument("--budget-time", type=float, default=None, help="seconds per run")
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reference", action="store_true", help="also run torch.nn (gated cells)")
    p.add_argument("--results", default="benchmarks/results/adding.jsonl")
    p.add_argument("--table", action="store_true", help="only print the table of --results")
    args = p.parse_args()
    results_path = Path(args.results)
    if not args.table:
        torch.set_num_threads(args.threads)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        # Warm-up, discarded: on this VM the first ~minute of a process runs up to 1.3x slower
        # (memory being mapped), which would tax whichever run comes first.
        run_reference("lstm", 100, argparse.Namespace(**{**vars(args), "budget_steps": 1500,
                                                         "budget_time": 30.0}))  # fmt: skip
        for T in args.lengths:
            for name in args.configs:
                record = {"T": T, "config": name, "budget_steps": args.budget_steps,
                          "budget_time": args.budget_time, "threads": args.threads}  # fmt: skip
                record["rnnkit"] = run_rnnkit(name, T, args)
                if args.reference and name in REFERENCE:
                    record["torch_nn"] = run_reference(name, T, args)
                with results_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                print_table([record])
    print()
    results = [json.loads(line) for line in results_path.read_text().splitlines()]
    order = list(CONFIGS)
    print_table(sorted(results, key=lambda r: (r["T"], order.index(r["config"]))))


if __name__ == "__main__":
    main()
