"""Text classification from files (``--task classify``): one label per text.

Files: ``--data`` (training), optionally ``--valid`` (without it a stratified 10% of the
training texts, drawn with ``--data-seed``, is held out for validation) and ``--test`` (without
it the validation set is reported). Each is read by
:func:`~rnnkit.text.datasets.read_examples`: CSV or TSV with a header (``--text-col``,
``--label-col``), JSON lines (the same keys) or ``<label> <text>`` lines, chosen by extension
or ``--text-format``; a malformed line is an error naming its file and line (``--bad-lines
skip`` drops it instead).

Texts are tokenized by character, word or BPE subword (``--tokenizer``), after optional
lowercasing and punctuation handling (``--lowercase``, ``--punctuation``); the vocabulary is
built from the training part (``--min-freq``, ``--max-vocab``, ``--bpe-size``) and saved in
every checkpoint with the label names, so a loaded run needs no data. Unknown tokens read as
``<unk>``. Labels become class indices in sorted order (numerically when every label is a
number); a validation or test label the training file lacks is an error.

Batches (:class:`TextInputs`: ids (B, T), lengths (B,)) are bucketed by length, epoch after
epoch, and padded with ``<pad>``; the model reads only each text's valid steps. The loss is
the cross-entropy, with ``--class-weights balanced`` weighted by N / (C * N_c) per class.
Metrics: accuracy (the main one) and macro-F1, beside the majority-class baseline.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import ConfigError, ExportError
from rnnkit.tasks.base import (
    Split,
    Task,
    TokenModel,
    classification_scores,
    outputs_by_length,
    rows,
    sorted_labels,
    stratified_holdout,
)
from rnnkit.tasks.embeddings import with_embedding_size
from rnnkit.text.batching import EpochBatches
from rnnkit.text.codec import Codec
from rnnkit.text.datasets import TextExamples, read_examples
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import PAD, UNK, Vocabulary

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

VALID_FRACTION = 0.1  # of the training texts, held out for validation without --valid


class TextInputs(NamedTuple):
    """A batch of texts for :class:`~rnnkit.models.SequenceModel`: ``model(*inputs)``."""

    ids: Tensor  # (B, T) token ids, <pad> after each text's length
    lengths: Tensor  # (B,) tokens per text

    def to(self, device: torch.device | str) -> TextInputs:
        return TextInputs(self.ids.to(device), self.lengths.to(device))


def collate(texts: Sequence[list[int]]) -> TextInputs:
    """Pad token-id lists with ``<pad>`` into one (B, max length) batch, with their lengths."""
    lengths = torch.tensor([len(t) for t in texts], dtype=torch.long)
    ids = torch.full((len(texts), int(lengths.max())), PAD, dtype=torch.long)  # (B, T)
    for b, t in enumerate(texts):
        ids[b, : len(t)] = torch.tensor(t, dtype=torch.long)
    return TextInputs(ids, lengths)


def balanced_weights(y: np.ndarray, num_classes: int) -> np.ndarray:
    """Class weights N / (C * N_c), inverse to each class's frequency in ``y`` (scikit-learn's
    'balanced'); a class absent from ``y`` gets weight 0."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    with np.errstate(divide="ignore"):
        weights = np.where(counts > 0, len(y) / (num_classes * counts), 0.0)
    return weights


@dataclass(frozen=True)
class ClassifyConfig(TokenModel):
    """Labelled texts from files: how they are read and tokenized, the held-out split, and
    the class weights."""

    data: str | None = None
    """The labelled training texts: CSV, TSV, JSON lines or '<label> <text>' lines
    (text_format)."""
    valid: str | None = None
    """The validation texts, in the same form as data; None: a stratified 10% of the
    training texts, drawn with data_seed."""
    test: str | None = None
    """The test texts, in the same form as data; None: report the validation set."""
    text_format: Literal["auto", "csv", "tsv", "jsonl", "label-text"] = "auto"
    """How data, valid and test are read; auto: by extension (.csv; .tsv, .tab; .jsonl,
    .ndjson, .json; anything else, e.g. .txt: '<label> <text>' lines). CSV and TSV files have
    a header naming text_col and label_col."""
    text_col: str = "text"
    """The CSV/TSV column or JSON key of each text."""
    label_col: str = "label"
    """The CSV/TSV column or JSON key of each text's label."""
    encoding: str = "utf-8"
    """The text encoding of the data files (e.g. latin-1)."""
    bad_lines: Literal["error", "skip"] = "error"
    """A malformed line in a data file (no label, empty text, bad JSON, a missing key or
    column) stops with its file and line, or is skipped (counted on stderr)."""
    tokenizer: Literal["char", "word", "bpe"] = "word"
    """Split texts into characters, whitespace words, or BPE subwords (learned on the training
    texts with the tokenizers library)."""
    lowercase: bool = False
    """Lowercase texts before tokenizing them (also when predicting)."""
    punctuation: Literal["keep", "split", "strip"] = "keep"
    """Punctuation marks (Unicode P*) kept as they are, split off as tokens of their own
    ("it's ok." -> it ' s ok .), or stripped, before tokenizing."""
    min_freq: int = 1
    """Tokens seen fewer times map to <unk>; BPE: the fewest times a pair must occur to be
    merged."""
    max_vocab: int | None = None
    """char/word: keep at most this many tokens; None: all."""
    bpe_size: int = 8000
    """BPE: the vocabulary size learned."""
    class_weights: Literal["none", "balanced"] = "none"
    """Weight each class's cross-entropy by N / (C * N_c), inverse to its frequency in the
    training part (balanced), or not at all."""
    data_seed: int = 1234
    """Seed of the held-out validation texts (without valid)."""

    def _check(self) -> None:
        super()._check()
        self._positive("min_freq", "max_vocab", "bpe_size")
        if self.data is None:
            raise ConfigError("task.data: task 'classify' needs --data FILE (labelled texts: "
                              "CSV, TSV, JSON lines or '<label> <text>' lines)")  # fmt: skip
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConfigError(f"task.encoding: unknown text encoding {self.encoding!r} "
                              "(e.g. utf-8, latin-1, cp1252)") from None  # fmt: skip


class ClassifyTask(Task):
    """Labelled texts from files: inputs :class:`TextInputs`, targets (B,) class indices; the
    model returns (B, C) logits. See the module docstring.

    Args:
        config: the task config (``data``, optional ``valid`` and ``test``, the reading,
            tokenizing and vocabulary options, ``class_weights``, ``data_seed``).
        state: what :meth:`state_dict` saved (the codec and the label names): a loaded run
            sizes its model from it and reads no data until asked to evaluate.
    """

    name = "classify"
    output = "classification"
    metrics = {"accuracy": "max", "macro_f1": "max"}
    input_size = 0  # token ids, not feature vectors
    baseline_label = "majority class of the training data"
    Config = ClassifyConfig
    no_tbptt = "its texts have their own lengths, which truncated chunks would ignore"
    shapes = ("embed",)

    def __init__(self, config: ClassifyConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.loaded = False
        self.held_out = 0
        self.codec: Codec | None = None
        self.classes: list[str] | None = None
        self.weights: Tensor | None = None
        if state:
            self.codec = Codec.from_dict(state["codec"])
            self.classes = list(state["classes"])

    # -- config and model ----------------------------------------------------------------------
    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        words = ["good", "bad", "film", "plot", "the", "a", "great", "awful"]
        path = Path(directory) / "texts.txt"
        path.write_text("".join(f"{'pos' if i % 2 else 'neg'} {words[i % 8]} "
                                f"{words[i * 3 % 8]}\n" for i in range(40)))  # fmt: skip
        return {"data": str(path), "embed": 4}

    @classmethod
    def resolve_config(cls, config: RunConfig) -> RunConfig:
        """``config`` with ``embed`` fixed by the ``--embeddings`` file, if any."""
        return with_embedding_size(config)

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """A :class:`~rnnkit.models.SequenceModel` over token ids: an embedding table (from
        ``--embeddings`` if given), the recurrent encoder, a pooled (B, C) head."""
        from rnnkit.models import SequenceModel
        from rnnkit.models.build import initialize_runners, load_embeddings, runner_options

        m, c = config.model, config.task
        model = SequenceModel(c.embed or m.hidden, self.output_size, head="sequence",
                              pooling=m.pooling, vocab_size=len(self.vocab),
                              **runner_options(m))  # fmt: skip
        if initialize:
            initialize_runners(m, [model.encoder], span=self.span())
            load_embeddings(c.embeddings, self.vocab, model.embed, quiet=config.train.quiet)
        return model

    # -- sizes (from the saved state, else from the training file) ---------------------------
    @property
    def vocab(self) -> Vocabulary:
        """The token vocabulary (``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3 first)."""
        if self.codec is None:
            self.load()
        return self.codec.vocab

    @property
    def output_size(self) -> int:
        if self.classes is None:
            self.load()
        return len(self.classes)

    # -- data ----------------------------------------------------------------------------------
    def _read(self, path: str) -> TextExamples:
        c = self.config
        data = read_examples(path, format=c.text_format, text_col=c.text_col,
                             label_col=c.label_col, encoding=c.encoding,
                             bad_lines=c.bad_lines)  # fmt: skip
        if data.skipped:
            print(f"{path}: skipped {len(data.skipped)} malformed line(s) (--bad-lines skip); "
                  f"the first: {data.skipped[0]}", file=sys.stderr)  # fmt: skip
        return data

    def _targets(self, data: TextExamples) -> np.ndarray:
        index = {name: k for k, name in enumerate(self.classes)}
        for label, line in zip(data.labels, data.lines, strict=True):
            if label not in index:
                known = ", ".join(self.classes[:20]) + (", ..." if len(self.classes) > 20 else "")
                raise DataError(f"{data.path}:{line}: label {label!r} is not among the training "
                                f"data's labels: {known}")  # fmt: skip
        return np.array([index[label] for label in data.labels], dtype=np.int64)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (unknown tokens: ``<unk>``; a text with no tokens left after
        normalization reads as one ``<unk>``)."""
        return self.codec.encode(text) or [UNK]

    def load(self) -> None:
        if self.loaded:
            return
        c = self.config
        data = self._read(c.data)
        if self.classes is None:
            self.classes = sorted_labels(data.labels)
            if len(self.classes) < 2:
                raise DataError(f"{c.data}: one label ({self.classes[0]!r}); classification "
                                "needs at least two")  # fmt: skip
        y_all = self._targets(data)
        if c.valid is not None:
            train, valid = data, self._read(c.valid)
            y_train, y_valid = y_all, self._targets(valid)
        else:
            held = stratified_holdout(y_all, VALID_FRACTION, c.data_seed)
            keep = np.setdiff1d(np.arange(len(y_all)), held)
            train, valid = data.subset(keep), data.subset(held)
            y_train, y_valid = y_all[keep], y_all[held]
            self.held_out = len(held)
        if self.codec is None:
            self.codec = Codec.build(
                train.texts, kind=c.tokenizer, min_freq=c.min_freq, max_size=c.max_vocab,
                bpe_size=c.bpe_size, lowercase=c.lowercase, punctuation=c.punctuation,
            )  # fmt: skip
        splits = {"train": (train, y_train), "valid": (valid, y_valid)}
        if c.test is not None:
            test = self._read(c.test)
            splits["test"] = (test, self._targets(test))
        self.data = {name: ([self.encode(t) for t in ex.texts], y) for name, (ex, y) in
                     splits.items()}  # fmt: skip
        self.data.setdefault("test", self.data["valid"])
        if c.class_weights == "balanced":
            self.weights = torch.from_numpy(balanced_weights(y_train, len(self.classes))).float()
        self.loaded = True

    @cached_property
    def _batches(self) -> EpochBatches:
        self.load()
        return EpochBatches([len(ids) for ids in self.data["train"][0]])

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[TextInputs, Tensor]:
        return self.train_batch_part(step, batch_size, seed, 0, 1)

    def train_batch_part(
        self, step: int, batch_size: int, seed: int, rank: int, world: int
    ) -> tuple[TextInputs, Tensor]:
        """A worker's rows of the step's length-bucketed batch (all of them in one process)."""
        ids, y = self._split("train")
        index = rows(self._batches.batch(step, batch_size, seed), rank, world)
        return collate([ids[i] for i in index]), torch.from_numpy(y[index])

    def longest_example(self, seed: int) -> tuple[TextInputs, Tensor]:
        ids, y = self._split("train")
        i = max(range(len(ids)), key=lambda k: len(ids[k]))
        return collate([ids[i]]), torch.from_numpy(y[[i]])

    def _split(self, split: str) -> tuple[list[list[int]], np.ndarray]:
        self.load()
        if split not in self.data:
            raise ValueError(f"split: task 'classify' has no {split!r} data")
        return self.data[split]

    def eval_set(self, split: Split) -> tuple[TextInputs, Tensor]:
        ids, y = self._split(split)
        return collate(ids), torch.from_numpy(y)

    @cached_property
    def baseline(self) -> dict[str, float]:  # type: ignore[override]
        """Always answering the training part's most frequent label, scored on the test set."""
        y_train = self._split("train")[1]
        y_test = self._split("test")[1]
        majority = np.bincount(y_train, minlength=len(self.classes)).argmax()
        return classification_scores(np.full_like(y_test, majority), y_test)

    # -- loss and scores -----------------------------------------------------------------------
    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        """Mean cross-entropy; with class weights, the weighted mean (each text counts its
        class's weight)."""
        weight = None if self.weights is None else self.weights.to(output.device)
        return F.cross_entropy(output.float(), y, weight=weight)

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        scores = classification_scores(output.argmax(-1).cpu().numpy(), y.cpu().numpy())
        scores["loss"] = self.loss(output, y).item()
        return scores

    def logits(
        self,
        model: nn.Module,
        texts: Sequence[list[int]],
        *,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
        bf16: bool = False,
    ) -> Tensor:
        """The model's (N, C) logits for token-id lists, in batches of texts of similar
        length (sorted, so little padding; the order never changes a text's output)."""
        return outputs_by_length(model, list(texts), collate, batch_size=batch_size,
                                 device=device, bf16=bf16)  # fmt: skip

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
        """Accuracy, macro-F1 and the loss of ``model`` on ``split``."""
        ids, y = self._split(split)
        output = self.logits(model, ids, batch_size=batch_size, device=device, bf16=bf16)
        return self.score(output, torch.from_numpy(y))

    def predict(
        self,
        model: nn.Module,
        texts: Sequence[str],
        *,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
    ) -> tuple[list[str], Tensor]:
        """Classify raw texts: the label names (N) and the class probabilities (N, C), columns
        in the order of :attr:`classes`. Needs no data files (a loaded run's codec)."""
        ids = [self.encode(t) for t in texts]
        probs = self.logits(model, ids, batch_size=batch_size, device=device).softmax(-1)
        return [self.classes[k] for k in probs.argmax(-1).tolist()], probs

    # -- rnnkit predict and export ---------------------------------------------------------------
    def predict_input(self, path: str) -> list[str]:
        """One text per line of ``path`` (``-``: standard input)."""
        from rnnkit.inputs import read_texts

        return read_texts(path)

    def predict_batch(self, model: nn.Module, items: list[str]) -> list[str]:
        """One JSON line per text: ``{"label": NAME, "probabilities": {NAME: p}}``, every
        class by name, probabilities rounded to 6 digits."""
        labels, probs = self.predict(model, items, batch_size=len(items))
        return [
            json.dumps({"label": label,
                        "probabilities": {k: round(p, 6) for k, p in zip(self.classes, row,
                                                                         strict=True)}})
            + "\n"
            for label, row in zip(labels, probs.tolist(), strict=True)
        ]  # fmt: skip

    def export_example(self) -> Tensor:
        raise ExportError("export covers sequence models, not classify models")

    def state_dict(self) -> dict[str, Any]:
        self.load()
        return {"codec": self.codec.to_dict(), "classes": list(self.classes)}

    def describe(self) -> str:
        if not self.loaded:
            return f"classify ({self.config.data})"
        c = self.config
        counts = {k: len(v[1]) for k, v in self.data.items()}
        held = (
            f"{counts['valid']} validation held out (stratified 10%, data seed {c.data_seed})"
            if self.held_out
            else f"{counts['valid']} validation"
        )
        test = (f", {counts['test']} test texts" if c.test is not None else
                " texts (no test file: the validation set is reported)")  # fmt: skip
        ids = [i for part in self.data["valid"][0] for i in part]
        unknown = sum(i == UNK for i in ids) / max(len(ids), 1)
        weights = ", balanced class weights" if c.class_weights == "balanced" else ""
        return (f"classify, {len(self.classes)} classes, {c.tokenizer} tokens (vocabulary "
                f"{len(self.vocab)}, {unknown:.1%} of validation tokens unknown): "
                f"{counts['train']} training, {held}{test}{weights}")  # fmt: skip
