"""The tree type every tree reader produces and every tree model reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class Tree:
    """A node and, through ``children``, its subtree.

    Attributes:
        label: the node's class (an int, e.g. a sentiment 0-4), or None when the node has none
            (e.g. inner nodes of a ListOps parse, whose only label is the root's).
        children: ordered subtrees; empty for a leaf.
        token: the node's input symbol: a word for a treebank leaf, a digit or bracket for a
            ListOps leaf, an operator for an inner node of an operator tree; None when the node
            has no input of its own (inner nodes of a constituency parse).

    Example::

        >>> t = Tree(3, [Tree(2, token="very"), Tree(3, token="good")])
        >>> [n.token for n in t.leaves()], t.height(), len(t)
        (['very', 'good'], 1, 3)
    """

    label: int | None = None
    children: list[Tree] = field(default_factory=list)
    token: str | None = None

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def nodes(self) -> Iterator[Tree]:
        """Every node, children before their parent (post-order), left to right."""
        stack: list[tuple[Tree, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded or node.is_leaf:
                yield node
            else:
                stack.append((node, True))
                stack.extend((child, False) for child in reversed(node.children))

    def leaves(self) -> Iterator[Tree]:
        """The leaves, left to right."""
        return (n for n in self.nodes() if n.is_leaf)

    def tokens(self) -> list[str]:
        """The leaves' tokens, left to right (the sentence of a treebank tree)."""
        return [n.token for n in self.leaves() if n.token is not None]

    def height(self) -> int:
        """0 for a leaf, else 1 + the highest child's height."""
        heights: dict[int, int] = {}
        for n in self.nodes():
            heights[id(n)] = 1 + max((heights[id(c)] for c in n.children), default=-1)
        return heights[id(self)]

    def __len__(self) -> int:
        """The number of nodes."""
        return sum(1 for _ in self.nodes())
