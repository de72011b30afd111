"""Optimizers by name and learning-rate schedules, checked against the formulas."""

import math

import pytest
import torch

from rnnkit.training.config import OptimConfig
from rnnkit.training.optim import build_optimizer, build_scheduler


def params():
    return [torch.nn.Parameter(torch.ones(3))]


@pytest.mark.parametrize(
    ("options", "cls", "expected"),
    [
        (
            {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True,
             "weight_decay": 1e-4},
            torch.optim.SGD,
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4},
        ),
        (
            {"optimizer": "sgd", "lr": 0.2},
            torch.optim.SGD,
            {"lr": 0.2, "momentum": 0.0, "nesterov": False, "weight_decay": 0.0},
        ),
        (
            {"optimizer": "adam", "lr": 3e-3, "beta1": 0.8, "beta2": 0.95, "weight_decay": 0.01},
            torch.optim.Adam,
            {"lr": 3e-3, "betas": (0.8, 0.95), "weight_decay": 0.01},
        ),
        (
            {"optimizer": "adamw", "lr": 1e-3, "beta1": 0.7, "weight_decay": 0.1},
            torch.optim.AdamW,
            {"lr": 1e-3, "betas": (0.7, 0.999), "weight_decay": 0.1},
        ),
        (
            {"optimizer": "rmsprop", "lr": 1e-2, "alpha": 0.9, "momentum": 0.5},
            torch.optim.RMSprop,
            {"lr": 1e-2, "alpha": 0.9, "momentum": 0.5, "weight_decay": 0.0},
        ),
    ],
)  # fmt: skip
def test_each_optimizer_gets_its_hyper_parameters(options, cls, expected):
    optimizer = build_optimizer(params(), OptimConfig(**options))
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    for key, value in expected.items():
        assert group[key] == value, key


def lr_sequence(config: OptimConfig, steps: int) -> list[float]:
    """The learning rate each of ``steps`` optimizer steps uses, as the trainer drives it."""
    p = params()
    optimizer = build_optimizer(p, config)
    scheduler = build_scheduler(optimizer, config, total_steps=steps)
    lrs = []
    for _ in range(steps):
        lrs.append(optimizer.param_groups[0]["lr"])
        p[0].grad = torch.ones(3)
        optimizer.step()
        scheduler.step()
    return lrs


def test_constant():
    assert lr_sequence(OptimConfig(lr=0.3), 7) == pytest.approx([0.3] * 7, rel=1e-12)


def test_linear_warmup_then_constant():
    lr, warmup = 0.4, 4
    expected = [lr * min(1.0, s / warmup) for s in range(1, 11)]  # s: the 1-based step
    assert expected[:4] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert lr_sequence(OptimConfig(lr=lr, warmup=warmup), 10) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("warmup", "min_lr"), [(0, 0.0), (0, 0.01), (3, 0.02)])
def test_cosine_from_lr_to_min_lr(warmup, min_lr):
    lr, steps = 0.1, 13
    config = OptimConfig(lr=lr, schedule="cosine", warmup=warmup, min_lr=min_lr)
    decay = steps - warmup  # steps after warm-up, from lr (first) down to min_lr (last)
    expected = [lr * s / warmup for s in range(1, warmup + 1)]
    expected += [
        min_lr + (lr - min_lr) * 0.5 * (1 + math.cos(math.pi * i / (decay - 1)))
        for i in range(decay)
    ]
    got = lr_sequence(config, steps)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert got[warmup] == pytest.approx(lr) and got[-1] == pytest.approx(min_lr, abs=1e-12)
    assert all(a >= b for a, b in zip(got[warmup:], got[warmup + 1 :], strict=False))


def test_step_decay():
    lr, gamma, size = 0.5, 0.3, 4
    expected = [lr * gamma ** (i // size) for i in range(11)]
    got = lr_sequence(OptimConfig(lr=lr, schedule="step", step_size=size, gamma=gamma), 11)
    assert got == pytest.approx(expected, rel=1e-9)
    assert got[3] == pytest.approx(0.5) and got[4] == pytest.approx(0.15)


def plateau_lrs(config: OptimConfig, values: list[float], mode: str) -> list[float]:
    """The learning rate after each validation reports ``values``."""
    optimizer = build_optimizer(params(), config)
    scheduler = build_scheduler(optimizer, config, total_steps=100, mode=mode)
    lrs = []
    for v in values:
        scheduler.step(v)
        lrs.append(optimizer.param_groups[0]["lr"])
    return lrs


@pytest.mark.parametrize("patience", [0, 2])
def test_plateau_decays_after_patience_plus_one_bad_evaluations(patience):
    lr, gamma = 0.1, 0.5
    config = OptimConfig(lr=lr, schedule="plateau", plateau_patience=patience, gamma=gamma)
    # First value sets the best; then nothing improves.
    got = plateau_lrs(config, [1.0] + [1.0] * (patience + 1), "min")
    assert got[:-1] == pytest.approx([lr] * (patience + 1))
    assert got[-1] == pytest.approx(lr * gamma)
    # Improving every time never decays.
    steady = plateau_lrs(config, [1.0 / (i + 1) for i in range(patience + 4)], "min")
    assert steady == pytest.approx([lr] * (patience + 4))


def test_plateau_respects_mode_max_and_the_floor():
    config = OptimConfig(lr=0.1, schedule="plateau", plateau_patience=1, gamma=0.5, min_lr=0.03)
    rising = [0.1, 0.2, 0.3, 0.4, 0.5]
    assert plateau_lrs(config, rising, "max") == pytest.approx([0.1] * 5)
    # In "min" mode the same rising values are all worse than the first.
    assert plateau_lrs(config, rising, "min") == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.03])
    falling = [0.5, 0.4, 0.3, 0.2, 0.1]
    assert plateau_lrs(config, falling, "max") == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.03])
