"""Runs that die and checkpoints that are damaged (issue 10): a run SIGKILLed at random moments
and resumed each time ends exactly as an uninterrupted one; every damaged checkpoint is refused
with its own message; nothing is ever unpickled."""

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from rnnkit.errors import CheckpointError
from rnnkit.training import RunConfig, train
from rnnkit.training.checkpoint import checkpoint_dir, complete_dirs, load_tensors
from rnnkit.training.log import MetricsLog, read_metrics
from rnnkit.training.trainer import load_run

# A run of a few seconds: adding T=12, an LSTM with dropout (so the RNG state matters), Adam
# with a step schedule (so the scheduler's state matters), a checkpoint every 10 steps.
FLAGS = [
    "--task", "adding", "--seq-len", "12", "--valid-size", "64", "--test-size", "64",
    "--cell", "lstm", "--layers", "2", "--dropout", "0.2", "--hidden", "12",
    "--schedule", "step", "--step-size", "25", "--gamma", "0.5", "--lr", "0.01",
    "--steps", "120", "--batch-size", "16", "--eval-every", "10", "--eval-batch-size", "64",
    "--threads", "1", "--quiet", "--no-tensorboard",
]  # fmt: skip

# Runs `rnnkit train`, first arranging for the process to SIGKILL itself just before the Nth
# atomic rename of a checkpoint file (argv[1]; 0: never), i.e. with a temporary file written.
KILLER = """
import os, signal, sys
from rnnkit.training import checkpoint
n = int(sys.argv[1]); calls = [0]; replace = os.replace
def dying_replace(src, dst):
    calls[0] += 1
    if calls[0] == n:
        os.kill(os.getpid(), signal.SIGKILL)
    replace(src, dst)
checkpoint.os.replace = dying_replace
from rnnkit.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def start(
    run_dir: Path, *, resume: bool, die_at_write: int = 0, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    where = ["--resume", str(run_dir)] if resume else [*FLAGS, "--out", str(run_dir)]
    return subprocess.Popen(
        [sys.executable, "-c", KILLER, str(die_at_write), "train", *where, *extra],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        start_new_session=True,  # a process group of its own, as a job under a scheduler
    )


def rows_written(run_dir: Path) -> int:
    try:
        return (run_dir / "metrics.csv").read_text().count("\n") - 1
    except OSError:
        return 0


def kill_after(process: subprocess.Popen, run_dir: Path, step: int, pause: float) -> bool:
    """SIGKILL ``process`` ``pause`` seconds after metrics.csv reaches ``step`` rows; False if
    it finished first."""
    while rows_written(run_dir) < step:
        if process.poll() is not None:
            return False
        time.sleep(0.002)
    time.sleep(pause)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def finish(process: subprocess.Popen) -> None:
    _, err = process.communicate(timeout=120)
    if process.returncode == -signal.SIGKILL:
        return
    assert process.returncode == 0, err


def outcome(run_dir: Path):
    summary = json.loads((run_dir / "summary.json").read_text())
    history = [{k: v for k, v in r.items() if k != "time_s"} for r in read_metrics(run_dir)]
    weights = {
        which: load_tensors(checkpoint_dir(run_dir, which) / "model.safetensors")
        for which in ("best", "last")
    }
    return summary, history, weights


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The run never interrupted."""
    run_dir = tmp_path_factory.mktemp("whole") / "run"
    finish(start(run_dir, resume=False))
    return run_dir


def assert_same_end(run_dir: Path, whole: Path) -> None:
    summary, history, weights = outcome(run_dir)
    want_summary, want_history, want_weights = outcome(whole)
    assert history == want_history  # every step once, with the same numbers
    assert summary["test"] == want_summary["test"]
    assert summary["valid"] == want_summary["valid"]
    assert summary["best_step"] == want_summary["best_step"]
    for which, tensors in want_weights.items():
        for name, value in tensors.items():
            assert torch.equal(weights[which][name], value), (which, name)
    # No temporary file of a killed write survives.
    assert not list((run_dir / "checkpoints").rglob("*.tmp"))


def test_sigkill_at_random_moments_then_resume_ends_as_an_uninterrupted_run(tmp_path, whole):
    rng = random.Random(10)
    broken = tmp_path / "broken"
    process = start(broken, resume=False)
    kills = 0
    # Killed at random moments: during steps, evaluations and checkpoint writes alike.
    for step in sorted(rng.sample(range(5, 115), 3)):
        kills += kill_after(process, broken, step, rng.uniform(0, 0.05))
        process = start(broken, resume=True)
    # Killed in the middle of checkpoint writes: before the rename of a model file, of
    # state.json, of the pointer last.json (each checkpoint makes 4 renames).
    for nth in (1, 3, 4):
        process.wait()
        if (broken / "summary.json").exists():
            break
        process = start(broken, resume=True, die_at_write=nth)
        finish(process)
        kills += process.returncode == -signal.SIGKILL
        process = start(broken, resume=True)
    finish(process)
    assert kills >= 3  # the runs were killed, not merely restarted
    assert_same_end(broken, whole)


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "dataloader-workers"])
def test_sigterm_checkpoints_the_current_step_then_resume_ends_the_same(tmp_path, whole, workers):
    """A scheduler's pre-emption: SIGTERM to the job's process group (DataLoader workers
    included); the last step done is checkpointed."""
    run_dir = tmp_path / "run"
    process = start(run_dir, resume=False, extra=("--workers", str(workers)))
    last = run_dir / "checkpoints" / "last.json"
    while not (last.is_file() and json.loads(last.read_text())["step"] >= 30):
        assert process.poll() is None
        time.sleep(0.002)
    time.sleep(0.004)  # a step or two on, most likely between evaluations
    os.killpg(process.pid, signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    step = json.loads((run_dir / "checkpoints" / "last.json").read_text())["step"]
    assert 30 <= step < 120
    assert f"interrupted: stopped by SIGTERM after step {step}, checkpointed" in err
    assert rows_written(run_dir) == step
    finish(start(run_dir, resume=True, extra=("--workers", "0")))
    assert_same_end(run_dir, whole)


# Runs `rnnkit train`, first arranging for another process (as a scheduler would) to SIGTERM the
# run's whole process group, DataLoader workers included, at the moment argv[1] names: "start:0"
# as soon as the workers are forked, "step:N" during step N, "eval:N" during step N's evaluation,
# "save:N" as step N's checkpoint is written.
SIGNALLER = """
import os, signal, sys, time
from torch.utils.data import DataLoader
from rnnkit.training.trainer import Trainer
def term():  # from a child: torch's workers take a SIGTERM from their parent as a request to stop
    child = os.fork()
    if child == 0:
        os.killpg(0, signal.SIGTERM)
        os._exit(0)
    os.waitpid(child, 0)
def when(function, now):
    def hooked(*args, **kwargs):
        if now(args[0]):
            term()
        return function(*args, **kwargs)
    return hooked
where, n = sys.argv[1].split(":")
if where == "start":
    # The workers held up in torch's setup, after its SIGTERM handler is set and before
    # worker_init_fn runs: the signal comes while they are there.
    from torch.utils.data._utils import worker
    generate = worker._generate_state
    def slowly(*args):
        time.sleep(0.3)
        return generate(*args)
    worker._generate_state = slowly
    make = DataLoader.__iter__
    def started(loader):
        batches = make(loader)
        term()
        return batches
    DataLoader.__iter__ = started
else:
    name = {"step": "train_step", "eval": "_validate", "save": "_save_checkpoint"}[where]
    setattr(Trainer, name, when(getattr(Trainer, name), lambda self: self.step == int(n)))
from rnnkit.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def group_members(pgid: int) -> list[int]:
    """The processes left in process group ``pgid``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads /proc")
def test_sigterm_to_the_group_with_workers_stops_cleanly_at_any_moment(tmp_path):
    """Issue 20, a stress test: DataLoader workers ignore the group's SIGTERM and the training
    process stops them itself, so a pre-emption ends the same way whenever it comes: exit 130,
    rnnkit's one line, the step checkpointed, no traceback, no worker left behind. The runs go
    side by side, each signalled at its own moment."""
    moments = {"start:0": 1, "step:7": 7, "eval:10": 10, "save:20": 20}  # and the step it stops
    processes = {}
    for moment in moments:
        out = tmp_path / moment.replace(":", "")
        processes[moment] = subprocess.Popen(
            [sys.executable, "-c", SIGNALLER, moment, "train", *FLAGS, "--out", str(out),
             "--workers", "2"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
        )  # fmt: skip
    errs = {}
    try:
        for moment, process in processes.items():
            errs[moment] = process.communicate(timeout=90)[1]
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    for moment, step in moments.items():
        process, err = processes[moment], errs[moment]
        assert process.returncode == 130, (moment, err)
        line = f"rnnkit train: interrupted: stopped by SIGTERM after step {step}, checkpointed;"
        assert err.startswith(line) and err.count("\n") == 1, (moment, err)
        assert "Traceback" not in err and "DataLoader worker" not in err, (moment, err)
        last = tmp_path / moment.replace(":", "") / "checkpoints" / "last.json"
        assert json.loads(last.read_text())["step"] == step, moment
        assert group_members(process.pid) == [], moment


# -- damaged checkpoints ---------------------------------------------------------------------


def tiny(tmp_path, name="run", **overrides) -> RunConfig:
    base = dict(
        task="adding", seq_len=6, valid_size=32, test_size=32, cell="gru", hidden=8,
        steps=20, batch_size=8, eval_every=5, eval_batch_size=32, quiet=True,
        tensorboard=False, out=str(tmp_path / name),
    )  # fmt: skip
    return RunConfig().replace(**{**base, **overrides})


@pytest.fixture
def run_dir(tmp_path) -> Path:
    return train(tiny(tmp_path)).run_dir


def damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) - 7])
    elif how == "tampered":  # one byte of a weight changed, the size kept
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0x40]) + data[-2:])
    elif how == "pickle":  # what torch.save writes: a zip of pickles
        # Copies: safetensors maps the file, which must not be rewritten under the tensors.
        tensors = {k: v.clone() for k, v in load_tensors(path).items()}
        path.unlink()
        torch.save(tensors, path)
    elif how == "missing":
        path.unlink()


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("truncated", "bytes, the checkpoint recorded"),
        ("tampered", "contents differ from the SHA-256"),
        ("pickle", "bytes, the checkpoint recorded"),  # its size gives it away first
        ("missing", "missing from the checkpoint"),
    ],
)
def test_a_damaged_checkpoint_is_refused_with_its_reason(run_dir, how, message):
    directory = checkpoint_dir(run_dir, "best")
    damage(directory / "model.safetensors", how)
    with pytest.raises(CheckpointError, match=message) as info:
        load_run(run_dir)
    assert str(directory / "model.safetensors") in str(info.value)
    assert "\n" not in str(info.value)


def test_an_edited_state_json_is_refused(run_dir):
    path = checkpoint_dir(run_dir, "best") / "state.json"
    state = json.loads(path.read_text())
    state["task"] = 5  # valid JSON, nonsense to the task it would rebuild
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="state.json: contents differ from the digest"):
        load_run(run_dir)


def test_a_pickle_file_is_refused_without_being_unpickled(tmp_path, monkeypatch):
    import pickle

    path = tmp_path / "model.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    monkeypatch.setattr(pickle, "Unpickler", None)  # any unpickling would now fail loudly
    with pytest.raises(CheckpointError, match="a pickle .torch.save. file, refused"):
        load_tensors(path)
    path.write_bytes(pickle.dumps({"w": [0.0, 1.0]}, protocol=4))
    with pytest.raises(CheckpointError, match="a pickle .torch.save. file, refused"):
        load_tensors(path)


def test_a_damaged_last_checkpoint_names_the_intact_ones(run_dir):
    last = checkpoint_dir(run_dir, "last")
    damage(last / "trainer.safetensors", "tampered")
    with pytest.raises(CheckpointError) as info:
        train(resume=run_dir, steps=30)
    message = str(info.value)
    older = [p.name for p in complete_dirs(run_dir) if p != last]
    assert older and all(name in message for name in older)
    assert f"remove {last.name}" in message
    # Doing as told resumes from the newest intact checkpoint.
    for f in last.iterdir():
        f.unlink()
    last.rmdir()
    resumed = train(resume=run_dir, steps=30)
    assert resumed.summary["steps"] == 30


def test_a_lost_pointer_falls_back_to_the_newest_complete_checkpoint(run_dir):
    newest = complete_dirs(run_dir)[0]
    (run_dir / "checkpoints" / "last.json").write_text("{not json")
    assert checkpoint_dir(run_dir, "last") == newest


def test_a_half_written_directory_is_never_the_last(run_dir):
    root = run_dir / "checkpoints"
    partial = root / "step-0000099"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half")  # no state.json: not complete
    (root / "last.json").unlink()
    assert checkpoint_dir(run_dir, "last") != partial
    assert partial not in complete_dirs(run_dir)


def test_another_models_checkpoint_is_refused_naming_the_difference(tmp_path):
    gru = train(tiny(tmp_path, "gru")).run_dir
    lstm = train(tiny(tmp_path, "lstm", cell="lstm", hidden=8)).run_dir
    # Checkpoints copied from the GRU run into the LSTM run's directory.
    shutil.rmtree(lstm / "checkpoints")
    (gru / "checkpoints").rename(lstm / "checkpoints")
    with pytest.raises(CheckpointError, match="model.cell: checkpoint 'gru', this run 'lstm'"):
        load_run(lstm)
    with pytest.raises(CheckpointError, match="start a new run"):
        train(resume=lstm, steps=30)


def test_a_resume_may_change_regularization_but_not_the_architecture(run_dir):
    with pytest.raises(CheckpointError, match="model.hidden: checkpoint 8, this run 16"):
        train(resume=run_dir, steps=25, hidden=16)
    resumed = train(resume=run_dir, steps=25, dropout=0.1)
    assert resumed.summary["steps"] == 25


def test_keep_checkpoints_keeps_the_newest_k_and_the_best(tmp_path):
    config = tiny(tmp_path, steps=40, eval_every=5, keep_checkpoints=3, lr=0.5)
    run = train(config)
    names = sorted(p.name for p in (run.run_dir / "checkpoints").glob("step-*"))
    best = f"step-{run.summary['best_step']:07d}"
    assert names[-3:] == ["step-0000030", "step-0000035", "step-0000040"]
    assert set(names) == {best, "step-0000030", "step-0000035", "step-0000040"}


def test_a_run_killed_before_its_first_checkpoint_resumes_from_scratch(tmp_path):
    config = tiny(tmp_path, "whole")
    whole = train(config)
    early = Path(tmp_path / "early")
    early.mkdir()
    # What a run killed at step 3 leaves: its config and a few logged rows, no checkpoint.
    (early / "config.yaml").write_text((whole.run_dir / "config.yaml").read_text())
    (early / "metrics.csv").write_text("step,time_s\n1,0.1\n2,0.2\n3,0.")
    resumed = train(resume=early)
    assert resumed.summary["test"] == whole.summary["test"]
    assert [r["step"] for r in resumed.history] == [r["step"] for r in whole.history]


def test_resuming_drops_a_row_cut_short_by_a_crash(tmp_path):
    columns = ["step", "time_s", "loss"]
    log = MetricsLog(tmp_path, columns, tensorboard=False)
    for step in (1, 2, 3):
        log.write({"step": step, "time_s": 0.1 * step, "loss": 1.0 / step})
    log.close()
    with (tmp_path / "metrics.csv").open("a") as f:
        f.write("1")  # the start of step 4's row ("1..."): looks like step 1
    MetricsLog(tmp_path, columns, tensorboard=False, resume_step=3).close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]


def test_checkpoint_records_what_it_verifies(run_dir):
    state = json.loads((checkpoint_dir(run_dir, "last") / "state.json").read_text())
    for name in ("model.safetensors", "trainer.safetensors"):
        path = checkpoint_dir(run_dir, "last") / name
        assert state["files"][name]["bytes"] == path.stat().st_size
        assert state["files"][name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_best_pointer_left_behind_by_a_crash_is_put_right_on_resume(tmp_path):
    run = train(tiny(tmp_path, steps=20, eval_every=5, lr=0.05))
    best = run.summary["best_step"]
    root = run.run_dir / "checkpoints"
    older = next(p for p in complete_dirs(run.run_dir) if p.name != f"step-{best:07d}")
    # Killed after last.json named the new best directory, before best.json did.
    (root / "best.json").write_text(json.dumps({"dir": older.name, "step": 0}))
    from rnnkit.training import Trainer

    Trainer(run.config.replace(steps=25), resume=True)
    assert checkpoint_dir(run.run_dir, "best").name == f"step-{best:07d}"


def test_step_directories_are_ordered_by_step_not_by_name(tmp_path):
    root = tmp_path / "checkpoints"
    for step in (9_999_990, 10_000_000, 20):
        (root / f"step-{step:07d}").mkdir(parents=True)
        (root / f"step-{step:07d}" / "state.json").write_text("{}")
    assert [p.name for p in complete_dirs(tmp_path)] == [
        "step-10000000", "step-9999990", "step-0000020",
    ]  # fmt: skip
    assert checkpoint_dir(tmp_path, "last").name == "step-10000000"
