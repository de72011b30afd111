"""ListOps (Nangia & Bowman 2018): nested list operations over digits, their generator, the
released ``label<TAB>expression`` file format, and the two tree forms a Tree-LSTM reads.

An expression is a prefix list such as ``[MAX 2 9 [MIN 4 7 ] 0 ]``: an operator token opens a
list, its arguments are digits 0-9 or nested lists, and ``]`` closes it. The operators are

- ``MAX`` and ``MIN``;
- ``MED``, the median: the middle value of the sorted arguments, or for an even count the mean
  of the two middle values truncated to an integer (``MED 1 2 3 4`` is ``(2 + 3) // 2 = 2``);
- ``SM``, the sum modulo 10.

The label of an example is the value of the whole expression, one of 10 classes.

The released files hold one ``label<TAB>expression`` line per example, no header, where the
expression also carries parentheses spelling a left-branching binary parse of every list: the
tokens ``[OP a1 ... an ]`` are combined as ``((((([OP a1) a2) ...) an) ])``, and a nested list is
its own bracketed subtree. ``MAX(2, 9, MIN(4, 7), 0)`` is written::

    ( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )

Sequence models read :func:`to_tokens` (the parentheses dropped; the 15 :data:`SYMBOLS`
remain), tree models read :func:`binary_tree` (the parentheses as gold parse) or, for a
Child-Sum Tree-LSTM, :func:`operator_tree` (each operator with its arguments as children).

Example::

    >>> expr = Op("MAX", (2, 9, Op("MIN", (4, 7)), 0))
    >>> evaluate(expr), " ".join(to_tokens(expr))
    (9, '[MAX 2 9 [MIN 4 7 ] 0 ]')
    >>> label, again = parse_line(format_line(9, expr))
    >>> again == expr, len(list(binary_tree(expr).leaves())), operator_tree(expr).height()
    (True, 9, 2)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from rnnkit.text.parallel import DataError, read_text_lines
from rnnkit.tree.tree import Tree

OPERATORS: tuple[str, ...] = ("MAX", "MIN", "MED", "SM")
"""The operator names, in the order :data:`SYMBOLS` lists their tokens."""

CLOSE = "]"
"""The token that closes a list."""

SYMBOLS: tuple[str, ...] = (*(f"[{op}" for op in OPERATORS), CLOSE, *(str(d) for d in range(10)))
"""The 15 tokens of an expression without its parentheses: four operators, ``]``, ten digits."""

_P_OPERATOR = 0.25  # below the maximum depth, a node is an operator with this probability
_MIN_ARGS = 2
_GIVE_UP_AFTER = 200_000  # consecutive rejected draws before generate() declares the bounds empty


@dataclass(frozen=True)
class Op:
    """One list: an operator applied to its arguments.

    Attributes:
        name: one of :data:`OPERATORS` (``"MAX"``, not the token ``"[MAX"``).
        args: the arguments, left to right; each a digit 0-9 (an ``int``) or a nested ``Op``.
            At least one (generated lists have 2 to ``max_args``).
    """

    name: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if self.name not in OPERATORS:
            raise ValueError(f"Op.name: expected one of {list(OPERATORS)}, got {self.name!r}")
        if not isinstance(self.args, tuple) or not self.args:
            raise ValueError(f"Op.args: expected a non-empty tuple, got {self.args!r}")
        for a in self.args:
            if not isinstance(a, Op) and not (type(a) is int and 0 <= a <= 9):
                raise ValueError(f"Op.args: expected digits 0-9 or Op, got {a!r}")


Expr = int | Op
"""A ListOps expression: a digit 0-9 or a list. Whole examples are always an ``Op``."""

_T = TypeVar("_T")


def _fold(expr: Expr, leaf: Callable[[int], _T], node: Callable[[Op, list[_T]], _T]) -> _T:
    """Combine ``expr`` bottom-up: ``leaf(digit)``, then ``node(op, values of its args)``.

    Iterative, so a deeply nested expression read from a file cannot hit the recursion limit.
    """
    done: list[_T] = []
    stack: list[tuple[Expr, bool]] = [(expr, False)]
    while stack:
        e, expanded = stack.pop()
        if isinstance(e, int):
            done.append(leaf(e))
        elif expanded:
            n = len(e.args)  # >= 1, so done[-n:] is the args and never the whole list
            values = done[-n:]
            del done[-n:]
            done.append(node(e, values))
        else:
            stack.append((e, True))
            stack.extend((a, False) for a in reversed(e.args))
    return done[0]


def _apply(op: Op, values: list[int]) -> int:
    if op.name == "MAX":
        return max(values)
    if op.name == "MIN":
        return min(values)
    if op.name == "SM":
        return sum(values) % 10
    ordered = sorted(values)  # MED
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) // 2  # non-negative, so // truncates


def evaluate(expr: Expr) -> int:
    """The value 0-9 of ``expr`` (the label of an example)."""
    return _fold(expr, lambda d: d, _apply)


def depth(expr: Expr) -> int:
    """The depth of the deepest node, counting the root as 1: a digit is 1, ``[MAX 1 2 ]`` 2.

    Generated expressions have ``depth(expr) <= max_depth``.
    """
    return _fold(expr, lambda d: 1, lambda op, ds: 1 + max(ds))


def to_tokens(expr: Expr) -> list[str]:
    """The flat token sequence without parentheses, e.g. ``['[MAX', '2', '9', ']']``."""
    return _fold(
        expr,
        lambda d: [str(d)],
        lambda op, ts: [f"[{op.name}", *(t for arg in ts for t in arg), CLOSE],
    )


def _bracketed(expr: Expr) -> str:
    """The expression with the parentheses of its left-branching binary parse."""
    return " ".join(_bracketed_tokens(expr))


def _bracketed_tokens(expr: Expr) -> list[str]:
    """The tokens of :func:`_bracketed`, in linear time: a list of n arguments is
    ``( * (n + 1), [OP, a1, ), a2, ), ..., an, ), ], )``. (Wrapping strings bottom-up copied
    each subtree once per enclosing list: quadratic, minutes on a deeply nested line.)"""
    out: list[str] = []
    stack: list[Expr | str] = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, str):
            out.append(e)
        elif isinstance(e, int):
            out.append(_SYMBOL_OF_DIGIT[e])
        else:
            out.extend("(" * (len(e.args) + 1))
            out.append(f"[{e.name}")
            stack.extend((")", CLOSE))
            for a in reversed(e.args):
                stack.extend((")", a))
    return out


def format_line(label: int, expr: Op) -> str:
    """One line of a released file, ``label<TAB>parenthesized expression``, without newline.

    Raises:
        ValueError: if ``expr`` is a bare digit or ``label`` is not its value (a file that
            :func:`read_listops` would reject is not written).
    """
    if not isinstance(expr, Op):
        raise ValueError(f"expr: expected an Op (a list), got {expr!r}")
    value = evaluate(expr)
    if label != value:
        raise ValueError(f"label: expected the expression's value {value}, got {label!r}")
    return f"{label}\t{_bracketed(expr)}"


_TOKEN = re.compile(r"[()]|[^\s()]+")
_OPERATOR_TOKENS = {f"[{op}": op for op in OPERATORS}
_DIGITS = {str(d): d for d in range(10)}
_SYMBOL_OF_DIGIT = [str(d) for d in range(10)]
_EXPECTED = f"{', '.join(_OPERATOR_TOKENS)}, {CLOSE}, a digit 0-9 or a parenthesis"


def parse_line(line: str, *, source: str = "<string>", line_number: int = 1) -> tuple[int, Op]:
    """Read one ``label<TAB>expression`` line into ``(label, expression)``.

    The expression may carry the parentheses of the released files or none at all (the plain
    prefix form ``[MAX 2 9 ]``). Parentheses, when present, must be balanced and spell exactly
    the left-branching parse that :func:`format_line` writes: another bracketing would be
    silently lost (:func:`binary_tree` rebuilds the parse from the expression), so it is an
    error. Lists need at least one argument; the expression must be a list, not a bare digit.

    Args:
        line: the text; a trailing newline is ignored.
        source: the file name used in error messages.
        line_number: the line number used in error messages.

    Raises:
        DataError: ``source:line:column: message`` (columns count characters from 1) for a
            missing or extra tab, a label that is not a digit 0-9, an unknown token, unbalanced
            parentheses or lists, an empty list or expression, text after the expression,
            parentheses other than the left-branching parse, or a label that disagrees with
            the expression's value (labels are values by definition, so a disagreement means
            a corrupted file).
    """
    line = line.rstrip("\r\n")

    def fail(column: int, message: str) -> DataError:
        return DataError(f"{source}:{line_number}:{column}: {message}")

    tab = line.find("\t")
    if tab < 0:
        raise fail(1, "expected label<TAB>expression, found no tab")
    extra = line.find("\t", tab + 1)
    if extra >= 0:
        raise fail(extra + 1, "expected label<TAB>expression, found a second tab")
    label_text = line[:tab]
    if label_text.strip() not in _DIGITS:
        raise fail(1, f"label: expected a digit 0-9, found {label_text!r}")
    label = _DIGITS[label_text.strip()]

    found = [(m.group(), m.start() + 1) for m in _TOKEN.finditer(line, tab + 1)]
    if not found:
        raise fail(tab + 2, "empty expression")
    opened: list[int] = []
    for tok, col in found:
        if tok == "(":
            opened.append(col)
        elif tok == ")":
            if not opened:
                raise fail(col, "')' closes no '('")
            opened.pop()
    if opened:
        raise fail(opened[-1], "'(' is never closed by ')'")

    lists: list[tuple[str, int, list[Expr]]] = []  # (operator, column, arguments so far)
    expr: Op | None = None
    for tok, col in found:
        if tok in ("(", ")"):
            continue
        if expr is not None:
            raise fail(col, f"{tok!r} after the end of the expression")
        if tok in _OPERATOR_TOKENS:
            lists.append((_OPERATOR_TOKENS[tok], col, []))
        elif tok in _DIGITS:
            if not lists:
                raise fail(
                    col,
                    f"digit {tok!r} outside any list; an expression starts with one "
                    f"of {list(_OPERATOR_TOKENS)}",
                )
            lists[-1][2].append(_DIGITS[tok])
        elif tok == CLOSE:
            if not lists:
                raise fail(col, "']' closes no list")
            name, _, args = lists.pop()
            if not args:
                raise fail(col, f"'[{name}' list has no arguments")
            op = Op(name, tuple(args))
            if lists:
                lists[-1][2].append(op)
            else:
                expr = op
        else:
            raise fail(col, f"unknown token {tok!r}; expected {_EXPECTED}")
    if lists:
        name, col, _ = lists[-1]
        raise fail(col, f"'[{name}' is never closed by ']'")
    if expr is None:  # only parentheses
        raise fail(tab + 2, "empty expression: no operator, digit or ']'")

    if any(tok in ("(", ")") for tok, _ in found):
        expected = _bracketed_tokens(expr)
        for i in range(max(len(expected), len(found))):
            want = repr(expected[i]) if i < len(expected) else "the end"
            got, col = (
                (repr(found[i][0]), found[i][1]) if i < len(found) else ("the end", len(line) + 1)
            )
            if got != want:
                raise fail(
                    col,
                    f"parentheses differ from the left-branching parse: expected {want}, "
                    f"found {got}",
                )

    value = evaluate(expr)
    if label != value:
        raise fail(1, f"label {label} disagrees with the expression's value {value}")
    return label, expr


def read_listops(path: str | Path) -> list[tuple[int, Op]]:
    """Read a ListOps file of ``label<TAB>expression`` lines (see :func:`parse_line`).

    Raises:
        DataError: naming the file, line and column of the first malformed line; also for a
            missing or empty file, bytes that are not UTF-8 (file and line) or an empty line.
    """
    path = Path(path)
    examples = []
    for number, line in enumerate(read_text_lines(path), 1):
        if not line.strip():
            raise DataError(f"{path}:{number}:1: empty line")
        examples.append(parse_line(line, source=str(path), line_number=number))
    return examples


def write_listops(path: str | Path, examples: Iterable[tuple[int, Op]]) -> None:
    """Write ``(label, expression)`` pairs in the released format, one line each.

    Raises:
        ValueError: from :func:`format_line`, for a label that is not the expression's value.
    """
    text = "".join(format_line(label, expr) + "\n" for label, expr in examples)
    Path(path).write_text(text, encoding="utf-8", newline="\n")


def _sample(
    rng: random.Random, max_depth: int, max_args: int, budget: int | None
) -> tuple[Op, int, list[str]] | None:
    """Draw one expression with a list at the root, as ``(expr, value, tokens)``, or None once
    it exceeds ``budget`` tokens (a rejected draw is abandoned instead of grown to full size).

    Drawing is depth-first, left to right, so tokens come out in prefix order.
    """
    tokens: list[str] = []
    stack: list[tuple[str, int, list[Expr], list[int]]] = []  # (operator, count, args, values)

    def open_list() -> None:
        name = rng.choice(OPERATORS)
        stack.append((name, rng.randint(_MIN_ARGS, max_args), [], []))
        tokens.append(f"[{name}")

    open_list()
    while True:
        name, count, args, values = stack[-1]
        if len(args) == count:
            stack.pop()
            op = Op(name, tuple(args))
            value = _apply(op, values)
            tokens.append(CLOSE)
            if not stack:
                return op, value, tokens
            stack[-1][2].append(op)
            stack[-1][3].append(value)
            continue
        child_depth = len(stack) + 1  # the root list is at depth 1
        if child_depth < max_depth and rng.random() < _P_OPERATOR:
            open_list()
        else:
            digit = rng.randrange(10)
            args.append(digit)
            values.append(digit)
            tokens.append(_SYMBOL_OF_DIGIT[digit])
        # every open list still needs its ']'
        if budget is not None and len(tokens) + len(stack) > budget:
            return None


def generate(
    n: int,
    *,
    seed: int,
    max_depth: int = 20,
    max_args: int = 5,
    max_tokens: int | None = None,
    min_tokens: int | None = None,
) -> list[tuple[int, Op]]:
    """Sample ``n`` distinct ListOps examples ``(value, expression)``, reproducibly from ``seed``.

    Sampling starts at the root (depth 1). Below ``max_depth`` a node is a list with
    probability 0.25, else a uniform digit; at ``max_depth`` it is always a digit. A list's
    operator is uniform over the four and it takes a uniform 2 to ``max_args`` arguments. The
    root is forced to be a list (a bare digit is no expression); since the root's draw is
    independent of the rest, this is the same distribution as resampling until it is one.
    Token counts (``len(to_tokens(expr))``, parentheses not counted) outside
    ``[min_tokens, max_tokens]`` are rejected and drawn again, as are duplicates: no two
    returned expressions are equal. To split train and test sets without overlap, generate
    once and split the result.

    With the defaults expressions are short but heavy-tailed (the expected number of lists a
    list opens is 0.25 * 3.5 = 0.875, just below 1). Measured over 100,000 raw draws (seed 0):
    tokens had median 11, quartiles 6 and 29, mean 34, 90th percentile 83, 99th percentile 350,
    max ~1,500; 92% had at most 100 tokens and 0.3% at least 500; depth had median 3, 99th
    percentile 20, and 2.4% reached ``max_depth``. Removing duplicates drops many short draws
    (there are only 400 four-token expressions), so ``generate(100_000, seed=0)`` returns
    median 16, mean 43, 89% at most 100 tokens. Time: about 4 s for 90,000 examples with
    ``max_tokens=100`` (long draws are abandoned as soon as they pass the bound), about 10 ms
    per example with ``min_tokens=500``.

    Args:
        n: how many examples.
        seed: the seed of the ``random.Random`` that draws everything.
        max_depth: the depth at which every node is a digit; at least 2.
        max_args: the most arguments a list takes; at least 2.
        max_tokens: reject expressions of more tokens; None for no bound.
        min_tokens: reject expressions of fewer tokens; None for no bound.

    Returns:
        ``n`` pairs ``(evaluate(expr), expr)`` in the order drawn.

    Raises:
        ValueError: for an argument out of range, or when 200,000 draws in a row are rejected
            (the bounds admit too few distinct expressions).
    """
    if n < 0:
        raise ValueError(f"n: expected >= 0, got {n}")
    if max_depth < 2:
        raise ValueError(
            f"max_depth: expected >= 2 (the root is a list of digits), got {max_depth}"
        )
    if max_args < _MIN_ARGS:
        raise ValueError(f"max_args: expected >= {_MIN_ARGS}, got {max_args}")
    if max_tokens is not None and max_tokens < _MIN_ARGS + 2:
        raise ValueError(
            f"max_tokens: expected >= {_MIN_ARGS + 2} (the shortest expression, "
            f"e.g. '[SM 1 2 ]'), got {max_tokens}"
        )
    if min_tokens is not None and max_tokens is not None and min_tokens > max_tokens:
        raise ValueError(f"min_tokens: expected <= max_tokens={max_tokens}, got {min_tokens}")
    rng = random.Random(seed)
    seen: set[str] = set()
    examples: list[tuple[int, Op]] = []
    rejected = 0
    while len(examples) < n:
        drawn = _sample(rng, max_depth, max_args, max_tokens)
        if drawn is not None:
            expr, value, tokens = drawn
            key = " ".join(tokens)
            if (min_tokens is None or len(tokens) >= min_tokens) and key not in seen:
                seen.add(key)
                examples.append((value, expr))
                rejected = 0
                continue
        rejected += 1
        if rejected >= _GIVE_UP_AFTER:
            raise ValueError(
                f"generate: {_GIVE_UP_AFTER} draws in a row were duplicates or outside "
                f"min_tokens={min_tokens}, max_tokens={max_tokens} after {len(examples)} of "
                f"{n} examples; widen the bounds or ask for fewer"
            )
    return examples


def binary_tree(expr: Expr) -> Tree:
    """The gold left-branching binary parse of the released files, as a :class:`Tree`.

    The leaves carry the tokens of :func:`to_tokens` in order (``"[MAX"``, digits, ``"]"``);
    every inner node has exactly two children and token None. The root's label is the
    expression's value; every other label is None.
    """

    def node(op: Op, args: list[Tree]) -> Tree:
        acc = Tree(token=f"[{op.name}")
        for item in (*args, Tree(token=CLOSE)):
            acc = Tree(children=[acc, item])
        return acc

    tree = _fold(expr, lambda d: Tree(token=str(d)), node)
    tree.label = evaluate(expr)
    return tree


def operator_tree(expr: Expr) -> Tree:
    """Each list as a node whose token is its operator (``"MAX"``) and whose children are its
    arguments; digits are leaves with the digit as token. For a Child-Sum Tree-LSTM.

    The root's label is the expression's value; every other label is None.
    """
    tree = _fold(
        expr,
        lambda d: Tree(token=str(d)),
        lambda op, args: Tree(children=args, token=op.name),
    )
    tree.label = evaluate(expr)
    return tree
