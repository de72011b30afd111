"""Tree readers: bracketed and JSON round trips, errors that point at file:line:column, deep
trees without recursion, vocabularies over node tokens, and SST fine/binary labels."""

import json

import pytest

from rnnkit.text import DataError
from rnnkit.tree.readers import (
    build_vocabulary,
    format_bracketed,
    parse_bracketed,
    read_bracketed,
    read_json_trees,
    sentiment_labels,
    tree_from_json,
    tree_to_json,
)
from rnnkit.tree.tree import Tree

SST = "(3 (2 It) (4 (2 's) (3 (2 very) (3 good))))"


def shape(tree: Tree) -> list[tuple]:
    """Post-order (label, token, number of children): equal iff the trees are equal, and
    computed without recursion (Tree's dataclass ``==`` recurses)."""
    return [(n.label, n.token, len(n.children)) for n in tree.nodes()]


def chain(depth: int) -> str:
    return "(1 " * depth + "(0 x)" + ")" * depth


def test_sst_example_parses_to_the_right_tree():
    t = parse_bracketed(SST)
    assert t == Tree(
        3,
        [
            Tree(2, token="It"),
            Tree(4, [Tree(2, token="'s"), Tree(3, [Tree(2, token="very"), Tree(3, token="good")])]),
        ],
    )
    assert t.token is None and t.children[1].token is None
    assert t.tokens() == ["It", "'s", "very", "good"]


@pytest.mark.parametrize(
    "text",
    [
        SST,
        "(2 hello)",
        "(1 (1 (0 unary)))",
        "(2 (2 -LRB-) (2 (2 --) (2 (2 ...) (2 (2 1994) (2 -RRB-)))))",
        "(4 (4 naïve) (3 :-\\/))",
        "(10 (0 a) (1 b) (2 c) (3 d))",
        "(2 " + " ".join(f"(2 w{i})" for i in range(500)) + ")",
        chain(50),
    ],
)
def test_canonical_text_round_trips_exactly(text):
    tree = parse_bracketed(text)
    assert format_bracketed(tree) == text
    assert shape(parse_bracketed(format_bracketed(tree))) == shape(tree)


def test_whitespace_between_tokens_is_free():
    messy = "  (3\t(2   It)(4 (2 's)\t\t(3 (2 very) (3 good ) ) )  )\t"
    assert shape(parse_bracketed(messy)) == shape(parse_bracketed(SST))
    assert format_bracketed(parse_bracketed(messy)) == SST
    assert (
        format_bracketed(parse_bracketed("(3\n  (2 very)\n  (3 good))")) == "(3 (2 very) (3 good))"
    )


def test_depth_2000_chain_without_recursion_error():
    tree = parse_bracketed(chain(2000))
    assert tree.height() == 2000 and tree.tokens() == ["x"]
    assert format_bracketed(tree) == chain(2000)
    again = tree_from_json(tree_to_json(tree), where="mem")
    assert shape(again) == shape(tree)
    binary = sentiment_labels(tree, "binary")
    assert binary is not None and binary.height() == 2000
    assert {n.label for n in binary.nodes()} == {0}


@pytest.mark.parametrize(
    "text, line, column, message",
    [
        ("(3 (2 a)", 7, 1, "unclosed '(': the text ends before its ')'"),
        ("(3 (2 a) (2 b", 7, 10, "unclosed '('"),
        ("(3 (2 a) (", 7, 10, "unclosed '(': the text ends before its label"),
        ("(2 a))", 7, 6, "unexpected ')'"),
        (")", 7, 1, "unexpected ')'"),
        ("(2 a) (2 b)", 7, 7, "text after the tree ends"),
        ("(2 a) b", 7, 7, "text after the tree ends: 'b'"),
        ("(It (2 a))", 7, 2, "expected a label (an integer) after '(', got 'It'"),
        ("(3 (2 a) ((2 b)))", 7, 11, "expected a label (an integer) after '(', got '('"),
        ("(2.5 a)", 7, 2, "expected a label (an integer) after '(', got '2.5'"),
        ("(-1 a)", 7, 2, "labels are non-negative integers, got '-1'"),
        ("(3 () (2 a))", 7, 4, "empty node '()'"),
        ("(3 (  ) (2 a))", 7, 4, "empty node '()'"),
        ("(3)", 7, 3, "node (3 ...) has a label but no word or children"),
        ("(2 very good)", 7, 9, "a leaf has one word, got a second: 'good' after 'very'"),
        ("(3 a (2 b))", 7, 6, "one word or child nodes, not both: '(' after the word 'a'"),
        ("(3 (2 a) b)", 7, 10, "one word or child nodes, not both: the word 'b'"),
        ("word (2 a)", 7, 1, "expected '(' to start a tree, got 'word'"),
        ("\t(2 a) x", 7, 8, "text after the tree ends: 'x'"),  # a tab is one column
        ("(3\n  (2 a) (2", 8, 9, "unclosed '('"),  # newlines advance the line
        ("", 7, 1, "empty line: expected a tree"),
        (" \t ", 7, 1, "empty line: expected a tree"),
    ],
)
def test_malformed_text_points_at_line_and_column(text, line, column, message):
    with pytest.raises(DataError) as info:
        parse_bracketed(text, source="f.txt", line=7)
    assert str(info.value).startswith(f"f.txt:{line}:{column}: ")
    assert message in str(info.value)


def test_format_refuses_trees_the_form_cannot_hold():
    with pytest.raises(ValueError, match=r"children\[1\]: label must be a non-negative integer"):
        format_bracketed(Tree(1, [Tree(1, token="a"), Tree(None, token="b")]))
    with pytest.raises(ValueError, match=r"children\[0\]: a leaf needs a token"):
        format_bracketed(Tree(1, [Tree(1)]))
    with pytest.raises(ValueError, match="the root: an inner node cannot carry a token"):
        format_bracketed(Tree(1, [Tree(1, token="a")], token="+"))
    with pytest.raises(ValueError, match="holds whitespace or brackets"):
        format_bracketed(Tree(1, token="a b"))
    with pytest.raises(ValueError, match="holds whitespace or brackets"):
        format_bracketed(Tree(1, token="f(x)"))


def test_read_bracketed_file(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(f"{SST}\r\n(1 (1 bad) (2 film))\n\n \n".encode())
    trees = read_bracketed(path)
    assert [t.tokens() for t in trees] == [["It", "'s", "very", "good"], ["bad", "film"]]
    assert [format_bracketed(t) for t in trees] == [SST, "(1 (1 bad) (2 film))"]


@pytest.mark.parametrize(
    "content, prefix, message",
    [
        (b"(2 a)\n\n(2 b)\n", "2:1", "empty line: expected a tree"),
        (b"(2 a)\n(2 b)\n(3 (2 c) (2 d)\n", "3:1", "unclosed '('"),
        (b"(2 a)\n(2 \xff)\n", "2", "not UTF-8"),
        (b"", "", "empty file"),
        (b"\n\n", "", "empty file"),
    ],
)
def test_read_bracketed_errors_name_file_and_line(tmp_path, content, prefix, message):
    path = tmp_path / "trees.txt"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        read_bracketed(path)
    where = f"{path}:{prefix}:" if prefix else f"{path}:"
    assert str(info.value).startswith(where)
    assert message in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nothing.txt: no such file"):
        read_bracketed(tmp_path / "nothing.txt")
    with pytest.raises(DataError, match="nothing.jsonl: no such file"):
        read_json_trees(tmp_path / "nothing.jsonl")


# ----------------------------------------------------------------------------- JSON


def listops_like() -> Tree:
    # Unlabelled inner nodes and a token on an inner node: things the bracketed form cannot hold.
    return Tree(
        5,
        [
            Tree(token="["),
            Tree(None, [Tree(token="3"), Tree(token="4")], token="MAX"),
            Tree(token="]"),
        ],
        token="MIN",
    )


def test_json_round_trip_and_shape():
    tree = listops_like()
    obj = tree_to_json(tree)
    assert obj["label"] == 5 and obj["token"] == "MIN"
    assert obj["children"][0] == {"label": None, "token": "["}
    assert "children" not in obj["children"][0]  # leaves stay short
    assert tree_from_json(json.loads(json.dumps(obj)), where="x") == tree
    sst = parse_bracketed(SST)
    assert tree_from_json(tree_to_json(sst), where="x") == sst
    # Every key is optional.
    assert tree_from_json({}, where="x") == Tree()
    assert tree_from_json({"children": [{"token": "a"}]}, where="x") == Tree(
        None, [Tree(token="a")]
    )


@pytest.mark.parametrize(
    "obj, message",
    [
        (
            {"label": 1, "children": [{"label": 0}, {"label": "x"}]},
            'w: children[1].label: expected an integer or null, got "x"',
        ),
        ([1, 2], "w: expected a JSON object (a tree node), got [1, 2]"),
        ({"children": [{}, 3]}, "w: children[1]: expected a JSON object (a tree node), got 3"),
        ({"label": True}, "w: label: expected an integer or null, got true"),
        ({"label": 1.0}, "w: label: expected an integer or null, got 1.0"),
        ({"label": -1}, "w: label: expected a non-negative integer, got -1"),
        ({"token": 7}, "w: token: expected a string or null, got 7"),
        ({"children": {"label": 1}}, 'w: children: expected a list, got {"label": 1}'),
        (
            {"children": [{"children": [{"lable": 1}]}]},
            'w: children[0].children[0].lable: unknown key; a node has only "label"',
        ),
    ],
)
def test_json_structure_errors_name_the_path(obj, message):
    with pytest.raises(DataError) as info:
        tree_from_json(obj, where="w")
    assert str(info.value).startswith(message)


def test_read_json_trees(tmp_path):
    path = tmp_path / "trees.jsonl"
    lines = [json.dumps(tree_to_json(t)) for t in (listops_like(), parse_bracketed(SST))]
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    assert read_json_trees(path) == [listops_like(), parse_bracketed(SST)]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"label": 1}\n{"label": 1,}\n', ":2:13: invalid JSON: Expecting property name"),
        ('{"label": 1}\n\n{"label": 1}\n', ":2:1: empty line: expected a tree"),
        (
            '{"label": 1}\n{"label": 1}\n{"children": [{}, {"token": ["a"]}]}\n',
            ':3: children[1].token: expected a string or null, got ["a"]',
        ),
        ('{"children": [' * 1000 + "{}" + "]}" * 1000, ":1: the tree is nested too deeply"),
        ("", ": empty file"),
    ],
)
def test_read_json_trees_errors(tmp_path, content, message):
    path = tmp_path / "trees.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_json_trees(path)
    assert str(info.value).startswith(f"{path}{message}")


# ----------------------------------------------------------------------------- vocabulary, labels


def test_vocabulary_counts_every_node_token():
    trees = [parse_bracketed("(3 (2 The) (3 (2 the) (3 good)))"), listops_like()]
    vocab = build_vocabulary(trees)
    # Inner-node tokens (MIN, MAX) count like leaf words; inner nodes without one add nothing.
    assert vocab.itos[4:] == ["3", "4", "MAX", "MIN", "The", "[", "]", "good", "the"]
    lower = build_vocabulary(trees, lowercase=True, min_freq=2)
    assert lower.itos[4:] == ["the"]  # "The" + "the"; everything else is seen once
    assert build_vocabulary(trees, lowercase=True, max_size=2).itos[4:] == ["the", "3"]
    with pytest.raises(ValueError, match="min_freq"):
        build_vocabulary(trees, min_freq=0)


def test_fine_labels_copy_the_tree():
    tree = parse_bracketed(SST)
    fine = sentiment_labels(tree, "fine")
    assert fine == tree and fine is not tree
    fine.children[0].label = 0
    assert tree.children[0].label == 2  # a copy, not the same nodes
    with pytest.raises(ValueError, match=r"children\[1\].label: expected a sentiment class 0-4"):
        sentiment_labels(parse_bracketed("(3 (2 a) (5 b))"), "fine")
    with pytest.raises(ValueError, match="mode: expected 'fine' or 'binary', got 'coarse'"):
        sentiment_labels(tree, "coarse")


def test_binary_labels_map_every_node_and_drop_neutral_roots():
    text = "(1 (0 a) (2 (1 b) (2 (3 c) (4 d))))"
    tree = parse_bracketed(text)
    binary = sentiment_labels(tree, "binary")
    assert [(n.token, n.label) for n in binary.nodes()] == [
        ("a", 0), ("b", 0), ("c", 1), ("d", 1), (None, None), (None, None), (None, 0)
    ]  # fmt: skip
    assert format_bracketed(tree) == text  # input untouched
    assert sentiment_labels(parse_bracketed("(2 (4 great) (0 awful))"), "binary") is None
    assert sentiment_labels(parse_bracketed("(2 (4 great) (0 awful))"), "fine") is not None
    assert sentiment_labels(parse_bracketed("(4 (2 x))"), "binary") == Tree(
        1, [Tree(None, token="x")]
    )
