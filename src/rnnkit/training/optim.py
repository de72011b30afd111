"""Optimizers and learning-rate schedules by name, from an :class:`OptimConfig`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, ReduceLROnPlateau

from rnnkit.training.config import OptimConfig


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimConfig):
    """SGD (momentum, Nesterov), Adam, AdamW or RMSprop with the config's hyper-parameters."""
    params = list(params)
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    betas = (config.beta1, config.beta2)
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, betas=betas, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(
            params, lr=config.lr, betas=betas, weight_decay=config.weight_decay
        )
    return torch.optim.RMSprop(
        params,
        lr=config.lr,
        alpha=config.alpha,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )


def lr_factor(config: OptimConfig, index: int, total_steps: int) -> float:
    """The learning rate of step ``index + 1`` (0-based ``index``) as a fraction of ``lr``.

    Warm-up rises linearly: step s <= warmup uses lr * s / warmup. Then
    constant: 1; step: gamma ** (index // step_size); cosine: from 1 down to min_lr / lr over
    the remaining steps, min_lr + (lr - min_lr) * (1 + cos(pi * progress)) / 2.
    """
    if index < config.warmup:
        return (index + 1) / config.warmup
    if config.schedule == "step":
        return config.gamma ** (index // config.step_size)
    if config.schedule == "cosine":
        span = max(1, total_steps - config.warmup - 1)
        progress = min(1.0, (index - config.warmup) / span)
        floor = config.min_lr / config.lr
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: OptimConfig, *, total_steps: int, mode: str = "min"
) -> LRScheduler | ReduceLROnPlateau:
    """A torch scheduler: ``LambdaLR`` over :func:`lr_factor` (stepped after every optimizer
    step), or ``ReduceLROnPlateau`` (stepped after every validation with the main metric;
    ``mode`` says whether it should fall or rise)."""
    if config.schedule == "plateau":
        return ReduceLROnPlateau(
            optimizer,
            mode=mode,
            factor=config.gamma,
            patience=config.plateau_patience,
            min_lr=config.min_lr,
        )
    return LambdaLR(optimizer, lambda index: lr_factor(config, index, total_steps))
