"""Property tests of the text file readers (issue 10): random bytes, truncation, wrong
encodings, huge lines. Every input either loads or raises DataError naming ``file:line``;
valid files round-trip exactly, and a file broken at one line is an error at that line."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from robust import FUZZ, TEXTY, line_of, loads_or_explains

from rnnkit.errors import DataError
from rnnkit.tasks.lm import read_text
from rnnkit.text.conll import Sentence, read_conll, read_token_lines
from rnnkit.text.datasets import read_examples
from rnnkit.text.parallel import read_parallel, read_text_lines
from rnnkit.text.vectors import read_word_vectors, vector_size
from rnnkit.text.vocab import SPECIALS, Vocabulary

BYTES = TEXTY | st.binary(max_size=2000)

# A token: no whitespace of any kind (str.split's), no control characters, no byte-order mark.
WORD = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\ufeff"
    ),
    min_size=1,
    max_size=6,
)
SENTENCE = st.lists(WORD, min_size=1, max_size=5).map(" ".join)
LABEL = st.text(alphabet="abcxyz0123-", min_size=1, max_size=4)
TAG = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "NN", "VBZ"])

# Lines that broke or could break a reader: deep JSON nesting, over-long integers, whitespace
# str.split sees but the readers' own blank test did not, header look-alikes, lone quotes,
# numbers beyond float32, NULs, stray CRs and byte-order marks.
NASTY = [
    b"[" * 50_000,
    b'{"text": ' * 20_000,
    b'{"text": "a", "label": ' + b"9" * 5000 + b"}",
    b'{"text": "a", "label": 1e999}',
    b'{"text": "a", "label": true}',
    b'{"text": "\\ud800", "label": 1}',
    b"[1, 2]",
    b"\x0b",
    b"\x0c\x1c",
    "\xa0".encode(),
    "\u3000\u2028".encode(),
    "\ufeff".encode(),
    b"\xef\xbb\xbf\xef\xbb\xbf",
    b'"',
    b'"a,"b"',
    b"a,b,c",
    b"text,label",
    b"text\tlabel",
    b"\t\t",
    b"a\t\tb",
    b"-DOCSTART- -X- O O",
    b"en:a\tO",
    b"__label__",
    b"__label__ x",
    b"3 \xc2\xb2",
    "2 \u0662".encode(),
    b"1 2",
    b"a 1e39 2",
    b"a nan 1",
    b"a 1_0 2",
    b"a  1 2",
    b"a 0x10 2",
    b"a\r1 2",
    b"\x00",
    b"a\x00b 1",
    b"\r",
    b"\xff\xfe",
    "café".encode("latin-1"),
]
HOSTILE = st.lists(st.sampled_from(NASTY) | WORD.map(str.encode), max_size=6).map(b"\n".join)


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def explains_at(read, path, line: int):
    """``read(path)`` must fail with a DataError naming ``path:line``."""
    result = loads_or_explains(read, path, error=DataError)
    assert isinstance(result, DataError), f"accepted a file broken at line {line}: {result!r}"
    assert line_of(result, path) == line, str(result)


def bad_utf8_line(data: bytes) -> int | None:
    """The line of the first byte of ``data`` that is not UTF-8, or None."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return data[: e.start].count(b"\n") + 1
    return None


# How one line is made undecodable: a stray byte, a UTF-8 character cut in half, a Latin-1
# accent (a wrongly encoded line).
ENCODING_DAMAGE = st.sampled_from([b"\xff", "é".encode()[:1], "é".encode("latin-1")])


def damage(line: bytes, junk: bytes, at: int) -> bytes:
    at %= len(line) + 1
    return line[:at] + junk + line[at:]


VOCAB_WORDS = ["a", "b", "c", "ab", "é", "0", "1", "the"]
VOCAB = Vocabulary([*SPECIALS, *VOCAB_WORDS])

# Every reader, with a file name whose extension picks the format, for the shared properties.
READERS = {
    "lines": ("x.txt", read_text_lines),
    "tsv-pairs": ("x.tsv", read_parallel),
    "csv": ("x.csv", read_examples),
    "tsv": ("x.tsv", read_examples),
    "jsonl": ("x.jsonl", read_examples),
    "label-text": ("x.txt", read_examples),
    "label-text-skip": ("x.txt", lambda p: read_examples(p, bad_lines="skip")),
    "jsonl-skip": ("x.jsonl", lambda p: read_examples(p, bad_lines="skip")),
    "csv-latin1": ("x.csv", lambda p: read_examples(p, encoding="latin-1")),
    "conll": ("x.conll", read_conll),
    "conll-untagged": ("x.conll", lambda p: read_conll(p, tagged=False, prefix="strip")),
    "token-lines": ("x.txt", read_token_lines),
    "vectors": ("x.vec", lambda p: read_word_vectors(p, VOCAB)),
    "vector-size": ("x.vec", vector_size),
    "lm": ("x.txt", read_text),
}
ALL = pytest.mark.parametrize("reader", list(READERS))


# -- 1. arbitrary bytes: loads or explains ---------------------------------------------------


@ALL
@FUZZ
@given(data=BYTES)
def test_any_bytes_load_or_explain(tmp_path, reader, data):
    name, read = READERS[reader]
    path = write(tmp_path, name, data)
    result = loads_or_explains(read, path, error=DataError)
    bad = bad_utf8_line(data)
    if bad is None or reader in ("csv-latin1", "vector-size"):
        return  # Latin-1 decodes any byte; vector_size only counts fields
    # Bytes that are not UTF-8 never load: the line readers decode the whole file before
    # parsing, so they name the first bad line; the vector reader decodes line by line and
    # may stop earlier, at a malformed line.
    assert isinstance(result, DataError), f"loaded bytes that are not UTF-8 ({bad=})"
    if reader == "vectors":
        assert line_of(result, path) <= bad, str(result)
    else:
        assert line_of(result, path) == bad, str(result)


@ALL
@FUZZ
@given(data=HOSTILE)
def test_hostile_lines_load_or_explain(tmp_path, reader, data):
    name, read = READERS[reader]
    loads_or_explains(read, write(tmp_path, name, data), error=DataError)


def test_hostile_lines_are_errors_at_their_line(tmp_path):
    # The inputs that crashed a reader before (a raw ValueError, RecursionError, IndexError,
    # LookupError), each now an error at its line, or read as it should be.
    ok = b'{"text": "fine", "label": 1}\n'
    path = write(tmp_path, "x.jsonl", ok + b"[" * 100_000 + b"\n")
    explains_at(read_examples, path, 2)
    path = write(tmp_path, "x.jsonl", ok + b'{"text": "a", "label": ' + b"9" * 5000 + b"}\n")
    explains_at(read_examples, path, 2)
    skipped = read_examples(path, bad_lines="skip")
    assert skipped.texts == ["fine"] and len(skipped.skipped) == 1
    path = write(tmp_path, "x.conll", b"a\tB-PER\n\x0b\nb\tO\n\xc2\xa0\n\nc\tO\n")
    # A line of other whitespace separates sentences, as a blank one does.
    got = read_conll(path)
    assert [s.tokens for s in got] == [["a"], ["b"], ["c"]]
    assert [s.line for s in got] == [1, 3, 6]
    path = write(tmp_path, "x.vec", "3 \u00b2\n".encode())
    # '²' is a digit to isdigit(), not to int(): not a word2vec header but a vector line, with
    # a value that is not a number.
    assert vector_size(path) == 1
    explains_at(lambda p: read_word_vectors(p, Vocabulary([*SPECIALS, "3"])), path, 1)
    path = write(tmp_path, "x.vec", b"a 1.0 2.0\nb 1e39 0\n")
    explains_at(lambda p: read_word_vectors(p, VOCAB), path, 2)  # inf as float32
    path = write(tmp_path, "x.txt", b"1 hi\n")
    for codec in ("rot13", "base64", "no-such-codec"):
        with pytest.raises(ValueError, match="encoding"):
            read_examples(path, encoding=codec)


# -- 2. valid files round-trip ---------------------------------------------------------------


@FUZZ
@given(
    lines=st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r\ufeff"))
    ),
    crlf=st.booleans(),
    bom=st.booleans(),
)
def test_text_lines_round_trip(tmp_path, lines, crlf, bom):
    data = b"".join(line.encode() + (b"\r\n" if crlf else b"\n") for line in lines)
    path = write(tmp_path, "x.txt", (b"\xef\xbb\xbf" if bom else b"") + data)
    if not lines:
        assert isinstance(loads_or_explains(read_text_lines, path, error=DataError), DataError)
    else:
        assert read_text_lines(path) == lines


@FUZZ
@given(pairs=st.lists(st.tuples(SENTENCE, SENTENCE), min_size=1, max_size=8), two=st.booleans())
def test_parallel_round_trip(tmp_path, pairs, two):
    if two:
        src = write(tmp_path, "s.txt", "".join(f"{s}\n" for s, _ in pairs).encode())
        tgt = write(tmp_path, "t.txt", "".join(f"{t}\n" for _, t in pairs).encode())
        assert read_parallel(src, tgt) == pairs
    else:
        path = write(tmp_path, "x.tsv", "".join(f"{s}\t{t}\n" for s, t in pairs).encode())
        assert read_parallel(path) == pairs


CSV_TEXT = st.text(alphabet="ab ,;\"'\né|", min_size=1, max_size=12).filter(
    lambda s: s.strip() == s
)
RECORDS = st.lists(st.tuples(SENTENCE, LABEL), min_size=1, max_size=8)


def csv_file(records, order, delimiter=",", end="\n"):
    """CSV (or TSV) text of ``records`` with columns in ``order``, and each record's line."""
    out, lines, line = io.StringIO(), [], 2
    writer = csv.writer(out, delimiter=delimiter, lineterminator=end)
    writer.writerow(order)
    for k, (text, label) in enumerate(records):
        writer.writerow([{"text": text, "label": label, "id": str(k)}[c] for c in order])
        lines.append(line)
        line += text.count("\n") + 1
    return out.getvalue(), lines


@FUZZ
@given(
    records=st.lists(st.tuples(CSV_TEXT, LABEL), min_size=1, max_size=8),
    order=st.permutations(["text", "label", "id"]),
    bom=st.booleans(),
)
def test_csv_round_trip(tmp_path, records, order, bom):
    text, lines = csv_file(records, order)
    # A UTF-8 byte-order mark (Excel's "CSV UTF-8") must not hide the first column's name.
    path = write(tmp_path, "x.csv", ("\ufeff" if bom else "").encode() + text.encode())
    got = read_examples(path)
    assert list(zip(got.texts, got.labels, strict=True)) == records
    assert got.lines == lines


@FUZZ
@given(records=RECORDS, order=st.permutations(["text", "label", "id"]))
def test_tsv_round_trip(tmp_path, records, order):
    rows = ["\t".join(order)] + [
        "\t".join({"text": t, "label": lab, "id": "7"}[c] for c in order) for t, lab in records
    ]
    got = read_examples(write(tmp_path, "x.tab", "\n".join(rows).encode()))
    assert list(zip(got.texts, got.labels, strict=True)) == records
    assert got.lines == list(range(2, len(records) + 2))


JSON_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10).filter(
    lambda s: s.strip() == s
)


@FUZZ
@given(
    records=st.lists(
        st.one_of(st.none(), st.tuples(JSON_TEXT, LABEL | st.integers())), min_size=1, max_size=8
    ).filter(lambda r: any(r)),
    ascii=st.booleans(),
)
def test_jsonl_round_trip(tmp_path, records, ascii):
    # None is a blank line, skipped; numbering stays the file's.
    lines = [
        "" if r is None else json.dumps({"label": r[1], "x": 0, "text": r[0]}, ensure_ascii=ascii)
        for r in records
    ]
    got = read_examples(write(tmp_path, "x.ndjson", "\n".join(lines).encode()))
    kept = [(k + 1, r) for k, r in enumerate(records) if r is not None]
    assert got.texts == [r[0] for _, r in kept]
    assert got.labels == [str(r[1]) for _, r in kept]
    assert got.lines == [k for k, _ in kept]


@FUZZ
@given(
    records=st.lists(st.one_of(st.none(), st.tuples(SENTENCE, LABEL)), min_size=1, max_size=8)
    .filter(lambda r: any(r)),
    fasttext=st.booleans(),
)  # fmt: skip
def test_label_text_round_trip(tmp_path, records, fasttext):
    lines = [
        "" if r is None else (f"__label__{r[1]}\t{r[0]}" if fasttext else f"{r[1]} {r[0]}")
        for r in records
    ]
    got = read_examples(write(tmp_path, "x.all", "\n".join(lines).encode()))
    kept = [(k + 1, r) for k, r in enumerate(records) if r is not None]
    assert list(zip(got.texts, got.labels, strict=True)) == [r for _, r in kept]
    assert got.lines == [k for k, _ in kept]


LATIN1_TEXT = st.text(alphabet="abc éàßü,", min_size=1, max_size=10).filter(
    lambda s: s.strip() == s
)


@FUZZ
@given(records=st.lists(st.tuples(LATIN1_TEXT, LABEL), min_size=1, max_size=6))
def test_latin1_file_with_and_without_its_encoding(tmp_path, records):
    text, lines = csv_file(records, ["text", "label"])
    data = text.encode("latin-1")
    path = write(tmp_path, "x.csv", data)
    got = read_examples(path, encoding="latin-1")
    assert list(zip(got.texts, got.labels, strict=True)) == records
    # Read as UTF-8, the first line with a Latin-1 accent is an error (or, where the bytes
    # happen to be valid UTF-8, the file loads: mojibake no reader can tell from text).
    bad = bad_utf8_line(data)
    result = loads_or_explains(read_examples, path, error=DataError)
    if bad is None:
        assert not isinstance(result, DataError)
    else:
        assert isinstance(result, DataError) and line_of(result, path) == bad
    # UTF-16 read as UTF-8 (or as UTF-16, cut at byte 0x0a): loads or explains.
    path16 = write(tmp_path, "y.csv", text.encode("utf-16"))
    loads_or_explains(read_examples, path16, error=DataError)
    loads_or_explains(lambda p: read_examples(p, encoding="utf-16"), path16, error=DataError)


def conll_file(sentences, sep, docstart):
    """A column file of ``sentences`` (lists of (token, tag)) and the Sentences it holds."""
    lines, expected = ([f"-DOCSTART-{sep}O", ""] if docstart else []), []
    for sentence in sentences:
        expected.append(
            Sentence([t for t, _ in sentence], [g for _, g in sentence], len(lines) + 1)
        )
        lines += [f"{t}{sep}{g}" for t, g in sentence] + [""]
    return "\n".join(lines), expected


SENTENCES = st.lists(st.lists(st.tuples(WORD, TAG), min_size=1, max_size=4), min_size=1,
                     max_size=5)  # fmt: skip


@FUZZ
@given(sentences=SENTENCES, sep=st.sampled_from(["\t", " ", "  "]), docstart=st.booleans())
def test_conll_round_trip(tmp_path, sentences, sep, docstart):
    text, expected = conll_file(sentences, sep, docstart)
    assert read_conll(write(tmp_path, "x.conll", text.encode()), prefix="keep") == expected


@FUZZ
@given(lines=st.lists(st.one_of(st.just(""), SENTENCE), min_size=1, max_size=8).filter(any))
def test_token_lines_round_trip(tmp_path, lines):
    got = read_token_lines(write(tmp_path, "x.txt", "\n".join(lines).encode()), prefix="keep")
    expected = [Sentence(s.split(), None, k + 1) for k, s in enumerate(lines) if s]
    assert got == expected


FLOAT32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@st.composite
def vector_files(draw):
    dim = draw(st.integers(1, 5))
    words = draw(st.lists(WORD.filter(lambda w: w not in SPECIALS), min_size=1, max_size=6,
                          unique=True))  # fmt: skip
    vectors = {w: draw(st.lists(FLOAT32, min_size=dim, max_size=dim)) for w in words}
    header = f"{len(words)} {dim}\n" if draw(st.booleans()) else ""
    text = header + "".join(f"{w} {' '.join(map(repr, v))}\n" for w, v in vectors.items())
    return text, vectors, dim


@FUZZ
@given(file=vector_files(), unknown=st.lists(st.sampled_from(["zz", "yy", "xx"]), unique=True))
def test_word_vectors_round_trip(tmp_path, file, unknown):
    text, vectors, dim = file
    known = list(vectors)[::2]  # some of the file's words are not in the vocabulary
    vocab = Vocabulary([*SPECIALS, *[w for w in unknown if w not in vectors], *known])
    path = write(tmp_path, "x.vec", text.encode())
    weights, found = read_word_vectors(path, vocab)
    assert weights.shape == (len(vocab), dim) and found == len(known)
    assert torch.isfinite(weights).all() and not weights[0].any()
    for w in known:
        assert weights[vocab.stoi[w]].tolist() == vectors[w]
    assert vector_size(path) == dim


@FUZZ
@given(
    text=st.text(st.characters(blacklist_categories=("Cs",))).filter(str.strip), bom=st.booleans()
)
def test_lm_text_round_trip(tmp_path, text, bom):
    path = write(tmp_path, "x.txt", (b"\xef\xbb\xbf" if bom else b"") + text.encode())
    expected = text if bom else text.removeprefix("\ufeff")  # one leading mark is dropped
    got = loads_or_explains(read_text, path, error=DataError)
    if expected.strip():
        assert got == expected
    else:
        assert isinstance(got, DataError)


# -- 3. a valid file broken at one line: an error at that line -------------------------------


@FUZZ
@given(data=st.data(), junk=ENCODING_DAMAGE)
def test_bad_encoding_at_one_line_is_named(tmp_path, data, junk):
    # One generated file per format, then one line made undecodable: every reader must name
    # that line (the header, a blank line or a -DOCSTART- line included).
    records = data.draw(RECORDS)
    sentences = data.draw(SENTENCES)
    vec_text, _, _ = data.draw(vector_files())
    files = {
        "x.tsv": "".join(f"{t}\t{lab}\n" for t, lab in records),
        "x.csv": csv_file(records, ["label", "text"])[0],
        "x.jsonl": "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in records),
        "x.txt": "".join(f"{lab} {t}\n" for t, lab in records),
        "x.conll": conll_file(sentences, "\t", True)[0],
        "x.vec": vec_text,
    }
    readers = {
        "x.tsv": [read_parallel, read_examples],
        "x.csv": [read_examples, read_text_lines],
        "x.jsonl": [read_examples],
        "x.txt": [read_examples, read_token_lines, read_text],
        "x.conll": [read_conll],
        "x.vec": [lambda p: read_word_vectors(p, VOCAB)],
    }
    for name, text in files.items():
        lines = text.encode().split(b"\n")
        k = data.draw(st.integers(0, len(lines) - 1), label=name)
        lines[k] = damage(lines[k], junk, data.draw(st.integers(0, 50)))
        path = write(tmp_path, name, b"\n".join(lines))
        for read in readers[name]:
            explains_at(read, path, k + 1)


@FUZZ
@given(records=RECORDS, data=st.data())
def test_wrong_field_count_is_named(tmp_path, records, data):
    k = data.draw(st.integers(0, len(records) - 1))
    how = data.draw(st.sampled_from(["extra", "missing"]))

    rows = [[t, lab] for t, lab in records]
    rows[k] = rows[k] + ["x"] if how == "extra" else rows[k][:1]

    def table(header, sep):
        out = io.StringIO()
        writer = csv.writer(out, delimiter=sep, lineterminator="\n")
        writer.writerows(([header] if header else []) + rows)
        return out.getvalue().encode()

    explains_at(read_parallel, write(tmp_path, "p.tsv", table(None, "\t")), k + 1)
    explains_at(read_examples, write(tmp_path, "x.tsv", table(["text", "label"], "\t")), k + 2)
    path = write(tmp_path, "x.csv", table(["text", "label"], ","))
    explains_at(read_examples, path, k + 2)
    # With bad_lines="skip", the broken row is dropped and listed; the others load.
    if len(records) > 1:
        got = read_examples(path, bad_lines="skip")
        assert got.texts == [t for j, (t, _) in enumerate(records) if j != k]
        assert len(got.skipped) == 1 and line_of(DataError(got.skipped[0]), path) == k + 2


@FUZZ
@given(records=RECORDS, data=st.data())
def test_broken_jsonl_and_label_text_lines_are_named(tmp_path, records, data):
    k = data.draw(st.integers(0, len(records) - 1))
    lines = [json.dumps({"text": t, "label": lab}) for t, lab in records]
    # Any proper prefix of a JSON object (a line cut short) is malformed JSON.
    lines[k] = lines[k][: data.draw(st.integers(1, len(lines[k]) - 1))]
    explains_at(read_examples, write(tmp_path, "x.jsonl", "\n".join(lines).encode()), k + 1)
    lines = [f"{lab} {t}" for t, lab in records]
    lines[k] = records[k][1]  # a label without its text
    explains_at(read_examples, write(tmp_path, "x.txt", "\n".join(lines).encode()), k + 1)


@FUZZ
@given(sentences=SENTENCES, data=st.data())
def test_broken_conll_line_is_named(tmp_path, sentences, data):
    text, _ = conll_file(sentences, "\t", False)
    lines = text.split("\n")
    token_lines = [j for j, line in enumerate(lines) if line]
    # Not the first token line: its width is the file's, so a later line would be named.
    assume(len(token_lines) >= 2)
    k = data.draw(st.sampled_from(token_lines[1:]))
    how = data.draw(st.sampled_from(["extra", "no tag", "empty tag", "empty token"]))
    token, tag = lines[k].split("\t")
    lines[k] = {"extra": f"{token}\t{tag}\tX", "no tag": token, "empty tag": f"{token}\t",
                "empty token": f"\t{tag}"}[how]  # fmt: skip
    explains_at(read_conll, write(tmp_path, "x.conll", "\n".join(lines).encode()), k + 1)


@FUZZ
@given(file=vector_files(), data=st.data())
def test_broken_vector_line_is_named(tmp_path, file, data):
    text, vectors, dim = file
    vocab = Vocabulary([*SPECIALS, *vectors])
    lines = text.rstrip("\n").split("\n")
    first = 1 if len(lines) > len(vectors) else 0  # the first vector line, after a header
    k = data.draw(st.integers(first, len(lines) - 1))
    values = ["word", "nan", "-inf", "1e39", "-", "1,5", ""]
    # The first vector line sets the width: one more or one fewer value there is no error.
    how = data.draw(st.sampled_from(values + (["extra", "missing"] if k > first else [])))
    parts = lines[k].split(" ")
    if how == "extra":
        parts.append("0.5")
    elif how == "missing":
        parts.pop()  # (a word left alone is an error too)
    else:
        parts[data.draw(st.integers(1, len(parts) - 1))] = how
    lines[k] = " ".join(parts)
    path = write(tmp_path, "x.vec", "\n".join(lines).encode())
    explains_at(lambda p: read_word_vectors(p, vocab), path, k + 1)


# -- 4. truncation at any byte: loads a prefix, or explains ----------------------------------


def cut(data, text: str) -> bytes:
    raw = text.encode()
    return raw[: data.draw(st.integers(0, len(raw)), label="cut")]


def is_prefix(got, full) -> bool:
    """``got`` is ``full[:n]``, except that each field of its last record may be cut short."""
    n = len(got)
    if n == 0:
        return True
    if n > len(full) or list(got[: n - 1]) != list(full[: n - 1]):
        return False
    return all(whole.startswith(part) for part, whole in zip(got[-1], full[n - 1], strict=True))


@FUZZ
@given(data=st.data(), records=RECORDS, sentences=SENTENCES)
def test_truncated_files_load_a_prefix_or_explain(tmp_path, data, records, sentences):
    tsv = "".join(f"{t}\t{lab}\n" for t, lab in records)
    got = loads_or_explains(
        read_parallel, write(tmp_path, "p.tsv", cut(data, tsv)), error=DataError
    )
    if not isinstance(got, DataError):
        assert is_prefix(got, records)

    for name, text in [
        ("x.txt", "".join(f"{lab} {t}\n" for t, lab in records)),
        ("x.tsv", "text\tlabel\n" + tsv),
        ("x.csv", csv_file(records, ["label", "text"])[0]),
        ("x.jsonl", "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in records)),
    ]:
        got = loads_or_explains(read_examples, write(tmp_path, name, cut(data, text)),
                                error=DataError)  # fmt: skip
        if not isinstance(got, DataError):
            pairs = list(zip(got.texts, got.labels, strict=True))
            if name == "x.jsonl":
                assert pairs == records[: len(pairs)]  # a cut JSON line never parses
            else:
                assert is_prefix(pairs, records), (name, pairs)

    text, expected = conll_file(sentences, "\t", False)
    got = loads_or_explains(read_conll, write(tmp_path, "x.conll", cut(data, text)),
                            error=DataError)  # fmt: skip
    if not isinstance(got, DataError):
        # Whole sentences, then the last one's tokens, the last tag possibly cut short (a cut
        # token has one column, an error).
        n = len(got)
        assert got[: n - 1] == expected[: n - 1]
        last, whole = got[-1], expected[n - 1]
        m = len(last.tokens)
        assert last.line == whole.line and last.tokens == whole.tokens[:m]
        assert last.tags[:-1] == whole.tags[: m - 1] and whole.tags[m - 1].startswith(last.tags[-1])

    raw = cut(data, "\n".join(f"{lab} {t}" for t, lab in records))
    got = loads_or_explains(read_text, write(tmp_path, "lm.txt", raw), error=DataError)
    if not isinstance(got, DataError):
        assert got == raw.decode()
    else:
        assert bad_utf8_line(raw) is not None or not raw.decode().strip()


@FUZZ
@given(file=vector_files(), data=st.data())
def test_truncated_vector_file_loads_its_whole_lines_or_explains(tmp_path, file, data):
    text, vectors, dim = file
    vocab = Vocabulary([*SPECIALS, *vectors])
    raw = cut(data, text)
    read = lambda p: read_word_vectors(p, vocab)  # noqa: E731
    got = loads_or_explains(read, write(tmp_path, "x.vec", raw), error=DataError)
    if not isinstance(got, DataError):
        # Every whole line's vector is read exactly; a last line cut inside its last value
        # may still parse (as a shorter number), as in any truncated text file.
        weights, found = got
        header = len(text.splitlines()) > len(vectors)
        whole = raw[: raw.rfind(b"\n") + 1].decode().splitlines()[1 if header else 0 :]
        complete = [line.split(" ", 1)[0] for line in whole]
        for w in complete:
            assert weights[vocab.stoi[w]].tolist() == vectors[w]
        assert found in (len(complete), len(complete) + 1)


# -- 5. huge lines: load or explain, fast -------------------------------------------------------

HUGE = 2_000_000


@ALL
@pytest.mark.parametrize("fill", [b"a", b"ab ", b"\t", b'"', b"[", b"1", b"a\rb"])
def test_a_huge_line_loads_or_explains_quickly(tmp_path, reader, fill):
    name, read = READERS[reader]
    line = (fill * (HUGE // len(fill)))[:HUGE]
    path = write(tmp_path, name, b"ok 1.0\n" + line + b"\nok 2.0\n")
    start = time.perf_counter()
    loads_or_explains(read, path, error=DataError, seconds=10)
    assert time.perf_counter() - start < 10


def test_huge_valid_lines_load(tmp_path):
    text = "w" * HUGE  # one 2 MB text; csv's own field limit is 128 KiB
    got = read_examples(write(tmp_path, "x.csv", f'text,label\n"{text}",1\nb,2\n'.encode()))
    assert got.texts == [text, "b"] and got.lines == [2, 3]
    got = read_examples(write(tmp_path, "x.tsv", f"label\ttext\n1\t{text}\n".encode()))
    assert got.texts == [text]
    got = read_examples(write(tmp_path, "x.jsonl", json.dumps({"text": text, "label": 1}).encode()))
    assert got.texts == [text]
    assert read_parallel(write(tmp_path, "p.tsv", f"{text}\tb\n".encode())) == [(text, "b")]
    assert read_conll(write(tmp_path, "x.conll", f"{text}\tO\n".encode()))[0].tokens == [text]
    values = [0.5] * 400_000
    path = write(tmp_path, "x.vec", ("a " + " ".join(map(str, values)) + "\n").encode())
    weights, found = read_word_vectors(path, VOCAB)
    assert found == 1 and weights.shape == (len(VOCAB), len(values))
    assert (weights[VOCAB.stoi["a"]] == 0.5).all()


# -- 6. empty files, blank files, directories, missing files: explained ----------------------


@ALL
@pytest.mark.parametrize(
    "data", [b"", b"\xef\xbb\xbf", b"\n", b"\n\n\n", b" \t\n\r\n", b"\xef\xbb\xbf\n  \n"]
)
def test_empty_and_blank_files_are_explained(tmp_path, reader, data):
    name, read = READERS[reader]
    if reader == "lines" and data.strip(b"\xef\xbb\xbf"):
        return  # blank lines are lines: read_text_lines returns them, its callers judge
    result = loads_or_explains(read, write(tmp_path, name, data), error=DataError)
    assert isinstance(result, DataError), f"loaded an empty file as {result!r}"


@ALL
@pytest.mark.parametrize("what", ["directory", "missing"])
def test_a_directory_or_a_missing_file_is_explained(tmp_path, reader, what):
    name, read = READERS[reader]
    path = tmp_path / name
    if what == "directory":
        path.mkdir()
    result = loads_or_explains(read, path, error=DataError)
    assert isinstance(result, DataError)


@pytest.mark.parametrize("what", ["directory", "missing", "shorter", "blank line"])
def test_parallel_target_side_is_explained(tmp_path, what):
    src = write(tmp_path, "s.txt", b"a\nb\n")
    tgt = tmp_path / "t.txt"
    if what == "directory":
        tgt.mkdir()
    elif what == "shorter":
        tgt.write_bytes(b"x\n")
    elif what == "blank line":
        tgt.write_bytes(b"x\n \n")
    result = loads_or_explains(lambda p: read_parallel(src, p), tgt, error=DataError)
    assert isinstance(result, DataError)
    if what == "blank line":
        assert line_of(result, tgt) == 2
