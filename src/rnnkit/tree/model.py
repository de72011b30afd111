"""Tree-LSTM encoders and a node classifier: the batched level-by-level runner, and the plain
node-by-node recursion it must agree with.

Shapes: N nodes in a batch, B trees, V vocabulary, E embedding size, H hidden size, C classes.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from rnnkit.text.vocab import PAD, UNK, Vocabulary
from rnnkit.tree.batch import TreeBatch
from rnnkit.tree.cells import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from rnnkit.tree.tree import Tree

TreeCell = Literal["childsum", "nary"]


class TreeLSTM(nn.Module):
    """Token embeddings and a Tree-LSTM cell, run over every node of a batch of trees.

    Args:
        vocab_size: V (id 0, ``<pad>``, embeds to zeros: nodes without a token have no input).
        embed_size: E. hidden_size: H.
        cell: ``"childsum"`` (any number of unordered children) or ``"nary"`` (at most
            ``arity`` ordered children).
        dropout: on the embeddings (training only).

    Example::

        >>> from rnnkit.text.vocab import Vocabulary
        >>> vocab = Vocabulary.build([["very", "good"]])
        >>> tree = Tree(3, [Tree(2, token="very"), Tree(3, token="good")])
        >>> h, c = TreeLSTM(len(vocab), 8, 16, cell="nary")(TreeBatch.build([tree], vocab))
        >>> h.shape  # one row per node: 2 leaves, then the root
        torch.Size([3, 16])
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        hidden_size: int,
        *,
        cell: TreeCell = "childsum",
        arity: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if cell not in ("childsum", "nary"):
            raise ValueError(f"cell: expected 'childsum' or 'nary', got {cell!r}")
        self.hidden_size = hidden_size
        self.embed = nn.Embedding(vocab_size, embed_size, padding_idx=PAD)
        self.dropout = nn.Dropout(dropout)
        if cell == "childsum":
            self.cell: nn.Module = ChildSumTreeLSTMCell(embed_size, hidden_size)
        else:
            self.cell = NaryTreeLSTMCell(embed_size, hidden_size, arity)

    def forward(self, batch: TreeBatch) -> tuple[Tensor, Tensor]:
        """Every node's (h, c), each (N, H), in the batch's row order; one cell call per
        level."""
        N, H = batch.num_nodes, self.hidden_size
        # Every node's input projection W x + b in one product. Nodes without a token (inner
        # nodes of a constituency parse, about half of them) have x = 0: only the bias.
        has_token = (batch.tokens != PAD).nonzero().squeeze(1)
        x = self.dropout(self.embed(batch.tokens[has_token]))  # (N_tok, E)
        wx = self.cell.input.bias.expand(N, -1).index_copy(0, has_token, self.cell.input(x))
        # Each level writes its own rows; later levels gather their children's rows. The
        # gathers keep only indices for backward, so writing later rows in place is safe.
        h_all, c_all = x.new_zeros(N, H), x.new_zeros(N, H)
        for (start, end), slots, full in zip(batch.levels, batch.children, batch.full, strict=True):
            mask = None if full else slots >= 0  # (M, K); None: no empty slots at this level
            index = slots.clamp(min=0).view(-1)  # index_select: its backward is index_add
            child_h = h_all.index_select(0, index).view(*slots.shape, H)  # (M, K, H)
            child_c = c_all.index_select(0, index).view(*slots.shape, H)
            h, c = self.cell.recur(wx[start:end], child_h, child_c, mask)
            h_all[start:end], c_all[start:end] = h, c
        return h_all, c_all

    def forward_recursive(self, tree: Tree, vocab: Vocabulary) -> list[tuple[Tensor, Tensor]]:
        """The reference: one cell call per node, children first. Returns (h, c), each (H,),
        per node in post-order (``tree.nodes()``)."""
        states: dict[int, tuple[Tensor, Tensor]] = {}
        out = []
        for node in tree.nodes():
            token = PAD if node.token is None else vocab.stoi.get(node.token, UNK)
            x = self.dropout(self.embed(torch.tensor([token], device=self.embed.weight.device)))
            kids = [states[id(k)] for k in node.children]
            if kids:
                child_h = torch.stack([h for h, _ in kids])[None]  # (1, K, H)
                child_c = torch.stack([c for _, c in kids])[None]
            else:
                child_h = child_c = x.new_zeros(1, 0, self.hidden_size)
            mask = torch.ones(child_h.shape[:2], dtype=torch.bool, device=x.device)
            h, c = self.cell(x, child_h, child_c, mask)
            states[id(node)] = (h[0], c[0])
            out.append(states[id(node)])
        return out


class TreeClassifier(nn.Module):
    """A :class:`TreeLSTM` with a softmax classifier on every node's h (Tai et al.'s
    sentiment model): the task decides which nodes count (all labelled ones, or the roots).

    Args: as :class:`TreeLSTM`, plus ``num_classes`` (C); ``dropout`` applies to the
    embeddings and to h before the classifier.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        *,
        embed_size: int = 128,
        hidden_size: int = 128,
        cell: TreeCell = "childsum",
        arity: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = TreeLSTM(
            vocab_size, embed_size, hidden_size, cell=cell, arity=arity, dropout=dropout
        )
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, num_classes)

    def resolve_path(self, batch: TreeBatch) -> str:
        return "level-by-level"

    def forward(self, batch: TreeBatch) -> Tensor:
        """Logits (N, C) for every node, in the batch's row order."""
        h, _ = self.encoder(batch)
        return self.output(self.dropout(h))


class LeafSequenceModel(nn.Module):
    """A sequence model over each tree's leaves, left to right, ignoring the tree: the baseline
    a Tree-LSTM is measured against. ``model`` reads token ids (``SequenceModel(...,
    vocab_size=V)``); returns its (B, C) logits."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def resolve_path(self, batch: TreeBatch) -> str:
        return self.model.resolve_path(batch.flat)

    def forward(self, batch: TreeBatch) -> Tensor:
        return self.model(batch.flat, batch.lengths)
