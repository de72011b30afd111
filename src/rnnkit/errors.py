"""The errors rnnkit raises for what a user can fix: one line, naming what is wrong and where.

Every one is a :class:`RnnkitError` (a ``ValueError``), so a caller can catch them all at once;
the ``rnnkit`` command prints their message and exits with status 2, without a traceback. Any
other exception escaping rnnkit is a bug in rnnkit.

- :class:`DataError`: an input file that cannot be read (the message gives ``file:line``);
  :class:`SeriesError` for time-series files also names the column.
- :class:`ConfigError`: a config field, key or file (names the field, the value, what is allowed).
- :class:`CheckpointError`: a checkpoint that is missing, truncated, tampered or does not match.
- :class:`ResourceError`: an input that would not fit in memory, found before any work starts.
- :class:`ExportError`: a model that cannot be exported as asked.
"""

from __future__ import annotations


class RnnkitError(ValueError):
    """An input, file or setting rnnkit cannot use; the message says which and why."""


class DataError(RnnkitError):
    """An input file rnnkit cannot read; the message names the file and line."""


class SeriesError(DataError):
    """A time-series file rnnkit cannot use; the message names file, column and line."""


class ConfigError(RnnkitError):
    """A config value, key or file that rnnkit cannot use; the message says which and why."""


class CheckpointError(RnnkitError):
    """A checkpoint that is missing, truncated, tampered or does not match the model."""


class ResourceError(RnnkitError):
    """An input too large for the available memory; the message gives the estimate."""


class ExportError(RnnkitError):
    """The model cannot be exported as asked; the message says why in one line."""


class UsageError(RnnkitError):
    """A command-line input rnnkit cannot use (a flag's value, an input file for a command that
    reads another kind); printed as one line."""
