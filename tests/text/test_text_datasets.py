"""Labelled-text readers: every format on tiny inline files, malformed lines named by file and
line, text normalization, and unknown tokens read as <unk>."""

import pytest

from rnnkit.text.codec import Codec, normalize
from rnnkit.text.datasets import detect_format, read_examples
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import UNK


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_label_text_lines(tmp_path):
    path = write(tmp_path, "d.txt", "pos a fine film\n\n__label__neg\tdull , slow .\n3  x \n")
    data = read_examples(path)
    assert data.texts == ["a fine film", "dull , slow .", "x"]
    assert data.labels == ["pos", "neg", "3"]
    assert data.lines == [1, 3, 4]  # the blank line is skipped, numbering is the file's


def test_csv_with_quotes_extra_columns_and_a_multiline_field(tmp_path):
    text = 'id,label,text\n1,pos,"good, really"\n2,neg,"two\nlines"\n3,neg,plain\n'
    data = read_examples(write(tmp_path, "d.csv", text))
    assert data.texts == ["good, really", "two\nlines", "plain"]
    assert data.labels == ["pos", "neg", "neg"]
    assert data.lines == [2, 3, 5]


def test_tsv_and_custom_columns(tmp_path):
    path = write(tmp_path, "d.tsv", 'sentence\ty\n"quoted" as is\t1\nb\t0\n')
    data = read_examples(path, text_col="sentence", label_col="y")
    assert data.texts == ['"quoted" as is', "b"]  # TSV has no quoting
    assert data.labels == ["1", "0"]


def test_jsonl_with_integer_labels(tmp_path):
    path = write(
        tmp_path, "d.jsonl", '{"text": "a b", "label": 2}\n\n{"text": "c", "label": "x"}\n'
    )
    data = read_examples(path)
    assert (data.texts, data.labels, data.lines) == (["a b", "c"], ["2", "x"], [1, 3])


def test_format_by_extension_or_flag(tmp_path):
    expected = {"a.csv": "csv", "a.TSV": "tsv", "a.tab": "tsv", "a.jsonl": "jsonl",
                "a.ndjson": "jsonl", "a.json": "jsonl", "a.txt": "label-text",
                "TREC.train.all": "label-text", "noext": "label-text"}  # fmt: skip
    assert {name: detect_format(name) for name in expected} == expected
    path = write(tmp_path, "d.txt", "text,label\nhello,1\n")
    assert read_examples(path, format="csv").texts == ["hello"]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("d.txt", "pos fine\nneg\n", r"d\.txt:2: no text after the label 'neg'"),
        ("d.csv", "text,label\na,1\nb,2,extra\n", r"d\.csv:3: 3 fields, but the header has 2"),
        ("d.csv", "text,label\na,1\nb\n", r"d\.csv:3: 1 fields, but the header has 2"),
        ("d.csv", "text,label\n ,1\n", r"d\.csv:2: empty text \(label '1'\)"),
        ("d.csv", "text,label\na,\n", r"d\.csv:2: empty label"),
        (
            "d.csv",
            "sentence,label\na,1\n",
            r"d\.csv:1: no column 'text' in the header .*--text-col",
        ),
        ("d.csv", 'text,label\n"a"b,1\n', r"d\.csv:2: malformed CSV"),
        ("d.tsv", "text\tlabel\na\t1\tz\n", r"d\.tsv:2: 3 fields, but the header has 2"),
        ("d.jsonl", '{"text": "a", "label": 1}\n{"text": "b", \n', r"d\.jsonl:2: malformed JSON"),
        ("d.jsonl", '{"text": "a"}\n', r"d\.jsonl:1: no key 'label' \(keys: 'text'"),
        ("d.jsonl", '["a", 1]\n', r"d\.jsonl:1: expected a JSON object, got list"),
        ("d.jsonl", '{"text": "a", "label": true}\n', r"d\.jsonl:1: 'label' should be a string"),
        ("d.jsonl", '{"text": 5, "label": 1}\n', r"d\.jsonl:1: 'text' should be a string"),
        ("d.txt", b"pos ok\nneg caf\xe9\n", r"d\.txt:2: not UTF-8"),
        ("d.txt", "\n\n", r"d\.txt: no examples"),
        ("d.txt", "", r"d\.txt: empty file"),
    ],
)
def test_malformed_lines_name_the_file_and_line(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        read_examples(write(tmp_path, name, content))


def test_bad_lines_skip_drops_and_lists_them(tmp_path):
    path = write(tmp_path, "d.txt", "pos fine\nneg\n1 \nneg bad\n")
    data = read_examples(path, bad_lines="skip")
    assert data.texts == ["fine", "bad"]
    assert [s.split(": ")[0] for s in data.skipped] == [f"{path}:2", f"{path}:3"]
    with pytest.raises(DataError, match=r"no examples \(2 malformed lines skipped\)"):
        read_examples(write(tmp_path, "e.txt", "a\nb\n"), bad_lines="skip")


def test_other_encodings(tmp_path):
    path = write(tmp_path, "d.txt", "pos café\x85crème\n", encoding="latin-1")
    data = read_examples(path, encoding="latin-1")
    assert data.texts == ["café\x85crème"]  # NEL (0x85) is not a line break here
    with pytest.raises(ValueError, match="encoding: unknown text encoding 'nope'"):
        read_examples(path, encoding="nope")


def test_subset_keeps_lines(tmp_path):
    data = read_examples(write(tmp_path, "d.txt", "a x\nb y\nc z\n"))
    part = data.subset([2, 0])
    assert (part.texts, part.labels, part.lines) == (["z", "x"], ["c", "a"], [3, 1])


def test_normalization_options():
    text = "It's OK. (Fine)"
    assert normalize(text) == text
    assert normalize(text, lowercase=True) == "it's ok. (fine)"
    assert normalize(text, punctuation="split").split() == "It ' s OK . ( Fine )".split()
    assert normalize(text, punctuation="strip").split() == ["It", "s", "OK", "Fine"]
    with pytest.raises(ValueError, match="punctuation: expected 'keep', 'split' or 'strip'"):
        normalize(text, punctuation="drop")


@pytest.mark.parametrize("kind", ["word", "char", "bpe"])
def test_codec_keeps_its_normalization_and_reads_unknown_tokens_as_unk(kind):
    codec = Codec.build(["A cat.", "a dog!"], kind=kind, lowercase=True, punctuation="split",
                        bpe_size=40)  # fmt: skip
    loaded = Codec.from_dict(codec.to_dict())
    assert loaded.encode("A CAT.") == codec.encode("a cat.")
    if kind == "word":
        assert codec.vocab.itos[4:] == ["a", "!", ".", "cat", "dog"]
        assert loaded.encode("a cow .") == [4, UNK, 6]
    if kind == "char":
        assert UNK in loaded.encode("zebra")
