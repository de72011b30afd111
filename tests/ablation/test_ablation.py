"""The ablation lab: equal budgets over a grid and seeds, resuming without redoing finished
runs, a table whose numbers are the runs' own summaries."""

from __future__ import annotations

import csv
import json
import statistics

import pytest

from rnnkit.ablation import Budget, read_grid, run_ablation
from rnnkit.cli.main import main
from rnnkit.training.config import ConfigError, RunConfig

BASE = RunConfig().replace(task="adding", seq_len=6, hidden=4, batch_size=4, eval_every=2,
                           valid_size=8, test_size=8, tensorboard=False)  # fmt: skip
GRID = {"rnn": {"cell": "rnn"}, "gru + clip": {"cell": "gru", "clip": 1.0}}


def summary(out, entry, seed):
    return json.loads((out / entry / f"seed-{seed}" / "summary.json").read_text())


def test_the_table_holds_the_runs_own_numbers(tmp_path):
    out = tmp_path / "abl"
    rows = run_ablation(BASE, GRID, out, budget=Budget.parse("4"), seeds=2, log=lambda m: None)
    assert sorted(r.name for r in rows) == ["gru + clip", "rnn"]
    assert rows[0].mean <= rows[1].mean  # ranked, lower MSE first
    with open(out / "ablation.csv") as f:
        table = {r["entry"]: r for r in csv.DictReader(f)}
    for entry, slug in (("rnn", "rnn"), ("gru + clip", "gru+clip")):
        runs = [summary(out, slug, k) for k in (0, 1)]
        assert all(r["steps"] == 4 for r in runs)  # the budget, equal for all
        mses = [r["test"]["mse"] for r in runs]
        assert float(table[entry]["mse_mean"]) == pytest.approx(statistics.fmean(mses))
        assert float(table[entry]["mse_std"]) == pytest.approx(statistics.stdev(mses))
        assert int(table[entry]["parameters"]) == runs[0]["parameters"]
    md = (out / "ablation.md").read_text()
    assert md.startswith("| rank | entry | test mse (mean ± std) |")
    assert (out / "ablation.png").is_file() and (out / "curves.png").is_file()
    # The seeds differ: same config, different initialization and batches.
    assert summary(out, "rnn", 0)["test"] != summary(out, "rnn", 1)["test"]


def test_an_interrupted_grid_resumes_without_redoing_finished_runs(tmp_path):
    out = tmp_path / "abl"
    run_ablation(BASE, GRID, out, budget=Budget.parse("4"), seeds=2, log=lambda m: None)
    kept = summary(out, "rnn", 0)
    # Interrupted: one run lost its summary after its last checkpoint, another never started.
    (out / "gru+clip" / "seed-1" / "summary.json").unlink()
    for path in sorted((out / "rnn" / "seed-1").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (out / "rnn" / "seed-1").rmdir()
    messages = []
    run_ablation(BASE, GRID, out, budget=Budget.parse("4"), seeds=2, log=messages.append)
    assert [m.split(": ", 1)[1] for m in messages] == [
        "finished earlier, kept", "training (4 steps)", "finished earlier, kept",
        "resuming (4 steps)",
    ]  # fmt: skip
    assert summary(out, "rnn", 0) == kept
    assert summary(out, "rnn", 1)["steps"] == 4 and summary(out, "gru+clip", 1)["steps"] == 4


def test_a_different_grid_in_the_same_directory_is_refused(tmp_path):
    out = tmp_path / "abl"
    run_ablation(BASE, {"rnn": {"cell": "rnn"}}, out, budget=Budget.parse("2"), seeds=1,
                 log=lambda m: None)  # fmt: skip
    with pytest.raises(ConfigError, match="holds an ablation with another seeds"):
        run_ablation(BASE, {"rnn": {"cell": "rnn"}}, out, budget=Budget.parse("2"), seeds=2)


def test_an_entry_the_task_cannot_take_is_skipped_and_said(tmp_path):
    messages = []
    grid = {"lstm": {"cell": "lstm"}, "lstm + attention": {"cell": "lstm", "pooling": "attention"}}
    rows = run_ablation(BASE.replace(tbptt=3), grid, tmp_path / "abl", budget=Budget.parse("2"),
                        seeds=1, log=messages.append)  # fmt: skip
    assert [r.name for r in rows] == ["lstm"]
    assert any("skipped: train.tbptt" in m for m in messages)
    assert (
        "- skipped lstm + attention: train.tbptt" in (tmp_path / "abl" / "ablation.md").read_text()
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("lstm: {cell: lstm, colour: red}", "entry 'lstm': unknown config key 'colour'"),
        ("lstm: [cell, lstm]", "entry 'lstm': expected a mapping of overrides"),
        ("lstm: {cell: lstm\n", "grid.yaml:2:1: malformed YAML"),
    ],
)
def test_grid_file_errors_name_the_file_and_entry(text, message, tmp_path):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        run_ablation(BASE, read_grid(path), tmp_path / "abl", budget=Budget.parse("2"), seeds=1)


@pytest.mark.parametrize("text", ["0", "-3", "3x", "m", "0s"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ConfigError, match="budget: expected steps"):
        Budget.parse(text)


def test_the_command_runs_a_grid_file_and_prints_the_table(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('[lstm]\ncell = "lstm"\n\n["lstm + chrono"]\ncell = "lstm"\ninit = "chrono"\n')
    out = tmp_path / "abl"
    args = ["ablate", "--grid", str(grid), "--budget", "2", "--seeds", "1", "--task", "adding",
            "--seq-len", "6", "--hidden", "4", "--batch-size", "4", "--valid-size", "8",
            "--test-size", "8", "--no-tensorboard", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "rank  entry" in printed and "lstm + chrono" in printed
    assert (out / "lstm+chrono" / "seed-0" / "summary.json").is_file()


def test_a_diverged_run_is_a_result_ranked_last_and_kept_on_resume(tmp_path):
    out = tmp_path / "abl"
    blowup = {"cell": "rnn", "nonlinearity": "relu", "init": "identity", "optimizer": "sgd",
              "lr": 1e8}  # fmt: skip
    grid = {"blows up": blowup, "rnn": {"cell": "rnn"}}
    messages = []
    rows = run_ablation(BASE, grid, out, budget=Budget.parse("20"), seeds=1, log=messages.append)
    assert [r.name for r in rows] == ["rnn", "blows up"]
    assert rows[1].values == [] and rows[1].diverged == [13]
    assert messages[1] == "[1/2] blows up, seed 0: diverged at step 13"
    assert (
        "| 2 | blows up | - (1 diverged, at step 13) | 0/1 |" in (out / "ablation.md").read_text()
    )
    messages.clear()
    run_ablation(BASE, grid, out, budget=Budget.parse("20"), seeds=1, log=messages.append)
    assert messages[0] == "[1/2] blows up, seed 0: diverged earlier, kept"


def test_a_time_budget_refuses_schedules_that_run_over_the_steps():
    with pytest.raises(ConfigError, match=r"budget: a time budget \(60 s\) cannot end .* "
                                          r"\(optim.schedule\)"):  # fmt: skip
        Budget.parse("1m").apply(BASE.replace(schedule="cosine"))
    assert Budget.parse("100").apply(BASE.replace(schedule="cosine")).train.steps == 100
