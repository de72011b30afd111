"""ListOps: the evaluator by hand, the released line format to the character, the generator's
bounds and determinism, both tree forms, and errors naming file, line and column."""

import re
from collections import Counter

import pytest

from rnnkit.text import DataError
from rnnkit.tree import Tree, listops
from rnnkit.tree.listops import (
    SYMBOLS,
    Op,
    binary_tree,
    depth,
    evaluate,
    format_line,
    generate,
    operator_tree,
    parse_line,
    read_listops,
    to_tokens,
    write_listops,
)


def MAX(*a):
    return Op("MAX", a)


def MIN(*a):
    return Op("MIN", a)


def MED(*a):
    return Op("MED", a)


def SM(*a):
    return Op("SM", a)


EXAMPLE = MAX(2, 9, MIN(4, 7), 0)
EXAMPLE_LINE = "9\t( ( ( ( ( [MAX 2 ) 9 ) ( ( ( [MIN 4 ) 7 ) ] ) ) 0 ) ] )"


@pytest.mark.parametrize(
    "expr, value",
    [
        (MAX(2, 9, MIN(4, 7), 0), 9),  # MIN(4, 7) = 4; max(2, 9, 4, 0) = 9
        (MIN(5, 3, 8), 3),
        (MED(7, 1, 4), 4),  # sorted 1 4 7: the middle one
        (MED(1, 2, 3, 4), 2),  # even count: (2 + 3) // 2 = 2, truncated from 2.5
        (MED(9, 0), 4),  # (0 + 9) // 2 = 4
        (MED(6, 8, 6, 8), 7),  # sorted 6 6 8 8: (6 + 8) // 2 = 7
        (SM(9, 8, 7), 4),  # 24 mod 10
        (SM(5, 5), 0),  # 10 wraps to 0
        (SM(3, 4), 7),  # no wrap
        # MED(5, SM(9, 9), 1): SM = 18 mod 10 = 8; sorted 1 5 8 -> 5; MIN(5, 6) = 5
        (MIN(MED(5, SM(9, 9), 1), 6), 5),
        # MAX(1, MIN(3, 2)) = MAX(1, 2) = 2; SM(2, 9, MED(0, 1)) = SM(2, 9, 0) = 11 mod 10 = 1
        (SM(MAX(1, MIN(3, 2)), 9, MED(0, 1)), 1),
    ],
)
def test_evaluate_by_hand(expr, value):
    assert evaluate(expr) == value


def test_released_example_round_trips_to_the_character():
    assert to_tokens(EXAMPLE) == "[MAX 2 9 [MIN 4 7 ] 0 ]".split()
    assert format_line(9, EXAMPLE) == EXAMPLE_LINE
    assert parse_line(EXAMPLE_LINE) == (9, EXAMPLE)
    assert parse_line("9\t[MAX 2 9 [MIN 4 7 ] 0 ]\n") == (9, EXAMPLE)  # plain prefix form
    assert depth(EXAMPLE) == 3 and depth(4) == 1


def test_symbols_are_the_fifteen_tokens_without_parentheses():
    assert len(SYMBOLS) == len(set(SYMBOLS)) == 15
    assert set(SYMBOLS) == {"[MAX", "[MIN", "[MED", "[SM", "]", *"0123456789"}
    used = {tok for _, e in generate(300, seed=3) for tok in to_tokens(e)}
    assert used == set(SYMBOLS)


def _lists(expr):
    """Every Op in ``expr``."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, Op):
            yield e
            stack.extend(e.args)


@pytest.mark.parametrize("max_depth, max_args", [(20, 5), (4, 3)])
def test_generate_respects_depth_arguments_and_root(max_depth, max_args):
    data = generate(1500, seed=0, max_depth=max_depth, max_args=max_args)
    assert all(isinstance(e, Op) for _, e in data)  # a bare digit is never an example
    assert all(label == evaluate(e) for label, e in data)
    depths = [depth(e) for _, e in data]
    assert max(depths) == max_depth  # reached, never exceeded
    counts = Counter(len(op.args) for _, e in data for op in _lists(e))
    assert set(counts) == set(range(2, max_args + 1))
    assert Counter(op.name for _, e in data for op in _lists(e)).keys() == {
        "MAX",
        "MIN",
        "MED",
        "SM",
    }


def test_generate_respects_token_bounds_and_has_no_duplicates():
    data = generate(300, seed=1, min_tokens=20, max_tokens=60)
    lengths = [len(to_tokens(e)) for _, e in data]
    assert min(lengths) >= 20 and max(lengths) <= 60
    # 600 draws of short expressions: many raw draws repeat ('[SM 1 2 ]' and the like)
    short = generate(600, seed=2, max_tokens=6)
    keys = [tuple(to_tokens(e)) for _, e in short]
    assert len(set(keys)) == len(keys) == 600
    assert max(len(k) for k in keys) <= 6


def test_generate_is_seeded():
    a = generate(200, seed=5)
    assert generate(200, seed=5) == a
    b = generate(200, seed=6)
    assert [to_tokens(e) for _, e in b] != [to_tokens(e) for _, e in a]


def test_labels_cover_all_ten_classes():
    counts = Counter(label for label, _ in generate(3000, seed=0, max_tokens=100))
    assert set(counts) == set(range(10))
    assert min(counts.values()) > 0.03 * 3000  # measured: each class 8-12%


def _bracket(tree: Tree) -> str:
    """A binary tree spelled as the released files do: ``( left right )``."""
    if tree.is_leaf:
        return tree.token
    return "( " + " ".join(_bracket(c) for c in tree.children) + " )"


def test_binary_tree_is_the_gold_parse():
    tree = binary_tree(EXAMPLE)
    assert _bracket(tree) == EXAMPLE_LINE.split("\t")[1]
    for label, e in generate(200, seed=4, max_tokens=100):
        tree = binary_tree(e)
        assert tree.tokens() == to_tokens(e)
        assert len(list(tree.leaves())) == len(to_tokens(e))
        inner = [n for n in tree.nodes() if not n.is_leaf]
        assert all(len(n.children) == 2 and n.token is None for n in inner)
        assert len(inner) == len(to_tokens(e)) - 1
        assert tree.label == label
        assert all(n.label is None for n in tree.nodes() if n is not tree)
        assert _bracket(tree) == format_line(label, e).split("\t")[1]


def test_operator_tree_has_one_child_per_argument():
    tree = operator_tree(EXAMPLE)
    assert tree.token == "MAX" and tree.label == 9
    assert [c.token for c in tree.children] == ["2", "9", "MIN", "0"]
    assert [c.token for c in tree.children[2].children] == ["4", "7"]
    for label, e in generate(200, seed=4, max_tokens=100):
        tree = operator_tree(e)
        assert tree.label == label
        assert all(n.label is None for n in tree.nodes() if n is not tree)
        assert tree.height() == depth(e) - 1
        pairs = [(tree, e)]
        while pairs:
            node, ex = pairs.pop()
            if isinstance(ex, int):
                assert node.is_leaf and node.token == str(ex)
            else:
                assert node.token == ex.name and len(node.children) == len(ex.args)
                pairs.extend(zip(node.children, ex.args, strict=True))


def test_read_write_round_trip(tmp_path):
    data = generate(100, seed=7)
    path = tmp_path / "listops.tsv"
    write_listops(path, data)
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") == 100 and "\r" not in text
    assert text.splitlines()[0] == format_line(*data[0])
    assert read_listops(path) == data
    assert read_listops(str(path)) == data


def test_writing_a_wrong_label_or_a_bare_digit_is_refused():
    with pytest.raises(ValueError, match="label: expected the expression's value 9, got 3"):
        format_line(3, EXAMPLE)
    with pytest.raises(ValueError, match=r"expr: expected an Op \(a list\), got 4"):
        format_line(4, 4)
    with pytest.raises(ValueError, match="Op.name: expected one of"):
        Op("SUM", (1, 2))
    with pytest.raises(ValueError, match="Op.args: expected digits 0-9 or Op, got 10"):
        Op("SM", (1, 10))


@pytest.mark.parametrize(
    "line, column, message",
    [
        ("9[MAX 1 9 ]", 1, "expected label<TAB>expression, found no tab"),
        ("2\t[MAX 1 2 ]\t", 13, "expected label<TAB>expression, found a second tab"),
        ("x\t[MAX 1 2 ]", 1, "label: expected a digit 0-9, found 'x'"),
        ("10\t[MAX 1 2 ]", 1, "label: expected a digit 0-9, found '10'"),
        ("2\t[MAX 1 foo ]", 10, "unknown token 'foo'; expected [MAX, [MIN, [MED, [SM, ], a digit"),
        ("2\t[max 1 2 ]", 3, "unknown token '[max'"),
        ("2\t[MAX 1 2", 3, "'[MAX' is never closed by ']'"),
        ("2\t[MAX 1 [SM 2 ]", 3, "'[MAX' is never closed by ']'"),
        ("2\t]", 3, "']' closes no list"),
        ("2\t[MAX 1 2 ] ]", 14, "']' after the end of the expression"),
        ("2\t7", 3, "digit '7' outside any list"),
        ("2\t[MAX ]", 8, "'[MAX' list has no arguments"),
        ("2\t", 3, "empty expression"),
        ("2\t( )", 3, "empty expression"),
        ("2\t( [MAX 1 2 ]", 3, "'(' is never closed by ')'"),
        ("2\t[MAX 1 2 ] )", 14, "')' closes no '('"),
        # right tokens, other bracketing: ( ( [MAX 1 2 ) ] ) instead of ( ( ( [MAX 1 ) 2 ) ] )
        (
            "2\t( ( [MAX 1 2 ) ] )",
            7,
            "parentheses differ from the left-branching parse: expected '(', found '[MAX'",
        ),
        (
            "2\t( ( ( [MAX 1 ) 2 ) ] ) ( )",
            26,
            "parentheses differ from the left-branching parse: expected the end, found '('",
        ),
        ("5\t[MAX 1 2 ]", 1, "label 5 disagrees with the expression's value 2"),
        ("", 1, "empty line"),
    ],
)
def test_malformed_line_names_file_line_and_column(tmp_path, line, column, message):
    path = tmp_path / "bad.tsv"
    path.write_text(EXAMPLE_LINE + "\n" + line + "\n" + EXAMPLE_LINE + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:2:{column}: {message}")):
        read_listops(path)


def test_missing_file_and_generator_arguments(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no such file"):
        read_listops(tmp_path / "absent.tsv")
    with pytest.raises(ValueError, match="max_depth: expected >= 2"):
        generate(1, seed=0, max_depth=1)
    with pytest.raises(ValueError, match="max_args: expected >= 2, got 1"):
        generate(1, seed=0, max_args=1)
    with pytest.raises(ValueError, match="max_tokens: expected >= 4"):
        generate(1, seed=0, max_tokens=3)
    with pytest.raises(ValueError, match="min_tokens: expected <= max_tokens=10, got 20"):
        generate(1, seed=0, min_tokens=20, max_tokens=10)
    # depth 2 with 2 arguments allows only 4 * 10 * 10 = 400 distinct expressions
    monkeypatch.setattr(listops, "_GIVE_UP_AFTER", 2000)
    assert len(generate(300, seed=0, max_depth=2, max_args=2)) == 300
    with pytest.raises(ValueError, match="2000 draws in a row were duplicates"):
        generate(401, seed=0, max_depth=2, max_args=2)
