"""Every task and task command by name: one line each, imported only when used.

A task is a :class:`~rnnkit.tasks.base.Task` subclass in its own module; its line here names
the module and class (``"module:Class"``) and says in a few words what it is. Nothing is
imported until a task is asked for, so ``import rnnkit`` and ``rnnkit --help`` stay fast and
a task's dependencies load only when it runs. A module may serve several names (``digits``
and ``permuted_digits``); the config's ``name`` tells the task which it is.

Commands are subcommands of ``rnnkit`` that belong to one task (``rnnkit forecast`` reads a
forecast run); each line names a module with ``add_parser(subparsers)``.
"""

from __future__ import annotations

import difflib
import importlib
from typing import TYPE_CHECKING, NamedTuple

from rnnkit.errors import ConfigError

if TYPE_CHECKING:
    from rnnkit.tasks.base import Task
    from rnnkit.training.config import TaskConfig


class Entry(NamedTuple):
    target: str  # "module:attribute"
    summary: str  # a few words for --help


TASKS: dict[str, Entry] = {
    "adding": Entry("rnnkit.tasks.adding:AddingTask", "sum two marked numbers of a long sequence"),
    "copy": Entry("rnnkit.tasks.copy:CopyTask", "recall 10 symbols after a delay"),
    "digits": Entry("rnnkit.tasks.digits:DigitsTask", "8x8 digits read pixel by pixel"),
    "permuted_digits": Entry("rnnkit.tasks.digits:DigitsTask", "the same, pixels permuted"),
    "reverse": Entry("rnnkit.tasks.translate:Seq2SeqTask", "reverse a string (seq2seq)"),
    "sort": Entry("rnnkit.tasks.translate:Seq2SeqTask", "sort a string's letters (seq2seq)"),
    "dates": Entry("rnnkit.tasks.translate:Seq2SeqTask", "written dates to ISO 8601 (seq2seq)"),
    "translate": Entry("rnnkit.tasks.translate:Seq2SeqTask", "your source/target text pairs"),
    "trees": Entry("rnnkit.tasks.trees:TreeTask", "sentiment of treebank sentences"),
    "listops": Entry("rnnkit.tasks.trees:TreeTask", "evaluate nested list operations"),
    "forecast": Entry("rnnkit.tasks.forecast:ForecastTask", "forecast time series (CSV/Parquet)"),
    "ts-classify": Entry("rnnkit.tasks.ts_classify:TSClassifyTask", "label time series (UCR)"),
    "classify": Entry("rnnkit.tasks.classify:ClassifyTask", "label texts (CSV, TSV, JSON lines)"),
    "lm": Entry("rnnkit.tasks.lm:LanguageModelTask", "language model of a text file"),
    "tag": Entry("rnnkit.tasks.tag:TagTask", "a tag per token: NER, POS (CoNLL files)"),
}

# Other spellings people type, to the registered name.
ALIASES: dict[str, str] = {
    "ts_classify": "ts-classify",
    "ner": "tag",
    "pos": "tag",
}

COMMANDS: dict[str, Entry] = {
    "demo": Entry("rnnkit.tasks.demo", "train a few models on the adding problem and compare"),
    "forecast": Entry("rnnkit.tasks.forecast_command", "forecast ahead with a trained run"),
    "generate": Entry("rnnkit.tasks.lm_command", "sample text from a trained language model"),
    "tag": Entry("rnnkit.tasks.tag_command", "tag tokens with a trained tagger"),
    "translate": Entry("rnnkit.tasks.translate_command", "translate text with a seq2seq run"),
}

# The task of a config that names none.
DEFAULT = "adding"


def canonical(name: str) -> str:
    """The registered name of ``name`` (an alias resolved); ConfigError for an unknown one,
    with the closest names."""
    if not isinstance(name, str):
        raise ConfigError(f"task.name: expected a task name, got {name!r}")
    name = ALIASES.get(name, name)
    if name not in TASKS:
        close = difflib.get_close_matches(name, [*TASKS, *ALIASES], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"task.name: unknown task {name!r}{hint}; allowed: "
                          f"{', '.join(sorted(TASKS))}")  # fmt: skip
    return name


def _load(target: str):
    module, _, attribute = target.partition(":")
    loaded = importlib.import_module(module)
    return getattr(loaded, attribute) if attribute else loaded


def task_class(name: str) -> type[Task]:
    """The Task subclass serving task ``name`` (its module imported now)."""
    return _load(TASKS[canonical(name)].target)


def config_class(name: str) -> type[TaskConfig]:
    """The config dataclass of task ``name``."""
    return task_class(name).Config


def command(name: str):
    """The module of task command ``name``: it has ``add_parser(subparsers)``."""
    return _load(COMMANDS[name].target)


def owners(field: str) -> list[str]:
    """The tasks whose config has ``field`` (every task module is imported: for messages)."""
    import dataclasses

    return [n for n in TASKS if field in {f.name for f in dataclasses.fields(config_class(n))}]
