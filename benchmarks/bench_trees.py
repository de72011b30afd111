"""Tree-LSTM training throughput: level-by-level batches against the node-by-node recursion.

    python benchmarks/bench_trees.py [--trees 1000 --batch 25 --cell childsum nary]

1,000 random binary trees of 10-60 leaves (words from a 1,000-word vocabulary, a label on every
node, as in the sentiment treebank). A training step: forward, cross-entropy over every node,
backward, Adam step. "batched" lays each batch out level by level (one cell call per level);
"recursive" runs each tree node by node (one cell call per node) and steps once per batch.
Both sides train the same model on the same batches in the same process; medians of
--repeat passes over the data (the recursive side is timed on --recursive-trees trees).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch
import torch.nn.functional as F

from rnnkit.text.vocab import Vocabulary
from rnnkit.tree.batch import TreeBatch
from rnnkit.tree.model import TreeClassifier
from rnnkit.tree.tree import Tree


def random_binary_tree(rng: random.Random, leaves: list[str]) -> Tree:
    """A uniformly random split at every inner node, a random label on every node."""
    if len(leaves) == 1:
        return Tree(rng.randrange(5), token=leaves[0])
    cut = rng.randint(1, len(leaves) - 1)
    left = random_binary_tree(rng, leaves[:cut])
    right = random_binary_tree(rng, leaves[cut:])
    return Tree(rng.randrange(5), [left, right])


def make_trees(n: int, seed: int, words: list[str]) -> list[Tree]:
    rng = random.Random(seed)
    return [random_binary_tree(rng, rng.choices(words, k=rng.randint(10, 60))) for _ in range(n)]


def step_batched(model, optimizer, batch: TreeBatch) -> None:
    optimizer.zero_grad()
    logits = model(batch)
    F.cross_entropy(logits, batch.labels, ignore_index=-100).backward()
    optimizer.step()


def step_recursive(model, optimizer, trees: list[Tree], vocab: Vocabulary) -> None:
    optimizer.zero_grad()
    total, count = 0.0, 0
    for tree in trees:
        states = model.encoder.forward_recursive(tree, vocab)
        h = torch.stack([s[0] for s in states])  # (nodes, H) in post-order
        labels = torch.tensor([n.label for n in tree.nodes()])
        total = total + F.cross_entropy(model.output(h), labels, reduction="sum")
        count += len(labels)
    (total / count).backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", type=int, default=1000)
    parser.add_argument("--recursive-trees", type=int, default=200)
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--hidden", type=int, default=150)
    parser.add_argument("--embed", type=int, default=300)
    parser.add_argument("--cell", nargs="+", default=["childsum", "nary"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    words = [f"w{i}" for i in range(1000)]
    vocab = Vocabulary.build([words])
    trees = make_trees(args.trees, 0, words)
    nodes = sum(len(t) for t in trees)
    heights = [t.height() for t in trees]
    print(
        f"{args.trees} random binary trees, 10-60 leaves, {nodes / args.trees:.1f} nodes and "
        f"height {statistics.mean(heights):.1f} on average (max {max(heights)}); batches of "
        f"{args.batch}, E={args.embed}, H={args.hidden}, {args.threads} threads, float32"
    )
    print("| cell | batched trees/s | recursive trees/s | ratio |")
    print("|---|---|---|---|")
    for cell in args.cell:
        torch.manual_seed(0)
        model = TreeClassifier(len(vocab), 5, embed_size=args.embed, hidden_size=args.hidden,
                               cell=cell)  # fmt: skip
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        chunks = [trees[i : i + args.batch] for i in range(0, len(trees), args.batch)]
        few = chunks[: max(1, args.recursive_trees // args.batch)]
        step_batched(model, optimizer, TreeBatch.build(chunks[0], vocab))  # warm-up
        step_recursive(model, optimizer, few[0][:2], vocab)
        batched, recursive = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            for chunk in chunks:  # building the layout is part of the cost
                step_batched(model, optimizer, TreeBatch.build(chunk, vocab))
            batched.append(len(trees) / (time.perf_counter() - start))
            start = time.perf_counter()
            for chunk in few:
                step_recursive(model, optimizer, chunk, vocab)
            recursive.append(sum(map(len, few)) / (time.perf_counter() - start))
        b, r = statistics.median(batched), statistics.median(recursive)
        print(f"| {cell} | {b:.0f} | {r:.1f} | {b / r:.1f}x |")


if __name__ == "__main__":
    main()
