"""Property tests of the tree loaders (issue 10): bracketed trees, JSON-lines trees and ListOps
files either load (exactly the records written) or raise a DataError naming the file and the
line at fault; random bytes, truncation, wrong encodings, huge lines and deep trees included."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from robust import FUZZ, TEXTY, line_of, loads_or_explains

from rnnkit.errors import DataError
from rnnkit.tree.listops import OPERATORS, Op, evaluate, format_line, read_listops, to_tokens
from rnnkit.tree.readers import format_bracketed, read_bracketed, read_json_trees, tree_to_json
from rnnkit.tree.tree import Tree

READERS = [read_bracketed, read_json_trees, read_listops]


def shape(tree: Tree) -> list[tuple]:
    """Post-order (label, token, number of children): equal iff the trees are equal, computed
    without recursion (Tree's dataclass ``==`` recurses)."""
    return [(n.label, n.token, len(n.children)) for n in tree.nodes()]


# ----------------------------------------------------------------------------- strategies

# A bracketed word: anything but whitespace and brackets (SST has "'s", "--", "-LRB-"), any
# script; no surrogates, so every word encodes as UTF-8.
WORD = st.text(
    alphabet=st.characters(blacklist_characters=" \t\n\r\f\v()", blacklist_categories=["Cs"]),
    min_size=1,
    max_size=6,
)
LABEL = st.integers(0, 12)
BRACKETED_TREES = st.recursive(
    st.builds(lambda label, word: Tree(label, token=word), LABEL, WORD),
    lambda kids: st.builds(Tree, LABEL, st.lists(kids, min_size=1, max_size=3)),
    max_leaves=12,
)
# JSON trees: optional labels, tokens on any node, any text in tokens (newlines too: JSON
# escapes them).
JSON_TREES = st.recursive(
    st.builds(
        lambda label, token: Tree(label, [], token),
        st.none() | LABEL,
        st.none() | st.text(st.characters(blacklist_categories=["Cs"]), max_size=5),
    ),
    lambda kids: st.builds(
        Tree, st.none() | LABEL, st.lists(kids, min_size=1, max_size=3), st.none() | WORD
    ),
    max_leaves=12,
)
EXPRS = st.recursive(
    st.integers(0, 9),
    lambda kids: st.builds(
        Op, st.sampled_from(OPERATORS), st.lists(kids, min_size=1, max_size=4).map(tuple)
    ),
    max_leaves=15,
).filter(lambda e: isinstance(e, Op))


def bracketed_lines(trees: list[Tree]) -> list[str]:
    return [format_bracketed(t) for t in trees]


def json_lines(trees: list[Tree]) -> list[str]:
    return [json.dumps(tree_to_json(t), ensure_ascii=False) for t in trees]


def listops_lines(exprs: list[Op]) -> list[str]:
    return [format_line(evaluate(e), e) for e in exprs]


def write_lines(path, lines: list[str]) -> None:
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))


# ----------------------------------------------------------------------------- any bytes


@FUZZ
@given(data=TEXTY | st.binary(max_size=2000))
@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
def test_any_bytes_load_or_explain(tmp_path, read, data):
    path = tmp_path / "any.txt"
    path.write_bytes(data)
    result = loads_or_explains(read, path, error=DataError)
    if not isinstance(result, DataError):
        # Loading means one record per line: the tree readers drop blank lines at the end,
        # ListOps refuses every blank line.
        lines = data.decode("utf-8").split("\n")
        if lines[-1] == "":
            lines.pop()
        while read is not read_listops and lines and not lines[-1].strip():
            lines.pop()
        assert len(result) == len(lines)


# ----------------------------------------------------------------------------- round trips


@FUZZ
@given(trees=st.lists(BRACKETED_TREES, min_size=1, max_size=6))
def test_bracketed_trees_round_trip(tmp_path, trees):
    path = tmp_path / "trees.txt"
    write_lines(path, bracketed_lines(trees))
    assert [shape(t) for t in read_bracketed(path)] == [shape(t) for t in trees]


@FUZZ
@given(trees=st.lists(JSON_TREES, min_size=1, max_size=6))
def test_json_trees_round_trip(tmp_path, trees):
    path = tmp_path / "trees.jsonl"
    write_lines(path, json_lines(trees))
    assert [shape(t) for t in read_json_trees(path)] == [shape(t) for t in trees]


@FUZZ
@given(exprs=st.lists(EXPRS, min_size=1, max_size=6), parenthesized=st.booleans())
def test_listops_lines_round_trip(tmp_path, exprs, parenthesized):
    path = tmp_path / "listops.tsv"
    if parenthesized:  # the released files' form
        lines = listops_lines(exprs)
    else:  # the plain prefix form
        lines = [f"{evaluate(e)}\t{' '.join(to_tokens(e))}" for e in exprs]
    write_lines(path, lines)
    assert read_listops(path) == [(evaluate(e), e) for e in exprs]


# ----------------------------------------------------------------------------- one bad line

CORRUPTIONS = ["truncate", "invalid utf-8", "latin-1", "extra ')'", "blank line", "bad value"]


def corrupt(line: str, how: str, at: float, fmt: str) -> bytes:
    """``line`` (UTF-8) spoiled as ``how`` says, ``at`` in [0, 1) picking the place."""
    raw = line.encode("utf-8")
    if how == "truncate":  # cut mid-line: at least one character stays, at least one goes
        cut = 1 + int(at * (len(line) - 1))
        return line[:cut].encode("utf-8")
    if how == "invalid utf-8":  # a byte no UTF-8 text holds, anywhere in the line
        k = int(at * (len(raw) + 1))
        return raw[:k] + b"\xff" + raw[k:]
    if how == "latin-1":  # a line saved in the wrong encoding
        return {"bracketed": "(1 caf\xe9)", "json": '{"token": "caf\xe9"}'}.get(
            fmt, "0\t[MIN caf\xe9 ]"
        ).encode("latin-1")
    if how == "extra ')'":
        return raw + b" )"
    if how == "blank line":  # a blank line is only allowed at the end
        return b"   "
    # a bad value: a label that is not a number, a negative label, a label that is not
    # the expression's value
    if fmt == "bracketed":
        return b"(x (1 a))"
    if fmt == "json":
        return b'{"label": -1}'
    return str((int(line[0]) + 1) % 10).encode() + raw[1:]


FORMATS = {
    "bracketed": (
        read_bracketed,
        st.lists(BRACKETED_TREES, min_size=1, max_size=5),
        bracketed_lines,
    ),
    "json": (read_json_trees, st.lists(JSON_TREES, min_size=1, max_size=5), json_lines),
    "listops": (read_listops, st.lists(EXPRS, min_size=1, max_size=5), listops_lines),
}


@FUZZ
@given(data=st.data(), how=st.sampled_from(CORRUPTIONS), at=st.floats(0, 0.999))
@pytest.mark.parametrize("fmt", FORMATS)
def test_one_corrupt_line_is_named(tmp_path, fmt, data, how, at):
    read, records, to_lines = FORMATS[fmt]
    lines = to_lines(data.draw(records))
    if how == "blank line":  # a blank line at the very end is legitimately ignored
        lines.append(lines[0])
    bad = data.draw(st.integers(0, len(lines) - 2 if how == "blank line" else len(lines) - 1))
    encoded = [line.encode("utf-8") for line in lines]
    encoded[bad] = corrupt(lines[bad], how, at, fmt)
    path = tmp_path / f"bad.{fmt}"
    path.write_bytes(b"".join(line + b"\n" for line in encoded))
    error = loads_or_explains(read, path, error=DataError)
    assert isinstance(error, DataError), f"{how} on line {bad + 1} was accepted"
    assert line_of(error, path) == bad + 1, str(error)


@FUZZ
@given(data=st.data(), fmt=st.sampled_from(list(FORMATS)))
def test_a_truncated_file_loads_a_prefix_or_names_its_last_line(tmp_path, data, fmt):
    read, records, to_lines = FORMATS[fmt]
    lines = to_lines(data.draw(records))
    raw = "".join(line + "\n" for line in lines).encode("utf-8")
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(raw[:cut])
    result = loads_or_explains(read, path, error=DataError)
    whole = read(_write(tmp_path / f"whole.{fmt}", raw))
    if isinstance(result, DataError):
        if raw[:cut].strip():
            # the cut falls inside a record: the error is at the (partial) last line
            assert line_of(result, path) == raw[:cut].count(b"\n") + 1, str(result)
    else:
        # a cut after a whole record (before or after its newline) loads the records so far
        assert raw[:cut].rstrip(b"\n") == b"\n".join(raw.split(b"\n")[: len(result)])
        key = shape if fmt != "listops" else (lambda r: r)
        assert [key(r) for r in result] == [key(r) for r in whole[: len(result)]]


def _write(path, raw: bytes):
    path.write_bytes(raw)
    return path


# ----------------------------------------------------------------------------- huge, deep, empty


def test_a_100k_deep_bracketed_tree_loads(tmp_path):
    depth = 100_000
    path = tmp_path / "deep.txt"
    path.write_text("(1 " * depth + "(0 x)" + ")" * depth + "\n")
    (tree,) = loads_or_explains(read_bracketed, path, error=DataError)
    assert tree.height() == depth and tree.tokens() == ["x"]


def test_a_100k_deep_json_tree_explains_the_depth(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text('{"label": 1, "children": [' * 100_000 + '{"token": "x"}' + "]}" * 100_000)
    error = loads_or_explains(read_json_trees, path, error=DataError)
    assert isinstance(error, DataError) and line_of(error, path) == 1
    assert "nested too deeply" in str(error)


def test_json_integers_too_long_for_python_explain(tmp_path):
    # Python refuses to convert integers of more than 4300 digits (a ValueError, not a
    # JSONDecodeError): this escaped as a raw ValueError
    path = tmp_path / "big.jsonl"
    path.write_text('{"label": 1}\n{"label": 1' + "0" * 5000 + "}\n")
    error = loads_or_explains(read_json_trees, path, error=DataError)
    assert isinstance(error, DataError) and line_of(error, path) == 2


@pytest.mark.parametrize("parenthesized", [True, False])
def test_a_300k_deep_listops_line_loads_in_linear_time(tmp_path, parenthesized):
    # The check of the parentheses built the expected string by wrapping each subtree in its
    # parent's: quadratic, about 50 s for this line (5 s at 100k levels).
    depth = 300_000
    path = tmp_path / "deep.tsv"
    if parenthesized:
        text = "( ( [MAX " * depth + "7" + " ) ] )" * depth
    else:
        text = "[MIN " * depth + "7" + " ]" * depth
    path.write_text(f"7\t{text}\n")
    ((value, expr),) = loads_or_explains(read_listops, path, error=DataError, seconds=10)
    assert value == 7 and evaluate(expr) == 7 and isinstance(expr.args[0], Op)


def test_huge_lines_load(tmp_path):
    n = 300_000  # several MB per line
    path = tmp_path / "wide.txt"
    path.write_text("(1" + " (2 word)" * n + ")\n")
    (tree,) = loads_or_explains(read_bracketed, path, error=DataError)
    assert len(tree.children) == n
    path = tmp_path / "wide.jsonl"
    path.write_text(json.dumps({"label": 1, "children": [{"token": "w"}] * n}) + "\n")
    (tree,) = loads_or_explains(read_json_trees, path, error=DataError)
    assert len(tree.children) == n
    path = tmp_path / "wide.tsv"
    expr = Op("SM", (3,) * n)
    path.write_text(format_line(evaluate(expr), expr) + "\n")
    ((value, read_expr),) = loads_or_explains(read_listops, path, error=DataError)
    assert value == (3 * n) % 10 and read_expr.args == expr.args


@pytest.mark.parametrize("read", READERS, ids=lambda r: r.__name__)
@pytest.mark.parametrize("content", [None, "dir", b"", b"\n\n  \n", b"\xef\xbb\xbf\n"])
def test_empty_blank_missing_and_directory_explain(tmp_path, read, content):
    path = tmp_path / "input"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    assert isinstance(loads_or_explains(read, path, error=DataError), DataError)
