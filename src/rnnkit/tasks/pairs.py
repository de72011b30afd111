"""Synthetic source/target string pairs for sequence-to-sequence tests and demos, generated
from a seed: reversal, sorting, and date normalization (many written formats to ISO 8601).

Each generator returns a list of ``(source, target)`` strings; tokenize by character.
"""

from __future__ import annotations

import datetime
import random
import string

MONTHS = [
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december",
]  # fmt: skip

# strftime-free formats (locale-independent): each maps a date to one written form.
DATE_FORMATS = [
    lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",  # 12 march 2024
    lambda d: f"{MONTHS[d.month - 1].capitalize()} {d.day}, {d.year}",  # March 12, 2024
    lambda d: f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}",  # 12/03/24
    lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",  # 12.03.2024
    lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",  # mar 12 2024
    lambda d: f"{d.year}/{d.month}/{d.day}",  # 2024/3/12
    lambda d: f"{d.day} {MONTHS[d.month - 1][:3].upper()} {d.year}",  # 12 MAR 2024
]

# Two-digit years are read in 1950-2049; every generated date lies in that range.
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)
HELD_OUT_EVERY = 5

# Every character the generators write: the synthetic tasks' fixed vocabularies.
ALPHABETS = {
    "reverse": string.ascii_lowercase,
    "sort": string.digits,
    "dates": string.ascii_letters + string.digits + " ,./-",
}


def reversal(n: int, *, seed: int, min_len: int = 1, max_len: int = 10) -> list[tuple[str, str]]:
    """Random lowercase strings and their reverses."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        s = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(min_len, max_len)))
        pairs.append((s, s[::-1]))
    return pairs


def sorting(n: int, *, seed: int, min_len: int = 1, max_len: int = 10) -> list[tuple[str, str]]:
    """Random digit strings and their digits in ascending order."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        s = "".join(rng.choices(string.digits, k=rng.randint(min_len, max_len)))
        pairs.append((s, "".join(sorted(s))))
    return pairs


def dates(n: int, *, seed: int, held_out: bool | None = None) -> list[tuple[str, str]]:
    """Dates written in one of :data:`DATE_FORMATS` and their ISO form ``YYYY-MM-DD``.

    ``held_out``: None draws from every day; True only from every fifth day (counted from
    1950-01-01), False only from the others: training on ``False`` and testing on ``True``
    tests on dates never seen in training, in any format.
    """
    rng = random.Random(seed)
    span = (LAST - FIRST).days
    pairs = []
    while len(pairs) < n:
        offset = rng.randint(0, span)
        if held_out is not None and (offset % HELD_OUT_EVERY == 0) != held_out:
            continue
        day = FIRST + datetime.timedelta(days=offset)
        pairs.append((rng.choice(DATE_FORMATS)(day), day.isoformat()))
    return pairs
