"""Reading and writing trees: the bracketed treebank form, JSON trees, vocabularies, SST labels.

Two file formats, one tree per line:

- **Bracketed** (the Stanford Sentiment Treebank form): a label on every node, a word on every
  leaf, e.g. ``(3 (2 It) (4 (2 's) (3 (2 very) (3 good))))``.
- **JSON lines**: nested objects ``{"label": 1, "token": "x", "children": [...]}``; every key
  is optional, so this form also holds trees with unlabelled nodes or tokens on inner nodes
  (ListOps operators).

Errors in a file are :class:`~rnnkit.text.parallel.DataError` messages that start with
``file:line:column:`` (bracketed, and JSON syntax) or ``file:line:`` plus the path inside the
object (JSON structure, e.g. ``children[1].label``).

Nothing here recurses: trees thousands of levels deep parse, format and convert without hitting
Python's recursion limit. (The one exception is ``json.loads`` itself, which stops at about 500
tree levels; :func:`read_json_trees` reports that as a DataError.)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rnnkit.text.parallel import DataError, read_text_lines
from rnnkit.text.vocab import Vocabulary
from rnnkit.tree.tree import Tree

# Characters that separate tokens in the bracketed form; everything else that is not a bracket
# belongs to a word (SST has words like "'s", "--", "...", "-LRB-").
_SPACE = frozenset(" \t\n\r\f\v")
_KEYS = ("label", "token", "children")


# ----------------------------------------------------------------------------- bracketed form


def _tokenize(text: str, line: int) -> Iterator[tuple[str, int, int]]:
    """``(token, line, column)`` for each ``(``, ``)`` and word; columns are 1-based."""
    i, n, start_of_line = 0, len(text), 0
    while i < n:
        ch = text[i]
        if ch in _SPACE:
            if ch == "\n":
                line, start_of_line = line + 1, i + 1
            i += 1
        elif ch in "()":
            yield ch, line, i - start_of_line + 1
            i += 1
        else:
            j = i
            while j < n and text[j] not in _SPACE and text[j] not in "()":
                j += 1
            yield text[i:j], line, i - start_of_line + 1
            i = j


@dataclass
class _Open:
    """A node whose ``(`` and label have been read and whose ``)`` has not."""

    label: int
    line: int
    column: int
    children: list[Tree] = field(default_factory=list)
    word: str | None = None


def parse_bracketed(text: str, *, source: str = "<string>", line: int = 1) -> Tree:
    """Parse one tree in the bracketed form, a label on every node.

    ``(label word)`` is a leaf (``Tree(label, token=word)``); ``(label child child ...)`` is an
    inner node (``token=None``). Labels are non-negative integers; a word is any run of
    characters other than whitespace and brackets. Whitespace between tokens is free, newlines
    included (they advance the line number in messages).

    Args:
        text: the tree.
        source: the file name (or other origin) that error messages start with.
        line: the line number of ``text``'s first line, for error messages.

    Raises:
        DataError: ``"{source}:{line}:{column}: what is wrong"``, the column (1-based) pointing
            at the offending character: an unclosed ``(``, an unexpected ``)``, a missing or
            non-integer label, an empty node ``()``, a leaf with more than one word, a node with
            both a word and children, text after the tree, or no tree at all.

    Example::

        >>> t = parse_bracketed("(3 (2 very) (3 good))")
        >>> t.label, t.tokens(), [c.label for c in t.children]
        (3, ['very', 'good'], [2, 3])
    """
    stack: list[_Open] = []
    awaiting_label: tuple[int, int] | None = None  # where the last '(' was, until its label
    root: Tree | None = None

    def fail(at_line: int, column: int, message: str) -> DataError:
        return DataError(f"{source}:{at_line}:{column}: {message}")

    for token, ln, col in _tokenize(text, line):
        if awaiting_label is not None:
            if token == ")":
                raise fail(
                    *awaiting_label, "empty node '()': expected a label and a word or children"
                )
            if not (token.isascii() and token.isdigit()):
                if token[:1] == "-" and token[1:].isascii() and token[1:].isdigit():
                    raise fail(ln, col, f"labels are non-negative integers, got {token!r}")
                raise fail(ln, col, f"expected a label (an integer) after '(', got {token!r}")
            stack.append(_Open(int(token), *awaiting_label))
            awaiting_label = None
        elif token == "(":
            if root is not None:
                raise fail(ln, col, "text after the tree ends: one tree per line")
            if stack and stack[-1].word is not None:
                raise fail(
                    ln,
                    col,
                    f"a node has one word or child nodes, not both: '(' after the word "
                    f"{stack[-1].word!r}",
                )
            awaiting_label = (ln, col)
        elif token == ")":
            if not stack:
                raise fail(ln, col, "unexpected ')': no '(' is open")
            node = stack.pop()
            if node.word is None and not node.children:
                raise fail(ln, col, f"node ({node.label} ...) has a label but no word or children")
            tree = Tree(node.label, node.children, node.word)
            if stack:
                stack[-1].children.append(tree)
            else:
                root = tree
        else:  # a word
            if root is not None:
                raise fail(ln, col, f"text after the tree ends: {token!r}")
            if not stack:
                raise fail(ln, col, f"expected '(' to start a tree, got {token!r}")
            node = stack[-1]
            if node.children:
                raise fail(
                    ln,
                    col,
                    f"a node has one word or child nodes, not both: the word {token!r} "
                    f"after a child node",
                )
            if node.word is not None:
                raise fail(
                    ln, col, f"a leaf has one word, got a second: {token!r} after {node.word!r}"
                )
            node.word = token

    if awaiting_label is not None:
        raise fail(*awaiting_label, "unclosed '(': the text ends before its label")
    if stack:
        raise fail(stack[-1].line, stack[-1].column, "unclosed '(': the text ends before its ')'")
    if root is None:
        raise fail(line, 1, "empty line: expected a tree")
    return root


def _walk(tree: Tree) -> Iterator[tuple[Tree, str, Tree | None]]:
    """``(node, path, parent)`` in pre-order; paths look like ``children[1].children[0]``."""
    stack: list[tuple[Tree, str, Tree | None]] = [(tree, "", None)]
    while stack:
        node, path, parent = stack.pop()
        yield node, path, parent
        for i in reversed(range(len(node.children))):
            stack.append((node.children[i], _at(path, f"children[{i}]"), node))


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _where(path: str) -> str:
    return f"{path}: " if path else "the root: "


def format_bracketed(tree: Tree) -> str:
    """The bracketed form of ``tree`` on one line, single spaces: the inverse of
    :func:`parse_bracketed`.

    Raises:
        ValueError: naming the node (e.g. ``children[0].children[1]``) whose label is not a
            non-negative integer, whose leaf has no token, whose inner node has a token, or
            whose token is empty or holds whitespace or brackets: the form has no place for
            these.

    Example::

        >>> format_bracketed(Tree(3, [Tree(2, token="very"), Tree(3, token="good")]))
        '(3 (2 very) (3 good))'
    """
    for node, path, _ in _walk(tree):
        label = node.label
        if not isinstance(label, int) or isinstance(label, bool) or label < 0:
            raise ValueError(
                f"format_bracketed: {_where(path)}label must be a non-negative integer, got "
                f"{label!r}"
            )
        if node.is_leaf:
            token = node.token
            if token is None:
                raise ValueError(f"format_bracketed: {_where(path)}a leaf needs a token")
            if not token or any(c in _SPACE or c in "()" for c in token):
                raise ValueError(
                    f"format_bracketed: {_where(path)}token {token!r} is empty or holds "
                    f"whitespace or brackets"
                )
        elif node.token is not None:
            raise ValueError(
                f"format_bracketed: {_where(path)}an inner node cannot carry a token in this "
                f"form, got {node.token!r}"
            )

    pieces: list[str] = []
    stack: list[Tree | str] = [tree]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            pieces.append(item)
        elif item.is_leaf:
            pieces.append(f"({item.label} {item.token})")
        else:
            pieces.append(f"({item.label}")
            stack.append(")")
            for child in reversed(item.children):
                stack.extend((child, " "))
    return "".join(pieces)


def _tree_lines(path: Path) -> list[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file, blank lines at its end dropped."""
    lines = read_text_lines(path)
    if lines[0].startswith("\ufeff"):  # a byte-order mark is not part of the first tree
        lines[0] = lines[0][1:]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: empty file (only blank lines)")
    return list(enumerate(lines, 1))


def read_bracketed(path: str | Path) -> list[Tree]:
    """Read a file of bracketed trees, one per line (e.g. SST's ``train.txt``).

    Blank lines at the end of the file are ignored; a blank line anywhere else is an error.

    Raises:
        DataError: naming the file, line and column of a malformed tree (see
            :func:`parse_bracketed`), or the file when it is missing, empty or not UTF-8.
    """
    path = Path(path)
    return [parse_bracketed(t, source=str(path), line=n) for n, t in _tree_lines(path)]


# ----------------------------------------------------------------------------- JSON trees


def _show(value: object) -> str:
    """A JSON value as it would appear in the file, shortened."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):  # not JSON, or too deep to print
        text = f"a {type(value).__name__}"
    return text if len(text) <= 40 else text[:37] + "..."


def tree_from_json(obj: object, *, where: str) -> Tree:
    """The tree that a nested JSON object describes.

    Each node is an object with the optional keys ``"label"`` (an integer >= 0, or null),
    ``"token"`` (a string or null) and ``"children"`` (a list of nodes); any other key is an
    error, so a misspelt key does not silently drop data.

    Args:
        obj: the decoded JSON value (``json.loads`` of one line).
        where: what error messages start with, e.g. ``"trees.jsonl:3"``.

    Raises:
        DataError: ``"{where}: {path}: what is wrong"``, where ``path`` is the node's place in
            the object, e.g. ``children[1].label: expected an integer or null, got "x"``.

    Example::

        >>> tree_from_json({"label": 1, "children": [{"token": "a"}]}, where="x").tokens()
        ['a']
    """

    def fail(path: str, message: str) -> DataError:
        return DataError(f"{where}: {path}: {message}" if path else f"{where}: {message}")

    root: Tree | None = None
    stack: list[tuple[object, str, Tree | None]] = [(obj, "", None)]
    while stack:
        node, path, parent = stack.pop()
        if not isinstance(node, dict):
            raise fail(path, f"expected a JSON object (a tree node), got {_show(node)}")
        for key in node:
            if key not in _KEYS:
                raise fail(
                    _at(path, str(key)),
                    'unknown key; a node has only "label", "token" and "children"',
                )
        label = node.get("label")
        if label is not None and (not isinstance(label, int) or isinstance(label, bool)):
            raise fail(_at(path, "label"), f"expected an integer or null, got {_show(label)}")
        if label is not None and label < 0:
            raise fail(_at(path, "label"), f"expected a non-negative integer, got {label}")
        token = node.get("token")
        if token is not None and not isinstance(token, str):
            raise fail(_at(path, "token"), f"expected a string or null, got {_show(token)}")
        children = node.get("children", [])
        if not isinstance(children, list):
            raise fail(_at(path, "children"), f"expected a list, got {_show(children)}")
        tree = Tree(label, [], token)
        if parent is None:
            root = tree
        else:
            parent.children.append(tree)
        for i in reversed(range(len(children))):
            stack.append((children[i], _at(path, f"children[{i}]"), tree))
    assert root is not None
    return root


def tree_to_json(tree: Tree) -> dict:
    """The nested-object form of ``tree``, for ``json.dumps``; the inverse of
    :func:`tree_from_json`.

    ``"label"`` is always written (null when None); ``"token"`` only when not None and
    ``"children"`` only when not empty, which keeps leaves and operator-free trees short.

    Example::

        >>> tree_to_json(Tree(1, [Tree(token="a")]))
        {'label': 1, 'children': [{'label': None, 'token': 'a'}]}
    """
    root: dict = {}
    stack: list[tuple[Tree, dict | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        out: dict = {"label": node.label}
        if node.token is not None:
            out["token"] = node.token
        if node.children:
            out["children"] = []
        if parent is None:
            root = out
        else:
            parent["children"].append(out)
        stack.extend((child, out) for child in reversed(node.children))
    return root


def read_json_trees(path: str | Path) -> list[Tree]:
    """Read a JSON-lines file of trees, one nested object per line (see
    :func:`tree_from_json`).

    Blank lines at the end of the file are ignored; a blank line anywhere else is an error.

    Raises:
        DataError: naming the file and line, plus the column of a JSON syntax error or the path
            inside the object of a structural one; or the file when it is missing, empty or not
            UTF-8.
    """
    path = Path(path)
    trees = []
    for number, text in _tree_lines(path):
        if not text.strip():
            raise DataError(f"{path}:{number}:1: empty line: expected a tree")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{number}:{e.colno}: invalid JSON: {e.msg}") from None
        except RecursionError:
            raise DataError(
                f"{path}:{number}: the tree is nested too deeply for Python's JSON parser"
            ) from None
        except ValueError as e:  # an integer of more than 4300 digits: Python refuses to parse it
            raise DataError(f"{path}:{number}: invalid JSON: {e}") from None
        trees.append(tree_from_json(obj, where=f"{path}:{number}"))
    return trees


# ----------------------------------------------------------------------------- vocabulary, labels


def build_vocabulary(
    trees: Iterable[Tree],
    *,
    min_freq: int = 1,
    max_size: int | None = None,
    lowercase: bool = False,
) -> Vocabulary:
    """A vocabulary of every node's token (leaf words and inner-node tokens alike).

    Args:
        trees: the training trees.
        min_freq: keep tokens seen at least this often.
        max_size: keep at most this many tokens besides the specials (most frequent first).
        lowercase: lowercase tokens before counting; encode with lowercased tokens too.

    Example::

        >>> vocab = build_vocabulary([parse_bracketed("(3 (2 Very) (3 good))")], lowercase=True)
        >>> vocab.itos[4:]
        ['good', 'very']
    """

    def tokens(tree: Tree) -> list[str]:
        found = [n.token for n in tree.nodes() if n.token is not None]
        return [t.lower() for t in found] if lowercase else found

    return Vocabulary.build((tokens(t) for t in trees), min_freq=min_freq, max_size=max_size)


_BINARY = {0: 0, 1: 0, 2: None, 3: 1, 4: 1}


def sentiment_labels(tree: Tree, mode: Literal["fine", "binary"]) -> Tree | None:
    """A copy of a sentiment tree with labels for the fine-grained or the binary task.

    ``"fine"`` keeps the five classes 0-4 (very negative ... very positive). ``"binary"`` maps
    0-1 to 0 (negative) and 3-4 to 1 (positive) on every node, and leaves neutral (2) nodes
    unlabelled (None); a tree whose root is neutral gets no binary label at all and is dropped
    (returns None), as in the literature. Nodes that had no label keep None, so a binary tree
    with an unlabelled root is dropped too. The input is not changed.

    Raises:
        ValueError: on a ``mode`` other than ``"fine"`` or ``"binary"``, or a label outside
            0-4 (naming the node, e.g. ``children[0].label``).

    Example::

        >>> t = parse_bracketed("(3 (2 very) (4 good))")
        >>> [n.label for n in sentiment_labels(t, "binary").nodes()]
        [None, 1, 1]
    """
    if mode not in ("fine", "binary"):
        raise ValueError(f"mode: expected 'fine' or 'binary', got {mode!r}")
    copies: dict[int, Tree] = {}
    for node, path, parent in _walk(tree):
        label = node.label
        if label is not None and label not in _BINARY:
            raise ValueError(
                f"sentiment_labels: {_at(path, 'label')}: expected a sentiment class 0-4, got "
                f"{label!r}"
            )
        if mode == "binary" and label is not None:
            label = _BINARY[label]
        copy = Tree(label, [], node.token)
        copies[id(node)] = copy
        if parent is not None:
            copies[id(parent)].children.append(copy)
    root = copies[id(tree)]
    if mode == "binary" and root.label is None:
        return None
    return root
