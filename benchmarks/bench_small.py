"""Small models on a busy machine: step time by thread setting, idle and beside other work.

A small model (nn.LSTM(1, 128) + a linear head, B=64, T=24, Adam: what forecast and
ts-classify train on small data) is timed in fresh processes, one per thread setting (the
OpenMP settings are read once, when torch loads):

- idle: alone;
- busy: beside one busy single-threaded process (a spinning Python loop);
- pair: two runs of the same setting at once (a second run, a sweep's jobs).

Each cell is the median step time in ms; the ratios are the issue's targets: busy / idle
(<= 1.5), pair / a lone one-thread run (<= 1.3), idle / torch's default idle (<= 1.05).

``--section trainer``: rnnkit's trainer on a small UCR-style ts-classify set (67 series of
length 24, made here) against a bare loop of the same model, batches and optimizer, in one
process (target: <= 1.3x). ``--section startup``: wall time of ``rnnkit --help`` (< 1 s) and of
a 1-step ts-classify run (< 5 s).

    .venv/bin/python benchmarks/bench_small.py              # all three sections (~5 min)
    .venv/bin/python benchmarks/bench_small.py --section threads --steps 60   # quick look

Run it on an otherwise idle machine (it makes its own load).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: setting name -> (environment, threads argument for the worker)
SETTINGS = {
    "torch default (2 threads)": ({}, "default"),
    "1 thread": ({}, "1"),
    "2 threads, OMP_WAIT_POLICY=PASSIVE": ({"OMP_WAIT_POLICY": "PASSIVE"}, "default"),
    "2 threads, GOMP_SPINCOUNT=1000": ({"GOMP_SPINCOUNT": "1000"}, "default"),
    "rnnkit --threads auto": ({}, "auto"),
}


def worker(threads: str, steps: int, warmup: int) -> None:
    """Time the bare loop in this process; print one JSON line."""
    if threads == "auto":
        from rnnkit.training.threads import apply_policy

        policy = apply_policy("auto")
    import torch
    from torch import nn

    if threads == "1":
        torch.set_num_threads(1)
    torch.manual_seed(0)
    lstm, head = nn.LSTM(1, 128, batch_first=True), nn.Linear(128, 1)
    params = [*lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = torch.randn(64, 24, 1), torch.randn(64, 1)
    samples = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        out, _ = lstm(x)
        loss = nn.functional.mse_loss(head(out[:, -1]), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if threads == "auto":
            policy.step_done(time.perf_counter() - start)
        if i >= warmup:
            samples.append((time.perf_counter() - start) * 1e3)
    print(json.dumps({"median_ms": statistics.median(samples),
                      "threads": torch.get_num_threads()}))  # fmt: skip


def spawn(setting: str, steps: int, warmup: int) -> subprocess.Popen:
    env, threads = SETTINGS[setting]
    cmd = [sys.executable, __file__, "--worker", threads, "--steps", str(steps),
           "--warmup", str(warmup)]  # fmt: skip
    # Huge pages as `import rnnkit` sets them, in every worker: only the threads differ.
    env = {**os.environ, "THP_MEM_ALLOC_ENABLE": "1", **env}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"worker failed ({process.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def ucr_file(folder: Path, n: int = 67, length: int = 24, seed: int = 0) -> Path:
    """A UCR-style file (``label,x0,...``): two classes of noisy sines of different phase."""
    import math
    import random

    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = i % 2
        phase = rng.uniform(0, 0.5) + label * math.pi / 2
        xs = [math.sin(2 * math.pi * t / length + phase) + rng.gauss(0, 0.3) for t in range(length)]
        lines.append(",".join([str(label + 1), *(f"{x:.5f}" for x in xs)]))
    path = folder / "small_TRAIN.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def trainer_section(steps: int) -> None:
    """rnnkit's trainer against a bare loop of the same model, batches and optimizer."""
    import torch

    from rnnkit.layers.paths import describe_cpu
    from rnnkit.training import RunConfig
    from rnnkit.training.trainer import Trainer, build_model

    folder = Path(tempfile.mkdtemp(prefix="rnnkit-bench-small-"))
    data = ucr_file(folder)
    config = RunConfig().replace(task="ts-classify", data=str(data), test=str(data), steps=steps,
                                 eval_every=steps, quiet=True, out=str(folder / "run"))  # fmt: skip
    trainer = Trainer(config)
    threads = torch.get_num_threads()
    task, t = trainer.task, config.train
    batches = [task.train_batch(s, t.batch_size, t.seed) for s in range(1, steps + 1)]

    def bare() -> float:
        torch.manual_seed(0)
        model = build_model(config, task)
        opt = torch.optim.Adam(model.parameters(), lr=config.optim.lr)
        times = []
        for x, y in batches:
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss = task.loss(model(*x) if isinstance(x, tuple) else model(x), y)
            loss.backward()
            opt.step()
            loss.item()
            times.append(time.perf_counter() - start)
        return 1e3 * statistics.median(times[5:])

    before = bare()
    trainer.fit()
    after = bare()
    import csv

    with open(folder / "run" / "metrics.csv", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f)]
    elapsed = [float(r["time_s"]) for r in rows]
    evals = {i for i, r in enumerate(rows) if r.get("valid_loss")}
    per_step = [
        b - a
        for i, (a, b) in enumerate(zip(elapsed, elapsed[1:], strict=False), 1)
        if i not in evals
    ]
    ours = 1e3 * statistics.median(per_step[5:])
    ref = statistics.median([before, after])
    print(f"\nCPU: {describe_cpu()}; {threads} threads (rnnkit's choice, both sides); "
          f"{task.name}, 67 series of length 24, model {config.model.cell} hidden "
          f"{config.model.hidden}, batch {t.batch_size}; median of {steps} steps")  # fmt: skip
    print("| loop | ms a step | ratio |")
    print("|---|---|---|")
    print(f"| bare torch loop (same model, batches, Adam) | {ref:.2f} | 1.00 |")
    print(f"| rnnkit trainer (defaults: logs, grad norm, tensorboard) | {ours:.2f} | "
          f"{ours / ref:.2f} |")  # fmt: skip


def startup_section(repeat: int = 5) -> None:
    """Wall time of `rnnkit --help` and of a 1-step ts-classify run, median of ``repeat``."""
    folder = Path(tempfile.mkdtemp(prefix="rnnkit-bench-start-"))
    data = ucr_file(folder)
    rnnkit = str(Path(sys.executable).with_name("rnnkit"))
    commands = {
        "rnnkit --help": [rnnkit, "--help"],
        "rnnkit train --task ts-classify ... --steps 1": [
            rnnkit, "train", "--task", "ts-classify", "--data", str(data), "--test", str(data),
            "--steps", "1", "--quiet", "--out"],
    }  # fmt: skip
    print("\n| command | wall s (median) | runs |")
    print("|---|---|---|")
    for name, cmd in commands.items():
        times = []
        for i in range(repeat):
            extra = [str(folder / f"run{i}")] if cmd[-1] == "--out" else []
            start = time.perf_counter()
            subprocess.run(cmd + extra, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        print(f"| {name} | {statistics.median(times):.2f} | {repeat} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="*", help="substrings of setting names to keep")
    parser.add_argument("--rounds", type=int, default=3, help="repeats of the thread table")
    parser.add_argument("--section", choices=["all", "threads", "trainer", "startup"],
                        default="all")  # fmt: skip
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.warmup)
        return
    if args.section in ("all", "threads"):
        threads_section(args)
    if args.section in ("all", "trainer"):
        trainer_section(max(args.steps, 100))
    if args.section in ("all", "startup"):
        startup_section()


def threads_section(args) -> None:
    from rnnkit.layers.paths import describe_cpu

    settings = [s for s in SETTINGS if not args.only or any(o in s for o in args.only)]
    samples = {s: {"idle": [], "busy": [], "pair": []} for s in settings}
    for round_ in range(args.rounds):  # settings interleaved: a slow spell hits all alike
        for setting in settings:
            idle = result(spawn(setting, args.steps, args.warmup))["median_ms"]
            busy_proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                time.sleep(0.3)
                busy = result(spawn(setting, args.steps, args.warmup))["median_ms"]
            finally:
                busy_proc.kill()
                busy_proc.wait()
            pair = [spawn(setting, args.steps, args.warmup) for _ in range(2)]
            pair_ms = statistics.mean(result(p)["median_ms"] for p in pair)
            for name, ms in (("idle", idle), ("busy", busy), ("pair", pair_ms)):
                samples[setting][name].append(ms)
            print(f"  round {round_ + 1}, {setting}: idle {idle:.1f} ms, busy {busy:.1f} ms, "
                  f"pair {pair_ms:.1f} ms", flush=True)  # fmt: skip
    med = {s: {k: statistics.median(v) for k, v in d.items()} for s, d in samples.items()}
    print()
    print(f"CPU: {describe_cpu()}; {os.cpu_count()} CPUs; nn.LSTM(1, 128) + linear, B=64, T=24, "
          f"Adam; each cell the median over {args.rounds} rounds of a process's median step time "
          f"({args.steps} steps after {args.warmup}); THP_MEM_ALLOC_ENABLE=1 in all")  # fmt: skip
    ref_idle = med.get("torch default (2 threads)", {}).get("idle")
    lone1 = med.get("1 thread", {}).get("idle")
    print("| setting | idle ms | busy ms | busy / idle | pair ms (each) | pair / lone 1-thread "
          "| idle / torch default |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for setting, m in med.items():
        i, b, p = m["idle"], m["busy"], m["pair"]
        r_pair = f"{p / lone1:.2f}" if lone1 else "-"
        r_ref = f"{i / ref_idle:.2f}" if ref_idle else "-"
        print(f"| {setting} | {i:.1f} | {b:.1f} | {b / i:.2f} | {p:.1f} | {r_pair} | {r_ref} |")


if __name__ == "__main__":
    main()
