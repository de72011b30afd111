"""Tasks: one module per task, with its data, its head kind and its metrics.

``build_task(config)`` makes the task a :class:`~rnnkit.training.config.TaskConfig` names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnkit.tasks.base import Task

if TYPE_CHECKING:
    from rnnkit.training.config import TaskConfig


def build_task(config: TaskConfig) -> Task:
    """The task named by ``config.name``, with its size and data seed."""
    if config.name in ("adding", "copy"):
        from rnnkit.tasks.adding import AddingTask
        from rnnkit.tasks.copy import CopyTask

        generated = {"adding": AddingTask, "copy": CopyTask}[config.name]
        return generated(
            config.seq_len,
            valid_size=config.valid_size,
            test_size=config.test_size,
            seed=config.data_seed,
        )
    if config.name in ("digits", "permuted_digits"):
        from rnnkit.tasks.digits import DigitsTask

        return DigitsTask(permuted=config.name == "permuted_digits", seed=config.data_seed)
    raise ValueError(f"task.name: unknown task {config.name!r}")


__all__ = ["Task", "build_task"]
