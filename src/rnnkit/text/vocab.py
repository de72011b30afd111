"""Tokenization by character or whitespace word, and a vocabulary with fixed special tokens.

Special tokens take the first ids, always in this order: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2,
``<unk>`` 3. A vocabulary saves to and loads from a plain JSON-able dict (for checkpoints).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Literal

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)

Tokenizer = Literal["char", "word"]


def tokenize(text: str, kind: Tokenizer) -> list[str]:
    """``"char"``: every character (spaces included); ``"word"``: whitespace-separated words."""
    if kind == "char":
        return list(text)
    if kind == "word":
        return text.split()
    raise ValueError(f"tokenizer: expected 'char' or 'word', got {kind!r}")


def detokenize(tokens: list[str], kind: Tokenizer) -> str:
    return "".join(tokens) if kind == "char" else " ".join(tokens)


class Vocabulary:
    """Token <-> id mapping with the four special tokens first.

    Example::

        >>> vocab = Vocabulary.build([["a", "b", "a"]], min_freq=1)
        >>> vocab.encode(["a", "z"], bos=True, eos=True)
        [1, 4, 3, 2]
    """

    def __init__(self, tokens: Iterable[str]) -> None:
        tokens = list(tokens)
        if tuple(tokens[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"tokens: must start with the special tokens {SPECIALS}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("tokens: duplicate entries")
        self.itos = tokens
        self.stoi = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def build(
        cls, corpus: Iterable[list[str]], *, min_freq: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """Tokens seen at least ``min_freq`` times, most frequent first (ties: alphabetical),
        at most ``max_size`` of them besides the specials."""
        if min_freq < 1:
            raise ValueError(f"min_freq: expected at least 1, got {min_freq}")
        counts = Counter(t for sentence in corpus for t in sentence)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq and t not in SPECIALS),
            key=lambda t: (-counts[t], t),
        )
        return cls([*SPECIALS, *kept[:max_size]])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str], *, bos: bool = False, eos: bool = False) -> list[int]:
        """Ids of ``tokens``; unknown tokens map to ``<unk>``."""
        ids = [self.stoi.get(t, UNK) for t in tokens]
        return [BOS] * bos + ids + [EOS] * eos

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, stopping at ``<eos>`` and skipping ``<pad>`` and ``<bos>``."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.itos[i])
        return out

    def to_dict(self) -> dict:
        return {"tokens": self.itos}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(data["tokens"])
