"""Sequence tagging from CoNLL column files (``--task tag``): named entities (BIO tags) or
part-of-speech tags, one tag per token.

Files: ``--data`` (training), ``--valid`` and optionally ``--test`` (else the validation file
is reported as the test set), read by :func:`~rnnkit.text.conll.read_conll`: the token in the
first column, the tag in the last (``--tag-col`` picks another), blank lines between
sentences, ``-DOCSTART-`` lines skipped, a WikiANN-style language prefix (``en:``) stripped
when every token carries the same one. A validation or test tag the training file lacks is an
error.

Tokens: the vocabulary holds the training tokens seen at least ``--min-freq`` times (at most
``--max-vocab``), after ``--lowercase`` if set; any other token reads as ``<unk>``. With
``--min-freq 2`` the model meets ``<unk>`` in training (the words seen once), so it learns
what to do with words it has never seen. The vocabulary and the tag list are saved in every
checkpoint, so a loaded run tags text without its data.

Batches: sentences of similar length (bucketed, a pure function of seed and step), padded with
``<pad>``; inputs :class:`TagInputs` (ids (B, T), lengths (B,)), targets (B, T) tag indices,
:data:`~rnnkit.models.tagger.IGNORE` at padding, where the loss never looks.

Model and loss: a :class:`~rnnkit.models.tagger.Tagger` (``--bidirectional`` for the BiLSTM;
``--crf`` adds a CRF). The loss is the mean cross-entropy per token, or with a CRF the
negative log-likelihood of each sentence's tag sequence divided by the number of tokens;
evaluation decodes by argmax per token, or Viterbi.

Metrics: for entity tags (every tag ``O`` or ``B-``/``I-``/``E-``/``S-`` something) entity-level
``f1`` (the main metric), ``precision`` and ``recall`` through seqeval (its default, conlleval
mode), and token ``accuracy``; for other tags (part of speech) ``accuracy`` only. The baseline
tags each word with its most frequent training tag (unseen words: the most frequent tag),
scored on the validation set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
from torch import Tensor, nn

from rnnkit.errors import ConfigError, ExportError, UsageError
from rnnkit.models.tagger import IGNORE, best_tags, tagging_loss
from rnnkit.tasks.base import Split, Splits, Task, TokenModel
from rnnkit.tasks.embeddings import with_embedding_size
from rnnkit.text.batching import EpochBatches
from rnnkit.text.conll import Sentence, is_entity_scheme, read_conll
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import PAD, UNK, Vocabulary

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig


class TagInputs(NamedTuple):
    """A batch of sentences for :class:`~rnnkit.models.tagger.Tagger`: ``model(*inputs)``."""

    ids: Tensor  # (B, T) token ids, <pad> after each sentence's length
    lengths: Tensor  # (B,) tokens per sentence

    def to(self, device: torch.device | str) -> TagInputs:
        return TagInputs(self.ids.to(device), self.lengths.to(device))


def collate(ids: Sequence[list[int]], tags: Sequence[list[int]] | None = None):
    """Pad sentences of token ids (and their tag indices) into one batch: :class:`TagInputs`,
    and with ``tags`` the (B, T) targets, :data:`IGNORE` at padding."""
    lengths = torch.tensor([len(s) for s in ids], dtype=torch.long)
    T = int(lengths.max())
    x = torch.full((len(ids), T), PAD, dtype=torch.long)  # (B, T)
    for b, s in enumerate(ids):
        x[b, : len(s)] = torch.tensor(s, dtype=torch.long)
    if tags is None:
        return TagInputs(x, lengths)
    y = torch.full((len(ids), T), IGNORE, dtype=torch.long)  # (B, T)
    for b, s in enumerate(tags):
        y[b, : len(s)] = torch.tensor(s, dtype=torch.long)
    return TagInputs(x, lengths), y


class Encoded(NamedTuple):
    """A split as the model reads it: token ids, tag indices and the tag strings."""

    ids: list[list[int]]
    tags: list[list[int]]
    gold: list[list[str]]


@dataclass(frozen=True)
class TagConfig(TokenModel):
    """Tagged sentences from CoNLL column files, their vocabulary, and the tagger's CRF."""

    data: str | None = None
    """The training sentences, a CoNLL column file (a token and its tag per line, blank lines
    between sentences)."""
    valid: str | None = None
    """The validation sentences, in the same form as data."""
    test: str | None = None
    """The test sentences, in the same form as data; None: report the validation set."""
    tag_col: int | None = None
    """The column of the tag, counted from 0 (the token is column 0; e.g. 1 for CoNLL-2003's
    part-of-speech tags); None: the last column."""
    lowercase: bool = False
    """Lowercase tokens before looking them up (also in rnnkit tag; the output keeps them as
    written)."""
    min_freq: int = 1
    """Tokens seen fewer times map to <unk>."""
    max_vocab: int | None = None
    """Keep at most this many tokens; None: all."""
    crf: bool = False
    """Score whole tag sequences with a linear-chain CRF (the BiLSTM-CRF of Lample et al.
    2016): trained on its log-likelihood, decoded by Viterbi."""

    def _check(self) -> None:
        super()._check()
        self._positive("min_freq", "max_vocab")
        if self.tag_col is not None and self.tag_col < 1:
            raise ConfigError(f"task.tag_col: expected a column after the token's (>= 1; "
                              f"None: the last), got {self.tag_col!r}")  # fmt: skip
        form = "a CoNLL file: a token and its tag per line, blank lines between sentences"
        for key in ("data", "valid"):
            if getattr(self, key) is None:
                raise ConfigError(f"task.{key}: task 'tag' needs --{key} FILE ({form})")


class TagTask(Task):
    """Tag every token of a sentence; see the module docstring.

    Args:
        config: the task config (``data``, ``valid``, ``test``, ``tag_col``, ``lowercase``,
            ``min_freq``, ``max_vocab``).
        state: what :meth:`state_dict` saved (the vocabulary and the tags): the task is then
            rebuilt without reading the training file.
    """

    name = "tag"
    output = "tagging"
    input_size = 0  # token ids, not feature vectors
    baseline_label = "most frequent tag per word, on the validation set"
    Config = TagConfig
    no_tbptt = "its texts have their own lengths, which truncated chunks would ignore"
    shapes = ("embed", "crf")

    def __init__(self, config: TagConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.lowercase = config.lowercase
        self._splits = Splits("tag", self._loaders())
        self._encoded: dict[str, Encoded] = {}
        if state is not None:
            self.vocab = Vocabulary.from_dict(state["vocab"])
            self.tags: list[str] = list(state["tags"])
        else:
            train = self._splits["train"]
            corpus = [self.normalize(s.tokens) for s in train]
            self.vocab = Vocabulary.build(corpus, min_freq=config.min_freq,
                                          max_size=config.max_vocab)  # fmt: skip
            counts = Counter(t for s in train for t in s.tags)
            # "O" first, then by name: a fixed order whatever the file's.
            self.tags = sorted(counts, key=lambda t: (t != "O", t))
        self.tag_index = {t: i for i, t in enumerate(self.tags)}
        self.output_size = len(self.tags)
        self.entities = is_entity_scheme(self.tags)
        self.metrics: dict[str, Literal["min", "max"]] = (
            {"f1": "max", "precision": "max", "recall": "max", "accuracy": "max"}
            if self.entities
            else {"accuracy": "max"}
        )

    # -- config and model ----------------------------------------------------------------------
    @classmethod
    def check(cls, config: RunConfig) -> None:
        super().check(config)
        if config.model.pooling != "last":
            raise ConfigError(f"model.pooling: not for task 'tag' (one tag per token, nothing is "
                              f"pooled), got {config.model.pooling!r}; leave it at its "
                              "default")  # fmt: skip

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        words = ["john", "met", "mary", "in", "paris", "and", "rome", "today"]
        path = Path(directory) / "tags.conll"
        path.write_text("".join(f"{w}\t{'O' if i % 3 else 'B-X'}\n" + ("\n" if i % 4 == 3 else "")
                                for i, w in enumerate(words * 5)))  # fmt: skip
        return {"data": str(path), "valid": str(path), "embed": 4}

    @classmethod
    def resolve_config(cls, config: RunConfig) -> RunConfig:
        """``config`` with ``embed`` fixed by the ``--embeddings`` file, if any."""
        return with_embedding_size(config)

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """A :class:`~rnnkit.models.tagger.Tagger` over token ids (an embedding table, from
        ``--embeddings`` if given), with a CRF under ``--crf``."""
        from rnnkit.models.build import initialize_runners, load_embeddings, runner_options
        from rnnkit.models.tagger import Tagger

        m, c = config.model, config.task
        model = Tagger(len(self.vocab), self.output_size, embed_size=c.embed or m.hidden,
                       crf=c.crf, **runner_options(m))  # fmt: skip
        if initialize:
            initialize_runners(m, [model.encoder], span=self.span())
            load_embeddings(c.embeddings, self.vocab, model.embed, quiet=config.train.quiet)
        return model

    # -- data -------------------------------------------------------------------------------
    def _loaders(self) -> dict[str, Callable[[], list[Sentence]]]:
        c = self.config

        def read(path: str) -> Callable[[], list[Sentence]]:
            return lambda: read_conll(path, tag_col=c.tag_col)

        loaders = {"train": read(c.data), "valid": read(c.valid)}
        # Without a test file the validation sentences stand in (read once).
        loaders["test"] = (lambda: self._splits["valid"]) if c.test is None else read(c.test)
        return loaders

    def normalize(self, tokens: Sequence[str]) -> list[str]:
        """Tokens as the vocabulary holds them (lowercased with ``--lowercase``)."""
        return [t.lower() for t in tokens] if self.lowercase else list(tokens)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Token ids of a sentence; unknown tokens read as ``<unk>``."""
        return self.vocab.encode(self.normalize(tokens))

    def sentences(self, split: str) -> list[Sentence]:
        """The sentences of ``split`` ("train", "valid" or "test") as read from its file."""
        return self._splits[split]

    def encoded(self, split: str) -> Encoded:
        """The sentences of ``split`` as token ids and tag indices (encoded once)."""
        cache = self._encoded
        if split not in cache:
            sentences = self.sentences(split)
            path = {"train": self.config.data, "valid": self.config.valid,
                    "test": self.config.test or self.config.valid}[split]  # fmt: skip
            unseen = Counter(t for s in sentences for t in s.tags if t not in self.tag_index)
            if unseen:
                listed = ", ".join(f"{t!r} ({n} tokens)" for t, n in unseen.most_common(5))
                raise DataError(f"{path}: tag(s) {listed} not among the training file's tags: "
                                f"{', '.join(self.tags)}")  # fmt: skip
            cache[split] = Encoded(
                [self.encode(s.tokens) for s in sentences],
                [[self.tag_index[t] for t in s.tags] for s in sentences],
                [list(s.tags) for s in sentences],
            )
        return cache[split]

    def load(self) -> None:
        self._splits.load()
        for split in ("train", "valid", "test"):
            self.encoded(split)
        self._batches  # noqa: B018  (lay out the epochs once, before the first step)

    @cached_property
    def _batches(self) -> EpochBatches:
        return EpochBatches([len(s) for s in self.encoded("train").ids])

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[TagInputs, Tensor]:
        data = self.encoded("train")
        index = self._batches.batch(step, batch_size, seed)
        return collate([data.ids[i] for i in index], [data.tags[i] for i in index])

    def longest_example(self, seed: int) -> tuple[TagInputs, Tensor]:
        data = self.encoded("train")
        i = max(range(len(data.ids)), key=lambda k: len(data.ids[k]))
        return collate([data.ids[i]], [data.tags[i]])

    def eval_set(self, split: Split) -> tuple[TagInputs, Tensor]:
        data = self.encoded(split)
        return collate(data.ids, data.tags)

    @cached_property
    def baseline(self) -> dict[str, float]:  # type: ignore[override]
        """Each word's most frequent training tag (unseen words: the most frequent tag of
        all), scored on the validation set."""
        by_word: dict[str, Counter] = {}
        for s in self.sentences("train"):
            for token, tag in zip(self.normalize(s.tokens), s.tags, strict=True):
                by_word.setdefault(token, Counter())[tag] += 1
        overall = Counter(t for s in self.sentences("train") for t in s.tags).most_common(1)[0][0]
        best = {w: c.most_common(1)[0][0] for w, c in by_word.items()}
        valid = self.sentences("valid")
        guess = [[best.get(t, overall) for t in self.normalize(s.tokens)] for s in valid]
        scores = self.score_tags([list(s.tags) for s in valid], guess)
        return {k: scores[k] for k in self.metrics}

    # -- loss and metrics ----------------------------------------------------------------------
    def loss(self, output: Any, y: Tensor) -> Tensor:
        """Mean cross-entropy per token, or the CRF's negative log-likelihood per token."""
        return tagging_loss(output, y)

    def score_tags(
        self, gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]
    ) -> dict[str, float]:
        """Every metric but the loss, from tag strings: ``gold`` and ``predicted`` hold the
        tags of each sentence."""
        tokens = sum(len(s) for s in gold)
        right = sum(g == p for gs, ps in zip(gold, predicted, strict=True)
                    for g, p in zip(gs, ps, strict=True))  # fmt: skip
        scores = {"accuracy": right / max(tokens, 1)}
        if self.entities:
            from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

            # seqeval joins sentences only when they are lists (not tuples): make them lists.
            p, r, f, _ = precision_recall_fscore_support(
                [list(s) for s in gold], [list(s) for s in predicted], average="micro",
                zero_division=0,
            )  # fmt: skip
            scores = {"f1": float(f), "precision": float(p), "recall": float(r), **scores}
        return scores

    def _names(self, tags: Tensor, lengths: Sequence[int]) -> list[list[str]]:
        rows = tags.tolist()
        return [[self.tags[k] for k in row[:n]] for row, n in zip(rows, lengths, strict=True)]

    def score(self, output: Any, y: Tensor) -> dict[str, float]:
        mask = y != IGNORE
        lengths = mask.sum(1).tolist()
        predicted = best_tags(output, mask)
        scores = self.score_tags(self._names(y, lengths), self._names(predicted, lengths))
        return {**scores, "loss": tagging_loss(output, y).item()}

    def _run(
        self,
        model: nn.Module,
        ids: Sequence[list[int]],
        tags: Sequence[list[int]] | None,
        *,
        batch_size: int,
        device: torch.device | str,
        bf16: bool = False,
    ) -> tuple[list[list[int]], float]:
        """Best tag indices of every sentence (in order), in batches of similar length, and
        the summed loss when ``tags`` are given."""
        device = torch.device(device)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        predicted: list[list[int]] = [[] for _ in ids]
        loss = 0.0
        was_training = model.training
        model.eval()
        with (
            torch.no_grad(),
            torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16),
        ):
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                if tags is None:
                    inputs, y = collate([ids[i] for i in chunk]), None
                else:
                    inputs, y = collate([ids[i] for i in chunk], [tags[i] for i in chunk])
                inputs = inputs.to(device)
                output = model(*inputs)
                mask = torch.arange(inputs.ids.shape[1], device=device) < inputs.lengths[:, None]
                best = best_tags(output, mask).cpu().tolist()
                for row, i in zip(best, chunk, strict=True):
                    predicted[i] = row[: len(ids[i])]
                if y is not None:
                    loss += tagging_loss(output, y.to(device), reduction="sum").item()
        model.train(was_training)
        return predicted, loss

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
        """Every metric and the loss (per token) over ``split``; the same numbers whatever
        the batch size."""
        data = self.encoded(split)
        predicted, loss = self._run(model, data.ids, data.tags, batch_size=batch_size,
                                    device=device, bf16=bf16)  # fmt: skip
        names = [[self.tags[k] for k in row] for row in predicted]
        tokens = sum(len(s) for s in data.ids)
        return {**self.score_tags(data.gold, names), "loss": loss / max(tokens, 1)}

    def tag(
        self,
        model: nn.Module,
        sentences: Sequence[Sequence[str]],
        *,
        batch_size: int = 256,
        device: torch.device | str = "cpu",
    ) -> list[list[str]]:
        """The tags ``model`` gives each sentence (a list of tokens), as :meth:`evaluate`
        decodes them: what ``rnnkit tag`` writes."""
        ids = [self.encode(s) for s in sentences]
        if any(not s for s in ids):
            raise ValueError("sentences: every sentence needs at least one token")
        predicted, _ = self._run(model, ids, None, batch_size=batch_size, device=device)
        return [[self.tags[k] for k in row] for row in predicted]

    def unknown(self, sentences: Sequence[Sequence[str]]) -> int:
        """How many tokens of ``sentences`` read as ``<unk>``."""
        return sum(self.encode(s).count(UNK) for s in sentences)

    # -- rnnkit predict and export ---------------------------------------------------------------
    def predict_input(self, path: str) -> list:
        raise UsageError("a tag model reads sentences; use rnnkit tag")

    def export_example(self) -> Tensor:
        raise ExportError("export covers sequence models, not tag models")

    def state_dict(self) -> dict[str, Any]:
        return {"vocab": self.vocab.to_dict(), "tags": list(self.tags)}

    def describe(self) -> str:
        kind = "entity tags" if self.entities else "tags"
        sizes = ""
        if len(self._encoded) == 3:  # after load(): the sentences of each split
            n = "/".join(str(len(self._encoded[k].ids)) for k in ("train", "valid", "test"))
            sizes = f", {n} sentences"
        return f"tag ({len(self.vocab)} tokens, {len(self.tags)} {kind}{sizes})"
