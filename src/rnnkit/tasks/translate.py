"""Sequence-to-sequence tasks: ``translate`` (parallel text from your files) and the generated
``reverse``, ``sort`` and ``dates`` (see :mod:`rnnkit.tasks.pairs`).

A batch is ``(Seq2SeqInputs(src, src_lengths, tgt_in), tgt_out)``: source ids with EOS
appended (B, S), their lengths (B,), target inputs BOS + target (B, T) and target outputs
target + EOS (B, T), padded with ``<pad>`` (id 0), which the loss ignores. Validation decodes
the whole set (greedily during training; the final scores with ``task.beam``) and scores the
detokenized text: exact match, BLEU and chrF through ``sacrebleu``, and the teacher-forced token
accuracy.

The model is a :class:`~rnnkit.seq2seq.Seq2Seq` (encoder, attentional decoder); a training
step feeds the decoder the gold previous token with the probability scheduled sampling gives
(``task.teacher_forcing``, ``task.sampling_schedule``). ``rnnkit translate``
(:mod:`rnnkit.tasks.translate_command`) decodes a trained run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.decoding import Hypothesis, beam_search, greedy
from rnnkit.errors import ConfigError, ExportError, UsageError
from rnnkit.seq2seq.schedule import SamplingSchedule, teacher_forcing_ratio
from rnnkit.tasks.base import (
    GeneratedSets,
    Split,
    Splits,
    StepContext,
    Task,
    check_files,
    refuse,
    stream_seed,
)
from rnnkit.text.batching import EpochBatches
from rnnkit.text.codec import Codec
from rnnkit.text.vocab import BOS, EOS, PAD, SPECIALS, Vocabulary

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

Pairs = list[tuple[str, str]]

GENERATED = ("reverse", "sort", "dates")
"""The tasks that generate their pairs; ``translate`` reads yours."""
NAMES = (*GENERATED, "translate")

# Batches are cut from pools of POOL * batch_size examples sorted by length.
POOL = 50


class Seq2SeqInputs(NamedTuple):
    """What a :class:`~rnnkit.seq2seq.Seq2Seq` model reads; pass as ``model(*inputs)``."""

    src: Tensor  # (B, S) source ids, EOS last, PAD after
    src_lengths: Tensor  # (B,) valid source steps
    tgt_in: Tensor  # (B, T) BOS + target ids, PAD after

    def to(self, device: torch.device | str) -> Seq2SeqInputs:
        return Seq2SeqInputs(*(t.to(device) for t in self))


def collate(src_ids: Sequence[list[int]], tgt_ids: Sequence[list[int]]) -> tuple:
    """Pad id lists into ``(Seq2SeqInputs, tgt_out (B, T))``; targets get BOS/EOS here,
    sources must already end in EOS."""
    B = len(src_ids)
    S = max(len(s) for s in src_ids)
    T = max(len(t) for t in tgt_ids) + 1
    src = torch.full((B, S), PAD, dtype=torch.long)
    tgt_in = torch.full((B, T), PAD, dtype=torch.long)
    tgt_out = torch.full((B, T), PAD, dtype=torch.long)
    for b, (s, t) in enumerate(zip(src_ids, tgt_ids, strict=True)):
        src[b, : len(s)] = torch.tensor(s, dtype=torch.long)
        tgt_in[b, : len(t) + 1] = torch.tensor([BOS, *t], dtype=torch.long)
        tgt_out[b, : len(t) + 1] = torch.tensor([*t, EOS], dtype=torch.long)
    lengths = torch.tensor([len(s) for s in src_ids], dtype=torch.long)
    return Seq2SeqInputs(src, lengths, tgt_in), tgt_out


@dataclass(frozen=True)
class Seq2SeqConfig(GeneratedSets):
    """Text to text: generated pairs (reverse, sort, dates) or your files (translate)."""

    name: str = "reverse"
    """The task: reverse, sort or dates (pairs generated from a seed) or translate (pairs
    read from --data)."""
    valid_size: int = 1000
    """reverse, sort, dates: pairs in the generated validation set."""
    test_size: int = 1000
    """reverse, sort, dates: pairs in the generated test set."""
    data_seed: int = 1234
    """reverse, sort, dates: seed of the validation and test sets."""
    seq_len: int = 100
    """reverse, sort: the longest source, in characters."""
    min_len: int = 1
    """reverse, sort: the shortest source (lengths are uniform in [min_len, seq_len])."""
    data: str | None = None
    """translate: the training pairs, a TSV file (source<TAB>target per line) or two
    line-aligned files given as 'SOURCE_FILE,TARGET_FILE'."""
    valid: str | None = None
    """translate: the validation pairs, in the same form as data."""
    test: str | None = None
    """translate: the test pairs, in the same form as data; None: report the validation set."""
    tokenizer: Literal["char", "word", "bpe"] = "word"
    """translate: split text into characters, whitespace words, or BPE subwords (learned on
    the training pairs with the tokenizers library); the generated tasks always use
    characters."""
    min_freq: int = 1
    """translate: tokens seen fewer times map to <unk>; BPE: the fewest times a pair must
    occur to be merged."""
    max_vocab: int | None = None
    """translate (char/word): keep at most this many tokens per side; None: all."""
    bpe_size: int = 8000
    """translate, BPE: the vocabulary size learned per side."""
    embed: int | None = None
    """E, the token embedding size (source and target); None: the hidden size."""
    attention: Literal["none", "dot", "general", "additive"] = "general"
    """The decoder's attention over the encoder outputs (Luong dot or general, Bahdanau
    additive), or none (the decoder sees only the bridged final state)."""
    input_feeding: bool = True
    """Feed the previous attentional state with the next token (Luong)."""
    tie_embeddings: bool = False
    """The output layer shares the target embedding (needs embed == hidden; Inan et al.
    2017, Press & Wolf 2017)."""
    teacher_forcing: float = 1.0
    """The probability of feeding the decoder the gold previous token rather than its own
    sample; with a sampling_schedule, the value it decays to from 1."""
    sampling_schedule: SamplingSchedule = "constant"
    """Scheduled sampling (Bengio et al. 2015): how teacher_forcing falls from 1 at the first
    step to its value at the last."""
    beam: int = 1
    """Beam size for the final validation and test scores (validation during training
    decodes greedily); 1: greedy."""
    length_penalty: float = 0.0
    """Beam search's length penalty alpha (Wu et al. 2016); 0: none."""

    def _check(self) -> None:
        if self.name not in NAMES:
            raise ConfigError(f"task.name: expected one of {', '.join(NAMES)} for a "
                              f"sequence-to-sequence config, got {self.name!r}")  # fmt: skip
        super()._check()
        self._positive("seq_len", "min_len", "min_freq", "max_vocab", "bpe_size", "embed", "beam")
        self._positive("length_penalty", allow_zero=True)
        if self.min_len > self.seq_len and self.name in ("reverse", "sort"):
            raise ConfigError(
                f"task.min_len: {self.min_len} is above seq_len {self.seq_len} (the longest source)"
            )
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ConfigError(
                f"task.teacher_forcing: expected a number in [0, 1], got {self.teacher_forcing!r}"
            )
        check_files(
            self, "translate", "a TSV file of source<TAB>target lines, or SOURCE_FILE,TARGET_FILE"
        )


class Translation(NamedTuple):
    """One source's decoded outputs, best first: texts and their beam scores."""

    texts: list[str]
    scores: list[float]
    hypotheses: list[Hypothesis]


class Seq2SeqTask(Task):
    """Text in, text out: ``reverse``, ``sort``, ``dates`` and ``translate``.

    Args:
        name: the config name.
        source, target: the codecs of each side (they may be the same object).
        pairs: split name (``"train"``, ``"valid"``, ``"test"``) -> a function returning that
            split's ``(source, target)`` pairs; called once, when the split is first needed
            (so a loaded model translates without its training files).
        generate: for generated tasks, ``generate(n, seed)`` -> n fresh training pairs; each
            step draws its own. Without it, training runs over ``pairs["train"]`` in
            length-bucketed batches, reshuffled every epoch.
        target_metric: ``(metric, threshold)`` that counts as solved, or None.
        metrics: metric names, main first (each is better higher).
        teacher_forcing, sampling_schedule: the gold-token probability a training step feeds
            the decoder, and how it falls to that value from 1 over the run
            (:func:`~rnnkit.seq2seq.schedule.teacher_forcing_ratio`).
        beam, length_penalty: how the run's final scores decode (``evaluate(final=True)``).
    """

    output = "seq2seq"
    baseline_label = "copy-the-source baseline"
    input_size = 0  # token ids, not feature vectors
    output_size = 0
    Config = Seq2SeqConfig
    no_tbptt = "the encoder reads the whole source before the decoder starts"
    shapes = ("embed", "attention", "input_feeding", "tie_embeddings")

    def __init__(
        self,
        name: str,
        *,
        source: Codec,
        target: Codec,
        pairs: dict[str, Callable[[], Pairs]],
        generate: Callable[[int, int], Pairs] | None = None,
        target_metric: tuple[str, float] | None = None,
        metrics: Sequence[str] = ("exact_match", "token_accuracy", "bleu", "chrf"),
        teacher_forcing: float = 1.0,
        sampling_schedule: SamplingSchedule = "constant",
        beam: int = 1,
        length_penalty: float = 0.0,
    ) -> None:
        self.name = name
        self.src_codec, self.tgt_codec = source, target
        self._splits = Splits(name, pairs)
        self._generate = generate
        self.target = target_metric
        self.metrics = {m: "max" for m in metrics}
        self.teacher_forcing, self.sampling_schedule = teacher_forcing, sampling_schedule
        self.beam, self.length_penalty = beam, length_penalty

    @classmethod
    def from_config(cls, config: Seq2SeqConfig, state: dict[str, Any] | None = None) -> Seq2SeqTask:
        """The task ``config`` describes; with ``state`` (a checkpoint's), its codecs are
        loaded instead of learned from the training file."""
        heads = dict(teacher_forcing=config.teacher_forcing,
                     sampling_schedule=config.sampling_schedule, beam=config.beam,
                     length_penalty=config.length_penalty)  # fmt: skip
        if config.name in GENERATED:
            return cls(config.name, **_generated(config), target_metric=("exact_match", 0.99),
                       **heads)  # fmt: skip
        loaders = {"train": lambda: read_pairs(config.data),
                   "valid": lambda: read_pairs(config.valid)}  # fmt: skip
        if config.test is None:  # the validation pairs are reported
            loaders["test"] = loaders["valid"]
        else:
            loaders["test"] = lambda: read_pairs(config.test)
        if state is not None:
            source, target = Codec.from_dict(state["source"]), Codec.from_dict(state["target"])
        else:
            train = loaders["train"]()
            loaders["train"] = lambda: train
            options = dict(kind=config.tokenizer, min_freq=config.min_freq,
                           max_size=config.max_vocab, bpe_size=config.bpe_size)  # fmt: skip
            source = Codec.build((s for s, _ in train), **options)
            target = Codec.build((t for _, t in train), **options)
        return cls("translate", source=source, target=target, pairs=loaders,
                   metrics=("bleu", "chrf", "exact_match", "token_accuracy"), **heads)  # fmt: skip

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        """A tiny run: short generated strings, half of the decoder's inputs its own samples,
        decoded with a beam of 2; or (translate) a dozen word pairs written to ``directory``.
        (A decaying sampling_schedule is a function of train.steps: a run resumed with more
        steps would not match one planned that long.)"""
        if name == "translate":
            path = Path(directory) / "pairs.tsv"
            words = [("the cat", "le chat"), ("a dog", "un chien"), ("the dog", "le chien")]
            path.write_text("".join(f"{s}\t{t}\n" for s, t in words * 4), encoding="utf-8")
            return {"data": str(path), "valid": str(path), "embed": 4}
        sizes = {"valid_size": 16, "test_size": 16} | ({} if name == "dates" else {"seq_len": 5})
        return sizes | {"beam": 2, "teacher_forcing": 0.5}

    @classmethod
    def check(cls, config: RunConfig) -> None:
        """Refuse what a sequence model has and this encoder-decoder does not use (pooling, a
        projection), and tied embeddings of two sizes."""
        super().check(config)
        m, t = config.model, config.task
        refuse({"model.pooling": m.pooling != "last", "model.proj_size": m.proj_size is not None},
               f"not for sequence-to-sequence tasks (task {t.name!r}); leave it at its "
               "default")  # fmt: skip
        if t.tie_embeddings and t.embed not in (None, m.hidden):
            raise ConfigError(f"task.tie_embeddings: needs embed == hidden, got embed {t.embed} "
                              f"and hidden {m.hidden}")  # fmt: skip

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """A :class:`~rnnkit.seq2seq.Seq2Seq` between the two vocabularies: encoder and
        decoder are runners as ``config.model`` describes."""
        from rnnkit.models.build import initialize_runners, runner_options
        from rnnkit.seq2seq import Seq2Seq

        m, t = config.model, config.task
        model = Seq2Seq(len(self.src_codec), len(self.tgt_codec), embed_size=t.embed or m.hidden,
                        attention=t.attention, input_feeding=t.input_feeding,
                        tie_embeddings=t.tie_embeddings, **runner_options(m))  # fmt: skip
        if initialize:
            initialize_runners(m, [model.encoder, model.decoder], span=self.span())
        return model

    def train_step(self, net: nn.Module, x: Seq2SeqInputs, y: Tensor, ctx: StepContext) -> float:
        """Forward and backward of one batch, the decoder fed gold tokens with the scheduled
        probability at ``ctx.step`` (its samples draw from torch's global RNG)."""
        ratio = teacher_forcing_ratio(ctx.step, ctx.steps, final=self.teacher_forcing,
                                      schedule=self.sampling_schedule)  # fmt: skip
        with ctx.autocast():
            loss = self.loss(net(*x, teacher_forcing=ratio), y)
        loss.backward()
        return loss.item()

    def predict_input(self, path: str) -> list:
        raise UsageError(f"a {self.name} model reads text; use rnnkit translate")

    def export_example(self) -> Tensor:
        raise ExportError(
            f"export covers sequence models; a {self.name} model decodes step by step (beam "
            "search), which ONNX and TorchScript do not capture"
        )

    # -- data -------------------------------------------------------------------------------
    def pairs(self, split: str) -> Pairs:
        """The ``(source, target)`` strings of ``split`` (read or generated once)."""
        return self._splits[split]

    def load(self) -> None:
        self._splits.load()
        if self._generate is None:
            # Tokenize the training set and lay out its epochs now, once, before training
            # starts: not inside the first step, and not again in each data-loading worker.
            self._batches  # noqa: B018

    def encode_source(self, text: str) -> list[int]:
        return self.src_codec.encode(text, eos=True)

    def _encode(self, pairs: Pairs) -> tuple[list[list[int]], list[list[int]]]:
        sources = [self.encode_source(s) for s, _ in pairs]
        return sources, [self.tgt_codec.encode(t) for _, t in pairs]

    @cached_property
    def _train_ids(self) -> tuple[list[list[int]], list[list[int]]]:
        return self._encode(self.pairs("train"))

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple:
        if self._generate is not None:
            pairs = self._generate(batch_size, stream_seed(seed, "train", step))
            return collate(*self._encode(pairs))
        src, tgt = self._train_ids
        batch = self._batches.batch(step, batch_size, seed)
        return collate([src[i] for i in batch], [tgt[i] for i in batch])

    def longest_example(self, seed: int) -> tuple:
        if self._generate is not None:
            return self.train_batch(1, 1, seed)
        src, tgt = self._train_ids
        i = max(range(len(src)), key=lambda k: len(src[k]) + len(tgt[k]))
        return collate([src[i]], [tgt[i]])

    @cached_property
    def _batches(self) -> EpochBatches:
        return EpochBatches([len(s) for s in self._train_ids[0]], pool=POOL)

    def eval_set(self, split: Split) -> tuple:
        return collate(*self._encode(self.pairs(split)))

    # -- loss and metrics -------------------------------------------------------------------
    def loss(self, output: Tensor, y: Tensor) -> Tensor:
        """Mean cross-entropy per target token; ``<pad>`` positions are ignored."""
        return F.cross_entropy(output.flatten(0, 1).float(), y.flatten(), ignore_index=PAD)

    def score(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """Teacher-forced loss and token accuracy of logits (B, T, V) against ``y`` (B, T)."""
        valid = y != PAD
        correct = (output.argmax(-1) == y) & valid
        return {
            "loss": self.loss(output, y).item(),
            "token_accuracy": correct.sum().item() / max(valid.sum().item(), 1),
        }

    @staticmethod
    def text_metrics(hypotheses: list[str], references: list[str]) -> dict[str, float]:
        """Exact match (fraction of identical strings), BLEU and chrF (sacrebleu, 0-100)."""
        import sacrebleu

        if len(hypotheses) != len(references):
            raise ValueError(f"hypotheses: {len(hypotheses)} for {len(references)} references")
        exact = sum(h == r for h, r in zip(hypotheses, references, strict=True))
        return {
            "exact_match": exact / max(len(references), 1),
            "bleu": sacrebleu.corpus_bleu(hypotheses, [references]).score,
            "chrf": sacrebleu.corpus_chrf(hypotheses, [references]).score,
        }

    @cached_property
    def baseline(self) -> dict[str, float]:  # type: ignore[override]
        """What copying each source unchanged scores on the validation set."""
        sources, references = zip(*self.pairs("valid"), strict=True)
        scores = self.text_metrics(list(sources), list(references))
        return {k: scores[k] for k in self.metrics if k in scores}

    def evaluate(
        self,
        model: nn.Module,
        split: Split,
        *,
        batch_size: int = 500,
        device: torch.device | str = "cpu",
        bf16: bool = False,
        final: bool = False,
        beam: int | None = None,
        length_penalty: float | None = None,
    ) -> dict[str, float]:
        """Teacher-forced loss and token accuracy, then decode ``split`` and score the text.

        Decoding is greedy, or for the ``final`` scores as the task's ``beam`` and
        ``length_penalty`` say; ``beam`` and ``length_penalty`` given here override both.
        """
        if beam is None:
            beam = self.beam if final else 1
        if length_penalty is None:
            length_penalty = self.length_penalty if final else 0.0
        device = torch.device(device)
        pairs = self.pairs(split)
        src_ids, tgt_ids = self._encode(pairs)
        was_training = model.training
        model.eval()
        total_loss, tokens, correct = 0.0, 0, 0
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            for start in range(0, len(pairs), batch_size):
                inputs, y = collate(
                    src_ids[start : start + batch_size], tgt_ids[start : start + batch_size]
                )
                y = y.to(device)
                logits = model(*inputs.to(device)).float()
                valid = y != PAD
                n = int(valid.sum())
                total_loss += self.loss(logits, y).item() * n
                correct += int(((logits.argmax(-1) == y) & valid).sum())
                tokens += n
        translations = self.translate(
            model,
            [s for s, _ in pairs],
            beam=beam,
            length_penalty=length_penalty,
            batch_size=batch_size,
            device=device,
        )
        model.train(was_training)
        metrics = self.text_metrics([t.texts[0] for t in translations], [t for _, t in pairs])
        metrics["token_accuracy"] = correct / max(tokens, 1)
        metrics["loss"] = total_loss / max(tokens, 1)
        return {k: metrics[k] for k in [*self.metrics, "loss"]}

    # -- decoding ---------------------------------------------------------------------------
    def translate(
        self,
        model: nn.Module,
        sources: Sequence[str],
        *,
        beam: int = 1,
        n_best: int = 1,
        length_penalty: float = 0.0,
        max_len: int | None = None,
        batch_size: int = 64,
        device: torch.device | str = "cpu",
    ) -> list[Translation]:
        """Decode ``sources`` (greedy when ``beam`` is 1), in input order.

        Sources are batched by length. ``max_len`` caps the output tokens; None: twice the
        batch's longest source plus 10.
        """
        if beam < 1 or not 1 <= n_best <= beam:
            raise ValueError(f"beam, n_best: expected 1 <= n_best <= beam, got {n_best}, {beam}")
        device = torch.device(device)
        ids = [self.encode_source(s) for s in sources]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        results: list[Translation | None] = [None] * len(ids)
        was_training = model.training
        model.eval()

        def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
            log_probs, state = model.step(tokens.to(device), state)
            return log_probs.float().cpu(), state

        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                chunk = order[start : start + batch_size]
                inputs, _ = collate([ids[i] for i in chunk], [[]] * len(chunk))
                state = model.encode(inputs.src.to(device), inputs.src_lengths.to(device))
                limit = max_len or 2 * inputs.src.shape[1] + 10
                common = dict(batch_size=len(chunk), bos=BOS, eos=EOS, max_len=limit)
                if beam == 1:
                    found = [[h] for h in greedy(step, state, **common)]
                else:
                    found = beam_search(
                        step, state, beam_size=beam, n_best=n_best, alpha=length_penalty,
                        reorder=model.reorder_state, **common,
                    )  # fmt: skip
                for i, hyps in zip(chunk, found, strict=True):
                    texts = [self.tgt_codec.decode(h.tokens) for h in hyps]
                    results[i] = Translation(texts, [h.score for h in hyps], hyps)
        model.train(was_training)
        return results  # type: ignore[return-value]

    # -- after training ---------------------------------------------------------------------
    def report(self, model: nn.Module, run_dir: Path, *, device: torch.device | str) -> None:
        """Write ``attention.png``: the attention heatmap of the first validation example."""
        if getattr(model, "attention", None) is None:
            return
        from rnnkit.report.plots import plot_attention

        source, reference = self.pairs("valid")[0]
        (translation,) = self.translate(model, [source], device=device)
        out_ids = translation.hypotheses[0].tokens  # ends with EOS unless cut at max_len
        src_ids = self.encode_source(source)
        inputs, _ = collate([src_ids], [out_ids[:-1] if out_ids[-1:] == [EOS] else out_ids])
        was_training = model.training
        model.eval()
        with torch.no_grad():
            tgt_in = inputs.tgt_in[:, : len(out_ids)]
            _, weights = model(*inputs._replace(tgt_in=tgt_in).to(device), return_attention=True)
        model.train(was_training)
        plot_attention(
            weights[0].float().cpu(),
            [self.src_codec.vocab.itos[i] for i in src_ids],
            [self.tgt_codec.vocab.itos[i] for i in out_ids],
            run_dir / "attention.png",
            title=f"{source!r} -> {translation.texts[0]!r} (reference {reference!r})",
        )

    def state_dict(self) -> dict[str, Any]:
        """The codecs, for the checkpoint (a loaded model needs no training files)."""
        return {"source": self.src_codec.to_dict(), "target": self.tgt_codec.to_dict()}

    def describe(self) -> str:
        sizes = f"{len(self.src_codec)} -> {len(self.tgt_codec)}"
        return f"{self.name} (vocabulary {sizes}, {self.src_codec.kind} tokens)"


def read_pairs(spec: str) -> Pairs:
    """Pairs from ``FILE.tsv`` or ``SOURCE_FILE,TARGET_FILE`` (the ``--data`` forms)."""
    from rnnkit.text.parallel import DataError, read_parallel

    parts = spec.split(",")
    if len(parts) == 1:
        return read_parallel(parts[0])
    if len(parts) == 2 and all(parts):
        return read_parallel(parts[0], parts[1])
    raise DataError(
        f"{spec!r}: expected a TSV file or two line-aligned files 'SOURCE_FILE,TARGET_FILE'"
    )


def _generated(config: Seq2SeqConfig) -> dict[str, Any]:
    """The codec, held-out pairs and training generator of task ``reverse``, ``sort`` or
    ``dates``: :class:`Seq2SeqTask` arguments."""
    from rnnkit.tasks import pairs as generators

    valid_seed = stream_seed(config.data_seed, "valid")
    test_seed = stream_seed(config.data_seed, "test")
    codec = Codec("char", Vocabulary([*SPECIALS, *sorted(generators.ALPHABETS[config.name])]))
    if config.name == "dates":
        # Held-out sets draw every fifth day, training the others: test dates are never seen.
        def generate(n: int, s: int, held_out: bool | None = False) -> Pairs:
            return generators.dates(n, seed=s, held_out=held_out)

        valid = lambda: generate(config.valid_size, valid_seed, True)  # noqa: E731
        test = lambda: generate(config.test_size, test_seed, True)  # noqa: E731
    else:
        make = generators.reversal if config.name == "reverse" else generators.sorting
        lengths = dict(min_len=config.min_len, max_len=config.seq_len)

        def generate(n: int, s: int) -> Pairs:
            return make(n, seed=s, **lengths)

        valid = lambda: generate(config.valid_size, valid_seed)  # noqa: E731
        test = lambda: generate(config.test_size, test_seed)  # noqa: E731
    return dict(source=codec, target=codec, pairs={"valid": valid, "test": test},
                generate=generate)  # fmt: skip
