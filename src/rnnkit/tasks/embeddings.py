"""Pretrained token embeddings (``--embeddings FILE``) for the tasks whose config has ``embed``
and ``embeddings`` (:class:`~rnnkit.tasks.base.TokenModel`): the file fixes the embedding size.

A task's ``resolve_config`` calls :func:`with_embedding_size` before a new run starts; the run's
saved config then records the size, so a loaded run rebuilds its model without the file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rnnkit.errors import ConfigError

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig


def with_embedding_size(config: RunConfig) -> RunConfig:
    """``config`` with ``task.embed`` set to the dimension of the ``task.embeddings`` file (as
    it is without one); ConfigError when ``--embed`` names another size."""
    path = config.task.embeddings
    if path is None:
        return config
    from rnnkit.text.vectors import vector_size

    size = vector_size(path)
    embed = config.task.embed
    if embed not in (None, size):
        raise ConfigError(f"task.embed: {embed} differs from the {size} dimensions of {path}")
    return config.replace(embed=size)
