"""Tree tasks: ``trees`` (sentiment treebank files, a label on every node) and ``listops``
(generated ListOps expressions, the label at the root).

A batch is a :class:`~rnnkit.tree.TreeBatch` (x and y alike): a Tree-LSTM reads its level-by-level
layout, a sequence model its leaves left to right (``batch.flat``, ``batch.lengths``). A tree
model's output covers every node (N, C); a sequence model's only the roots (B, C). The loss
covers every labelled node when the output does and ``node_loss`` is set (Tai et al.'s
treebank training), else the roots; ``accuracy`` is always the roots'.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.tasks.base import Split, Task, stream_seed
from rnnkit.text.batching import EpochBatches
from rnnkit.text.vocab import Vocabulary
from rnnkit.tree.batch import IGNORE, TreeBatch
from rnnkit.tree.tree import Tree

if TYPE_CHECKING:
    from rnnkit.training.config import TaskConfig


class TreeTask(Task):
    """Classify trees (at the root, and for treebanks at every node).

    Args:
        name: the config name. vocab: the token vocabulary. num_classes: C.
        splits: split name -> a function returning that split's trees (called once, when
            first needed).
        node_loss: train on every labelled node, not only the roots (tree models only).
        target: ``(metric, threshold)`` that counts as solved, or None.
    """

    output = "classification"
    metrics = {"accuracy": "max"}
    input_size = 0  # token ids, not feature vectors

    def __init__(
        self,
        name: str,
        *,
        vocab: Vocabulary,
        num_classes: int,
        splits: dict[str, Callable[[], list[Tree]]],
        node_loss: bool = False,
        target: tuple[str, float] | None = None,
    ) -> None:
        self.name, self.vocab, self.output_size = name, vocab, num_classes
        self._loaders, self._trees = splits, {}
        self.node_loss, self.target = node_loss, target

    # -- data -------------------------------------------------------------------------------
    def trees(self, split: str) -> list[Tree]:
        if split not in self._trees:
            if split not in self._loaders:
                raise ValueError(f"split: task {self.name!r} has no {split!r} data")
            self._trees[split] = self._loaders[split]()
        return self._trees[split]

    def load(self) -> None:
        for split in self._loaders:
            self.trees(split)

    @cached_property
    def _batches(self) -> EpochBatches:
        return EpochBatches([len(t) for t in self.trees("train")])

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[TreeBatch, TreeBatch]:
        train = self.trees("train")
        batch = TreeBatch.build([train[i] for i in self._batches.batch(step, batch_size, seed)],
                                self.vocab)  # fmt: skip
        return batch, batch

    def eval_set(self, split: Split) -> tuple[TreeBatch, TreeBatch]:
        batch = TreeBatch.build(self.trees(split), self.vocab)
        return batch, batch

    @cached_property
    def baseline(self) -> dict[str, float]:  # type: ignore[override]
        """The accuracy of always answering the most frequent root label of the training set."""
        counts = torch.bincount(torch.tensor([t.label for t in self.trees("train")]))
        majority = int(counts.argmax())
        valid = [t.label for t in self.trees("valid")]
        return {"accuracy": sum(v == majority for v in valid) / len(valid)}

    baseline_label = "majority-class baseline"

    # -- loss and metrics -------------------------------------------------------------------
    def _roots(self, output: Tensor, y: TreeBatch) -> Tensor:
        """Root logits (B, C) from a tree model's (N, C) or a sequence model's (B, C)."""
        return output[y.roots] if output.shape[0] == y.num_nodes else output

    def loss(self, output: Tensor, y: TreeBatch) -> Tensor:
        if self.node_loss and output.shape[0] == y.num_nodes:
            return F.cross_entropy(output.float(), y.labels, ignore_index=IGNORE)
        return F.cross_entropy(self._roots(output, y).float(), y.labels[y.roots])

    def score(self, output: Tensor, y: TreeBatch) -> dict[str, float]:
        roots = self._roots(output, y)
        correct = (roots.argmax(-1) == y.labels[y.roots]).float().mean().item()
        return {"accuracy": correct, "loss": self.loss(output, y).item()}

    def evaluate(
        self,
        model: nn.Module,
        split: Split,
        *,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
        bf16: bool = False,
        **decoding: Any,
    ) -> dict[str, float]:
        """Accuracy and loss over ``split`` in batches of ``batch_size`` trees (weighted by
        trees)."""
        trees = self.trees(split)
        was_training = model.training
        model.eval()
        totals = {"accuracy": 0.0, "loss": 0.0}
        with torch.no_grad(), torch.autocast(torch.device(device).type, torch.bfloat16,
                                             enabled=bf16):  # fmt: skip
            for start in range(0, len(trees), batch_size):
                chunk = trees[start : start + batch_size]
                batch = TreeBatch.build(chunk, self.vocab).to(device)
                for k, v in self.score(model(batch).float(), batch).items():
                    totals[k] += v * len(chunk)
        model.train(was_training)
        return {k: v / len(trees) for k, v in totals.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_dict()}

    def describe(self) -> str:
        return f"{self.name} ({len(self.vocab)} tokens, {self.output_size} classes)"


def build_tree_task(config: TaskConfig, state: dict[str, Any] | None = None) -> TreeTask:
    """The ``trees`` or ``listops`` task ``config`` describes; with ``state`` (a checkpoint's),
    the vocabulary is loaded instead of built."""
    if config.name == "listops":
        return _listops(config)
    from rnnkit.tree.readers import build_vocabulary, read_bracketed, sentiment_labels

    def load(path: str) -> Callable[[], list[Tree]]:
        def read() -> list[Tree]:
            trees = [sentiment_labels(t, config.classes) for t in read_bracketed(path)]
            return [t for t in trees if t is not None]  # binary: neutral sentences dropped

        return read

    splits = {"train": load(config.data), "valid": load(config.valid)}
    splits["test"] = splits["valid"] if config.test is None else load(config.test)
    if state is not None:
        vocab = Vocabulary.from_dict(state["vocab"])
    else:
        train = splits["train"]()
        splits["train"] = lambda: train
        vocab = build_vocabulary(train, min_freq=config.min_freq, max_size=config.max_vocab)
    return TreeTask(
        "trees",
        vocab=vocab,
        num_classes=5 if config.classes == "fine" else 2,
        splits=splits,
        node_loss=True,
    )


def _listops(config: TaskConfig) -> TreeTask:
    from functools import cache

    from rnnkit.text.vocab import SPECIALS
    from rnnkit.tree import listops

    form = listops.binary_tree if config.tree_form == "binary" else listops.operator_tree
    seed = config.data_seed

    @cache
    def train_data() -> list:
        return listops.generate(config.train_size, seed=stream_seed(seed, "train"),
                                max_tokens=config.seq_len)  # fmt: skip

    def held_out(stream: str, size: int) -> Callable[[], list[Tree]]:
        def make() -> list[Tree]:
            # Every length, and never an expression of the training set: drawn from their own
            # seed, then filtered (short expressions recur often).
            seen = {tuple(listops.to_tokens(e)) for _, e in train_data()}
            data = listops.generate(2 * size, seed=stream_seed(seed, stream))
            fresh = [e for _, e in data if tuple(listops.to_tokens(e)) not in seen]
            return [form(e) for e in fresh[:size]]

        return make

    vocab = Vocabulary([*SPECIALS, *listops.SYMBOLS, *listops.OPERATORS])
    return TreeTask(
        "listops",
        vocab=vocab,
        num_classes=10,
        splits={
            "train": lambda: [form(e) for _, e in train_data()],
            "valid": held_out("valid", config.valid_size),
            "test": held_out("test", config.test_size),
        },
    )
