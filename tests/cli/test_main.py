"""The `rnnkit` command line: the subcommands run end to end and say what they did."""

from rnnkit.cli.main import main


def test_info_reports_each_cells_path(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    paths = dict(line.split(" -> ") for line in out.splitlines() if " -> " in line)
    paths = {label.strip(): path for label, path in paths.items()}
    assert paths["lstm"] == "fused"
    assert paths["lstm peephole=True"] == "custom"
    assert paths["gru"] == "custom"  # rnnkit's kernel beats torch's GRU at this size
    assert paths["gru reset_after=False"] == "custom"


def test_demo_trains_and_prints_the_comparison(capsys):
    args = ["demo", "--cells", "lstm", "rnn", "--steps", "3", "--length", "6", "--log-every", "1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.count("train MSE") == 6  # 3 steps x 2 cells
    table = out.split("valid MSE")[1].splitlines()[1:3]
    assert [row.split()[0] for row in table] == ["lstm", "rnn"]
    assert all(float(row.split()[2]) > 0 for row in table)
