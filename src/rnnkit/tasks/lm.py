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
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor
from torch.nn import functional as F

from rnnkit.tasks.base import Split, Task, stream_seed
from rnnkit.text.codec import Codec
from rnnkit.text.parallel import DataError, read_bytes
from rnnkit.text.vocab import EOS

if TYPE_CHECKING:
    from rnnkit.training.config import TaskConfig

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


class LanguageModelTask(Task):
    """Next-token prediction over a text file: x (B, seq_len) ids, y (B, seq_len) the ids one
    step later; the model returns ``(logits (B, T, V), state)`` and the trainer carries the
    state across steps (:meth:`resets` says when to start afresh).

    ``state`` (from :meth:`state_dict`) rebuilds a trained run's task without its text: the
    codec and the first token of the training text (where ``rnnkit generate`` starts by
    default)."""

    name = "lm"
    output = "lm"
    baseline_label = "unigram model, on the validation text"

    def __init__(self, config: TaskConfig, state: dict[str, Any] | None = None) -> None:
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
        if state:
            self.codec = Codec.from_dict(state["codec"])
            self.start = state["start"]
            self.output_size = len(self.codec)

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
                 bf16: bool = False, **decoding) -> dict[str, float]:  # fmt: skip
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
