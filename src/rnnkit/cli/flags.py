"""Config fields as command-line flags: one flag per field of the model, optim and train
sections (and ``--task``), plus the fields of the task's own config, grouped under its name.

Which task's flags a command line has depends on the task it names, so the task is read
first (:func:`task_named`): from ``--task``, else the ``--config`` file, else the run being
resumed, else the default. ``--help`` without a task lists the tasks instead of importing
them all.
"""

from __future__ import annotations

import argparse
import dataclasses
import textwrap
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from rnnkit.errors import ConfigError
from rnnkit.tasks import registry
from rnnkit.training.config import (
    SECTIONS,
    field_help,
    flat_name,
    parse_value,
    read_mapping,
    task_fields,
)


def task_named(argv: list[str]) -> str | None:
    """The task a command line names: ``--task NAME``, the ``--config`` file's, the resumed
    run's (``--resume RUN_DIR``), or the default; None for ``--help`` without any of them."""
    value = _flag(argv, "--task")
    if value is not None:
        return registry.canonical(value)
    for flag, path in (("--config", None), ("--resume", "config.yaml")):
        file = _flag(argv, flag)
        if file is not None:
            file = Path(file) / path if path else Path(file)
            try:
                data = read_mapping(file)
            except ConfigError:
                return registry.DEFAULT  # the command reports the file itself
            task = (data or {}).get("task") if isinstance(data, dict) else None
            name = task.get("name", registry.DEFAULT) if isinstance(task, dict) else None
            return registry.canonical(name) if isinstance(name, str) else registry.DEFAULT
    if "-h" in argv or "--help" in argv:
        return None
    return registry.DEFAULT


def _flag(argv: list[str], flag: str) -> str | None:
    """The value of the last ``flag VALUE`` or ``flag=VALUE`` in ``argv``."""
    value = None
    for i, item in enumerate(argv):
        if item == flag and i + 1 < len(argv):
            value = argv[i + 1]
        elif item.startswith(flag + "="):
            value = item.split("=", 1)[1]
    return value


def add_config_flags(parser: argparse.ArgumentParser, task: str | None) -> None:
    """One flag per config field, grouped by section, then the fields of ``task``'s config
    (None: list the tasks instead); unset flags do not override."""
    keys: list[str] = []
    for section, cls in SECTIONS.items():
        title = cls.__doc__.splitlines()[0].rstrip(".").lower()
        group = parser.add_argument_group(f"{section}: {title}")
        for f in dataclasses.fields(cls):
            flat = flat_name(section, f.name)
            if flat == "task":
                group.add_argument("--task", dest="task", metavar="NAME", default=argparse.SUPPRESS,
                                   type=_task_name, help="the task (see 'tasks' below; default: "
                                   f"{registry.DEFAULT})")  # fmt: skip
            else:
                _add(group, cls, f, flat, None)
            keys.append(flat)
    if task is None:
        width = max(map(len, registry.TASKS))
        lines = [f"  {name:<{width}}  {entry.summary}" for name, entry in registry.TASKS.items()]
        # Kept as written (the table below), so the command's own epilog is wrapped here.
        first = textwrap.fill(parser.epilog, 78) + "\n\n" if parser.epilog else ""
        parser.epilog = first + (
            "tasks (--task NAME; 'rnnkit COMMAND --task NAME --help' shows its own flags):\n"
            + "\n".join(lines)
        )
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
    else:
        cls = registry.config_class(task)
        group = parser.add_argument_group(f"task {task}: {cls.__doc__.splitlines()[0].rstrip('.')}")
        for f in dataclasses.fields(cls):
            if f.name != "name":
                _add(group, cls, f, f.name, cls)
        # Other names a task's field goes by, e.g. the treebank literature's --binary.
        for flag, (dest, value, text) in getattr(cls, "flag_aliases", {}).items():
            group.add_argument(f"--{flag}", dest=dest, action="store_const", const=value,
                               default=argparse.SUPPRESS, help=text)  # fmt: skip
        keys += task_fields(cls)
    parser.set_defaults(config_keys=keys, config_task=task)


def _add(group, cls: type, f: dataclasses.Field, flat: str, task_cls: type | None) -> None:
    hint = typing.get_type_hints(cls)[f.name]
    kwargs: dict[str, Any] = {"dest": flat, "default": argparse.SUPPRESS}
    text = field_help(flat, task_cls).replace("``", "'").replace("%", "%%")  # argparse formats it
    if hint is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    else:
        kwargs["type"] = _typed(flat, task_cls)
        if get_origin(hint) is Literal:
            kwargs["metavar"] = "{" + ",".join(get_args(hint)) + "}"
        else:
            kwargs["metavar"] = flat.upper()
    default = f.default if f.default is not dataclasses.MISSING else None
    group.add_argument("--" + flat.replace("_", "-"), help=f"{text} (default: {default})", **kwargs)


def _task_name(text: str) -> str:
    try:
        return registry.canonical(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None


def _typed(flat: str, task_cls: type | None):
    """An argparse ``type`` converting to the field's type, with the field's own message."""

    def convert(text: str):
        try:
            return parse_value(flat, text, task_cls)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e).split(": ", 1)[-1]) from None

    convert.__name__ = flat
    return convert


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config fields set on the command line, by flat name."""
    return {k: getattr(args, k) for k in getattr(args, "config_keys", ()) if hasattr(args, k)}


def foreign_flag(extra: list[str], task: str | None) -> str | None:
    """A message for the first ``--flag`` of ``extra`` (flags argparse did not know) that is a
    field of other tasks than ``task``; None when none is."""
    for item in extra:
        if not item.startswith("--"):
            continue
        name = item[2:].split("=", 1)[0].replace("-", "_")
        owners = registry.owners(name)
        if owners and task is not None:
            return (f"--{name.replace('_', '-')}: not a flag of task {task!r} (only of task "
                    f"{', '.join(repr(o) for o in owners)})")  # fmt: skip
    return None
