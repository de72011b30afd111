"""Trees: the Tree type, readers of treebank, ListOps and JSON trees, Tree-LSTM cells and
their level-by-level batched execution."""

from rnnkit.tree.tree import Tree

__all__ = ["Tree"]
