"""The `rnnkit` command line: the subcommands run end to end and say what they did."""

import json

import pytest
import torch
import yaml

from rnnkit.cli.main import main
from rnnkit.training.config import RunConfig, load_file, resolve
from rnnkit.training.trainer import load_run

TINY = [
    "--task", "adding", "--seq-len", "5", "--cell", "gru", "--hidden", "4", "--steps", "4",
    "--eval-every", "2", "--batch-size", "8", "--valid-size", "32", "--test-size", "32",
    "--quiet", "--no-tensorboard",
]  # fmt: skip


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    return out


def info_paths(out: str) -> dict[str, tuple[str, str]]:
    """{cell label: (path, reason)} from `rnnkit info`'s lines ``label -> path  (reason)``."""
    rows = [
        line.split(" -> ") for line in out.splitlines() if line.startswith("  ") and " -> " in line
    ]
    return {label.strip(): (rest.split("  (")[0], rest.split("  (", 1)[1][:-1])
            for label, rest in rows}  # fmt: skip


def test_info_reports_each_cells_path(capsys):
    assert main(["info", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "CPU: " in out and "threads: 1 thread (as asked" in out
    paths = info_paths(out)
    # The suite runs with measuring off (conftest): the fixed rules, said to be such.
    assert paths["lstm"] == ("fused", "fixed rule (measuring off)")
    assert paths["lstm peephole=True"] == ("custom", "torch has no fused op for this cell")
    assert paths["gru"] == ("custom", "fixed rule (measuring off)")  # B*H above the threshold
    assert paths["gru reset_after=False"][0] == "custom"


def test_info_paths_times_the_cells_with_two_paths_and_lists_the_cache(capsys, monkeypatch,
                                                                        tmp_path):  # fmt: skip
    from rnnkit.layers import paths as path_choice

    monkeypatch.setenv("RNNKIT_MEASURE_PATHS", "1")
    monkeypatch.setenv("RNNKIT_CACHE_DIR", str(tmp_path))
    path_choice.CACHE.clear()
    try:
        assert main(["info", "--paths", "--threads", "1"]) == 0
    finally:
        path_choice.CACHE.clear()
    out = capsys.readouterr().out
    paths = info_paths(out)
    for label in ("lstm", "lstm proj_size=128", "gru", "rnn"):
        path, reason = paths[label]
        assert path in ("fused", "custom") and reason.startswith("measured: "), label
    assert paths["lstm norm=layer"] == ("custom", "torch has no fused op for this cell")
    assert "path choices on this machine (4; cache " in out
    assert len(list(tmp_path.glob("paths-*.json"))) == 1


def test_demo_trains_each_cell_and_prints_the_comparison(capsys, tmp_path):
    args = [
        "demo", "--cells", "rnn", "gru", "--seq-len", "4", "--steps", "3", "--hidden", "4",
        "--lr", "1e-2", "--seed", "1", "--threads", "1", "--out", str(tmp_path), "--quiet",
    ]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("model "))
    assert "test MSE" in lines[start] and set(lines[start + 1]) == {"-"}
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(line.split())
    assert [row[0] for row in rows] == ["rnn", "gru"]
    assert (tmp_path / "adding.png").stat().st_size > 0
    for row in rows:
        summary = json.loads((tmp_path / row[0] / "summary.json").read_text())
        assert summary["steps"] == 3 and summary["cell"] == row[0]
        assert float(row[1]) == pytest.approx(summary["test"]["mse"], abs=1e-4)
        config = load_file(tmp_path / row[0] / "config.yaml")
        assert (config.task.seq_len, config.model.hidden, config.train.seed) == (4, 4, 1)
        assert config.optim.lr == 1e-2


def test_train_writes_a_run(run_dir):
    config = load_file(run_dir / "config.yaml")
    # The run records the model --model auto chose (the task's first), not 'auto'.
    assert config == RunConfig().replace(
        task="adding", seq_len=5, cell="gru", hidden=4, steps=4, eval_every=2, batch_size=8,
        valid_size=32, test_size=32, quiet=True, tensorboard=False, out=str(run_dir),
        model="sequence",
    )  # fmt: skip
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["stopped"] == "completed"
    assert not (run_dir / "tensorboard").exists()
    assert (run_dir / "metrics.csv").read_text().count("\n") == 5  # header + 4 steps


def test_train_resume(tmp_path):
    out = str(tmp_path / "run")
    assert main(["train", *TINY, "--out", out]) == 0
    assert main(["train", "--resume", out, "--steps", "6"]) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 6
    assert load_file(tmp_path / "run" / "config.yaml").train.steps == 6


def test_train_refuses_an_existing_run(run_dir, capsys):
    assert main(["train", *TINY, "--out", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit train: error: train.out:") and "already holds a run" in err


def test_print_config_applies_the_file_then_the_flags(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  cell: gru\n  hidden: 8\noptim:\n  lr: 0.01\n  clip: 1.0\n")
    args = ["train", "--config", str(path), "--hidden", "4", "--bidirectional", "--print-config"]
    assert main(args) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = RunConfig().replace(cell="gru", hidden=4, lr=0.01, clip=1.0, bidirectional=True)
    assert printed == expected.to_dict()
    assert printed == resolve(path, {"hidden": 4, "bidirectional": True}).to_dict()
    assert list(tmp_path.iterdir()) == [path]  # nothing trained, nothing written


def test_evaluate_json(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--json"]) == 0
    out = capsys.readouterr().out.splitlines()
    results = json.loads(out[-1])
    assert set(results) == {"valid", "test"}
    summary = json.loads((run_dir / "summary.json").read_text())
    for split in ("valid", "test"):
        assert results[split]["mse"] == pytest.approx(summary[split]["mse"], rel=1e-5)
        assert any(line.strip().startswith(split) for line in out[:-1])


def test_predict_one_line_per_sequence(run_dir, tmp_path, capsys):
    sequences = [
        [[0.5, 1], [0.25, 0], [0.1, 1]],
        [[0.9, 0], [0.3, 1], [0.2, 0], [0.7, 1], [0.4, 0]],
        [[0.6, 1], [0.8, 1]],
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in sequences) + "\n\n")
    assert main(["predict", str(run_dir), "--input", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(sequences)
    _, _, model = load_run(run_dir)
    for line, seq in zip(lines, sequences, strict=True):
        with torch.no_grad():
            alone = model(torch.tensor([seq], dtype=torch.float32)).item()  # no padding
        assert json.loads(line)["prediction"] == pytest.approx(alone, abs=2e-6)


def test_predict_writes_to_a_file(run_dir, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text("[[0.5, 1], [0.25, 1]]\n")
    out = tmp_path / "out.jsonl"
    assert main(["predict", str(run_dir), "--input", str(path), "--output", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 1
    assert "prediction" in json.loads(out.read_text())


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("[[0.5, 1], [0.2]]", "step 1 should be 2 number(s), got [0.2]"),
        ("[[0.5, 1], [0.2, 0]", "malformed JSON"),
        ("[]", "expected a non-empty list of steps"),
        ('[[0.5, "a"]]', "step 0 should be 2 number(s)"),
    ],
)
def test_predict_names_the_bad_line(run_dir, tmp_path, capsys, line, message):
    path = tmp_path / "in.jsonl"
    path.write_text(f"[[0.5, 1], [0.25, 1]]\n{line}\n")
    assert main(["predict", str(run_dir), "--input", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path}:2: " in captured.err and message in captured.err
    assert captured.out == ""


def test_info_of_a_run(run_dir, capsys):
    assert main(["info", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"run {run_dir}")
    assert "model: name=sequence, cell=gru, hidden=4" in out
    assert "last checkpoint: step 4 (" in out
    assert "best checkpoint: step " in out
    assert "adding gru: 4 steps" in out


def test_missing_run_dir_is_a_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope"
    for command in ("evaluate", "info", "predict"):
        extra = ["--input", "x.jsonl"] if command == "predict" else []
        assert main([command, str(missing), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rnnkit {command}: error: {missing}")
        assert err.count("\n") == 1


@pytest.mark.parametrize(
    "command", [None, "demo", "train", "evaluate", "predict", "info", "export"]
)
def test_help_exits_zero(command, capsys):
    with pytest.raises(SystemExit) as info:
        main(([command] if command else []) + ["--help"])
    assert info.value.code == 0
    assert "usage: rnnkit" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["train", "--hidden", "abc"],
            "argument --hidden: expected an integer or one of 'auto', got 'abc'",
        ),
        (["train", "--cell", "gur"], "argument --cell: expected one of 'rnn', 'lstm', 'gru'"),
        (["train", "--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
        (["demo", "--steps", "x"], "argument --steps: invalid int value: 'x'"),
        (["evaluate", "r", "--checkpoint", "worst"], "argument --checkpoint: invalid choice"),
    ],
)
def test_bad_flag_values_exit_2_naming_the_flag(args, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_invalid_combination_exits_2_naming_the_field(tmp_path, capsys):
    out = str(tmp_path / "r")
    assert main(["train", "--optimizer", "sgd", "--nesterov", "--out", out]) == 2
    err = capsys.readouterr().err
    assert "rnnkit train: error: optim.nesterov: needs optimizer 'sgd' with momentum > 0" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("fmt", "suffix"), [("torchscript", ".pt"), ("onnx", ".onnx")])
def test_export(run_dir, tmp_path, capsys, fmt, suffix):
    pytest.importorskip("rnnkit.export")
    if fmt == "onnx":
        pytest.importorskip("onnx")
    path = tmp_path / f"model{suffix}"
    assert main(["export", str(run_dir), "--format", fmt, "--output", str(path)]) == 0
    assert path.is_file() and path.stat().st_size > 0
    assert "wrote" in capsys.readouterr().out
