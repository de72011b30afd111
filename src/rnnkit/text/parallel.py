"""Parallel text: a TSV file of ``source<TAB>target`` lines, or two line-aligned files."""

from __future__ import annotations

from pathlib import Path

from rnnkit.errors import ConfigError, DataError

__all__ = ["DataError", "decode_lines", "read_bytes", "read_parallel", "read_text_lines"]


def read_text_lines(path: str | Path, *, encoding: str = "utf-8") -> list[str]:
    """The lines of a text file, UTF-8 unless ``encoding`` says otherwise (a final newline
    ends the last line, ``\r`` is dropped, and so is a UTF-8 file's byte-order mark), shared
    by every line-based reader. Lines end at ``\n`` only, whatever other line breaks the
    encoding has.

    Raises:
        DataError: a missing or empty file, or bytes that are not in ``encoding`` (with the
            line).
    """
    path = Path(path)
    out = decode_lines(read_bytes(path), str(path), encoding=encoding)
    if not out:
        raise DataError(f"{path}: empty file")
    return out


def read_bytes(path: str | Path, error: type[DataError] | type[ConfigError] = DataError) -> bytes:
    """The bytes of the file ``path``; a missing file, a directory or one that cannot be read
    (permissions) raises ``error`` naming it."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path}: a directory, not a file")
    if not path.is_file():
        raise error(f"{path}: no such file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None


def decode_lines(
    data: bytes, source: str, *, encoding: str = "utf-8", error: type[DataError] = DataError
) -> list[str]:
    """``data`` split into lines and decoded as :func:`read_text_lines` does (no lines for
    empty data); ``source`` names the input in errors (a path, ``<stdin>``), raised as
    ``error``."""
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    if utf8 and data.startswith(b"\xef\xbb\xbf"):
        # A byte-order mark (Excel's and Notepad's UTF-8) is not part of the first line: kept,
        # it would hide a CSV header's first column or start the first text with U+FEFF.
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, raw in enumerate(lines, 1):
        try:
            out.append(raw.decode(encoding).rstrip("\r"))
        except UnicodeDecodeError as e:
            name = "UTF-8" if utf8 else encoding
            raise error(f"{source}:{number}: not {name} ({e.reason} at byte {e.start})") from None
    return out


def read_parallel(source: str | Path, target: str | Path | None = None) -> list[tuple[str, str]]:
    """Read sentence pairs.

    Args:
        source: a TSV file with one ``source<TAB>target`` pair per line, or, with ``target``,
            the source side, one sentence per line.
        target: the target side, line-aligned with ``source``.

    Raises:
        DataError: naming the file and line of a missing tab, an extra tab, an empty side,
            bytes that are not UTF-8, an empty file, or files of different lengths.
    """
    source = Path(source)
    if target is None:
        pairs = []
        for number, line in enumerate(read_text_lines(source), 1):
            parts = line.split("\t")
            if len(parts) != 2:
                what = "no tab" if len(parts) == 1 else f"{len(parts) - 1} tabs"
                raise DataError(f"{source}:{number}: expected source<TAB>target, found {what}")
            src, tgt = (p.strip() for p in parts)
            if not src or not tgt:
                side = "source" if not src else "target"
                raise DataError(f"{source}:{number}: empty {side} side")
            pairs.append((src, tgt))
        return pairs
    target = Path(target)
    src_lines, tgt_lines = read_text_lines(source), read_text_lines(target)
    if len(src_lines) != len(tgt_lines):
        raise DataError(
            f"{source} has {len(src_lines)} lines but {target} has {len(tgt_lines)}; the two "
            f"sides must be line-aligned"
        )
    for number, (s, t) in enumerate(zip(src_lines, tgt_lines, strict=True), 1):
        for path, text in ((source, s), (target, t)):
            if not text.strip():
                raise DataError(f"{path}:{number}: empty line")
    return [(s.strip(), t.strip()) for s, t in zip(src_lines, tgt_lines, strict=True)]
