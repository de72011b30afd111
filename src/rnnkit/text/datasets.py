"""Labelled texts, ``(text, label)`` examples, from CSV, TSV, JSON lines or ``<label> <text>``
lines; every malformed line is an error naming the file and line.

Formats (``format="auto"`` picks one by the file's extension):

- ``csv`` (``.csv``) and ``tsv`` (``.tsv``, ``.tab``): a header row, then one example per
  row; the text and the label are the columns named ``text_col`` and ``label_col`` (default
  ``text`` and ``label``), other columns are ignored. CSV fields may be quoted (RFC 4180); TSV
  fields are taken as they are (no quoting), so a text must not contain a tab.
- ``jsonl`` (``.jsonl``, ``.ndjson``, ``.json``): one JSON object per line with the keys
  ``text_col`` and ``label_col``; a label may be a string or an integer.
- ``label-text`` (any other extension, e.g. ``.txt``, ``.all``): ``<label> <text>`` per line,
  the label up to the first space or tab (fastText's ``__label__`` prefix is dropped), as in
  the sentence-classification data of Kim (2014).

Blank lines are skipped. Malformed lines (no label, an empty text, bad JSON, a missing key, a
row with more or fewer fields than the header, bytes not in the file's encoding) raise
:class:`~rnnkit.text.parallel.DataError`; with ``bad_lines="skip"`` they are dropped instead
and listed in :attr:`TextExamples.skipped` (a broken header or encoding is always an error).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rnnkit.text.parallel import DataError, read_text_lines

TextFormat = Literal["auto", "csv", "tsv", "jsonl", "label-text"]
BadLines = Literal["error", "skip"]

_BY_SUFFIX = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


@dataclass(frozen=True)
class TextExamples:
    """Examples read from one file, as parallel lists.

    Attributes:
        path: the file. texts, labels: one entry per example (labels as strings).
        lines: the line each example starts on (1-based), for messages.
        skipped: ``"FILE:LINE: why"`` for each malformed line dropped (``bad_lines="skip"``).
    """

    path: str
    texts: list[str]
    labels: list[str]
    lines: list[int]
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int]) -> TextExamples:
        """The examples at ``index``, in that order (nothing skipped)."""
        pick = [int(i) for i in index]
        return TextExamples(
            self.path,
            [self.texts[i] for i in pick],
            [self.labels[i] for i in pick],
            [self.lines[i] for i in pick],
        )


def detect_format(path: str | Path) -> str:
    """The format ``"auto"`` reads ``path`` in, by its extension: ``.csv`` -> csv, ``.tsv``
    and ``.tab`` -> tsv, ``.jsonl``, ``.ndjson`` and ``.json`` -> jsonl, else label-text."""
    return _BY_SUFFIX.get(Path(path).suffix.lower(), "label-text")


def read_examples(
    path: str | Path,
    *,
    format: TextFormat = "auto",
    text_col: str = "text",
    label_col: str = "label",
    encoding: str = "utf-8",
    bad_lines: BadLines = "error",
) -> TextExamples:
    """Read ``(text, label)`` examples from ``path``; see the module docstring.

    Args:
        format: ``"auto"`` (by extension, :func:`detect_format`), ``"csv"``, ``"tsv"``,
            ``"jsonl"`` or ``"label-text"``.
        text_col, label_col: CSV/TSV column names and JSON keys.
        encoding: the file's text encoding (e.g. ``"latin-1"``).
        bad_lines: ``"error"``: a malformed line raises; ``"skip"``: it is dropped and listed
            in ``skipped``.

    Raises:
        DataError: naming the file and line of a malformed line, or a missing or empty file,
            or a file without examples.

    Example::

        >>> read_examples("train.txt").texts[:1]  # doctest: +SKIP
        ['a gripping , funny film .']
    """
    if format == "auto":
        format = detect_format(path)
    if format not in ("csv", "tsv", "jsonl", "label-text"):
        raise ValueError(
            f"format: expected 'auto', 'csv', 'tsv', 'jsonl' or 'label-text', got {format!r}"
        )
    if bad_lines not in ("error", "skip"):
        raise ValueError(f"bad_lines: expected 'error' or 'skip', got {bad_lines!r}")
    try:
        "".encode(encoding)  # unlike codecs.lookup, refuses codecs that are not text (rot13)
    except LookupError:
        raise ValueError(f"encoding: unknown text encoding {encoding!r}") from None
    out = _Collector(str(path), bad_lines)
    lines = read_text_lines(path, encoding=encoding)
    if format == "label-text":
        _read_label_text(lines, out)
    elif format == "jsonl":
        _read_jsonl(lines, out, text_col, label_col)
    else:
        _read_table(lines, out, "\t" if format == "tsv" else ",", text_col, label_col)
    if not out.texts:
        why = f" ({len(out.skipped)} malformed lines skipped)" if out.skipped else ""
        raise DataError(f"{path}: no examples{why}")
    return TextExamples(str(path), out.texts, out.labels, out.lines, out.skipped)


class _Collector:
    """Accepts examples and malformed lines (raising, or noting them, per ``bad_lines``)."""

    def __init__(self, path: str, bad_lines: str) -> None:
        self.path, self.bad_lines = path, bad_lines
        self.texts: list[str] = []
        self.labels: list[str] = []
        self.lines: list[int] = []
        self.skipped: list[str] = []

    def bad(self, line: int, why: str) -> None:
        message = f"{self.path}:{line}: {why}"
        if self.bad_lines == "error":
            raise DataError(message)
        self.skipped.append(message)

    def add(self, line: int, text: str, label: str) -> None:
        text, label = text.strip(), label.strip()
        if not label:
            self.bad(line, "empty label")
        elif not text:
            self.bad(line, f"empty text (label {label!r})")
        else:
            self.texts.append(text)
            self.labels.append(label)
            self.lines.append(line)


def _read_label_text(lines: list[str], out: _Collector) -> None:
    for number, line in enumerate(lines, 1):
        parts = line.split(None, 1)
        if not parts:
            continue  # blank line
        label = parts[0].removeprefix("__label__")
        if len(parts) == 1:
            out.bad(number, f"no text after the label {label!r} (expected <label> <text>)")
            continue
        out.add(number, parts[1], label)


def _read_jsonl(lines: list[str], out: _Collector, text_col: str, label_col: str) -> None:
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            out.bad(number, f"malformed JSON ({e.msg} at column {e.colno})")
            continue
        except ValueError:  # an integer of more than Python's 4300 digits
            out.bad(number, "malformed JSON (a number too long to read)")
            continue
        except RecursionError:  # json's C parser recurses once per bracket
            out.bad(number, "malformed JSON (nested too deeply)")
            continue
        if not isinstance(row, dict):
            out.bad(number, f"expected a JSON object, got {type(row).__name__}")
            continue
        missing = [k for k in (text_col, label_col) if k not in row]
        if missing:
            keys = ", ".join(map(repr, row)) or "none"
            out.bad(number, f"no key {missing[0]!r} (keys: {keys}; set --text-col/--label-col)")
            continue
        text, label = row[text_col], row[label_col]
        if not isinstance(text, str):
            out.bad(number, f"{text_col!r} should be a string, got {json.dumps(text)}")
        elif isinstance(label, bool) or not isinstance(label, (str, int)):
            out.bad(number, f"{label_col!r} should be a string or an integer, got "
                    f"{json.dumps(label)}")  # fmt: skip
        else:
            out.add(number, text, str(label))


def _read_table(
    lines: list[str], out: _Collector, delimiter: str, text_col: str, label_col: str
) -> None:
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    # csv refuses a field over 131072 characters by default, a limit of the module, not of the
    # data: a long document is a valid text. No field can be longer than the file.
    csv.field_size_limit(max(csv.field_size_limit(), sum(len(line) + 1 for line in lines)))
    # Each line keeps its newline, so a quoted field spanning lines keeps its line breaks.
    reader = csv.reader((line + "\n" for line in lines), delimiter=delimiter, quoting=quoting,
                        strict=True)  # fmt: skip
    header: list[str] | None = None
    columns: tuple[int, int] = (0, 0)
    end = 0  # the line the previous record ended on
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            raise DataError(f"{out.path}:{reader.line_num}: malformed CSV ({e})") from None
        start, end = end + 1, reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        if header is None:
            header = [name.strip() for name in row]
            found = ", ".join(map(repr, header))
            for col, flag in ((text_col, "--text-col"), (label_col, "--label-col")):
                if col not in header:
                    raise DataError(f"{out.path}:{start}: no column {col!r} in the header "
                                    f"(columns: {found}; set {flag})")  # fmt: skip
            columns = (header.index(text_col), header.index(label_col))
            continue
        if len(row) != len(header):
            out.bad(start, f"{len(row)} fields, but the header has {len(header)}")
            continue
        out.add(start, row[columns[0]], row[columns[1]])
