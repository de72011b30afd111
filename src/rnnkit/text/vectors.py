"""Pretrained word vectors from a GloVe or word2vec text file: ``word v1 v2 ... vE`` per line
(word2vec's optional first line ``count dimension`` is skipped)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import SPECIALS, Vocabulary

_FLOAT32_MAX = torch.finfo(torch.float32).max


def vector_size(path: str | Path) -> int:
    """The dimension of the vectors in ``path`` (from its first vector line)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such word-vector file")
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            parts = raw.decode("utf-8", errors="replace").split()
            # word2vec header: count and dimension (ASCII digits: isdigit() alone takes '²',
            # which int() refuses)
            if number == 1 and len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts):
                return int(parts[1])
            if len(parts) < 2:
                raise DataError(f"{path}:{number}: expected a word and its values")
            return len(parts) - 1
    raise DataError(f"{path}: no vectors (empty file)")


def read_word_vectors(path: str | Path, vocab: Vocabulary) -> tuple[Tensor, int]:
    """Vectors for the words of ``vocab`` found in the file at ``path``.

    Returns:
        ``(weights (V, E), found)``: row i is the vector of ``vocab.itos[i]`` when the file has
        it (first occurrence wins), else a draw from N(0, 1/E); the special tokens' rows are
        zeros for ``<pad>`` and drawn otherwise. ``found`` counts the vocabulary words read.

    Raises:
        DataError: naming the file and line of a line with a different number of values, a
            value that is not a finite number, bytes that are not UTF-8, or a file without
            vectors.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such word-vector file")
    wanted = {w: i for i, w in enumerate(vocab.itos) if w not in SPECIALS}
    rows: dict[int, list[float]] = {}
    dim = None
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{number}: not UTF-8 ({e.reason})") from None
            parts = line.rstrip().split(" ")
            if number == 1 and len(parts) == 2 and all(p.isascii() and p.isdigit() for p in parts):
                continue  # word2vec header: count and dimension, as in vector_size
            if len(parts) < 2:
                raise DataError(f"{path}:{number}: expected a word and its values")
            if dim is None:
                dim = len(parts) - 1
            elif len(parts) - 1 != dim:
                raise DataError(
                    f"{path}:{number}: {len(parts) - 1} values, but earlier lines have {dim}"
                )
            index = wanted.get(parts[0])
            if index is None or index in rows:
                continue
            try:
                values = [float(v) for v in parts[1:]]
            except ValueError:
                raise DataError(f"{path}:{number}: a value is not a number") from None
            if not all(math.isfinite(v) for v in values):
                raise DataError(f"{path}:{number}: NaN or infinite value")
            if not all(abs(v) <= _FLOAT32_MAX for v in values):
                # finite for Python, but the float32 weights would hold an infinity
                raise DataError(f"{path}:{number}: a value beyond float32's range (±3.4e38)")
            rows[index] = values
    if dim is None:
        raise DataError(f"{path}: no vectors (empty file)")
    generator = torch.Generator().manual_seed(0)
    weights = torch.randn(len(vocab), dim, generator=generator) / math.sqrt(dim)
    weights[0] = 0.0  # <pad>
    if rows:
        index = torch.tensor(list(rows))
        weights[index] = torch.tensor(list(rows.values()))
    return weights, len(rows)
