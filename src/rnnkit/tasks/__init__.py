"""Tasks: one module per task, each owning its config, data, model builder and heads, training
step, metrics, report and predict parsing; :mod:`rnnkit.tasks.registry` names them.

``build_task(config)`` makes the task a task config names; ``build_task(config, state)``
rebuilds it from a checkpoint's task state (e.g. a vocabulary) without reading its training
data. Nothing here imports torch until a task is built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnkit.tasks.base import Task
    from rnnkit.training.config import TaskConfig


def build_task(config: TaskConfig, state: dict[str, Any] | None = None) -> Task:
    """The task ``config`` names, from its config (and ``state``, what
    :meth:`Task.state_dict` saved)."""
    from rnnkit.tasks import registry

    return registry.task_class(config.name).from_config(config, state)


def __getattr__(name: str):
    if name == "Task":
        from rnnkit.tasks.base import Task

        return Task
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Task", "build_task"]
