"""Data-parallel training: two gloo workers on loopback take the same step as one process on the
combined batch, their checkpoint loads in one process, a killed worker ends the job with a
message naming it (not a hang), and each worker gets its share of every batch."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rnnkit.cli.main import _without_flag, main
from rnnkit.tasks.base import rows
from rnnkit.training.config import RunConfig
from rnnkit.training.trainer import Trainer, load_run

SRC = str(Path(__file__).resolve().parents[2] / "src")
TRAIN = ["train", "--task", "adding", "--seq-len", "12", "--hidden", "8", "--quiet",
         "--no-tensorboard"]  # fmt: skip


def rnnkit(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "rnnkit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def weights(run: Path, step: int) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoints" / f"step-{step:07d}" / "model.safetensors")


def test_two_workers_take_the_step_of_one_process_on_the_whole_batch(tmp_path):
    args = [*TRAIN, "--steps", "2", "--eval-every", "1", "--batch-size", "8"]
    two = rnnkit(*args, "--nproc", "2", "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr
    trainer = Trainer(RunConfig().replace(
        task="adding", seq_len=12, hidden=8, steps=2, eval_every=1, batch_size=8, quiet=True,
        tensorboard=False, out=str(tmp_path / "one"),
    ))  # fmt: skip
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    one = trainer.fit()
    a, b = weights(tmp_path / "two", 2), weights(tmp_path / "one", 2)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-5, atol=1e-6, msg=name)
    # Trained and initial weights differ: the comparison above is not of two untouched models.
    assert not torch.equal(a["encoder.cells.0.weight_hh"], initial["encoder.cells.0.weight_hh"])
    # Rank 0 alone wrote the run, and its checkpoint loads in one process.
    _, _, model = load_run(tmp_path / "two")
    summary = (tmp_path / "two" / "summary.json").read_text()
    assert '"steps": 2' in summary and one.summary["steps"] == 2
    assert sum(p.numel() for p in model.parameters()) == one.summary["parameters"]
    history = (tmp_path / "two" / "metrics.csv").read_text().splitlines()
    assert len(history) == 3  # the header and one row per step, not one per worker


@pytest.mark.parametrize("target", ["worker", "launcher"])
def test_a_killed_process_ends_the_job_with_a_message_and_the_checkpoint_intact(target, tmp_path):
    # A worker killed outright (SIGKILL: the launcher names its rank), or the launcher told to
    # stop (SIGTERM, as a job scheduler does: one line, no traceback from torch's launcher).
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "rnnkit", *TRAIN, "--steps", "1000000", "--eval-every", "20",
           "--batch-size", "8", "--nproc", "2", "--out", str(out)]  # fmt: skip
    launcher = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while not (out / "checkpoints" / "last.json").exists():
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            assert launcher.poll() is None, launcher.stderr.read()
            time.sleep(0.2)
        workers = {}
        for pid in Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            rank = next(int(e[5:]) for e in environ if e.startswith(b"RANK="))
            workers[rank] = int(pid)
        if target == "worker":
            os.kill(workers[1], 9)
        else:
            launcher.terminate()
        _, stderr = launcher.communicate(timeout=60)  # a hang fails here
    finally:
        launcher.kill()
    assert launcher.returncode == 1
    lines = stderr.strip().splitlines()
    expected = {"worker": "worker rank 1 of 2 was killed by SIGKILL",
                "launcher": "stopped by SIGTERM"}  # fmt: skip
    assert lines[-1].startswith(f"rnnkit train: {expected[target]}"), stderr
    assert f"the last checkpoint in {out} is intact" in lines[-1]
    assert "Traceback" not in stderr
    _, _, model = load_run(out, which="last")  # the checkpoint is whole
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_batch_that_does_not_split_evenly_is_refused(tmp_path):
    result = rnnkit(*TRAIN, "--steps", "1", "--batch-size", "7", "--nproc", "2",
                    "--out", str(tmp_path / "r"))  # fmt: skip
    assert result.returncode == 1
    assert "train.batch_size: 7 does not split evenly over 2 workers" in result.stderr


def test_rows_split_tensors_lists_and_named_tuples_into_equal_parts():
    from rnnkit.tasks.translate import Seq2SeqInputs

    x = torch.arange(12).view(6, 2)
    parts = [rows(x, r, 3) for r in range(3)]
    assert torch.equal(torch.cat(parts), x) and all(p.shape == (2, 2) for p in parts)
    assert rows([1, 2, 3, 4], 1, 2) == [3, 4]
    inputs = Seq2SeqInputs(torch.zeros(4, 5), torch.arange(4), torch.ones(4, 3))
    half = rows(inputs, 1, 2)
    assert isinstance(half, Seq2SeqInputs)
    assert torch.equal(half.src_lengths, torch.tensor([2, 3])) and half.tgt_in.shape == (2, 3)
    assert rows(x, 0, 1) is x
    with pytest.raises(TypeError, match="cannot split a batch of type dict"):
        rows({"a": 1}, 0, 2)


def test_tree_workers_share_out_the_trees_of_each_batch():
    from rnnkit.tasks import build_task

    task = build_task(RunConfig().replace(task="listops", train_size=200, valid_size=20,
                                          test_size=20, seq_len=30).task)  # fmt: skip
    task.load()
    whole, _ = task.train_batch(3, 8, 0)
    parts = [task.train_batch_part(3, 8, 0, r, 2)[0] for r in range(2)]
    assert [len(p.roots) for p in parts] == [4, 4]
    assert sum(p.num_nodes for p in parts) == whole.num_nodes
    labels = torch.cat([p.labels[p.roots] for p in parts])
    assert torch.equal(labels, whole.labels[whole.roots])


def test_the_launcher_drops_only_the_nproc_flag():
    argv = ["train", "--nproc", "2", "--steps", "3", "--nproc=4", "--hidden", "8"]
    assert _without_flag(argv, "--nproc") == ["train", "--steps", "3", "--hidden", "8"]


def test_more_cuda_workers_than_gpus_is_refused_before_any_starts(tmp_path, monkeypatch, capsys):
    # NCCL cannot put two ranks on one GPU; without the check the second worker fails deep
    # inside torch.cuda.set_device.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    out = tmp_path / "run"
    assert main([*TRAIN, "--device", "cuda", "--nproc", "2", "--out", str(out)]) != 0
    err = capsys.readouterr().err
    assert "one GPU per worker: 2 workers" in err and "1 GPU(s) visible" in err
    assert not out.exists()
