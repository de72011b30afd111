"""Whole models: a recurrent encoder (``rnnkit.layers.Recurrent``) with a task head."""

from rnnkit.models.sequence import SequenceModel

__all__ = ["SequenceModel"]
