"""Training: the config dataclasses, the trainer loop, optimizers and schedules, checkpoints
(safetensors + JSON) and metric logs."""

from rnnkit.training.config import (
    ConfigError,
    ModelConfig,
    OptimConfig,
    RunConfig,
    TaskConfig,
    TrainConfig,
)
from rnnkit.training.trainer import Run, Trainer, evaluate, train

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
