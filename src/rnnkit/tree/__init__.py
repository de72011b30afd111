"""Trees: the Tree type, readers of treebank, ListOps and JSON trees, Tree-LSTM cells and
their level-by-level batched execution."""

from rnnkit.tree.batch import TreeBatch
from rnnkit.tree.cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from rnnkit.tree.model import LeafSequenceModel, TreeClassifier, TreeLSTM
from rnnkit.tree.tree import Tree

__all__ = [
    "ChildSumTreeLSTMCell",
    "LeafSequenceModel",
    "NaryTreeLSTMCell",
    "Tree",
    "TreeBatch",
    "TreeClassifier",
    "TreeLSTM",
]
