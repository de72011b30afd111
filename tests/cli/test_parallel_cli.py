"""Processes and parallel cells from the command line: ``predict --workers``, ``train --workers``
(batches made ahead in other processes), and the minGRU/minLSTM options."""

from __future__ import annotations

import csv
import json

import pytest
import torch

from rnnkit.cli.main import main

TINY = [
    "--task", "adding", "--seq-len", "6", "--hidden", "4", "--steps", "6", "--eval-every", "3",
    "--batch-size", "8", "--valid-size", "32", "--test-size", "32", "--quiet", "--no-tensorboard",
]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("parallel") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def losses(run) -> list[float]:
    with open(run / "metrics.csv") as f:
        return [float(row["loss"]) for row in csv.DictReader(f)]


def test_predict_in_two_processes_writes_what_one_does_in_input_order(run_dir, tmp_path):
    gen = torch.Generator().manual_seed(0)
    lines = []
    for _ in range(37):  # batches of 5: the last one short
        T = int(torch.randint(1, 12, (1,), generator=gen))
        lines.append(json.dumps(torch.rand(T, 2, generator=gen).tolist()))
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(lines) + "\n")
    outs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}.jsonl"
        args = ["predict", str(run_dir), "--input", str(src), "--output", str(out)]
        assert main([*args, "--batch-size", "5", "--workers", workers]) == 0
        outs[workers] = out.read_text().splitlines()
    assert outs["1"] == outs["2"] and len(outs["2"]) == 37
    # In order: each line is the prediction for the same line of the input, made alone.
    single = tmp_path / "single.jsonl"
    single.write_text(lines[23] + "\n")
    main(["predict", str(run_dir), "--input", str(single), "--output", str(tmp_path / "s.jsonl")])
    assert (tmp_path / "s.jsonl").read_text().splitlines()[0] == outs["2"][23]


def test_predict_refuses_zero_workers(run_dir, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("[[0.5, 1.0]]\n")
    assert main(["predict", str(run_dir), "--input", str(src), "--workers", "0"]) == 2
    assert "--workers: expected a positive number of processes, got 0" in capsys.readouterr().err


def test_batches_made_in_worker_processes_train_exactly_alike(tmp_path):
    assert main(["train", *TINY, "--out", str(tmp_path / "a")]) == 0
    assert main(["train", *TINY, "--workers", "2", "--out", str(tmp_path / "b")]) == 0
    assert losses(tmp_path / "a") == losses(tmp_path / "b")


@pytest.mark.parametrize("cell", ["mingru", "minlstm"])
def test_minimal_cells_train_from_the_command_line(cell, tmp_path):
    out = tmp_path / cell
    args = ["--cell", cell, "--scan", "chunked", "--chunk-size", "4", "--block", "--layers", "2"]
    assert main(["train", *TINY, *args, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cell"] == cell and summary["steps"] == 6
    assert all(v == v for v in losses(out))  # finite, not NaN


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--cell", "lstm", "--scan", "chunked"],
            "model.scan: only for cells 'mingru' and 'minlstm'",
        ),
        (["--cell", "gru", "--block"], "model.block: only for cells 'mingru' and 'minlstm'"),
        (["--cell", "mingru", "--init", "orthogonal"], "model.init: 'orthogonal' sets recurrent"),
        (
            ["--cell", "mingru", "--chunk-size", "0"],
            "model.chunk_size: expected a number > 0, got 0",
        ),
    ],
)
def test_minimal_cell_options_are_checked(args, message, tmp_path, capsys):
    assert main(["train", *TINY, *args, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_predict_workers_do_not_run_out_of_file_descriptors(run_dir, tmp_path):
    """Sequences travel to the workers by value: with tensors, each one would hold a shared-
    memory file descriptor, and 600 of them exceed a limit of 256."""
    import os
    import resource
    import subprocess
    import sys
    from pathlib import Path

    src = tmp_path / "in.jsonl"
    src.write_text("[[0.5, 1.0], [0.25, 0.0]]\n" * 600)
    out = tmp_path / "out.jsonl"

    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "rnnkit", "predict", str(run_dir), "--input", str(src),
         "--output", str(out), "--workers", "2", "--batch-size", "1"],  # fmt: skip
        env=env, capture_output=True, text=True, timeout=120, preexec_fn=limit,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(set(out.read_text().splitlines())) == 1  # 600 identical inputs, one answer
