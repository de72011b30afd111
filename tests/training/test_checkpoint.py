"""Checkpoints: atomic files, weights that must match, trainer state that round-trips."""

import json
import random

import numpy as np
import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from rnnkit.models import SequenceModel
from rnnkit.training.checkpoint import (
    CheckpointError,
    atomic_save_tensors,
    atomic_write_text,
    checkpoint_dir,
    load_model_weights,
    load_tensors,
    load_training_state,
    save_checkpoint,
)


def model(hidden=4):
    return SequenceModel(2, 1, cell="gru", hidden_size=hidden)


def test_atomic_write_text_leaves_only_the_file(tmp_path):
    path = tmp_path / "sub" / "a.json"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second ü")
    assert path.read_text(encoding="utf-8") == "second ü"
    assert [p.name for p in path.parent.iterdir()] == ["a.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.txt"
    atomic_write_text(path, "old")
    with pytest.raises(AttributeError):
        atomic_write_text(path, None)  # fails inside the write
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_atomic_save_tensors_round_trips(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5), "c": torch.randn(4, 3).t()}
    path = tmp_path / "t.safetensors"
    atomic_save_tensors(path, tensors)
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]
    loaded = load_tensors(path)
    assert loaded.keys() == tensors.keys()
    for k, v in tensors.items():
        assert torch.equal(loaded[k], v)


def test_load_model_weights_names_missing_and_unexpected_keys(tmp_path):
    source = model()
    state = dict(source.state_dict())
    dropped = sorted(state)[0]
    del state[dropped]
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "model.safetensors"
    atomic_save_tensors(path, state)
    with pytest.raises(CheckpointError) as info:
        load_model_weights(model(), path)
    message = str(info.value)
    assert str(path) in message
    assert f"missing {dropped}" in message
    assert "unexpected extra.weight" in message


def test_load_model_weights_names_wrong_shapes(tmp_path):
    path = tmp_path / "model.safetensors"
    atomic_save_tensors(path, model(hidden=4).state_dict())
    with pytest.raises(CheckpointError) as info:
        load_model_weights(model(hidden=5), path)
    message = str(info.value)
    assert "has shape (4," in message or "has shape (12," in message
    assert "the model expects" in message


def test_load_model_weights_loads_the_values(tmp_path):
    source, target = model(), model()
    path = tmp_path / "model.safetensors"
    atomic_save_tensors(path, source.state_dict())
    load_model_weights(target, path)
    for (k, a), b in zip(source.state_dict().items(), target.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "missing"])
def test_a_damaged_weights_file_is_a_checkpoint_error(tmp_path, damage):
    path = tmp_path / "model.safetensors"
    atomic_save_tensors(path, model().state_dict())
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"this is not a safetensors file at all" * 3)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    with pytest.raises(CheckpointError) as info:
        load_model_weights(model(), path)
    assert str(path) in str(info.value)


def trained(seed):
    """A model, Adam with state from two steps, and a stepped LambdaLR."""
    torch.manual_seed(seed)
    net = model()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    scheduler = LambdaLR(optimizer, lambda i: 0.5**i)
    for _ in range(2):
        optimizer.zero_grad()
        net(torch.randn(3, 5, 2)).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
    return net, optimizer, scheduler


def test_trainer_state_round_trips(tmp_path):
    net, optimizer, scheduler = trained(0)
    random.seed(5)
    np.random.seed(6)
    directory = save_checkpoint(
        tmp_path, step=2, model=net, optimizer=optimizer, scheduler=scheduler,
        state={"note": "hello"}, best=True,
    )  # fmt: skip
    after_save = (torch.rand(4), random.random(), np.random.rand())

    net2, optimizer2, scheduler2 = trained(1)  # different weights and moments
    state = load_training_state(directory, model=net2, optimizer=optimizer2, scheduler=scheduler2)
    after_restore = (torch.rand(4), random.random(), np.random.rand())
    assert torch.equal(after_restore[0], after_save[0])
    assert after_restore[1:] == after_save[1:]

    assert state["step"] == 2 and state["note"] == "hello"
    for a, b in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(a, b)
    saved, restored = optimizer.state_dict(), optimizer2.state_dict()
    # JSON has no tuples: betas come back as a list, which Adam reads the same way.
    assert saved["param_groups"] == [
        {k: tuple(v) if k == "betas" else v for k, v in group.items()}
        for group in restored["param_groups"]
    ]
    assert saved["state"].keys() == restored["state"].keys()
    for index, values in saved["state"].items():
        assert set(values) == {"step", "exp_avg", "exp_avg_sq"}
        for key, value in values.items():
            assert torch.equal(
                torch.as_tensor(value), torch.as_tensor(restored["state"][index][key])
            )
    assert scheduler2.last_epoch == 2
    assert optimizer2.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.25)
    # The optimizers now take the same next step.
    x = torch.randn(3, 5, 2)
    for net_, opt in ((net, optimizer), (net2, optimizer2)):
        opt.zero_grad()
        net_(x).pow(2).mean().backward()
        opt.step()
    for a, b in zip(net.parameters(), net2.parameters(), strict=True):
        assert torch.equal(a, b)


def test_trainer_state_of_another_model_is_a_checkpoint_error(tmp_path):
    net, optimizer, scheduler = trained(0)
    directory = save_checkpoint(
        tmp_path, step=1, model=net, optimizer=optimizer, scheduler=scheduler, state={},
        best=False,
    )  # fmt: skip
    other = model(hidden=5)
    with pytest.raises(CheckpointError, match="the model expects"):
        load_training_state(
            directory, model=other, optimizer=torch.optim.Adam(other.parameters()),
            scheduler=None,
        )  # fmt: skip


def test_old_step_directories_go_and_best_stays(tmp_path):
    net, optimizer, scheduler = trained(0)

    def save(step, best):
        save_checkpoint(
            tmp_path, step=step, model=net, optimizer=optimizer, scheduler=scheduler,
            state={}, best=best,
        )  # fmt: skip
        return sorted(p.name for p in (tmp_path / "checkpoints").glob("step-*"))

    root = tmp_path / "checkpoints"
    assert save(1, best=False) == ["step-0000001"]
    assert checkpoint_dir(tmp_path, "best") == root / "step-0000001"  # falls back to last
    assert save(2, best=True) == ["step-0000002"]
    assert save(3, best=False) == ["step-0000002", "step-0000003"]
    assert save(4, best=False) == ["step-0000002", "step-0000004"]
    assert checkpoint_dir(tmp_path, "best") == root / "step-0000002"
    assert checkpoint_dir(tmp_path, "last") == root / "step-0000004"
    assert json.loads((root / "last.json").read_text()) == {"dir": "step-0000004", "step": 4}
    assert save(5, best=True) == ["step-0000005"]
    assert not list(root.glob(".*tmp"))
    for step_dir in root.glob("step-*"):
        assert sorted(p.name for p in step_dir.iterdir()) == [
            "model.safetensors", "state.json", "trainer.safetensors",
        ]  # fmt: skip


def test_checkpoint_dir_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoints directory"):
        checkpoint_dir(tmp_path)
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match="no complete best checkpoint"):
        checkpoint_dir(tmp_path, "best")


def test_atomic_writes_get_the_mode_a_plain_open_would(tmp_path):
    from rnnkit.training.checkpoint import atomic_write_text

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode
