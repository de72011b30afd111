"""``rnnkit diagnose`` on an untrained model from flags and on a trained run."""

from __future__ import annotations

import json

from rnnkit.cli.main import main

TINY = ["--task", "adding", "--seq-len", "40", "--hidden", "8", "--batch-size", "8"]


def test_an_untrained_lstm_is_diagnosed_vanishing_and_chrono_healthy(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["diagnose", *TINY, "--cell", "rnn", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("verdict: vanishing")
    assert "1. a gated cell (--cell lstm or --cell gru)" in printed
    saved = json.loads((out / "diagnosis.json").read_text())
    assert saved["verdict"] == "vanishing" and saved["batch"] == 8 and saved["steps"] == 40
    assert (out / "gradient_flow.png").stat().st_size > 1000
    assert main(["diagnose", *TINY, "--cell", "lstm", "--init", "chrono"]) == 0
    assert capsys.readouterr().out.startswith("verdict: healthy")


def test_a_trained_run_is_diagnosed_in_place(tmp_path, capsys):
    run = tmp_path / "run"
    train = ["train", *TINY, "--steps", "4", "--eval-every", "2", "--valid-size", "16",
             "--test-size", "16", "--quiet", "--no-tensorboard", "--out", str(run)]  # fmt: skip
    assert main(train) == 0
    capsys.readouterr()
    assert main(["diagnose", str(run), "--checkpoint", "last", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cells"][0]["name"] == "encoder.cells.0" and result["batch"] == 8
    assert (run / "diagnosis.json").is_file() and (run / "gradient_flow.png").is_file()


def test_bad_uses_get_one_line(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "nothing")]) == 2
    assert "no such run directory" in capsys.readouterr().err
    tree = ["diagnose", "--task", "listops", "--model", "tree-lstm", "--hidden", "8",
            "--batch-size", "4", "--train-size", "200", "--valid-size", "50",
            "--test-size", "50"]  # fmt: skip
    assert main(tree) == 2
    assert "no recurrent layer ran" in capsys.readouterr().err
