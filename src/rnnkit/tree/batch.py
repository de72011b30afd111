"""A batch of trees laid out for level-by-level execution.

Every node of every tree gets one row. Rows are ordered by level (0 for leaves, else one more
than the highest child), so each level is a contiguous range of rows whose children all lie in
earlier levels: a batch runs in (height + 1) batched cell calls, whatever its number of nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnkit.text.vocab import PAD, UNK, Vocabulary
from rnnkit.tree.tree import Tree

IGNORE = -100  # the label of an unlabelled node (cross-entropy's ignore_index)


@dataclass
class TreeBatch:
    """Trees flattened into rows, level by level.

    Attributes:
        tokens: (N,) each node's token id; ``<pad>`` (0) for a node without a token, which
            embeds to zeros.
        labels: (N,) each node's label, or -100 where it has none.
        levels: ``(start, end)`` row ranges, one per level, leaves first.
        children: per level, (M, K) the rows of each node's children in order, -1 in empty
            slots (K = the level's largest number of children; 0 for the leaves).
        roots: (B,) the row of each tree's root.
        rows: per tree, its nodes' rows in post-order (as ``Tree.nodes()`` yields them).
        flat: (B, T) each tree's leaf token ids left to right, ``<pad>`` after: the sequence
            a sequence model reads instead of the tree. lengths: (B,) leaves per tree.
    """

    tokens: Tensor
    labels: Tensor
    levels: list[tuple[int, int]]
    children: list[Tensor]
    roots: Tensor
    rows: list[list[int]]
    flat: Tensor
    lengths: Tensor

    @classmethod
    def build(cls, trees: Sequence[Tree], vocab: Vocabulary) -> TreeBatch:
        """Lay out ``trees``; tokens are looked up in ``vocab`` (unknown -> ``<unk>``)."""
        if not trees:
            raise ValueError("trees: expected at least one tree")
        # Post-order nodes of every tree, with their level (children come first).
        nodes: list[Tree] = []
        level: list[int] = []
        kid_index: list[list[int]] = []  # per node, its children's indices in `nodes`
        first: list[int] = []  # per tree, the index of its first node in `nodes`
        index_of: dict[int, int] = {}
        for tree in trees:
            first.append(len(nodes))
            for node in tree.nodes():
                kids = [index_of[id(k)] for k in node.children]
                index_of[id(node)] = len(nodes)
                nodes.append(node)
                kid_index.append(kids)
                level.append(1 + max((level[k] for k in kids), default=-1))
        # Rows: stable sort by level keeps trees and post-order together within a level.
        order = sorted(range(len(nodes)), key=level.__getitem__)
        row = [0] * len(nodes)
        for r, n in enumerate(order):
            row[n] = r
        tokens = torch.tensor(
            [PAD if nodes[n].token is None else vocab.stoi.get(nodes[n].token, UNK) for n in order]
        )
        labels = torch.tensor([IGNORE if nodes[n].label is None else nodes[n].label for n in order])
        levels, children = [], []
        start = 0
        for lv in range(max(level) + 1):
            end = start
            while end < len(order) and level[order[end]] == lv:
                end += 1
            kids = [[row[k] for k in kid_index[n]] for n in order[start:end]]
            width = max(map(len, kids))
            padded = [k + [-1] * (width - len(k)) for k in kids]
            slots = torch.tensor(padded, dtype=torch.long).view(end - start, width)
            levels.append((start, end))
            children.append(slots)
            start = end
        bounds = [*first, len(nodes)]
        rows = [[row[n] for n in range(bounds[t], bounds[t + 1])] for t in range(len(trees))]
        roots = torch.tensor([r[-1] for r in rows])
        leaves = [[t for t in (n.token for n in tree.leaves()) if t is not None] for tree in trees]
        lengths = torch.tensor([max(len(x), 1) for x in leaves])
        flat = torch.full((len(trees), int(lengths.max())), PAD, dtype=torch.long)
        for b, words in enumerate(leaves):
            flat[b, : len(words)] = torch.tensor([vocab.stoi.get(w, UNK) for w in words] or [PAD])
        return cls(tokens, labels, levels, children, roots, rows, flat, lengths)

    @property
    def num_nodes(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str) -> TreeBatch:
        return TreeBatch(
            self.tokens.to(device), self.labels.to(device), self.levels,
            [c.to(device) for c in self.children], self.roots.to(device), self.rows,
            self.flat.to(device), self.lengths,
        )  # fmt: skip
