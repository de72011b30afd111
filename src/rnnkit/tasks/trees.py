"""Tree tasks: ``trees`` (sentiment treebank files, a label on every node) and ``listops``
(generated ListOps expressions, the label at the root).

A batch is a :class:`~rnnkit.tree.TreeBatch` (x and y alike): a Tree-LSTM reads its level-by-level
layout, a sequence model its leaves left to right (``batch.flat``, ``batch.lengths``). A tree
model's output covers every node (N, C); a sequence model's only the roots (B, C). The loss
covers every labelled node when the output does and ``node_loss`` is set (Tai et al.'s
treebank training), else the roots; ``accuracy`` is always the roots'.

The model is a Tree-LSTM (``--model tree-lstm``, :class:`~rnnkit.tree.model.TreeClassifier`)
or a sequence model over the leaves (``--model sequence``); either may start its token table
from pretrained vectors (``task.embeddings``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError, DataError, ExportError, UsageError
from rnnkit.tasks.base import (
    GeneratedSets,
    Split,
    Splits,
    Task,
    TokenModel,
    check_files,
    refuse,
    rows,
    stream_seed,
)
from rnnkit.text.batching import EpochBatches
from rnnkit.text.vocab import Vocabulary
from rnnkit.tree.batch import IGNORE, TreeBatch
from rnnkit.tree.tree import Tree

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

NAMES = ("trees", "listops")


@dataclass(frozen=True)
class TreeConfig(TokenModel, GeneratedSets):
    """Trees to classify: treebank files (trees) or generated ListOps expressions (listops)."""

    name: str = "listops"
    """The task: trees (sentiment treebank files, --data and --valid) or listops (nested list
    operations generated from a seed)."""
    valid_size: int = 1000
    """listops: expressions in the generated validation set."""
    test_size: int = 1000
    """listops: expressions in the generated test set."""
    data_seed: int = 1234
    """listops: seed of the training, validation and test expressions."""
    seq_len: int = 100
    """listops: the longest training expression, in tokens (held-out sets have every
    length)."""
    train_size: int = 90000
    """listops: distinct training expressions generated (at most seq_len tokens each)."""
    tree_form: Literal["binary", "operator"] = "binary"
    """listops: the gold left-branching binary parse, or the operator-with-arguments tree
    (--model tree-lstm only; N-ary cells then take up to 5 children)."""
    data: str | None = None
    """trees: the training treebank, one bracketed tree per line."""
    valid: str | None = None
    """trees: the validation treebank, in the same form as data."""
    test: str | None = None
    """trees: the test treebank, in the same form as data; None: report the validation set."""
    classes: Literal["fine", "binary"] = "fine"
    """trees: five sentiment classes (--fine-grained), or two (--binary: 0-1 negative, 3-4
    positive, neutral nodes unlabelled and neutral sentences dropped)."""
    min_freq: int = 1
    """trees: tokens seen fewer times in the training file map to <unk>."""
    max_vocab: int | None = None
    """trees: keep at most this many tokens (the most frequent); None: all."""
    tree_cell: Literal["childsum", "nary"] = "childsum"
    """--model tree-lstm: Child-Sum (any number of unordered children) or N-ary (ordered
    children, per-child weights; Tai et al. 2015)."""

    flag_aliases: ClassVar[dict[str, tuple[str, str, str]]] = {
        "fine-grained": ("classes", "fine", "trees: same as --classes fine"),
        "binary": ("classes", "binary", "trees: same as --classes binary"),
    }
    """The treebank literature's names for --classes: flag -> (field, value, help)."""

    def _check(self) -> None:
        if self.name not in NAMES:
            raise ConfigError(f"task.name: expected one of {', '.join(NAMES)} for a tree "
                              f"config, got {self.name!r}")  # fmt: skip
        GeneratedSets._check(self)
        TokenModel._check(self)
        self._positive("seq_len", "train_size", "min_freq", "max_vocab")
        check_files(self, "trees", "a file of bracketed trees, one per line")


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
    Config = TreeConfig
    models = ("sequence", "tree-lstm")
    no_tbptt = "a batch of trees is read whole"
    shapes = ("embed", "tree_cell", "tree_form", "classes")

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

    @classmethod
    def from_config(cls, config: TreeConfig, state: dict[str, Any] | None = None) -> TreeTask:
        """The ``trees`` or ``listops`` task ``config`` describes; with ``state`` (a
        checkpoint's), the treebank vocabulary is loaded instead of built."""
        return _listops(config) if config.name == "listops" else _treebank(config, state)

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        """A tiny run: a hundred short expressions, or (trees) a few bracketed sentences
        written to ``directory``."""
        if name == "listops":
            return {"train_size": 100, "seq_len": 10, "valid_size": 20, "test_size": 20}
        path = Path(directory) / "trees.txt"
        lines = ["(3 (2 a) (3 good))", "(1 (1 bad) (2 film))", "(4 (4 great) (3 (2 and) (3 fun)))"]
        path.write_text("\n".join(lines * 4) + "\n", encoding="utf-8")
        return {"data": str(path), "valid": str(path)}

    @classmethod
    def check(cls, config: RunConfig) -> None:
        """Refuse the sequence-model fields a Tree-LSTM would ignore, the Tree-LSTM's fields
        with a sequence model, and operator trees without a Tree-LSTM."""
        super().check(config)
        m, t = config.model, config.task
        if t.tree_form == "operator" and m.name != "tree-lstm":
            raise ConfigError("task.tree_form: 'operator' trees are for --model tree-lstm; a "
                              "sequence model reads the binary form's leaves")  # fmt: skip
        if m.name == "tree-lstm":
            # It builds its own cells: runner options it never reads must not pass as if they
            # had been applied.
            sequence_only = {
                "model.layers": m.layers != 1,
                "model.bidirectional": m.bidirectional,
                "model.pooling": m.pooling != "last",
                "model.cell": m.cell != "lstm",
                "model.init": m.init != "default",
                "model.forget_bias": m.forget_bias is not None,
                "model.peephole": m.peephole,
                "model.norm": m.norm != "none",
                "model.proj_size": m.proj_size is not None,
                "model.residual": m.residual,
                "model.path": m.path != "auto",
                "model.variational": m.variational,
                "model.weight_drop": m.weight_drop != 0,
                "model.zoneout": m.zoneout != 0,
            }
            refuse(sequence_only, "not for --model tree-lstm (set --tree-cell childsum|nary "
                   "instead); leave it at its default")  # fmt: skip
        elif t.tree_cell != "childsum":
            raise ConfigError(f"task.tree_cell: only for --model tree-lstm, got "
                              f"{t.tree_cell!r} with --model {m.name}")  # fmt: skip

    @classmethod
    def resolve_config(cls, config: RunConfig) -> RunConfig:
        """``task.embed`` set from the ``task.embeddings`` file's dimension."""
        from rnnkit.tasks.embeddings import with_embedding_size

        return with_embedding_size(config)

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """A Tree-LSTM classifier (``--model tree-lstm``) or a sequence model over the leaves
        (``--model sequence``), its token table filled from ``task.embeddings`` if given."""
        from rnnkit.models import SequenceModel
        from rnnkit.models.build import initialize_runners, load_embeddings, runner_options
        from rnnkit.tree.model import LeafSequenceModel, TreeClassifier

        m, t = config.model, config.task
        embed = t.embed or m.hidden
        if m.name == "tree-lstm":
            # Binary parses have two ordered children; ListOps operators take up to 5 arguments.
            arity = 2 if t.tree_form == "binary" else 5
            model = TreeClassifier(len(self.vocab), self.output_size, embed_size=embed,
                                   hidden_size=m.hidden, cell=t.tree_cell, arity=arity,
                                   dropout=m.dropout)  # fmt: skip
            table = model.encoder.embed
        else:
            inner = SequenceModel(embed, self.output_size, vocab_size=len(self.vocab),
                                  pooling=m.pooling, **runner_options(m))  # fmt: skip
            if initialize:
                initialize_runners(m, [inner.encoder], span=self.span())
            model, table = LeafSequenceModel(inner), inner.embed
        if initialize:
            load_embeddings(t.embeddings, self.vocab, table, quiet=config.train.quiet)
        return model

    def label(self, config: RunConfig) -> str:
        """The cell, or the Tree-LSTM and its cell."""
        if config.model.name == "tree-lstm":
            return f"tree-lstm ({config.task.tree_cell})"
        return config.model.cell

    def steps_of(self, x: TreeBatch) -> Tensor:
        """The leaves of a batch, left to right (B, T): what a sequence model reads."""
        return x.flat

    def predict_input(self, path: str) -> list:
        raise UsageError(f"a {self.name} model reads trees, not JSON sequences; score files of "
                         "trees with rnnkit evaluate")  # fmt: skip

    def export_example(self) -> Tensor:
        raise ExportError(f"export covers sequence models, not {self.name} models")

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


def _treebank(config: TreeConfig, state: dict[str, Any] | None) -> TreeTask:
    """Task ``trees``: the treebank files of ``config``, the vocabulary from ``state`` or
    built from the training file."""
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


def _listops(config: TreeConfig) -> TreeTask:
    """Task ``listops``: expressions generated from ``config.data_seed``, a fixed
    vocabulary."""
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
