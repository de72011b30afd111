"""The files the inference commands read from a trained run (issue 10): ``rnnkit predict``
(JSON lines of sequences, or texts), ``translate`` and ``tag`` (text lines) and ``forecast``
(a CSV of recent history). Any bytes load or give rnnkit's one-line error naming the file
(and the line, for a bad line); a valid file gives what the Python API gives for the same
inputs; truncation, huge lines, empty files, directories and missing files are explained.

One tiny run of each kind is trained once for the module. (``rnnkit generate`` reads no file:
its prompt is a flag.)
"""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from robust import FUZZ, TEXTY, line_of, loads_or_explains, time_limit

from rnnkit.cli.main import main
from rnnkit.errors import RnnkitError
from rnnkit.inputs import read_lines, read_sequences, read_texts
from rnnkit.tasks import tag_command
from rnnkit.training.trainer import load_run

QUICK = ["--steps", "3", "--eval-every", "3", "--batch-size", "8", "--device", "cpu",
         "--threads", "1", "--quiet", "--no-tensorboard"]  # fmt: skip
FEW = settings(FUZZ, max_examples=15)  # each example runs a model through the command
WORDS = ["good", "bad", "film", "plot", "the", "a", "great", "awful"]


def train(root, name, *args):
    out = root / name
    torch.manual_seed(0)
    assert main(["train", *args, *QUICK, "--out", str(out)]) == 0
    return out


class Runs(dict):
    """RUN_DIR, task and model by kind; short in hypothesis's reports of a failing example."""

    def __repr__(self) -> str:
        return f"<runs {', '.join(self)}>"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """RUN_DIR, task and model of a tiny run of each kind the inference commands read for."""
    root = tmp_path_factory.mktemp("inference-runs")
    rng = np.random.default_rng(0)
    texts = root / "texts.txt"
    texts.write_text("".join(f"{'pos' if i % 2 else 'neg'} {WORDS[i % 8]} {WORDS[(i * 3) % 8]}\n"
                             for i in range(40)))  # fmt: skip
    conll = root / "train.conll"
    conll.write_text("".join(f"{w}\t{'B-X' if i % 3 == 0 else 'O'}\n" + ("\n" if i % 4 == 3
                             else "") for i, w in enumerate(WORDS * 5)))  # fmt: skip
    waves = root / "waves.csv"
    waves.write_text("".join(f"{'up' if i % 2 else 'down'}," + ",".join(
        f"{v:.4f}" for v in rng.normal(size=12) + (i % 2)) + "\n" for i in range(24)))  # fmt: skip
    sine = root / "sine.csv"
    sine.write_text("t,y\n" + "".join(f"{i},{math.sin(i / 3) + 0.1 * rng.normal():.5f}\n"
                                      for i in range(90)))  # fmt: skip
    dirs = {  # flags as one string each (the paths hold no spaces)
        "adding": "--task adding --seq-len 5 --cell gru --hidden 4 --valid-size 16 --test-size 16",
        "classify": f"--task classify --data {texts} --hidden 4 --embed 4",
        "reverse": "--task reverse --seq-len 4 --cell gru --hidden 4 --valid-size 8 --test-size 8",
        "tag": f"--task tag --data {conll} --valid {conll} --hidden 4 --embed 4",
        "ts-classify": f"--task ts-classify --data {waves} --test {waves} --hidden 4",
        "forecast": f"--task forecast --data {sine} --time-col t --target y --horizon 3 "
        "--lookback 6 --valid-steps 12 --test-steps 12 --hidden 4 --backtest-origins 0 "
        "--baselines naive",
    }
    out = Runs()
    for kind, flags in dirs.items():
        run_dir = train(root, kind, *flags.split())
        _, task, model = load_run(run_dir)
        if kind == "forecast":
            task.attach(run_dir)  # the combination with ETS it chose, as rnnkit forecast uses
        out[kind] = (run_dir, task, model)
    return out


def command(argv, path, capsys) -> str | None:
    """``rnnkit ARGV``'s standard output, or None after checking that it failed with rnnkit's
    one-line error naming ``path`` (status 2, no traceback). Any exception fails the test."""
    with time_limit(30):
        code = main(argv)
    captured = capsys.readouterr()
    if code == 0:
        return captured.out
    assert code == 2, captured
    prefix = f"rnnkit {argv[0]}: error: "
    assert captured.err.startswith(prefix) and captured.err.count("\n") == 1, captured.err
    assert str(path) in captured.err and "Traceback" not in captured.err, captured.err
    return None


def lines_of(data: bytes) -> list[str]:
    """The lines of UTF-8 ``data`` as every rnnkit reader sees them: they end at \\n only (a
    \\r before it and a leading byte-order mark dropped), a final newline ends the last."""
    lines = data.decode("utf-8").removeprefix("\ufeff").split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def write(path, data: bytes):
    path.write_bytes(data)
    return path


# A text line as a user may write one: any characters but the newline, including other line
# breaks (\x85, \u2028, form feed) that are not line ends here.
TEXT = st.text(st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
               min_size=1, max_size=30).filter(str.strip)  # fmt: skip
# A token: no whitespace of any kind (str.split's), no control characters.
TOKEN = st.text(st.characters(blacklist_categories=("Z", "C")), min_size=1, max_size=8).filter(
    lambda t: not any(c.isspace() for c in t))  # fmt: skip
NUMBER = st.floats(-1e3, 1e3, allow_nan=False, width=32)


# -- predict: JSON lines of sequences --------------------------------------------------------


def read_two(path):
    return read_sequences(str(path), 2)


@given(data=TEXTY)
@FUZZ
def test_sequences_any_bytes_load_or_explain(runs, tmp_path, data):
    path = write(tmp_path / "in.jsonl", data)
    found = loads_or_explains(read_two, path)
    if not isinstance(found, RnnkitError):
        assert all(s.ndim == 2 and s.shape[1] == 2 and torch.isfinite(s).all() for s in found)


@given(data=TEXTY)
@FEW
def test_predict_any_bytes_loads_or_explains(runs, tmp_path, capsys, data):
    run_dir = runs["adding"][0]
    path = write(tmp_path / "in.jsonl", data)
    command(["predict", str(run_dir), "--input", str(path)], path, capsys)


@given(sequences=st.lists(st.lists(st.tuples(NUMBER, NUMBER), min_size=1, max_size=6),
                          min_size=1, max_size=5),
       crlf=st.booleans(), blank=st.booleans(), bom=st.booleans())  # fmt: skip
@FEW
def test_predict_gives_the_model_on_the_files_sequences(runs, tmp_path, capsys, sequences,
                                                        crlf, blank, bom):  # fmt: skip
    run_dir, _, model = runs["adding"]
    end = "\r\n" if crlf else "\n"
    text = end.join(json.dumps([list(step) for step in s]) for s in sequences) + end
    text = ("\ufeff" if bom else "") + (end if blank else "") + text  # as Notepad saves it
    path = write(tmp_path / "in.jsonl", text.encode())
    expected = [torch.tensor(s, dtype=torch.float32) for s in sequences]
    read = read_two(path)
    assert len(read) == len(expected)
    assert all(torch.equal(a, b) for a, b in zip(read, expected, strict=True))
    out = command(["predict", str(run_dir), "--input", str(path)], path, capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(sequences)
    with torch.no_grad():
        for row, x in zip(rows, expected, strict=True):
            assert row["prediction"] == pytest.approx(model(x[None]).item(), abs=2e-6)


def test_ts_classify_predict_reads_bare_numbers_and_normalizes(runs, tmp_path, capsys):
    run_dir, task, model = runs["ts-classify"]
    series = [[0.5, 1.5, -2, 3], [1, 1, 1], [7e2, -3.25]]
    path = write(tmp_path / "in.jsonl", "".join(json.dumps(s) + "\n" for s in series).encode())
    out = command(["predict", str(run_dir), "--input", str(path)], path, capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    prepared = task.prepare([torch.tensor(s, dtype=torch.float32)[:, None] for s in series])
    with torch.no_grad():
        for row, x in zip(rows, prepared, strict=True):
            probs = model(x[None].float(), torch.tensor([len(x)])).softmax(-1)[0]
            assert row["probabilities"] == pytest.approx(probs.tolist(), abs=2e-6)


BAD_SEQUENCE = {
    "bad utf-8": b"[[0.5, \xff1]]",
    "bad json": b"[[0.5, 1], [0.2, 0]",
    "nan": b"[[0.5, NaN]]",
    "infinite": b"[[1e999, 0]]",
    "beyond float32": b"[[1e300, 0]]",
    "wrong feature count": b"[[0.5, 1, 2]]",
    "not a list": b'{"x": 1}',
    "empty list": b"[]",
    "a string": b'[["0.5", 1]]',
    "a boolean": b"[[true, 1]]",
    "huge integer": b"[[" + b"9" * 400 + b", 1]]",
    "more digits than Python converts": b"[[" + b"1" * 5000 + b", 1]]",
    "nested deeply": b"[" * 100_000 + b"]" * 100_000,
    "a BOM inside": b"\xef\xbb\xbf[[0.5, 1]]",
}


@given(lines=st.lists(st.lists(st.tuples(NUMBER, NUMBER), min_size=1, max_size=3),
                      min_size=1, max_size=6),
       where=st.integers(0, 5), kind=st.sampled_from(sorted(BAD_SEQUENCE)))  # fmt: skip
@FUZZ
def test_one_bad_sequence_line_is_named(runs, tmp_path, lines, where, kind):
    rows = [json.dumps([list(step) for step in s]).encode() for s in lines]
    k = min(where, len(rows))
    if kind == "a BOM inside":  # a BOM at the very start of the file is not part of line 1
        k = max(k, 1)
    rows.insert(k, BAD_SEQUENCE[kind])
    path = write(tmp_path / "in.jsonl", b"\n".join(rows) + b"\n")
    error = loads_or_explains(read_two, path)
    assert isinstance(error, RnnkitError), kind
    assert line_of(error, path) == k + 1, (kind, str(error))


@given(lines=st.lists(st.lists(st.tuples(NUMBER, NUMBER), min_size=1, max_size=3),
                      min_size=1, max_size=5), cut=st.integers(0, 10**6))  # fmt: skip
@FUZZ
def test_truncated_sequences_load_a_prefix_or_explain(runs, tmp_path, lines, cut):
    data = "".join(json.dumps([list(step) for step in s]) + "\n" for s in lines).encode()
    path = write(tmp_path / "in.jsonl", data[: cut % (len(data) + 1)])
    found = loads_or_explains(read_two, path)
    if not isinstance(found, RnnkitError):
        expected = [torch.tensor(s, dtype=torch.float32) for s in lines]
        assert all(torch.equal(a, b) for a, b in zip(found, expected, strict=False))


def test_a_huge_sequence_line_loads_in_time(tmp_path):
    steps = 200_000  # about 3 MB on one line
    path = write(tmp_path / "in.jsonl", json.dumps([[0.25, 1]] * steps).encode() + b"\n")
    (found,) = loads_or_explains(read_two, path, seconds=15)
    assert found.shape == (steps, 2)


# -- predict on a text classifier, translate, tag: text lines --------------------------------


@given(data=TEXTY)
@FUZZ
def test_text_lines_any_bytes_load_or_explain(runs, tmp_path, data):
    path = write(tmp_path / "in.txt", data)
    for read in (lambda p: read_texts(str(p)), lambda p: read_lines(str(p))[0]):
        found = loads_or_explains(read, path)
        if not isinstance(found, RnnkitError):  # lines end at \n only, \r\n ends dropped
            assert found == lines_of(data)
    for form in ("auto", "text", "conll"):
        found = loads_or_explains(lambda p, form=form: tag_command.read_input(str(p), form), path)
        if not isinstance(found, RnnkitError):
            assert all(s.tokens and all(t.strip() for t in s.tokens) for s in found)


@given(data=TEXTY)
@FEW
def test_classify_translate_tag_any_bytes_load_or_explain(runs, tmp_path, capsys, data):
    path = write(tmp_path / "in.txt", data)
    command(["predict", str(runs["classify"][0]), "--input", str(path)], path, capsys)
    command(["translate", str(runs["reverse"][0]), "--input", str(path), "--beam", "2",
             "--max-len", "20"], path, capsys)  # fmt: skip
    command(["tag", str(runs["tag"][0]), "--input", str(path)], path, capsys)


@given(texts=st.lists(TEXT, min_size=1, max_size=5), crlf=st.booleans())
@FEW
def test_predict_classifies_each_line_as_the_task_does(runs, tmp_path, capsys, texts, crlf):
    run_dir, task, model = runs["classify"]
    end = "\r\n" if crlf else "\n"
    path = write(tmp_path / "in.txt", end.join(texts).encode() + end.encode())
    assert read_texts(str(path)) == texts
    out = command(["predict", str(run_dir), "--input", str(path)], path, capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    labels, probs = task.predict(model, texts)
    assert [r["label"] for r in rows] == labels
    for row, p in zip(rows, probs.tolist(), strict=True):
        assert list(row["probabilities"].values()) == pytest.approx(p, abs=2e-6)


@given(sources=st.lists(TEXT | st.text("abcdefgh", max_size=6), min_size=1, max_size=4))
@FEW
def test_translate_gives_the_tasks_translations(runs, tmp_path, capsys, sources):
    run_dir, task, model = runs["reverse"]
    path = write(tmp_path / "in.txt", "".join(s + "\n" for s in sources).encode())
    assert read_lines(str(path))[0] == sources
    out = command(["translate", str(run_dir), "--input", str(path), "--beam", "1",
                   "--max-len", "12"], path, capsys)  # fmt: skip
    expected = [t.texts[0] for t in task.translate(model, sources, max_len=12)]
    assert out.split("\n") == [*expected, ""]


@given(sentences=st.lists(st.lists(st.sampled_from(WORDS) | TOKEN, min_size=1, max_size=5),
                          min_size=1, max_size=4), conll=st.booleans())  # fmt: skip
@FEW
def test_tag_gives_the_tasks_tags(runs, tmp_path, capsys, sentences, conll):
    run_dir, task, model = runs["tag"]
    if conll:
        text = "".join("".join(f"{t}\t_\n" for t in s) + "\n" for s in sentences)
    else:
        text = "".join(" ".join(s) + "\n" for s in sentences)
    path = write(tmp_path / "in.txt", text.encode())
    assert [s.tokens for s in tag_command.read_input(str(path), "auto")] == sentences
    out = command(["tag", str(run_dir), "--input", str(path)], path, capsys)
    expected = task.tag(model, sentences)
    got = [[row.split("\t") for row in block.split("\n")] for block in out.split("\n\n")[:-1]]
    assert [[t for t, _ in s] for s in got] == sentences
    assert [[g for _, g in s] for s in got] == expected


BAD_TEXT = {"bad utf-8": b"fine \xc3( film", "latin-1": "caf\xe9".encode("latin-1"),
            "truncated character": "\u00e9t\u00e9".encode()[:-1] + b" x"}  # fmt: skip


@given(texts=st.lists(TEXT, min_size=1, max_size=6), where=st.integers(0, 6),
       kind=st.sampled_from([*sorted(BAD_TEXT), "empty", "blank"]))  # fmt: skip
@FUZZ
def test_one_bad_text_line_is_named(runs, tmp_path, texts, where, kind):
    rows = [t.encode() for t in texts]
    k = min(where, len(rows))
    rows.insert(k, BAD_TEXT.get(kind, b"" if kind == "empty" else b" \t "))
    path = write(tmp_path / "in.txt", b"\n".join(rows) + b"\n")
    readers = [lambda p: read_texts(str(p))]
    if kind in BAD_TEXT:  # translate and tag read empty lines (an empty source, a boundary)
        readers += [lambda p: read_lines(str(p)), lambda p: tag_command.read_input(str(p), "text")]
    for read in readers:
        error = loads_or_explains(read, path)
        assert isinstance(error, RnnkitError), kind
        assert line_of(error, path) == k + 1, (kind, str(error))


@given(texts=st.lists(TEXT, min_size=1, max_size=5), cut=st.integers(0, 10**6))
@FUZZ
def test_truncated_texts_load_a_prefix_or_explain(runs, tmp_path, texts, cut):
    data = "".join(t + "\n" for t in texts).encode()
    path = write(tmp_path / "in.txt", data[: cut % (len(data) + 1)])
    found = loads_or_explains(lambda p: read_texts(str(p)), path)
    if not isinstance(found, RnnkitError):
        assert found[:-1] == texts[: len(found) - 1]
        assert texts[len(found) - 1].startswith(found[-1])


def test_huge_text_lines_load_in_time(runs, tmp_path, capsys):
    line = " ".join(WORDS) * 50_000  # about 2 MB
    path = write(tmp_path / "in.txt", ("short\n" + line + "\n").encode())
    assert loads_or_explains(lambda p: read_texts(str(p)), path, seconds=15) == ["short", line]
    (_, sentence) = loads_or_explains(lambda p: tag_command.read_input(str(p), "auto"), path,
                                      seconds=15)  # fmt: skip
    assert len(sentence.tokens) == len(line.split())
    for argv in (["predict", str(runs["classify"][0]), "--input"],
                 ["tag", str(runs["tag"][0]), "--input"]):  # fmt: skip
        out = command([*argv, str(path)], path, capsys)
        assert out is not None and len(out.split("\n")) > 2
    # Decoding two million characters would take hours: refused, naming the line.
    assert command(["translate", str(runs["reverse"][0]), "--input", str(path)], path,
                   capsys) is None  # fmt: skip


def test_translate_refuses_a_huge_line_naming_it(runs, tmp_path, capsys):
    path = write(tmp_path / "in.txt", b"abc\n" + b"x" * 10_001 + b"\n")
    assert main(["translate", str(runs["reverse"][0]), "--input", str(path)]) == 2
    assert f"{path}:2: a source of 10,001 tokens" in capsys.readouterr().err


# -- forecast: a CSV of recent history -------------------------------------------------------


def recent(runs, path):
    return runs["forecast"][1].read_recent(path)


@given(data=TEXTY)
@FUZZ
def test_recent_history_any_bytes_loads_or_explains(runs, tmp_path, data):
    path = write(tmp_path / "recent.csv", data)
    loads_or_explains(lambda p: recent(runs, p), path)


@given(data=TEXTY)
@FEW
def test_forecast_any_bytes_loads_or_explains(runs, tmp_path, capsys, data):
    path = write(tmp_path / "recent.csv", b"t,y\n" + data)
    command(["forecast", str(runs["forecast"][0]), "--data", str(path), "--output",
             str(tmp_path / "f.csv")], path, capsys)  # fmt: skip


@given(values=st.lists(st.floats(-1e4, 1e4, allow_nan=False), min_size=6, max_size=12),
       start=st.integers(-50, 50))  # fmt: skip
@FEW
def test_forecast_gives_the_tasks_forecast_of_the_file(runs, tmp_path, capsys, values, start):
    import pandas as pd

    run_dir, task, model = runs["forecast"]
    path = write(tmp_path / "recent.csv", ("t,y\n" + "".join(
        f"{start + i},{v!r}\n" for i, v in enumerate(values))).encode())  # fmt: skip
    series = task.read_recent(path)
    np.testing.assert_array_equal(series.target[0], values)
    out = tmp_path / "f.csv"
    assert command(["forecast", str(run_dir), "--data", str(path), "--output", str(out)], path,
                   capsys) is not None  # fmt: skip
    written = pd.read_csv(out)
    expected = task.forecast_frame(model, series)
    assert written["t"].tolist() == list(range(start + len(values), start + len(values) + 3))
    np.testing.assert_allclose(written["forecast"], expected["forecast"], rtol=1e-5, atol=1e-5)


BAD_ROW = {"bad utf-8": b"5,\xff1.0", "not a number": b"5,abc", "nan": b"5,nan",
           "empty value": b"5,", "extra column": b"5,1.0,2.0", "missing time": b",1.0"}  # fmt: skip


@given(n=st.integers(6, 10), where=st.integers(0, 10), kind=st.sampled_from(sorted(BAD_ROW)))
@FUZZ
def test_one_bad_recent_row_is_named(runs, tmp_path, capsys, n, where, kind):
    rows = [f"{i},{math.cos(i):.3f}".encode() for i in range(n)]
    k = min(where, n - 1)
    rows[k] = BAD_ROW[kind].replace(b"5", str(k).encode(), 1)
    path = write(tmp_path / "recent.csv", b"t,y\n" + b"\n".join(rows) + b"\n")
    error = loads_or_explains(lambda p: recent(runs, p), path)
    assert isinstance(error, RnnkitError), kind
    assert line_of(error, path) == k + 2, (kind, str(error))  # the header is line 1


@given(n=st.integers(6, 10), cut=st.integers(0, 10**6))
@FUZZ
def test_truncated_recent_history_loads_a_prefix_or_explains(runs, tmp_path, n, cut):
    values = [round(math.cos(i), 3) for i in range(n)]
    data = ("t,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(values))).encode()
    path = write(tmp_path / "recent.csv", data[: cut % (len(data) + 1)])
    found = loads_or_explains(lambda p: recent(runs, p), path)
    if not isinstance(found, RnnkitError):  # the last value may have lost digits
        assert found.target[0][:-1].tolist() == values[: found.length - 1]


@pytest.mark.parametrize("kind", ["long cell", "many columns", "long header"])
def test_a_huge_recent_line_loads_or_explains_in_time(runs, tmp_path, kind):
    rows = [f"{i},{i % 3}" for i in range(8)]
    if kind == "long cell":
        rows[3] = "3," + "1" * 3_000_000
    elif kind == "many columns":
        rows[3] = "3,1" + ",1" * 1_000_000
    header = "t,y" + ("," + "x" * 3_000_000 if kind == "long header" else "")
    path = write(tmp_path / "recent.csv", "\n".join([header, *rows, ""]).encode())
    found = loads_or_explains(lambda p: recent(runs, p), path, seconds=15)
    if isinstance(found, RnnkitError) and kind != "long header":
        assert line_of(found, path) == 5, str(found)


def test_forecast_explains_too_short_or_other_history(runs, tmp_path, capsys):
    run_dir = runs["forecast"][0]
    short = write(tmp_path / "short.csv", b"t,y\n0,1.0\n1,2.0\n")
    other = write(tmp_path / "other.csv", b"t,z\n" + b"".join(b"%d,1\n" % i for i in range(9)))
    for path in (short, other):
        assert command(["forecast", str(run_dir), "--data", str(path)], path, capsys) is None


# -- every command: missing, empty, a directory ----------------------------------------------


@pytest.mark.parametrize("kind", ["missing", "empty", "blank", "directory"])
def test_missing_empty_and_directory_inputs_are_one_line_errors(runs, tmp_path, capsys, kind):
    path = tmp_path / "input.csv"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "blank":
        path.write_bytes(b"\n \n\n")
    elif kind == "directory":
        path.mkdir()
    for argv in (["predict", str(runs["adding"][0]), "--input"],
                 ["predict", str(runs["ts-classify"][0]), "--input"],
                 ["predict", str(runs["classify"][0]), "--input"],
                 ["translate", str(runs["reverse"][0]), "--input"],
                 ["tag", str(runs["tag"][0]), "--input"],
                 ["forecast", str(runs["forecast"][0]), "--data"]):  # fmt: skip
        if kind == "blank" and argv[0] == "translate":
            continue  # blank lines are sources: translated, not refused
        assert command([*argv, str(path)], path, capsys) is None, (argv[0], kind)


def test_standard_input_is_read_as_a_file(runs, monkeypatch, capsys):
    run_dir, task, model = runs["classify"]
    stdin = io.TextIOWrapper(io.BytesIO("good film\u2028bad plot\r\n".encode()), "ascii")
    monkeypatch.setattr("sys.stdin", stdin)  # bytes read as UTF-8 whatever the locale says
    out = command(["predict", str(run_dir), "--input", "-"], "<stdin>", capsys)
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["label"] == task.predict(model, ["good film\u2028bad plot"])[0][0]
    for argv in (["predict", str(run_dir)], ["predict", str(runs["adding"][0])],
                 ["translate", str(runs["reverse"][0])], ["tag", str(runs["tag"][0])]):  # fmt: skip
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"[[1, 0]]\n\xff\n")))
        assert main([*argv, "--input", "-"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and ": error: <stdin>:2: not UTF-8" in err, err
