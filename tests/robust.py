"""Shared checks for the property tests of file readers (issue 10): every input either loads or
raises rnnkit's own error, one line naming the file; never another exception, never a hang.

Imported as ``from robust import ...``: pytest puts ``tests/`` (where conftest.py lives) on
sys.path.
"""

from __future__ import annotations

import contextlib
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rnnkit.errors import RnnkitError

# Few examples per property: the suite runs on 2 cores. The database is off so that a run does
# not depend on earlier ones (and the clone stays clean).
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Bytes a messy real file may hold: text, separators, quotes, brackets, stray UTF-8 and Latin-1.
TEXTY = st.binary(max_size=400) | st.text(
    alphabet=st.sampled_from(list("ab c,\t\n\r\"'()[]{}:;|#-=.0123456789éß\x00\ufeff")),
    max_size=400,
).map(lambda s: s.encode("utf-8"))


@contextlib.contextmanager
def time_limit(seconds: int):
    """Fail instead of hanging: a reader that takes ``seconds`` on a small file is stuck."""

    def stop(signum, frame):
        raise TimeoutError(f"reader still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def loads_or_explains(
    read: Callable[[Path], Any],
    path: Path,
    *,
    error: type[RnnkitError] = RnnkitError,
    seconds: int = 20,
) -> Any:
    """``read(path)``'s result, or the :class:`RnnkitError` it raised, after checking the error
    is of type ``error``, is one line and names ``path``. Any other exception propagates and
    fails the test."""
    try:
        with time_limit(seconds):
            return read(path)
    except error as e:
        message = str(e)
        assert message, "empty error message"
        assert "\n" not in message, f"error spans several lines: {message!r}"
        assert str(path) in message, f"error does not name {path}: {message!r}"
        return e


def line_of(error: Exception, path: Path) -> int | None:
    """The line number ``error``'s message gives after ``path:``, or None."""
    found = re.search(re.escape(str(path)) + r":(\d+)", str(error))
    return int(found.group(1)) if found else None
