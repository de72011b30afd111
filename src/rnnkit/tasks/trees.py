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

from rnnkit.tasks.base import Split, Splits, Task, rows, stream_seed
from rnnkit.text.batching import EpochBatches
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import Vocabulary
from rnnkit.training.config import ConfigError
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
        self._splits = Splits(name, splits)
        self.node_loss, self.target = node_loss, target

    # -- data -------------------------------------------------------------------------------
    def trees(self, split: str) -> list[Tree]:
        """The trees of ``split`` (read or generated once)."""
        return self._splits[split]

    def load(self) -> None:
        self._splits.load()
        # Lay out the epochs now, once: not inside the first step, nor in each loader process.
        self._batches  # noqa: B018

    @cached_property
    def _batches(self) -> EpochBatches:
        return EpochBatches([len(t) for t in self.trees("train")])

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[TreeBatch, TreeBatch]:
        return self.train_batch_part(step, batch_size, seed, 0, 1)

    def train_batch_part(
        self, step: int, batch_size: int, seed: int, rank: int, world: int
    ) -> tuple[TreeBatch, TreeBatch]:
        """A worker's trees of the step's batch, built into a batch of their own."""
        train = self.trees("train")
        index = rows(self._batches.batch(step, batch_size, seed), rank, world)
        batch = TreeBatch.build([train[i] for i in index], self.vocab)
        return batch, batch

    def longest_example(self, seed: int) -> tuple[TreeBatch, TreeBatch]:
        train = self.trees("train")
        batch = TreeBatch.build([max(train, key=len)], self.vocab)
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

    def _loss_terms(self, output: Tensor, y: TreeBatch) -> tuple[Tensor, Tensor]:
        """(logits, labels) the loss averages over: every labelled node or the roots."""
        if self.node_loss and output.shape[0] == y.num_nodes:
            return output.float(), y.labels
        return self._roots(output, y).float(), y.labels[y.roots]

    def loss(self, output: Tensor, y: TreeBatch) -> Tensor:
        """Mean cross-entropy over the labelled nodes (``node_loss``) or the roots."""
        return F.cross_entropy(*self._loss_terms(output, y), ignore_index=IGNORE)

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
        """Root accuracy and the loss over ``split``, in batches of ``batch_size`` trees; the
        same numbers whatever the batch size (the loss is a mean over all its terms)."""
        trees = self.trees(split)
        was_training = model.training
        model.eval()
        correct, loss_sum, terms = 0, 0.0, 0
        with torch.no_grad(), torch.autocast(torch.device(device).type, torch.bfloat16,
                                             enabled=bf16):  # fmt: skip
            for start in range(0, len(trees), batch_size):
                batch = TreeBatch.build(trees[start : start + batch_size], self.vocab).to(device)
                output = model(batch).float()
                labels = batch.labels[batch.roots]
                correct += int((self._roots(output, batch).argmax(-1) == labels).sum())
                logits, targets = self._loss_terms(output, batch)
                loss_sum += F.cross_entropy(
                    logits, targets, ignore_index=IGNORE, reduction="sum"
                ).item()
                terms += int((targets != IGNORE).sum())
        model.train(was_training)
        return {"accuracy": correct / len(trees), "loss": loss_sum / max(terms, 1)}

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
            kept = [t for t in trees if t is not None]  # binary: neutral sentences dropped
            if not kept:
                raise DataError(
                    f"{path}: no trees left: every root is neutral, and --classes binary drops "
                    f"neutral sentences"
                )
            return kept

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
        try:
            return listops.generate(config.train_size, seed=stream_seed(seed, "train"),
                                    max_tokens=config.seq_len)  # fmt: skip
        except ValueError as e:
            raise ConfigError(
                f"task.train_size: cannot draw {config.train_size} distinct expressions of at "
                f"most seq_len={config.seq_len} tokens ({e}); lower --train-size or raise "
                f"--seq-len"
            ) from None

    @cache
    def held_out(stream: str) -> list:
        # Every length, and never an expression of the training set (nor, for the test set,
        # of the validation set): drawn from their own seed, then filtered (short expressions
        # recur often).
        size = config.valid_size if stream == "valid" else config.test_size
        taken = [train_data()] + ([held_out("valid")] if stream == "test" else [])
        seen = {tuple(listops.to_tokens(e)) for data in taken for _, e in data}
        data = listops.generate(2 * size, seed=stream_seed(seed, stream))
        return [(v, e) for v, e in data if tuple(listops.to_tokens(e)) not in seen][:size]

    vocab = Vocabulary([*SPECIALS, *listops.SYMBOLS, *listops.OPERATORS])
    return TreeTask(
        "listops",
        vocab=vocab,
        num_classes=10,
        splits={
            "train": lambda: [form(e) for _, e in train_data()],
            "valid": lambda: [form(e) for _, e in held_out("valid")],
            "test": lambda: [form(e) for _, e in held_out("test")],
        },
    )
