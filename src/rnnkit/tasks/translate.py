"""Sequence-to-sequence tasks: ``translate`` (parallel text from your files) and the generated
``reverse``, ``sort`` and ``dates`` (see :mod:`rnnkit.tasks.pairs`).

A batch is ``(Seq2SeqInputs(src, src_lengths, tgt_in), tgt_out)``: source ids with EOS
appended (B, S), their lengths (B,), target inputs BOS + target (B, T) and target outputs
target + EOS (B, T), padded with ``<pad>`` (id 0), which the loss ignores. Validation decodes
the whole set (greedy, or beam search with ``train.beam``) and scores the detokenized text:
exact match, BLEU and chrF through ``sacrebleu``, and the teacher-forced token accuracy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.decoding import Hypothesis, beam_search, greedy
from rnnkit.tasks.base import Split, Splits, Task, stream_seed
from rnnkit.text.batching import EpochBatches
from rnnkit.text.codec import Codec
from rnnkit.text.vocab import BOS, EOS, PAD, SPECIALS, Vocabulary

if TYPE_CHECKING:
    from rnnkit.training.config import TaskConfig

Pairs = list[tuple[str, str]]

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


class Translation(NamedTuple):
    """One source's decoded outputs, best first: texts and their beam scores."""

    texts: list[str]
    scores: list[float]
    hypotheses: list[Hypothesis]


class Seq2SeqTask(Task):
    """Text in, text out.

    Args:
        name: the config name.
        source, target: the codecs of each side (they may be the same object).
        pairs: split name (``"train"``, ``"valid"``, ``"test"``) -> a function returning that
            split's ``(source, target)`` pairs; called once, when the split is first needed
            (so a loaded model translates without its training files).
        generate: for generated tasks, ``generate(n, seed)`` -> n fresh training pairs; each
            step draws its own. Without it, training runs over ``pairs["train"]`` in
            length-bucketed batches, reshuffled every epoch.
        target: ``(metric, threshold)`` that counts as solved, or None.
        metrics: metric names, main first (each is better higher).
    """

    output = "seq2seq"
    baseline_label = "copy-the-source baseline"
    input_size = 0  # token ids, not feature vectors
    output_size = 0

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
    ) -> None:
        self.name = name
        self.src_codec, self.tgt_codec = source, target
        self._splits = Splits(name, pairs)
        self._generate = generate
        self.target = target_metric
        self.metrics = {m: "max" for m in metrics}

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
        beam: int = 1,
        length_penalty: float = 0.0,
    ) -> dict[str, float]:
        """Teacher-forced loss and token accuracy, then decode ``split`` and score the text."""
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


def build_seq2seq_task(config: TaskConfig, state: dict[str, Any] | None = None) -> Seq2SeqTask:
    """The ``reverse``, ``sort``, ``dates`` or ``translate`` task ``config`` describes; with
    ``state`` (a checkpoint's), its codecs are loaded instead of learned."""
    from rnnkit.tasks import pairs as generators

    valid_seed = stream_seed(config.data_seed, "valid")
    test_seed = stream_seed(config.data_seed, "test")
    if config.name != "translate":
        alphabet = generators.ALPHABETS[config.name]
        codec = Codec("char", Vocabulary([*SPECIALS, *sorted(alphabet)]))
        if config.name == "dates":

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
        return Seq2SeqTask(
            config.name,
            source=codec,
            target=codec,
            pairs={"valid": valid, "test": test},
            generate=generate,
            target_metric=("exact_match", 0.99),
        )
    loaders = {"train": lambda: read_pairs(config.data), "valid": lambda: read_pairs(config.valid)}
    loaders["test"] = loaders["valid"] if config.test is None else lambda: read_pairs(config.test)
    if state is not None:
        source, target = Codec.from_dict(state["source"]), Codec.from_dict(state["target"])
    else:
        train = loaders["train"]()
        loaders["train"] = lambda: train
        options = dict(
            kind=config.tokenizer,
            min_freq=config.min_freq,
            max_size=config.max_vocab,
            bpe_size=config.bpe_size,
        )
        source = Codec.build((s for s, _ in train), **options)
        target = Codec.build((t for _, t in train), **options)
    return Seq2SeqTask(
        "translate",
        source=source,
        target=target,
        pairs=loaders,
        metrics=("bleu", "chrf", "exact_match", "token_accuracy"),
    )
