"""The trainer: it learns, clips, resumes exactly, logs, stops, keeps the best checkpoint and
gives up on non-finite losses with a message."""

import copy
import csv
import json
import math

import pytest
import torch
from torch.nn import functional as F

from rnnkit.cells.base import detach
from rnnkit.tasks.adding import BASELINE_MSE
from rnnkit.training import ConfigError, RunConfig, Trainer, evaluate, train
from rnnkit.training.checkpoint import read_json
from rnnkit.training.config import TrainConfig
from rnnkit.training.log import read_metrics
from rnnkit.training.trainer import load_run

MAX_NONFINITE = TrainConfig().max_nonfinite


def tiny(tmp_path, name="run", **overrides) -> RunConfig:
    """A run small enough for a unit test: adding T=6, GRU H=8, 10 steps."""
    base = dict(
        task="adding",
        seq_len=6,
        valid_size=64,
        test_size=64,
        cell="gru",
        hidden=8,
        lr=1e-2,
        steps=10,
        batch_size=16,
        eval_every=5,
        eval_batch_size=64,
        quiet=True,
        tensorboard=False,
        out=str(tmp_path / name),
    )
    return RunConfig().replace(**{**base, **overrides})


def csv_rows(run_dir):
    with (run_dir / "metrics.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


# -- (a) and (d): one real run, inspected several ways -------------------------------------------


@pytest.fixture(scope="module")
def learned(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("learned")
    config = tiny(
        out, hidden=16, steps=150, batch_size=32, eval_every=25, valid_size=200,
        test_size=200, eval_batch_size=200, tensorboard=True,
    )  # fmt: skip
    return train(config)


def test_training_lowers_the_loss(learned):
    losses = [row["loss"] for row in learned.history]
    assert len(losses) == 150
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.25 * first
    assert learned.summary["valid"]["mse"] < 0.5 * BASELINE_MSE
    assert learned.summary["test"]["mse"] < 0.5 * BASELINE_MSE


def test_metrics_csv_has_one_row_per_step_and_valid_columns_at_evaluations(learned):
    columns, rows = csv_rows(learned.run_dir)
    assert columns == [
        "step", "time_s", "lr", "loss", "grad_norm", "grad_norm_clipped", "valid_loss",
        "valid_mse",
    ]  # fmt: skip
    assert [int(r["step"]) for r in rows] == list(range(1, 151))
    evaluated = [int(r["step"]) for r in rows if r["valid_mse"] != ""]
    assert evaluated == [25, 50, 75, 100, 125, 150]
    for r in rows:
        assert float(r["lr"]) == pytest.approx(1e-2)
        assert float(r["grad_norm"]) > 0
        assert float(r["grad_norm_clipped"]) == float(r["grad_norm"])  # clip 0: no clipping
        if r["valid_mse"]:
            assert float(r["valid_mse"]) == float(r["valid_loss"])  # adding: the loss is MSE
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times)
    assert learned.history == read_metrics(learned.run_dir)


def test_tensorboard_summary_and_plot(learned):
    run_dir = learned.run_dir
    events = list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
    assert (run_dir / "loss.png").stat().st_size > 0
    assert (run_dir / "config.yaml").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary == learned.summary
    for key in ("test", "valid", "steps", "wall_time_s", "parameters", "target", "stopped"):
        assert key in summary
    assert summary["steps"] == 150 and summary["stopped"] == "completed"
    assert summary["parameters"] == sum(p.numel() for p in learned.model.parameters())
    assert summary["target"]["metric"] == "mse" and summary["target"]["threshold"] == 0.01
    assert summary["wall_time_s"] > 0
    # The test metrics are those of the returned (best) model on the test set.
    again = evaluate(learned.model, learned.task, "test", batch_size=200)
    assert again["mse"] == pytest.approx(summary["test"]["mse"], rel=1e-5)


def test_best_checkpoint_is_the_best_validation_step(learned):
    rows = [r for r in learned.history if "valid_mse" in r]
    best = min(rows, key=lambda r: r["valid_mse"])
    pointer = read_json(learned.run_dir / "checkpoints" / "best.json")
    assert pointer["step"] == int(best["step"]) == learned.summary["best_step"]
    last = read_json(learned.run_dir / "checkpoints" / "last.json")
    assert last["step"] == 150
    # The best checkpoint's weights score exactly what was logged at that step.
    _, task, model = load_run(learned.run_dir, which="best")
    assert evaluate(model, task, "valid")["mse"] == pytest.approx(best["valid_mse"], rel=1e-5)


def test_best_checkpoint_when_validation_gets_worse(tmp_path):
    # A learning rate far too high: the validation error wanders, and the best is kept.
    run = train(tiny(tmp_path, lr=0.5, optimizer="sgd", steps=30, eval_every=3))
    rows = [r for r in run.history if "valid_mse" in r]
    best = min(rows, key=lambda r: r["valid_mse"])
    assert run.summary["best_step"] == int(best["step"])
    assert read_json(run.run_dir / "checkpoints" / "best.json")["step"] == int(best["step"])
    assert run.summary["valid"]["mse"] == pytest.approx(best["valid_mse"], rel=1e-5)


# -- (b) clipping ----------------------------------------------------------------------------


def raw_and_clipped(tmp_path, **overrides):
    """Gradients of one batch before clipping, and the trainer's gradients after its step."""
    trainer = Trainer(tiny(tmp_path, **overrides))
    x, y = trainer.task.train_batch(1, 16, 0)
    trainer.optimizer.zero_grad()
    trainer._forward_backward(x, y)
    raw = [p.grad.clone() for p in trainer.params]
    row = trainer.train_step(x, y)
    return raw, [p.grad for p in trainer.params], row


def test_clip_by_global_norm(tmp_path):
    clip = 0.05
    raw, clipped, row = raw_and_clipped(tmp_path, clip=clip)
    norm = torch.linalg.vector_norm(torch.cat([g.flatten() for g in raw])).item()
    assert row["grad_norm"] == pytest.approx(norm, rel=1e-5)
    assert norm > clip
    for r, c in zip(raw, clipped, strict=True):
        torch.testing.assert_close(c, r * (clip / norm), rtol=1e-4, atol=1e-7)
    assert row["grad_norm_clipped"] == pytest.approx(clip, rel=1e-4)


def test_clip_by_value(tmp_path):
    value = 0.01
    raw, clipped, row = raw_and_clipped(tmp_path, clip_value=value)
    assert max(g.abs().max().item() for g in raw) > value
    for r, c in zip(raw, clipped, strict=True):
        assert c.abs().max().item() <= value
        torch.testing.assert_close(c, r.clamp(-value, value))
    expected = torch.linalg.vector_norm(torch.cat([g.flatten() for g in clipped])).item()
    assert row["grad_norm_clipped"] == pytest.approx(expected, rel=1e-5)
    assert row["grad_norm_clipped"] < row["grad_norm"]


def test_logged_clipped_norm_never_exceeds_clip(tmp_path):
    clip = 0.05
    run = train(tiny(tmp_path, clip=clip, steps=12))
    norms = [(r["grad_norm"], r["grad_norm_clipped"]) for r in run.history]
    assert all(c <= clip * (1 + 1e-5) for _, c in norms)
    assert any(n > clip for n, _ in norms)
    for n, c in norms:
        assert c == pytest.approx(min(n, clip), rel=1e-4)


def test_no_clipping_logs_the_same_norm(tmp_path):
    raw, grads, row = raw_and_clipped(tmp_path, clip=0.0, clip_value=0.0)
    assert row["grad_norm_clipped"] == row["grad_norm"]
    for r, g in zip(raw, grads, strict=True):
        torch.testing.assert_close(g, r)


# -- (c) resume ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd", "momentum": 0.9, "schedule": "step", "step_size": 4, "gamma": 0.5},
        {"optimizer": "adam", "schedule": "constant"},
    ],
    ids=["sgd-momentum-step", "adam-constant"],
)
def test_resume_continues_exactly(tmp_path, options):
    common = dict(cell="lstm", layers=2, dropout=0.3, hidden=6, lr=2e-2, **options)
    whole = train(tiny(tmp_path, "whole", steps=20, **common))
    half = train(tiny(tmp_path, "half", steps=10, **common))
    assert half.summary["steps"] == 10
    # A crash after step 10's checkpoint may have logged steps 11-12: resuming drops them.
    with (half.run_dir / "metrics.csv").open("a", newline="") as f:
        f.write("11,0.1,0.5,9.0,1.0,1.0,,\n12,0.1,0.5,9.0,1.0,1.0,,\n")
    resumed = train(resume=half.run_dir, steps=20)

    assert [r["step"] for r in resumed.history] == list(range(1, 21))
    for key in ("loss", "lr", "grad_norm"):
        assert [r[key] for r in resumed.history] == [r[key] for r in whole.history], key
    valid = [(r["step"], r["valid_mse"]) for r in whole.history if "valid_mse" in r]
    assert [(r["step"], r["valid_mse"]) for r in resumed.history if "valid_mse" in r] == valid
    assert resumed.summary["test"] == whole.summary["test"]
    assert resumed.summary["steps"] == 20
    # The resumed run's saved config says 20 steps.
    assert resumed.config.train.steps == 20


def test_dropout_draws_from_the_global_rng(tmp_path):
    """Guard for the test above: its runs depend on the RNG state a checkpoint restores."""
    config = tiny(tmp_path, cell="lstm", layers=2, dropout=0.3, hidden=6)
    losses = []
    for reseed in (False, True):
        trainer = Trainer(config)
        x, y = trainer.task.train_batch(1, 16, 0)
        if reseed:
            torch.manual_seed(123)  # same weights, another dropout stream
        losses.append(trainer.train_step(x, y)["loss"])
    assert losses[0] != losses[1]


def test_an_existing_run_dir_is_not_overwritten(tmp_path):
    config = tiny(tmp_path, steps=2, eval_every=2)
    train(config)
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(config)
    with pytest.raises(ConfigError, match="resume"):
        train(config, resume=config.train.out)
    run = train(resume=config.train.out, steps=4)  # resuming is allowed
    assert run.summary["steps"] == 4


# -- (e) stopping ----------------------------------------------------------------------------


def test_early_stopping(tmp_path):
    # SGD with lr 1e-9 changes no float32 weight: the first evaluation stays the best.
    config = tiny(
        tmp_path, optimizer="sgd", lr=1e-9, steps=40, eval_every=2, early_stopping="mse",
        early_stopping_patience=2,
    )  # fmt: skip
    run = train(config)
    assert run.summary["stopped"] == "early_stopping"
    assert run.summary["steps"] == 6  # best at 2, no better at 4 and 6
    assert run.summary["best_step"] == 2
    assert len(run.history) == 6


def test_early_stopping_needs_a_metric_of_the_task(tmp_path):
    with pytest.raises(ConfigError, match="train.early_stopping: task 'adding' has no metric"):
        Trainer(tiny(tmp_path, early_stopping="accuracy"))


def test_stop_at_target(tmp_path):
    trainer = Trainer(tiny(tmp_path, steps=40, eval_every=3, stop_at_target=True))
    trainer.task.target = ("mse", 100.0)  # met by any model
    run = trainer.fit()
    assert run.summary["stopped"] == "target"
    assert run.summary["steps"] == 3
    assert run.summary["target"]["reached"]["step"] == 3


def test_target_is_recorded_without_stopping(tmp_path):
    trainer = Trainer(tiny(tmp_path, steps=6, eval_every=3))
    trainer.task.target = ("mse", 100.0)
    run = trainer.fit()
    assert run.summary["stopped"] == "completed" and run.summary["steps"] == 6
    assert run.summary["target"]["reached"]["step"] == 3


def test_max_time(tmp_path):
    run = train(tiny(tmp_path, steps=40, max_time=1e-9))
    assert run.summary["stopped"] == "max_time"
    assert run.summary["steps"] == 1
    assert [r["step"] for r in run.history] == [1]
    assert "valid_mse" in run.history[0]  # a stopped run is still validated and checkpointed


# -- (g) truncated BPTT ----------------------------------------------------------------------


def test_tbptt_on_tagging_equals_detached_chunks(tmp_path):
    k = 5
    trainer = Trainer(tiny(tmp_path, task="copy", seq_len=3, tbptt=k))
    x, y = trainer.task.train_batch(1, 4, 0)  # (4, 23, 10)
    T = x.shape[1]
    assert T % k != 0  # a shorter last chunk
    model = trainer.model
    reference = copy.deepcopy(model)

    model.zero_grad()
    loss = trainer._forward_backward(x, y)
    grads = [p.grad.clone() for p in model.parameters()]

    # By hand: the chunks in one graph, the state cut between them, the loss over all T steps.
    reference.zero_grad()
    outputs, state = [], None
    for start in range(0, T, k):
        out, state = reference.encode(x[:, start : start + k], state=state)
        outputs.append(out)
        state = detach(state)
    logits = reference.decode(torch.cat(outputs, dim=1))
    manual = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    manual.backward()
    assert loss == pytest.approx(manual.item(), rel=1e-5)
    for g, p in zip(grads, reference.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)

    # Full backpropagation gives other gradients: the truncation is real.
    reference.zero_grad()
    F.cross_entropy(reference(x).flatten(0, 1), y.flatten()).backward()
    differs = [
        not torch.allclose(g, p.grad, rtol=1e-4, atol=1e-6)
        for g, p in zip(grads, reference.parameters(), strict=True)
    ]
    assert any(differs)


def test_tbptt_on_a_sequence_task_backpropagates_the_last_chunk(tmp_path):
    k = 3
    trainer = Trainer(tiny(tmp_path, seq_len=8, tbptt=k))
    x, y = trainer.task.train_batch(1, 4, 0)
    model = trainer.model
    reference = copy.deepcopy(model)
    model.zero_grad()
    loss = trainer._forward_backward(x, y)

    reference.zero_grad()
    full = F.mse_loss(reference(x).squeeze(-1), y)
    assert loss == pytest.approx(full.item(), rel=1e-5)  # same forward value
    # Only the last k steps carry gradient: the input at step T-k-1 gets none.
    x_leaf = x.clone().requires_grad_(True)
    with torch.no_grad():
        _, state = reference.encode(x_leaf[:, :-k])
    out, _ = reference.encode(x_leaf[:, -k:], state=state)
    F.mse_loss(reference.decode(out).squeeze(-1), y).backward()
    assert x_leaf.grad[:, : 8 - k].abs().sum() == 0
    assert x_leaf.grad[:, -k:].abs().sum() > 0
    for p, q in zip(model.parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6)


def test_tbptt_with_mean_pooling_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="train.tbptt: .* pooling must be 'last', got 'mean'"):
        Trainer(tiny(tmp_path, tbptt=3, pooling="mean"))
    with pytest.raises(ConfigError, match="train.tbptt: not with a bidirectional model"):
        Trainer(tiny(tmp_path, tbptt=3, bidirectional=True))


# -- (h) bf16, (i) determinism ---------------------------------------------------------------


def test_bf16_runs_with_finite_losses(tmp_path):
    run = train(tiny(tmp_path, precision="bf16", steps=4, eval_every=2))
    losses = [r["loss"] for r in run.history]
    assert len(losses) == 4 and all(math.isfinite(v) for v in losses)
    assert all(math.isfinite(v) for v in run.summary["test"].values())


@pytest.fixture
def restore_determinism():
    yield
    torch.use_deterministic_algorithms(False)


def test_deterministic_runs_are_identical(tmp_path, restore_determinism):
    options = dict(deterministic=True, layers=2, dropout=0.2, steps=6, eval_every=3)
    a = train(tiny(tmp_path, "a", **options))
    assert torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(999)  # the run seeds itself
    b = train(tiny(tmp_path, "b", **options))
    strip = [{k: v for k, v in r.items() if k != "time_s"} for r in a.history]
    assert strip == [{k: v for k, v in r.items() if k != "time_s"} for r in b.history]
    assert a.summary["test"] == b.summary["test"]


# -- (j) non-finite losses -------------------------------------------------------------------


def test_non_finite_losses_stop_with_the_run_dir(tmp_path):
    trainer = Trainer(tiny(tmp_path, steps=40))
    before = [p.detach().clone() for p in trainer.params]
    original = trainer.task.loss
    trainer.task.loss = lambda output, y: original(output, y) * float("nan")
    with pytest.raises(FloatingPointError) as info:
        trainer.fit()
    message = str(info.value)
    assert str(trainer.run_dir) in message
    assert f"step {MAX_NONFINITE}:" in message
    assert trainer.step == MAX_NONFINITE
    # Non-finite steps do not touch the weights.
    for b, p in zip(before, trainer.params, strict=True):
        assert torch.equal(b, p)
    _, rows = csv_rows(trainer.run_dir)
    assert [int(r["step"]) for r in rows] == list(range(1, MAX_NONFINITE))


def test_a_finite_step_resets_the_non_finite_count(tmp_path):
    trainer = Trainer(tiny(tmp_path, steps=MAX_NONFINITE + 4, eval_every=MAX_NONFINITE + 4))
    original = trainer.task.loss
    calls = {"n": 0}

    def sometimes_nan(output, y):
        calls["n"] += 1
        bad = calls["n"] % MAX_NONFINITE != 0  # every MAX_NONFINITE-th call is finite
        return original(output, y) * (float("nan") if bad else 1.0)

    trainer.task.loss = sometimes_nan
    run = trainer.fit()
    assert run.summary["steps"] == MAX_NONFINITE + 4
    assert math.isfinite(run.history[MAX_NONFINITE - 1]["loss"])
    assert "loss" not in run.history[0]  # a NaN loss is logged as an empty cell
