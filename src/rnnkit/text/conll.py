"""Tagged sentences from CoNLL-style column files, and untagged ones from plain text.

A **column file** (CoNLL-2000/2003, WNUT17, WikiANN) has one token per line, its columns
separated by tabs (or, on a line without a tab, by spaces), and a blank line between
sentences:

.. code-block:: text

    EU      NNP  B-NP  B-ORG
    rejects VBZ  B-VP  O

The token is the first column and the tag the last (``tag_col`` picks another, e.g. 1 for the
part-of-speech tags of CoNLL-2003). Details:

- a line of only spaces, tabs, other whitespace or byte-order marks separates sentences
  (WNUT17's training file uses a lone tab); ``-DOCSTART-`` lines (CoNLL-2003) are skipped and
  end a sentence;
- every token line of a file has the same number of columns (at least two when tags are
  read); an empty token or tag, a line with a different number of columns, bytes that are not
  UTF-8 or a file without sentences are :class:`~rnnkit.text.DataError` naming the file and
  line;
- **language prefixes** (WikiANN writes ``en:Paris``): with ``prefix="auto"`` a prefix is
  stripped when every token of the file starts with the same ``xx:`` (a lowercase language
  code, then a colon, then at least one character), which ordinary text never does;
  ``"strip"`` requires one on every token, ``"keep"`` leaves tokens as they are;
- the tag scheme is not checked (conlleval, and seqeval after it, reads an ``I-X`` after an
  ``O`` as the start of an entity); :func:`is_entity_scheme` says whether tags look like
  BIO/IOB/BIOES entity tags at all.

**Plain text** (:func:`read_token_lines`): one sentence per line, tokens separated by
whitespace; blank lines are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, NamedTuple

from rnnkit.text.parallel import DataError, read_text_lines

Prefix = Literal["auto", "strip", "keep"]
DOCSTART = "-DOCSTART-"
_PREFIX = re.compile(r"([a-z]{2,3}(?:-[a-z]+)*):(.+)", re.DOTALL)
_BLANK = " \t\ufeff"
_ENTITY_TAG = re.compile(r"[BIES]-.+|O")


class Sentence(NamedTuple):
    """One sentence: its tokens, its tags (None when read untagged) and the line it starts on
    (1-based, for messages)."""

    tokens: list[str]
    tags: list[str] | None
    line: int


def columns_of(line: str) -> list[str]:
    """The columns of a line: split at tabs if it has one, else at runs of spaces."""
    parts = line.split("\t") if "\t" in line else line.split()
    return [p.strip(" ") for p in parts]


def read_conll(
    path: str | Path,
    *,
    tag_col: int | None = None,
    tagged: bool = True,
    prefix: Prefix = "auto",
) -> list[Sentence]:
    """Read the sentences of a column file (see the module docstring).

    Args:
        path: the file (UTF-8).
        tag_col: the tag's column, 0-based (never 0, the token's); None: the last.
        tagged: read tags; False reads only the token column (lines may then have one column,
            and ``Sentence.tags`` is None).
        prefix: language prefixes on tokens: ``"auto"``, ``"strip"`` or ``"keep"``.

    Raises:
        DataError: naming the file and line (see the module docstring).
    """
    return parse_conll(read_text_lines(path), Path(path), tag_col=tag_col, tagged=tagged,
                       prefix=prefix)  # fmt: skip


def parse_conll(
    lines: list[str],
    path: str | Path,
    *,
    tag_col: int | None = None,
    tagged: bool = True,
    prefix: Prefix = "auto",
) -> list[Sentence]:
    """:func:`read_conll` on the ``lines`` of a file; ``path`` names it in messages."""
    if prefix not in ("auto", "strip", "keep"):
        raise ValueError(f"prefix: expected 'auto', 'strip' or 'keep', got {prefix!r}")
    if tag_col is not None and tag_col < 1:
        raise ValueError(f"tag_col: expected a column after the token's (>= 1), got {tag_col}")
    lines = list(lines)
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    needed = 1 + (tag_col if tag_col is not None else 1) if tagged else 1
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    token_lines: list[int] = []  # the line of each token of the current sentence
    all_lines: list[int] = []  # the line of every token read
    width: tuple[int, int] | None = None  # (columns, line) of the file's first token line

    def close() -> None:
        if tokens:
            sentences.append(Sentence(tokens.copy(), tags.copy() if tagged else None,
                                      token_lines[0]))  # fmt: skip
            all_lines.extend(token_lines)
            tokens.clear()
            tags.clear()
            token_lines.clear()

    for number, line in enumerate(lines, 1):
        if not line.strip(_BLANK).strip():  # other whitespace (\xa0, \x0b) has no columns
            close()
            continue
        cols = columns_of(line)
        if cols[0] == DOCSTART:
            close()
            continue
        where = f"{path}:{number}"
        if width is None:
            width = (len(cols), number)
            if len(cols) < needed:
                what = f"a token and a tag (column {needed})" if tagged else "a token"
                raise DataError(f"{where}: expected {what}, found {len(cols)} column(s) "
                                f"({line.strip()!r})")  # fmt: skip
        elif len(cols) != width[0]:
            raise DataError(f"{where}: {len(cols)} column(s), but line {width[1]} has "
                            f"{width[0]} (every token line needs the same columns)")  # fmt: skip
        if not cols[0]:
            raise DataError(f"{where}: empty token (column 1)")
        tokens.append(cols[0])
        token_lines.append(number)
        if tagged:
            k = len(cols) - 1 if tag_col is None else tag_col
            if not cols[k]:
                raise DataError(f"{where}: empty tag (column {k + 1}) for token {cols[0]!r}")
            tags.append(cols[k])
    close()
    if not sentences:
        raise DataError(f"{path}: no sentences (only blank or -DOCSTART- lines)")
    return strip_prefixes(sentences, all_lines, prefix, path)


def read_token_lines(path: str | Path, *, prefix: Prefix = "auto") -> list[Sentence]:
    """Untagged sentences from plain text: one per line, whitespace-separated tokens; blank
    lines are skipped. ``prefix`` as for :func:`read_conll`."""
    return parse_token_lines(read_text_lines(path), Path(path), prefix=prefix)


def parse_token_lines(
    lines: list[str], path: str | Path, *, prefix: Prefix = "auto"
) -> list[Sentence]:
    """:func:`read_token_lines` on the ``lines`` of a file; ``path`` names it in messages."""
    lines = list(lines)
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]
    sentences, numbers = [], []
    for number, line in enumerate(lines, 1):
        tokens = line.split()
        if tokens:
            sentences.append(Sentence(tokens, None, number))
            numbers += [number] * len(tokens)
    if not sentences:
        raise DataError(f"{path}: no sentences (only blank lines)")
    return strip_prefixes(sentences, numbers, prefix, path)


def strip_prefixes(
    sentences: list[Sentence], lines: list[int], prefix: Prefix, path: str | Path
) -> list[Sentence]:
    """``sentences`` with a common language prefix (``en:``) taken off every token, as
    ``prefix`` says; ``lines`` holds the line of each token in order (for messages)."""
    if prefix == "keep":
        return sentences
    flat = [t for s in sentences for t in s.tokens]
    matches = [_PREFIX.fullmatch(t) for t in flat]
    codes = {m.group(1) for m in matches if m is not None}
    if prefix == "auto" and (len(codes) != 1 or any(m is None for m in matches)):
        return sentences
    for k, m in enumerate(matches):
        if m is None:
            raise DataError(f"{path}:{lines[k]}: token {flat[k]!r} has no language prefix "
                            "('xx:token'); prefix='strip' wants one on every token")  # fmt: skip
    stripped = iter(m.group(2) for m in matches)
    return [s._replace(tokens=[next(stripped) for _ in s.tokens]) for s in sentences]


def is_entity_scheme(tags: Iterable[str]) -> bool:
    """Whether every tag is ``O`` or an entity tag with a B/I/E/S prefix (``B-PER``,
    ``I-LOC``: IOB, IOB2 or IOBES, what seqeval reads), not part-of-speech or other labels
    (and not only ``O``)."""
    tags = list(tags)
    return bool(tags) and all(_ENTITY_TAG.fullmatch(t) for t in tags) and set(tags) != {"O"}
