"""Synthetic seq2seq pairs: targets follow from sources by the task's rule."""

import datetime

from rnnkit.tasks.pairs import DATE_FORMATS, MONTHS, dates, reversal, sorting


def test_reversal_and_sorting_rules_and_seeds():
    for src, tgt in reversal(200, seed=1, min_len=2, max_len=9):
        assert tgt == src[::-1] and 2 <= len(src) <= 9 and src.isalpha()
    for src, tgt in sorting(200, seed=1):
        assert tgt == "".join(sorted(src)) and src.isdigit()
    assert reversal(50, seed=3) == reversal(50, seed=3) != reversal(50, seed=4)


def _parse(text):
    """An independent reader of every format, for the test only."""
    words = text.replace(",", "").replace(".", " ").replace("/", " ").split()
    months = {m: i + 1 for i, m in enumerate(MONTHS)} | {m[:3]: i + 1 for i, m in enumerate(MONTHS)}
    if words[0].isdigit() and len(words[0]) == 4:  # 2024/3/12
        return datetime.date(int(words[0]), int(words[1]), int(words[2]))
    if not words[0].isdigit():  # March 12 2024, mar 12 2024
        return datetime.date(int(words[2]), months[words[0].lower()], int(words[1]))
    day, month, year = words
    month = months[month.lower()] if not month.isdigit() else int(month)
    year = int(year)
    if year < 100:
        year += 1900 if year >= 50 else 2000
    return datetime.date(year, month, int(day))


def test_dates_parse_back_to_their_iso_target_in_every_format():
    pairs = dates(2000, seed=0)
    for src, tgt in pairs:
        assert _parse(src).isoformat() == tgt
    used = {next(i for i, f in enumerate(DATE_FORMATS) if f(datetime.date.fromisoformat(t)) == s)
            for s, t in pairs}  # fmt: skip
    assert used == set(range(len(DATE_FORMATS)))
    assert len({t for _, t in pairs}) > 1900  # dates spread over the century
