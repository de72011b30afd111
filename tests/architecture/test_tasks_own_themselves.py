"""The loop and the command line name no task (STYLE.md point 19): a string equal to a task's
name (or alias) in rnnkit/training/ or rnnkit/cli/, or a comparison of a task's ``output`` or
``kind`` with a literal, fails here with its file and line."""

from __future__ import annotations

import ast
from pathlib import Path

import rnnkit
from rnnkit.tasks import registry

PACKAGE = Path(rnnkit.__file__).parent
HUBS = [PACKAGE / "training", PACKAGE / "cli"]
NAMES = {*registry.TASKS, *registry.ALIASES}


def offences(source: str, where: str) -> list[str]:
    """Each task name in a string literal, and each ``x.output``/``x.kind`` compared with a
    literal, in ``source``, as ``where:line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES:
            found.append(f"{where}:{node.lineno}: names task {node.value!r}")
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            kinds = [
                s for s in sides if isinstance(s, ast.Attribute) and s.attr in ("output", "kind")
            ]
            literal = any(
                isinstance(s, (ast.Constant, ast.Tuple, ast.Set, ast.List)) for s in sides
            )
            if kinds and literal:
                found.append(f"{where}:{node.lineno}: compares .{kinds[0].attr} with a literal")
    return found


def test_training_and_cli_name_no_task():
    found = []
    for hub in HUBS:
        for path in sorted(hub.rglob("*.py")):
            found += offences(path.read_text(), str(path.relative_to(PACKAGE)))
    assert not found, "the trainer and the CLI must call task hooks:\n" + "\n".join(found)


def test_the_check_finds_what_it_is_for():
    bad = 'if task.name == "forecast": pass\nif task.output == "lm": pass\nx = ("tag", 1)\n'
    assert sorted(offences(bad, "x.py")) == [
        "x.py:1: names task 'forecast'",
        "x.py:2: compares .output with a literal",
        "x.py:2: names task 'lm'",
        "x.py:3: names task 'tag'",
    ]
    assert offences('if task.output == kind: pass\nname = "tagging"\n', "x.py") == []


def test_every_registered_task_and_command_resolves():
    for name in registry.TASKS:
        cls = registry.task_class(name)
        assert cls.Config is not None and "name" in cls.Config.__dataclass_fields__, name
        assert cls.from_config.__func__ is not None
    for alias, name in registry.ALIASES.items():
        assert registry.canonical(alias) == name
    for name in registry.COMMANDS:
        assert callable(registry.command(name).add_parser), name
