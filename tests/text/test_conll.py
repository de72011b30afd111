"""CoNLL column files and plain token lines: columns, separators, -DOCSTART-, language prefixes,
the entity-scheme check, and errors that name the file and line."""

import pytest

from rnnkit.text.conll import (
    Sentence,
    is_entity_scheme,
    parse_conll,
    read_conll,
    read_token_lines,
)
from rnnkit.text.parallel import DataError


def write(tmp_path, text: str, name: str = "data.conll") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_tab_file_with_lone_tab_and_blank_separators_and_a_bom(tmp_path):
    # WNUT17's layout: token<TAB>tag, sentences ended by a blank line or by a lone tab; the dev
    # file ends in a lone byte-order mark.
    path = write(
        tmp_path, "\ufeffEmpire\tB-location\nState\tI-location\n\t\nhi\tO\n\nyo\tO\n\ufeff\n"
    )
    assert read_conll(path) == [
        Sentence(["Empire", "State"], ["B-location", "I-location"], 1),
        Sentence(["hi"], ["O"], 4),
        Sentence(["yo"], ["O"], 6),
    ]


def test_space_columns_docstart_and_tag_column(tmp_path):
    text = "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\nPeter NNP B-NP B-PER\n"
    path = write(tmp_path, text)
    ner = read_conll(path)
    assert [s.tokens for s in ner] == [["EU", "rejects"], ["Peter"]]
    assert [s.tags for s in ner] == [["B-ORG", "O"], ["B-PER"]]
    assert [s.line for s in ner] == [3, 6]
    pos = read_conll(path, tag_col=1)
    assert [s.tags for s in pos] == [["NNP", "VBZ"], ["NNP"]]
    # A -DOCSTART- line ends a sentence even without a blank line before it.
    assert len(read_conll(write(tmp_path, "a\tO\n-DOCSTART-\tO\nb\tO\n", "d.conll"))) == 2


def test_language_prefix_auto_strip_and_keep(tmp_path):
    path = write(tmp_path, "en:Paris\tB-LOC\nen::\tO\n\nen:Hi\tO\n")
    assert [s.tokens for s in read_conll(path)] == [["Paris", ":"], ["Hi"]]
    assert [s.tokens for s in read_conll(path, prefix="keep")] == [["en:Paris", "en::"], ["en:Hi"]]
    # Not every token prefixed (or two languages): auto keeps tokens as written ...
    mixed = write(tmp_path, "en:Paris\tB-LOC\nhttp://x.org\tO\n", "mixed.conll")
    assert read_conll(mixed)[0].tokens == ["en:Paris", "http://x.org"]
    two = write(tmp_path, "en:Paris\tB-LOC\nfr:Lyon\tB-LOC\n", "two.conll")
    assert read_conll(two)[0].tokens == ["en:Paris", "fr:Lyon"]
    # ... and strip names the first token without one.
    with pytest.raises(DataError, match=r"mixed\.conll:2: token 'http://x.org' has no language"):
        read_conll(mixed, prefix="strip")


def test_untagged_columns_and_token_lines(tmp_path):
    path = write(tmp_path, "Hello\nworld\n\nen\n")
    assert [s.tokens for s in read_conll(path, tagged=False)] == [["Hello", "world"], ["en"]]
    assert read_conll(path, tagged=False)[0].tags is None
    lines = write(tmp_path, "en:A en:b\n\n  en:c  \n", "plain.txt")
    assert read_token_lines(lines) == [Sentence(["A", "b"], None, 1), Sentence(["c"], None, 3)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a\tO\nb\n", r"data\.conll:2: 1 column\(s\), but line 1 has 2"),
        ("a\tO\nb\tO\tx\n", r"data\.conll:2: 3 column\(s\), but line 1 has 2"),
        ("a\n", r"data\.conll:1: expected a token and a tag \(column 2\), found 1 column"),
        ("a\tO\n\nb\t\n", r"data\.conll:3: empty tag \(column 2\) for token 'b'"),
        ("a\tO\n\tO\n", r"data\.conll:2: empty token \(column 1\)"),
        ("\n\n-DOCSTART-\tO\n", r"data\.conll: no sentences"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path, text))


def test_tag_column_beyond_the_line_and_bad_bytes(tmp_path):
    with pytest.raises(DataError, match=r"data\.conll:1: expected a token and a tag \(column 4\)"):
        read_conll(write(tmp_path, "a B C\n"), tag_col=3)
    path = tmp_path / "bad.conll"
    path.write_bytes(b"a\tO\n\xff\tO\n")
    with pytest.raises(DataError, match=r"bad\.conll:2: not UTF-8"):
        read_conll(path)
    with pytest.raises(DataError, match="no such file"):
        read_conll(tmp_path / "missing.conll")
    with pytest.raises(DataError, match=r"<stdin>: no sentences"):
        parse_conll([""], "<stdin>")


def test_entity_scheme():
    assert is_entity_scheme(["O", "B-PER", "I-PER", "S-LOC", "E-LOC"])
    assert is_entity_scheme(["B-creative-work", "I-creative-work", "O"])
    assert not is_entity_scheme(["NN", "VBZ", "O"])
    assert not is_entity_scheme(["O"])
    assert not is_entity_scheme([])
