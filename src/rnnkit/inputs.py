"""What ``rnnkit predict`` and the task commands read: the lines of a UTF-8 file (or standard
input), JSON lines of sequences, one text per line. Errors are one line naming file and line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rnnkit.errors import UsageError

if TYPE_CHECKING:
    import torch


def read_lines(path: str) -> tuple[list[str], str]:
    """The lines of a UTF-8 text file (``-``: standard input) and a name for messages.

    Lines end at ``\\n`` only, as every rnnkit reader reads them (``read_text_lines``):
    ``splitlines()`` would also break at ``\\x85``, ``\\u2028`` or a form feed inside a text,
    and the output would no longer have one line per input line. Bytes that are not UTF-8
    are an error naming their line."""
    from rnnkit.text.parallel import decode_lines, read_bytes

    if path == "-":
        stream = getattr(sys.stdin, "buffer", None)  # bytes: the locale may not be UTF-8
        data = stream.read() if stream is not None else sys.stdin.read().encode()
        return decode_lines(data, "<stdin>"), "<stdin>"
    if not Path(path).exists():
        raise UsageError(f"{path}: no such input file")
    # read_bytes refuses a directory or an unreadable file; no lines is each command's to
    # explain (it says what it expected).
    return decode_lines(read_bytes(path), path), path


def read_sequences(path: str, input_size: int) -> list[torch.Tensor]:
    """Read JSON lines, one sequence per line: a list of steps, each a list of ``input_size``
    numbers (or a bare number when ``input_size`` is 1). ``-`` reads standard input."""
    import torch

    lines, name = read_lines(path)
    sequences = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            # Integers as floats: an integer of hundreds of digits would overflow float() and
            # one of thousands exceed Python's int parsing limit; as a float it is infinite.
            steps = json.loads(line, parse_int=float)
        except json.JSONDecodeError as e:
            raise UsageError(f"{where}: malformed JSON ({e.msg} at column {e.colno})") from None
        except RecursionError:  # e.g. [[[[...: json recurses once per bracket
            raise UsageError(f"{where}: JSON nested too deeply") from None
        if not isinstance(steps, list) or not steps:
            raise UsageError(f"{where}: expected a non-empty list of steps")
        rows = []
        for t, step in enumerate(steps):
            values = [step] if input_size == 1 and not isinstance(step, list) else step
            if (
                not isinstance(values, list)
                or len(values) != input_size
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            ):
                raise UsageError(
                    f"{where}: step {t} should be {input_size} number(s), got {json.dumps(step)}"
                )
            rows.append([float(v) for v in values])
        tensor = torch.tensor(rows, dtype=torch.float32)
        if not torch.isfinite(tensor).all():  # 1e300 is finite but not in float32
            raise UsageError(f"{where}: a value NaN, infinite or beyond float32's range (3.4e38)")
        sequences.append(tensor)
    if not sequences:
        raise UsageError(f"{name}: no sequences (empty input)")
    return sequences


def read_texts(path: str) -> list[str]:
    """One text per line of a UTF-8 file (``-``: standard input); an empty line is an error
    (the output has one line per input line)."""
    lines, name = read_lines(path)
    if not lines:
        raise UsageError(f"{name}: no texts (empty input)")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise UsageError(f"{name}:{number}: empty line (expected one text per line)")
    return lines
