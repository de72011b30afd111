"""Tasks: one module per task, with its data, its head kind and its metrics.

``build_task(config)`` makes the task a :class:`~rnnkit.training.config.TaskConfig` names;
``build_task(config, state)`` rebuilds it from a checkpoint's task state (e.g. a vocabulary)
without reading its training data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rnnkit.tasks.base import Task

if TYPE_CHECKING:
    from rnnkit.training.config import TaskConfig


def build_task(config: TaskConfig, state: dict[str, Any] | None = None) -> Task:
    """The task named by ``config.name``, with its size and data seed; ``state`` is what
    :meth:`Task.state_dict` saved."""
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
    if config.name in ("reverse", "sort", "dates", "translate"):
        from rnnkit.tasks.translate import build_seq2seq_task

        return build_seq2seq_task(config, state)
    if config.name == "forecast":
        from rnnkit.tasks.forecast import ForecastTask

        return ForecastTask(config, state)
    if config.name == "lm":
        from rnnkit.tasks.lm import LanguageModelTask

        return LanguageModelTask(config, state)
    if config.name == "ts-classify":
        from rnnkit.tasks.ts_classify import TSClassifyTask

        return TSClassifyTask(config, state)
    if config.name == "classify":
        from rnnkit.tasks.classify import ClassifyTask

        return ClassifyTask(config, state)
    if config.name == "tag":
        from rnnkit.tasks.tag import TagTask

        return TagTask(config, state)
    if config.name in ("trees", "listops"):
        from rnnkit.tasks.trees import build_tree_task

        return build_tree_task(config, state)
    raise ValueError(f"task.name: unknown task {config.name!r}")


__all__ = ["Task", "build_task"]
