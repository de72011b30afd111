"""Text <-> token ids: a tokenizer (character, whitespace word, or subword BPE) joined with its
:class:`~rnnkit.text.vocab.Vocabulary`, saved and loaded as one JSON-able dict.

BPE is trained with the ``tokenizers`` library (Sennrich et al. 2016 merges over a Metaspace
pre-tokenizer, so decoding restores the spaces); its special tokens take the same first ids
as every rnnkit vocabulary: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3.

Text can be normalized before it is tokenized (:func:`normalize`: lowercase, punctuation split
off or stripped); the options are saved with the codec, so encoding later does the same.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any, Literal

from rnnkit.text.vocab import SPECIALS, Vocabulary, detokenize, tokenize

TokenizerKind = Literal["char", "word", "bpe"]
Punctuation = Literal["keep", "split", "strip"]


def normalize(text: str, *, lowercase: bool = False, punctuation: Punctuation = "keep") -> str:
    """``text`` lowercased (``lowercase``) and with its punctuation (Unicode categories P*)
    kept, ``"split"`` off as tokens of its own (spaces around each mark: ``"it's ok."`` ->
    ``"it ' s ok ."``) or ``"strip"``-ped (each mark becomes a space)."""
    if lowercase:
        text = text.lower()
    if punctuation == "keep":
        return text
    if punctuation not in ("split", "strip"):
        raise ValueError(f"punctuation: expected 'keep', 'split' or 'strip', got {punctuation!r}")
    pad = " {} " if punctuation == "split" else " "
    return "".join(pad.format(c) if unicodedata.category(c).startswith("P") else c for c in text)


class Codec:
    """Encode text to ids and decode ids to text.

    Build one from training text with :meth:`build`; save it with :meth:`to_dict` (plain JSON:
    the token list, and for BPE the ``tokenizers`` JSON) and load it with :meth:`from_dict`.

    Example::

        >>> codec = Codec.build(["a cat", "a dog"], kind="word")
        >>> codec.encode("a cow", eos=True)
        [4, 3, 2]
        >>> codec.decode([4, 5, 2, 6])
        'a cat'
    """

    def __init__(
        self,
        kind: TokenizerKind,
        vocab: Vocabulary,
        bpe: Any = None,
        *,
        lowercase: bool = False,
        punctuation: Punctuation = "keep",
    ) -> None:
        _check_kind(kind)
        if (kind == "bpe") != (bpe is not None):
            raise ValueError("bpe: a trained tokenizers.Tokenizer goes with kind 'bpe' only")
        normalize("", punctuation=punctuation)  # checks the option
        self.kind, self.vocab, self._bpe = kind, vocab, bpe
        self.lowercase, self.punctuation = lowercase, punctuation

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        *,
        kind: TokenizerKind,
        min_freq: int = 1,
        max_size: int | None = None,
        bpe_size: int = 8000,
        lowercase: bool = False,
        punctuation: Punctuation = "keep",
    ) -> Codec:
        """Learn the vocabulary (and, for BPE, the merges) from ``texts``.

        Args:
            min_freq: char/word: keep tokens seen at least this often; BPE: merge pairs seen
                at least this often.
            max_size: char/word: keep at most this many tokens besides the specials.
            bpe_size: BPE: the vocabulary size to learn, specials included.
            lowercase, punctuation: how to :func:`normalize` text before tokenizing it.
        """
        _check_kind(kind)
        norm = dict(lowercase=lowercase, punctuation=punctuation)
        texts = [normalize(t, **norm) for t in texts]
        if kind != "bpe":
            corpus = (tokenize(t, kind) for t in texts)
            vocab = Vocabulary.build(corpus, min_freq=min_freq, max_size=max_size)
            return cls(kind, vocab, **norm)
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        bpe = Tokenizer(models.BPE(unk_token="<unk>"))
        bpe.pre_tokenizer = pre_tokenizers.Metaspace()
        bpe.decoder = decoders.Metaspace()
        trainer = trainers.BpeTrainer(
            vocab_size=bpe_size,
            min_frequency=min_freq,
            special_tokens=list(SPECIALS),
            show_progress=False,
        )
        bpe.train_from_iterator(texts, trainer)
        return cls("bpe", _bpe_vocabulary(bpe), bpe, **norm)

    def __len__(self) -> int:
        return len(self.vocab)

    def tokens(self, text: str) -> list[str]:
        """The tokens of ``text``, normalized (BPE: subword pieces, ``▁`` marking a word
        start)."""
        if self.lowercase or self.punctuation != "keep":
            text = normalize(text, lowercase=self.lowercase, punctuation=self.punctuation)
        if self._bpe is not None:
            return self._bpe.encode(text).tokens
        return tokenize(text, self.kind)

    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]:
        """Token ids of ``text``; unknown tokens map to ``<unk>`` (id 3)."""
        return self.vocab.encode(self.tokens(text), bos=bos, eos=eos)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``, stopping at ``<eos>`` and skipping ``<pad>`` and ``<bos>``."""
        pieces = self.vocab.decode(ids)
        if self._bpe is not None:
            return self._bpe.decoder.decode(pieces) if pieces else ""
        return detokenize(pieces, self.kind)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "vocab": self.vocab.to_dict()}
        if self.lowercase or self.punctuation != "keep":
            data.update(lowercase=self.lowercase, punctuation=self.punctuation)
        if self._bpe is not None:
            data["bpe"] = self._bpe.to_str()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Codec:
        vocab = Vocabulary.from_dict(data["vocab"])
        norm = dict(lowercase=data.get("lowercase", False),
                    punctuation=data.get("punctuation", "keep"))  # fmt: skip
        if data["kind"] != "bpe":
            return cls(data["kind"], vocab, **norm)
        from tokenizers import Tokenizer

        bpe = Tokenizer.from_str(data["bpe"])
        if _bpe_vocabulary(bpe).itos != vocab.itos:
            raise ValueError("bpe: the saved tokenizer and vocabulary disagree")
        return cls("bpe", vocab, bpe, **norm)


def _check_kind(kind: str) -> None:
    if kind not in ("char", "word", "bpe"):
        raise ValueError(f"tokenizer: expected 'char', 'word' or 'bpe', got {kind!r}")


def _bpe_vocabulary(bpe: Any) -> Vocabulary:
    by_id = sorted(bpe.get_vocab().items(), key=lambda item: item[1])
    return Vocabulary(token for token, _ in by_id)
