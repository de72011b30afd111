"""Training: the config dataclasses, the trainer loop, optimizers and schedules, checkpoints
(safetensors + JSON) and metric logs."""

import importlib
from typing import TYPE_CHECKING

from rnnkit.training.config import (
    ConfigError,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TaskConfig,
    TrainConfig,
)

if TYPE_CHECKING:
    from rnnkit.training.trainer import Run, Trainer, evaluate, train

_TRAINER = ("Run", "Trainer", "evaluate", "train")


def __getattr__(name: str):
    """The trainer's names (and ``rnnkit.training.trainer``, once imported here) load on first
    use: the config, and so the CLI's flags, without torch."""
    if name in _TRAINER or name == "trainer":
        trainer = importlib.import_module("rnnkit.training.trainer")
        return trainer if name == "trainer" else getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ConfigError",
    "ModelConfig",
    "OptimConfig",
    "Run",
    "RunConfig",
    "TaskConfig",
    "TrainConfig",
    "Trainer",
    "evaluate",
    "train",
]
