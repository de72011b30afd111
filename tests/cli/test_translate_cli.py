"""`rnnkit translate` and the other subcommands on sequence-to-sequence runs: output formats,
agreement with the Python API, and one-line errors with exit status 2."""

import argparse
import io
import json
import re

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.tasks import registry, translate_command
from rnnkit.training.trainer import load_run

COMMON = [
    "--cell", "gru", "--hidden", "8", "--steps", "4", "--eval-every", "2", "--batch-size", "8",
    "--eval-batch-size", "16", "--quiet", "--no-tensorboard",
]  # fmt: skip
REVERSE = ["--task", "reverse", "--seq-len", "5", "--valid-size", "16", "--test-size", "16"]
SOURCES = ["abc", "hello", "z", "qwert"]


@pytest.fixture(scope="module")
def reverse_dir(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("cli-reverse") / "run"
    assert main(["train", *REVERSE, *COMMON, "--lr", "1e-2", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def adding_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli-adding") / "run"
    args = ["train", "--task", "adding", "--seq-len", "4", "--valid-size", "16", "--test-size",
            "16", *COMMON, "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.fixture
def sources(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(SOURCES) + "\n", encoding="utf-8")
    return path


def assert_one_line_error(captured, command, *parts):
    err = captured.err
    assert err.startswith(f"rnnkit {command}: error: "), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    for part in parts:
        assert part in err, err


# -- translate -------------------------------------------------------------------------------


def test_translate_greedy_prints_one_line_per_input(reverse_dir, sources, capsys):
    assert main(["translate", str(reverse_dir), "--input", str(sources), "--beam", "1"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.split("\n")
    assert lines[-1] == "" and len(lines) == len(SOURCES) + 1
    _, task, model = load_run(reverse_dir)
    expected = [t.texts[0] for t in task.translate(model, SOURCES)]
    assert lines[:-1] == expected
    assert re.fullmatch(
        r"translated 4 lines in [0-9.]+ s \([0-9.]+ sentences/s, beam 1\)\n", captured.err
    ), captured.err


def test_translate_n_best_prints_index_score_text(reverse_dir, sources, capsys):
    args = ["translate", str(reverse_dir), "--input", str(sources), "--beam", "2", "--n-best", "2"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 * len(SOURCES)
    rows = [line.split("\t", 2) for line in lines]
    assert [int(r[0]) for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    _, task, model = load_run(reverse_dir)
    found = task.translate(model, SOURCES, beam=2, n_best=2)
    expected = [
        (i, s, t) for i, tr in enumerate(found) for s, t in zip(tr.scores, tr.texts, strict=True)
    ]
    for (index, score, text), (i, s, t) in zip(rows, expected, strict=True):
        assert int(index) == i and text == t
        assert float(score) == pytest.approx(s, abs=5e-5)
        assert re.fullmatch(r"-?[0-9]+\.[0-9]{4}", score)
    for i in range(len(SOURCES)):  # best first
        assert float(rows[2 * i][1]) >= float(rows[2 * i + 1][1])


def test_translate_scores_flag_with_the_1_best(reverse_dir, sources, capsys):
    args = ["translate", str(reverse_dir), "--input", str(sources), "--beam", "1", "--scores"]
    assert main(args) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [int(r[0]) for r in rows] == [0, 1, 2, 3]
    assert all(len(r) == 3 for r in rows)


def test_translate_writes_to_a_file(reverse_dir, sources, tmp_path, capsys):
    out = tmp_path / "out.txt"
    args = ["translate", str(reverse_dir), "--input", str(sources), "--beam", "1"]
    assert main([*args, "--output", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "sentences/s" in captured.err
    assert main(args) == 0
    assert out.read_text(encoding="utf-8") == capsys.readouterr().out


def test_translate_reads_stdin(reverse_dir, sources, monkeypatch, capsys):
    assert main(["translate", str(reverse_dir), "--input", str(sources), "--beam", "1"]) == 0
    from_file = capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(SOURCES) + "\n"))
    assert main(["translate", str(reverse_dir), "--input", "-", "--beam", "1"]) == 0
    assert capsys.readouterr().out == from_file


def test_translate_counts_unknown_source_tokens(reverse_dir, tmp_path, capsys):
    path = tmp_path / "in.txt"
    path.write_text("ABc\n", encoding="utf-8")  # the reverse alphabet is lowercase
    assert main(["translate", str(reverse_dir), "--input", str(path), "--beam", "1"]) == 0
    assert "; 2 unknown source tokens read as <unk>" in capsys.readouterr().err


def test_translate_is_the_seq2seq_task_s_own_command(reverse_dir, sources, capsys):
    """rnnkit translate comes from the task's module, which stands alone: its own parser runs
    it as main does."""
    assert registry.command("translate") is translate_command
    parser = argparse.ArgumentParser(prog="rnnkit")
    translate_command.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["translate", str(reverse_dir), "--input", str(sources)])
    assert (args.checkpoint, args.beam, args.n_best, args.alpha, args.device) == (
        "best", 5, 1, 0.0, "cpu"
    )  # fmt: skip
    assert args.func(args) == 0
    alone = capsys.readouterr().out
    assert main(["translate", str(reverse_dir), "--input", str(sources)]) == 0
    assert capsys.readouterr().out == alone
    assert len(alone.splitlines()) == len(SOURCES)


# -- errors ----------------------------------------------------------------------------------


def test_translate_empty_input(reverse_dir, tmp_path, capsys):
    path = tmp_path / "empty.txt"
    path.write_text("", encoding="utf-8")
    assert main(["translate", str(reverse_dir), "--input", str(path)]) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured, "translate", f"{path}: no lines to translate")
    assert captured.out == ""


def test_translate_missing_input(reverse_dir, tmp_path, capsys):
    path = tmp_path / "nope.txt"
    assert main(["translate", str(reverse_dir), "--input", str(path)]) == 2
    assert_one_line_error(capsys.readouterr(), "translate", f"{path}: no such input file")


def test_translate_n_best_above_beam(reverse_dir, sources, capsys):
    args = ["translate", str(reverse_dir), "--input", str(sources), "--beam", "2", "--n-best", "3"]
    assert main(args) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured, "translate", "--beam 2, --n-best 3")
    assert captured.out == ""


def test_translate_a_sequence_model(adding_dir, sources, capsys):
    assert main(["translate", str(adding_dir), "--input", str(sources)]) == 2
    assert_one_line_error(capsys.readouterr(), "translate", "adding", "use predict")


def test_predict_a_seq2seq_model(reverse_dir, tmp_path, capsys):
    path = tmp_path / "in.jsonl"
    path.write_text("[[0.5, 1]]\n", encoding="utf-8")
    assert main(["predict", str(reverse_dir), "--input", str(path)]) == 2
    assert_one_line_error(capsys.readouterr(), "predict", "reverse", "use rnnkit translate")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_a_seq2seq_model(reverse_dir, tmp_path, capsys, fmt):
    out = tmp_path / "model.out"
    assert main(["export", str(reverse_dir), "--format", fmt, "--output", str(out)]) == 2
    assert_one_line_error(capsys.readouterr(), "export", "reverse", "beam search")
    assert not out.exists()


def translate_args(tmp_path, data, valid, *extra):
    return ["train", "--task", "translate", "--data", str(data), "--valid", str(valid),
            *extra, *COMMON, "--out", str(tmp_path / "run")]  # fmt: skip


def test_train_translate_names_the_line_without_a_tab(tmp_path, capsys):
    good = tmp_path / "good.tsv"
    good.write_text("a b\tc d\ne f\tg h\n", encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a b\tc d\ne f g h\n", encoding="utf-8")
    assert main(translate_args(tmp_path, bad, good)) == 2
    assert_one_line_error(
        capsys.readouterr(), "train", f"{bad}:2: expected source<TAB>target, found no tab"
    )
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("which", ["valid", "test"])
def test_train_translate_checks_valid_and_test_files_before_training(tmp_path, capsys, which):
    """A bad --valid or --test file is reported before the first step, not after training."""
    good = tmp_path / "good.tsv"
    good.write_text("a b\tc d\ne f\tg h\n", encoding="utf-8")
    bad = tmp_path / "bad.tsv"
    bad.write_text("a b\tc d\ne f g h\n", encoding="utf-8")
    extra = ["--test", str(bad)] if which == "test" else []
    valid = bad if which == "valid" else good
    assert main(translate_args(tmp_path, good, valid, *extra)) == 2
    assert_one_line_error(capsys.readouterr(), "train", f"{bad}:2: expected source<TAB>target")
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not (tmp_path / "run" / "metrics.csv").exists()


# -- evaluate --------------------------------------------------------------------------------


def test_evaluate_json(reverse_dir, capsys):
    assert main(["evaluate", str(reverse_dir), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{reverse_dir}: reverse (vocabulary 30 -> 30, char tokens)")
    results = json.loads(out[-1])
    assert set(results) == {"valid", "test"}
    summary = json.loads((reverse_dir / "summary.json").read_text())
    for split in ("valid", "test"):
        assert {"bleu", "exact_match", "chrf", "token_accuracy", "loss"} == set(results[split])
        for name, value in results[split].items():
            assert value == pytest.approx(summary[split][name], rel=1e-5, abs=1e-6), name
