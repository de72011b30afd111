"""What the reliability guarantees cost: checkpoint writes and reads with their digests, and
the memory guard at the start of a run.

Prints median seconds and the ratio to the reference measured in the same run:

- write: ``save_checkpoint`` (temporary files, fsync, rename, SHA-256 of both tensor files,
  state.json with its own digest, pointers) against a bare ``safetensors`` save of the same
  weights and Adam moments;
- read: ``load_training_state`` (digests checked, weights and optimizer state loaded into the
  model) against a bare ``safetensors`` load of those files into the model and copies;
- start: building a ``Trainer`` with the memory guard against building it without.

    THP_MEM_ALLOC_ENABLE=1 .venv/bin/python benchmarks/bench_checkpoint.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from rnnkit.models import SequenceModel
from rnnkit.training import RunConfig, Trainer
from rnnkit.training import checkpoint as ckpt


def median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def checkpoint_rows(hidden: int, repeat: int, root: Path) -> list[tuple[str, float, float]]:
    torch.manual_seed(0)
    model = SequenceModel(hidden, 10, cell="lstm", hidden_size=hidden, num_layers=2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3, hidden)).sum().backward()
    optimizer.step()  # Adam's moments exist: the trainer file is twice the weights
    params = sum(p.numel() for p in model.parameters())
    bare = root / "bare.safetensors", root / "bare-trainer.safetensors"
    step = iter(range(1, 10**6))

    def save_bare():  # the same tensors, written plainly: no temporary, fsync or digest
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, bare[0])
        moments = {f"{i}.{k}": v for i, s in optimizer.state_dict()["state"].items()
                   for k, v in s.items() if isinstance(v, torch.Tensor)}  # fmt: skip
        save_file(moments, bare[1])

    def save_full():
        ckpt.save_checkpoint(root / "run", step=next(step), model=model, optimizer=optimizer,
                             scheduler=None, state={}, best=False)  # fmt: skip

    def read_full():
        directory = ckpt.checkpoint_dir(root / "run", "last")
        ckpt.load_training_state(directory, model=model, optimizer=optimizer, scheduler=None)

    write = (median_s(save_full, repeat), median_s(save_bare, repeat))

    def read_bare():  # copied out: load_file maps the file and reads nothing until then
        model.load_state_dict(load_file(bare[0]))
        for tensor in load_file(bare[1]).values():
            tensor.clone()

    read = (median_s(read_full, repeat), median_s(read_bare, repeat))
    label = f"LSTM 2x{hidden} ({params / 1e6:.1f}M params)"
    return [(f"write {label}", *write), (f"read {label}", *read)]


def start_rows(repeat: int, root: Path) -> list[tuple[str, float, float]]:
    rows = []
    for name, overrides in [
        ("start adding T=1000, LSTM 128", dict(task="adding", seq_len=1000, cell="lstm")),
        ("start copy T=500, GRU 256", dict(task="copy", seq_len=500, cell="gru", hidden=256)),
    ]:
        runs = iter(range(10**6))

        def build(check: bool, runs=runs, overrides=overrides):
            config = RunConfig().replace(
                quiet=True, tensorboard=False, valid_size=100, test_size=100,
                memory_check=check, out=str(root / f"start-{next(runs)}"), **overrides,
            )  # fmt: skip
            Trainer(config)

        rows.append((name, median_s(lambda: build(True), repeat),
                     median_s(lambda: build(False), repeat)))  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = [row for h in args.hidden for row in checkpoint_rows(h, args.repeat, root)]
        rows += start_rows(args.repeat, root)
    print(f"{'':44s} {'rnnkit s':>9s} {'reference s':>12s} {'ratio':>6s}")
    for name, ours, reference in rows:
        print(f"{name:44s} {ours:9.3f} {reference:12.3f} {ours / reference:6.2f}")
    print("reference: a bare safetensors save/load of the same tensors (write, read); the same "
          "Trainer built with --no-memory-check (start)")  # fmt: skip


if __name__ == "__main__":
    main()
