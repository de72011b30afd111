"""Language modelling on plain text, by character, word or BPE subword: predict every next
token, with the state carried from one batch to the next (truncated BPTT over the whole
corpus, as in Zaremba et al. 2014 and Merity et al. 2017).

The training text becomes one stream of ids (words and subwords get ``<eos>`` at each line's
end; characters keep the newlines). The stream is cut into B parallel streams (B = the batch
size); step k reads the next ``seq_len`` tokens of each stream and predicts the ones after
them, starting from the state where step k - 1 stopped (gradients stop at the batch border).
Each epoch begins at a random offset in [0, seq_len) drawn from (seed, epoch), so the windows'
borders move between epochs, and with a fresh state. Evaluation reads the validation (or
test) text the same way in ``EVAL_STREAMS`` streams and scores every token: cross-entropy in
nats per token (``loss``), perplexity, and bits per token (bits per character for ``char``).

Without ``--valid``, the last 10% of ``--data`` (by characters) is the validation text (the
usual Tiny Shakespeare split); without ``--test``, the test scores are the validation's.

The model is an AWD-style :class:`~rnnkit.models.language.LanguageModel` (``--embed``,
``--tie-embeddings``, ``--embed-dropout``, ``--input-dropout``); ``rnnkit generate``
(:mod:`rnnkit.tasks.lm_command`) samples text from a trained one.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnkit.cells.base import LSTMState, detach
from rnnkit.errors import ConfigError, ExportError, UsageError
from rnnkit.tasks.base import Split, StepContext, Task, refuse, stream_seed
from rnnkit.text.codec import Codec
from rnnkit.text.parallel import DataError, read_bytes
from rnnkit.text.vocab import EOS
from rnnkit.training.config import TaskConfig

if TYPE_CHECKING:
    from rnnkit.training.config import RunConfig

EVAL_STREAMS = 10  # streams read side by side at evaluation (AWD-LSTM's evaluation batch)
VALID_SHARE = 0.1  # the last 10% of --data when there is no --valid


def read_text(path: str | Path) -> str:
    """The UTF-8 text of ``path``; :class:`DataError` naming the file (and line) if it cannot
    be used."""
    path = Path(path)
    data = read_bytes(path)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a byte-order mark is not text: it would become a token of its own
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not text.strip():
        raise DataError(f"{path}: empty text")
    return text


@dataclass(frozen=True)
class LanguageModelConfig(TaskConfig):
    """A language model of a text file: the files, how text becomes tokens, the window, and
    the model's embeddings."""

    data: str | None = None
    """The training text, a plain UTF-8 file."""
    valid: str | None = None
    """The validation text; None: the last 10% of data (by characters)."""
    test: str | None = None
    """The test text; None: report the validation text."""
    seq_len: int = 100
    """T: tokens per training window, the truncated-BPTT length (the state carries from one
    window to the next), and per chunk at evaluation."""
    tokenizer: Literal["char", "word", "bpe"] = "word"
    """Split text into characters (newlines kept), whitespace words, or BPE subwords (learned
    on the training text with the tokenizers library); words and subwords end each line with
    <eos>."""
    min_freq: int = 1
    """Tokens seen fewer times map to <unk>; BPE: the fewest times a pair must occur to be
    merged."""
    max_vocab: int | None = None
    """char/word: keep at most this many tokens; None: all."""
    bpe_size: int = 8000
    """BPE: the vocabulary size learned."""
    embed: int | None = None
    """E, the token embedding size; None: the hidden size."""
    tie_embeddings: bool = False
    """The output layer shares the embedding table (needs embed == hidden, or an LSTM with
    proj_size == embed; Inan et al. 2017, Press & Wolf 2017)."""
    embed_dropout: float = 0.0
    """Drop whole words from the embedding table (AWD-LSTM's dropoute)."""
    input_dropout: float = 0.0
    """Dropout on the embeddings fed to the first layer (AWD-LSTM's dropouti)."""

    def _check(self) -> None:
        self._positive("seq_len", "min_freq", "max_vocab", "bpe_size", "embed")
        for name in ("embed_dropout", "input_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"task.{name}: expected a number in [0, 1), got "
                                  f"{getattr(self, name)!r}")  # fmt: skip
        if self.data is None:
            raise ConfigError("task.data: task 'lm' needs --data FILE (plain UTF-8 text)")


class LanguageModelTask(Task):
    """Next-token prediction over a text file: x (B, seq_len) ids, y (B, seq_len) the ids one
    step later; the model returns ``(logits (B, T, V), state)`` and :meth:`train_step` carries
    the state from one training batch to the next (:meth:`resets` says when to start afresh;
    the checkpoint keeps it, :meth:`carried`).

    ``state`` (from :meth:`state_dict`) rebuilds a trained run's task without its text: the
    codec and the first token of the training text (where ``rnnkit generate`` starts by
    default)."""

    name = "lm"
    output = "lm"
    baseline_label = "unigram model, on the validation text"
    Config = LanguageModelConfig
    no_tbptt = ("a left-to-right model of every next token; --seq-len sets its truncated-BPTT "
                "window")  # fmt: skip
    shapes = ("embed", "tie_embeddings")

    def __init__(self, config: LanguageModelConfig, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.seq_len = config.seq_len
        self.char = config.tokenizer == "char"
        unit = "character" if self.char else "token"
        self.metrics = {"bpc" if self.char else "bits": "min", "perplexity": "min"}
        self.unit = unit
        self.baseline = {}
        self.input_size = 0  # token ids, not features
        self.loaded = False
        self._streams: dict[int, Tensor] = {}
        self.codec: Codec | None = None
        # The state at the end of the last training batch, detached: the next batch's streams
        # continue from it. h (L, B, H), or an LSTMState of h and c.
        self.carry: Tensor | LSTMState | None = None
        if state:
            self.codec = Codec.from_dict(state["codec"])
            self.start = state["start"]
            self.output_size = len(self.codec)

    # -- config and model ----------------------------------------------------------------------
    @classmethod
    def check(cls, config: RunConfig) -> None:
        super().check(config)
        m, c = config.model, config.task
        refuse({"model.bidirectional": m.bidirectional, "model.residual": m.residual,
                "model.pooling": m.pooling != "last"},
               f"not for task 'lm' ({cls.no_tbptt})")  # fmt: skip
        output = m.proj_size or m.hidden  # what the last layer gives
        if c.tie_embeddings and c.embed not in (None, output):
            raise ConfigError(
                f"task.tie_embeddings: needs embed == hidden (or an LSTM's proj_size), got "
                f"embed {c.embed} and hidden {m.hidden}"
            )

    @classmethod
    def example(cls, name: str, directory: Path) -> dict[str, Any]:
        path = Path(directory) / "lm.txt"
        path.write_text("the cat sat on the mat.\nthe dog sat on the log.\n" * 20)
        return {"data": str(path), "tokenizer": "char", "seq_len": 8}

    def build_model(self, config: RunConfig, *, initialize: bool = True) -> nn.Module:
        """An AWD-style :class:`~rnnkit.models.language.LanguageModel` over the codec's
        tokens."""
        from rnnkit.models.build import initialize_runners, runner_options
        from rnnkit.models.language import LanguageModel

        m, c = config.model, config.task
        runner = runner_options(m)
        for name in ("bidirectional", "residual"):  # refused by check: one direction, no skips
            del runner[name]
        runner["variational"] = m.variational
        if self.codec is None:  # a new run's task, its text not read yet
            self.load()
        model = LanguageModel(len(self.codec), embed_size=c.embed or m.hidden,
                              tie_embeddings=c.tie_embeddings, embed_dropout=c.embed_dropout,
                              input_dropout=c.input_dropout, **runner)  # fmt: skip
        if initialize:
            initialize_runners(m, [model.rnn], span=self.span())
        return model

    def span(self) -> int:
        return self.seq_len  # a training window; the state carries beyond it, gradients do not

    # -- data ----------------------------------------------------------------------------------
    def load(self) -> None:
        if self.loaded:
            return
        c = self.config
        text = read_text(c.data)
        if c.valid:
            train_text, valid_text = text, read_text(c.valid)
        else:
            cut = int(len(text) * (1 - VALID_SHARE))
            train_text, valid_text = text[:cut], text[cut:]
        test_text = read_text(c.test) if c.test else None
        self.codec = Codec.build(train_text.splitlines(keepends=self.char), kind=c.tokenizer,
                                 min_freq=c.min_freq, max_size=c.max_vocab,
                                 bpe_size=c.bpe_size)  # fmt: skip
        self.output_size = len(self.codec)
        self.ids = {"train": self.encode(train_text), "valid": self.encode(valid_text)}
        self.ids["test"] = self.encode(test_text) if test_text else self.ids["valid"]
        if len(self.ids["train"]) < 2 * self.seq_len + 2:
            raise DataError(f"{c.data}: {len(self.ids['train'])} training tokens, too few for "
                            f"windows of seq_len {self.seq_len}")  # fmt: skip
        self.start = self.codec.decode(self.ids["train"][:1].tolist()) or "\n"
        self.loaded = True
        self.baseline = self._unigram("valid")

    def encode(self, text: str) -> Tensor:
        """(N,) ids of ``text``: characters as they are (newlines too); words and subwords line
        by line, each line ending in ``<eos>``."""
        assert self.codec is not None
        if self.char:
            return torch.tensor(self.codec.encode(text), dtype=torch.long)
        ids: list[int] = []
        for line in text.splitlines():
            ids.extend(self.codec.encode(line))
            ids.append(EOS)
        return torch.tensor(ids, dtype=torch.long)

    def _unigram(self, split: str) -> dict[str, float]:
        """The memoryless baseline: training frequencies (add-one smoothed) scored on
        ``split``."""
        counts = Counter(self.ids["train"].tolist())
        total, V = sum(counts.values()), len(self.codec)
        nats = -sum(n * math.log((counts.get(i, 0) + 1) / (total + V))
                    for i, n in Counter(self.ids[split].tolist()).items())  # fmt: skip
        return self._metrics(nats / len(self.ids[split]))

    def _metrics(self, nats: float) -> dict[str, float]:
        bits = nats / math.log(2)
        return {"bpc" if self.char else "bits": bits, "perplexity": math.exp(min(nats, 700))}

    # -- training batches ----------------------------------------------------------------------
    def _layout(self, batch_size: int) -> tuple[Tensor, int]:
        """(B, L) streams of the training ids and the windows per epoch."""
        if batch_size not in self._streams:
            ids = self.ids["train"]
            length = len(ids) // batch_size
            if length < 2 * self.seq_len + 1:
                raise DataError(f"{self.config.data}: {len(ids)} training tokens in "
                                f"{batch_size} streams leave {length} per stream, fewer than "
                                f"2 seq_len + 1 = {2 * self.seq_len + 1}; lower --batch-size "
                                "or --seq-len")  # fmt: skip
            self._streams[batch_size] = ids[: length * batch_size].view(batch_size, length)
        streams = self._streams[batch_size]
        # One window less than fits, to leave room for the epoch's random offset.
        return streams, (streams.shape[1] - 1) // self.seq_len - 1

    def resets(self, step: int, batch_size: int) -> bool:
        """Whether training step ``step`` (from 1) starts an epoch: the carried state is
        dropped before it."""
        self.load()
        _, windows = self._layout(batch_size)
        return (step - 1) % windows == 0

    def train_batch(self, step: int, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
        self.load()
        streams, windows = self._layout(batch_size)
        epoch, k = divmod(max(step, 1) - 1, windows)
        gen = torch.Generator().manual_seed(stream_seed(seed, "train", epoch))
        offset = int(torch.randint(0, self.seq_len, (1,), generator=gen))
        start = offset + k * self.seq_len
        window = streams[:, start : start + self.seq_len + 1]
        return window[:, :-1].contiguous(), window[:, 1:].contiguous()

    # -- training step -------------------------------------------------------------------------
    def forward(self, model: nn.Module, x: Tensor) -> Tensor:
        """The logits (B, T, V) of ``x`` (B, T) read from a zero state."""
        return model(x, None)[0]

    def train_step(self, net: nn.Module, x: Tensor, y: Tensor, ctx: StepContext) -> float:
        """Forward and backward of one window: the state carries over from the previous batch
        (the streams continue), detached so that gradients stop at the batch border; it is
        dropped when an epoch begins."""
        # x holds this worker's rows of the global batch, whose layout fixes the epochs.
        if self.resets(ctx.step, ctx.batch_size):
            self.carry = None
        with ctx.autocast():
            logits, carry = net(x, self.carry)
            loss = self.loss(logits, y)
        loss.backward()
        self.carry = detach(carry)
        return loss.item()

    def carried(self) -> dict[str, Tensor]:
        """The carried state for the checkpoint: ``{"c": ..., "h": ...}`` (LSTM) or
        ``{"h": ...}``; nothing before the first step."""
        if self.carry is None:
            return {}
        if isinstance(self.carry, Tensor):
            return {"h": self.carry}
        return {"c": self.carry.c, "h": self.carry.h}

    def load_carried(self, tensors: dict[str, Tensor], device: torch.device) -> None:
        if not tensors:
            return
        h = tensors["h"].to(device)
        self.carry = LSTMState(h, tensors["c"].to(device)) if "c" in tensors else h

    def forget_carried(self) -> None:
        self.carry = None

    def eval_set(self, split: Split) -> tuple[Tensor, Tensor]:
        """The ``split`` ids as (EVAL_STREAMS, L) streams: inputs and next tokens."""
        self.load()
        ids = self.ids[split]
        n = min(EVAL_STREAMS, max(1, (len(ids) - 1) // self.seq_len))
        length = (len(ids) - 1) // n
        x = ids[: n * length].view(n, length)
        y = ids[1 : n * length + 1].view(n, length)
        return x, y

    # -- loss and scores -----------------------------------------------------------------------
    def loss(self, output, y: Tensor) -> Tensor:
        logits = output[0] if isinstance(output, tuple) else output  # (B, T, V)
        return F.cross_entropy(logits.float().flatten(0, 1), y.flatten())

    def score(self, output, y: Tensor) -> dict[str, float]:
        nats = self.loss(output, y).item()
        return {**self._metrics(nats), "loss": nats}

    def evaluate(self, model, split: Split, *, batch_size: int = 500, device="cpu",
                 bf16: bool = False, final: bool = False,
                 **decoding) -> dict[str, float]:  # fmt: skip
        """Every token of ``split`` scored with the state carried through each stream."""
        device = torch.device(device)
        x, y = self.eval_set(split)
        was_training = model.training
        model.eval()
        state, nats = None, 0.0
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            for xs, ys in zip(x.split(self.seq_len, 1), y.split(self.seq_len, 1), strict=True):
                logits, state = model(xs.to(device), state)
                nats += F.cross_entropy(logits.float().flatten(0, 1), ys.to(device).flatten(),
                                        reduction="sum").item()  # fmt: skip
        model.train(was_training)
        nats /= y.numel()
        return {**self._metrics(nats), "loss": nats}

    # -- generation ----------------------------------------------------------------------------
    def prompt_ids(self, prompt: str | None) -> tuple[list[int], list[str]]:
        """The ids of ``prompt`` (None or empty: the training text's first token) and the
        prompt's tokens that are not in the vocabulary (read as ``<unk>``)."""
        text = prompt or self.start
        tokens = self.codec.tokens(text)
        unknown = [t for t in tokens if t not in self.codec.vocab.stoi]
        ids = self.codec.encode(text)
        if not ids:
            raise DataError(f"prompt: {text!r} has no tokens")
        return ids, unknown

    def generate(self, model, prompt: str | None, *, length: int, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0, device="cpu") -> str:  # fmt: skip
        """``length`` tokens sampled after ``prompt`` (see :func:`rnnkit.decoding.sample`),
        decoded to text; the prompt is not repeated."""
        from rnnkit.decoding import sample

        ids, _ = self.prompt_ids(prompt)
        model.eval()
        with torch.no_grad():
            x = torch.tensor([ids], device=device)
            state = None
            if len(ids) > 1:  # read the prompt but its last token, which sampling feeds
                _, state = model(x[:, :-1], None)

            def step(tokens: Tensor, state):
                logits, state = model(tokens[:, None], state)
                return logits[:, -1].float().log_softmax(-1), state

            gen = torch.Generator().manual_seed(seed)
            out = sample(step, state, x[:, -1], length=length, temperature=temperature,
                         top_k=top_k, generator=gen)  # fmt: skip
        ids = out[0].tolist()
        if self.char:
            return self.codec.decode(ids)
        # Words and subwords: <eos> ends a line.
        lines, line = [], []
        for i in ids:
            if i == EOS:
                lines.append(self.codec.decode(line))
                line = []
            else:
                line.append(i)
        return "\n".join([*lines, self.codec.decode(line)])

    # -- predict and export --------------------------------------------------------------------
    def predict_input(self, path: str) -> list:
        raise UsageError("a lm model writes text; sample it with rnnkit generate")

    def export_example(self) -> Tensor:
        raise ExportError("export covers sequence models, not lm models")

    def state_dict(self) -> dict[str, Any]:
        self.load()
        return {"codec": self.codec.to_dict(), "start": self.start}

    def describe(self) -> str:
        if not self.loaded:
            return f"language model of {self.config.data}"
        c = self.config
        held = c.valid or f"the last {VALID_SHARE:.0%} of {Path(c.data).name}"
        return (f"{c.tokenizer}-level language model: {len(self.ids['train'])} training "
                f"{self.unit}s, vocabulary {len(self.codec)}, validation {held}")  # fmt: skip
