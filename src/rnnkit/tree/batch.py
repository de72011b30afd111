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
        full: per level, whether every node there has as many children as the widest (no
            empty slot: the cells skip masking).
        roots: (B,) the row of each tree's root.
        rows: per tree, its nodes' rows in post-order (as ``Tree.nodes()`` yields them).
        flat: (B, T) each tree's leaf token ids left to right, ``<pad>`` after: the sequence
            a sequence model reads instead of the tree. lengths: (B,) leaves per tree.
    """

    tokens: Tensor
    labels: Tensor
    levels: list[tuple[int, int]]
    children: list[Tensor]
    full: list[bool]
    roots: Tensor
    rows: list[list[int]]
    flat: Tensor
    lengths: Tensor

    @classmethod
    def build(cls, trees: Sequence[Tree], vocab: Vocabulary) -> TreeBatch:
        """Lay out ``trees``; tokens are looked up in ``vocab`` (unknown -> ``<unk>``)."""
        if not trees:
            raise ValueError("trees: expected at least one tree")
        # Post-order nodes of every tree, with their level (children come first) and ids.
        nodes: list[Tree] = []
        level: list[int] = []
        kid_index: list[list[int]] = []  # per node, its children's indices in `nodes`
        ids: list[int] = []
        first: list[int] = []  # per tree, the index of its first node in `nodes`
        leaves: list[list[int]] = []  # per tree, its leaves' token ids, left to right
        index_of: dict[int, int] = {}
        stoi = vocab.stoi
        for tree in trees:
            first.append(len(nodes))
            words = []
            for node in tree.nodes():
                kids = [index_of[id(k)] for k in node.children]
                index_of[id(node)] = len(nodes)
                token = PAD if node.token is None else stoi.get(node.token, UNK)
                if not kids and node.token is not None:
                    words.append(token)
                nodes.append(node)
                kid_index.append(kids)
                ids.append(token)
                level.append(1 + max([level[k] for k in kids], default=-1))
            leaves.append(words)
        # Rows: level by level; within a level, trees and post-order keep their order.
        by_level: list[list[int]] = [[] for _ in range(max(level) + 1)]
        for n, lv in enumerate(level):
            by_level[lv].append(n)
        order = [n for members in by_level for n in members]
        row = [0] * len(nodes)
        for r, n in enumerate(order):
            row[n] = r
        tokens = torch.tensor([ids[n] for n in order])
        labels = torch.tensor([IGNORE if nodes[n].label is None else nodes[n].label for n in order])
        levels, children, full = [], [], []
        start = 0
        for members in by_level:
            kids = [[row[k] for k in kid_index[n]] for n in members]
            width = max(map(len, kids))
            full.append(all(len(k) == width for k in kids))
            padded = [k + [-1] * (width - len(k)) for k in kids]
            slots = torch.tensor(padded, dtype=torch.long).view(len(members), width)
            levels.append((start, start + len(members)))
            children.append(slots)
            start += len(members)
        bounds = [*first, len(nodes)]
        rows = [row[bounds[t] : bounds[t + 1]] for t in range(len(trees))]
        roots = torch.tensor([r[-1] for r in rows])
        lengths = torch.tensor([max(len(x), 1) for x in leaves])
        flat = torch.full((len(trees), int(lengths.max())), PAD, dtype=torch.long)
        for b, words in enumerate(leaves):
            if words:
                flat[b, : len(words)] = torch.tensor(words)
        return cls(tokens, labels, levels, children, full, roots, rows, flat, lengths)

    @property
    def num_nodes(self) -> int:
        return self.tokens.shape[0]

    def to(self, device: torch.device | str) -> TreeBatch:
        return TreeBatch(
            self.tokens.to(device), self.labels.to(device), self.levels,
            [c.to(device) for c in self.children], self.full, self.roots.to(device), self.rows,
            self.flat.to(device), self.lengths,
        )  # fmt: skip
