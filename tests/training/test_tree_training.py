"""Tree tasks in the trainer: Tree-LSTM and leaf-sequence runs on listops and treebank files end
to end (summary, model label, a loaded run scores the same, a treebank run loads without its
files), exact resume, the config checks and the command line's tree flags and refusals."""

import csv
import json
import os

import pytest
import torch
import yaml

from rnnkit.cli.main import main
from rnnkit.text.parallel import DataError
from rnnkit.training import ConfigError, RunConfig, Trainer, evaluate, train
from rnnkit.training.trainer import load_run

TREEBANK = [
    "(3 (2 It) (4 (2 's) (3 (2 very) (3 good))))",
    "(3 (3 nice) (2 film))",
    "(1 (1 bad) (2 film))",
    "(2 (2 a) (2 film))",
    "(4 (4 great) (3 (2 and) (3 fun)))",
    "(0 (0 awful) (1 (2 and) (1 dull)))",
    "(3 (2 a) (3 (3 good) (2 film)))",
]
VALID = ["(3 (3 good) (2 film))", "(1 (0 awful) (2 film))", "(2 (2 a) (2 plot))"]


def tiny(tmp_path, name="run", **overrides) -> RunConfig:
    """A listops run small enough for a unit test: 200 expressions of <= 12 tokens, H=8, 4 steps,
    evaluated in batches smaller than the held-out sets."""
    base = dict(
        task="listops",
        train_size=200,
        seq_len=12,
        valid_size=30,
        test_size=30,
        hidden=8,
        lr=1e-2,
        steps=4,
        batch_size=16,
        eval_every=2,
        eval_batch_size=16,
        quiet=True,
        tensorboard=False,
        out=str(tmp_path / name),
    )
    return RunConfig().replace(**{**base, **overrides})


def write(path, lines) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def tiny_trees(tmp_path, name="run", **overrides) -> RunConfig:
    """A trees run on the seven-sentence treebank above, written to ``tmp_path``."""
    files = {
        "data": write(tmp_path / "train.txt", TREEBANK),
        "valid": write(tmp_path / "valid.txt", VALID),
    }
    return tiny(tmp_path, name, task="trees", batch_size=4, **files, **overrides)


def csv_rows(run_dir):
    with (run_dir / "metrics.csv").open(newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def assert_reloads_to_the_same_scores(run):
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary == run.summary
    _, task, model = load_run(run.run_dir)
    for name, p in run.model.state_dict().items():
        assert torch.equal(p, model.state_dict()[name]), name
    for split in ("valid", "test"):
        again = evaluate(model, task, split, batch_size=run.config.train.eval_batch_size)
        assert again == pytest.approx(summary[split], rel=1e-6), split


# -- listops end to end ----------------------------------------------------------------------

LISTOPS_MODELS = {
    "tree-lstm childsum": ({"model": "tree-lstm"}, "tree-lstm (childsum)", "level-by-level"),
    "tree-lstm nary": (
        {"model": "tree-lstm", "tree_cell": "nary"}, "tree-lstm (nary)", "level-by-level"
    ),
    "tree-lstm nary operator": (
        {"model": "tree-lstm", "tree_cell": "nary", "tree_form": "operator"},
        "tree-lstm (nary)",
        "level-by-level",
    ),
    "sequence lstm": ({}, "lstm", None),
    "sequence bidirectional attention": (
        {"bidirectional": True, "pooling": "attention", "embed": 6}, "lstm", None
    ),
}  # fmt: skip


@pytest.mark.parametrize("variant", list(LISTOPS_MODELS))
def test_listops_run_end_to_end(tmp_path, variant):
    overrides, label, path = LISTOPS_MODELS[variant]
    run = train(tiny(tmp_path, **overrides))
    summary = run.summary
    assert summary["task"] == "listops" and summary["cell"] == label
    assert summary["steps"] == 4 and summary["stopped"] == "completed"
    if path is not None:
        assert summary["path"] == path
    for split in ("valid", "test"):
        assert set(summary[split]) == {"accuracy", "loss"}
        assert 0.0 <= summary[split]["accuracy"] <= 1.0
    assert summary["baseline"] == run.task.baseline
    assert summary["baseline_label"] == "majority-class baseline"
    columns, rows = csv_rows(run.run_dir)
    assert columns[-2:] == ["valid_loss", "valid_accuracy"]
    assert [r["valid_accuracy"] != "" for r in rows] == [False, True, False, True]
    assert_reloads_to_the_same_scores(run)


def test_tree_lstm_arity_follows_the_tree_form(tmp_path):
    binary = Trainer(tiny(tmp_path, "b", model="tree-lstm", tree_cell="nary"))
    operator = Trainer(
        tiny(tmp_path, "o", model="tree-lstm", tree_cell="nary", tree_form="operator")
    )
    assert binary.model.encoder.cell.arity == 2
    assert operator.model.encoder.cell.arity == 5


def test_embed_sizes_the_token_embedding(tmp_path):
    tree = Trainer(tiny(tmp_path, "t", model="tree-lstm", embed=6))
    assert tree.model.encoder.embed.weight.shape == (len(tree.task.vocab), 6)
    sequence = Trainer(tiny(tmp_path, "s", embed=6))
    sizes = {p.shape for p in sequence.model.parameters()}
    assert (len(sequence.task.vocab), 6) in sizes


# -- treebank files --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "label"),
    [
        ({"model": "tree-lstm"}, "tree-lstm (childsum)"),
        ({"model": "tree-lstm", "tree_cell": "nary", "classes": "binary"}, "tree-lstm (nary)"),
        ({"cell": "gru", "bidirectional": True, "pooling": "attention"}, "gru"),
    ],
)
def test_trees_run_loads_without_its_files(tmp_path, overrides, label):
    run = train(tiny_trees(tmp_path, **overrides))
    assert run.summary["task"] == "trees" and run.summary["cell"] == label
    assert run.summary["test"] == run.summary["valid"]  # no --test: the validation set
    classes = 2 if overrides.get("classes") == "binary" else 5
    assert run.task.output_size == classes
    # The validation roots are 3 1 2 (binary: 1 0, the neutral one dropped); training's
    # majority is 3 (binary: 1).
    assert run.summary["baseline"]["accuracy"] == pytest.approx(1 / 2 if classes == 2 else 1 / 3)
    os.remove(tmp_path / "train.txt")
    os.remove(tmp_path / "valid.txt")
    _, task, model = load_run(run.run_dir)
    assert task.vocab.itos == run.task.vocab.itos
    assert task.output_size == classes
    for name, p in run.model.state_dict().items():
        assert torch.equal(p, model.state_dict()[name]), name
    # Scoring needs the files again.
    write(tmp_path / "valid.txt", VALID)
    again = evaluate(model, task, "valid", batch_size=run.config.train.eval_batch_size)
    assert again == pytest.approx(run.summary["valid"], rel=1e-6)


def test_trees_training_loss_covers_every_labelled_node(tmp_path):
    trainer = Trainer(tiny_trees(tmp_path, model="tree-lstm"))
    x, y = trainer.task.train_batch(1, 4, 0)
    with torch.no_grad():
        output = trainer.model(x)
    assert output.shape == (x.num_nodes, 5)
    labelled = y.labels >= 0
    expected = torch.nn.functional.cross_entropy(output[labelled], y.labels[labelled])
    assert trainer.task.loss(output, y).item() == pytest.approx(expected.item(), rel=1e-6)


# -- exact resume ----------------------------------------------------------------------------


def test_tree_lstm_resume_continues_exactly(tmp_path, monkeypatch):
    """An 8-step Tree-LSTM run interrupted after step 4's checkpoint and resumed matches the run
    that was never interrupted, dropout included (it draws from the restored RNG)."""
    options = dict(model="tree-lstm", steps=8, eval_every=4, dropout=0.2)
    whole = train(tiny(tmp_path, "whole", **options))

    step = Trainer.train_step

    def crash_after_four(self, x, y):
        if self.step > 4:
            raise KeyboardInterrupt
        return step(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", crash_after_four)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(tmp_path, "half", **options))
    monkeypatch.setattr(Trainer, "train_step", step)
    resumed = train(resume=tmp_path / "half", steps=8)

    assert [r["step"] for r in resumed.history] == list(range(1, 9))
    for key in ("loss", "grad_norm", "valid_loss", "valid_accuracy"):
        assert [r.get(key) for r in resumed.history] == [r.get(key) for r in whole.history], key
    _, whole_rows = csv_rows(whole.run_dir)
    _, resumed_rows = csv_rows(resumed.run_dir)
    assert [r["loss"] for r in resumed_rows] == [r["loss"] for r in whole_rows]
    assert resumed.summary["test"] == whole.summary["test"]
    assert resumed.summary["valid"] == whole.summary["valid"]


# -- config errors ---------------------------------------------------------------------------


def test_tree_lstm_needs_a_tree_task(tmp_path):
    config = RunConfig().replace(task="adding", model="tree-lstm", out=str(tmp_path / "r"))
    with pytest.raises(ConfigError) as info:
        Trainer(config)
    message = str(info.value)
    assert message == "model.name: task 'adding' builds 'sequence', got 'tree-lstm'"
    assert not (tmp_path / "r").exists()


def test_operator_trees_need_a_tree_lstm(tmp_path):
    with pytest.raises(ConfigError, match=r"^task\.tree_form: 'operator' trees are for --model"):
        Trainer(tiny(tmp_path, tree_form="operator"))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"bidirectional": True}, "model.bidirectional"),
        ({"layers": 2}, "model.layers"),
        ({"pooling": "mean"}, "model.pooling"),
        ({"cell": "gru"}, "model.cell"),
    ],
)
def test_sequence_model_fields_with_a_tree_lstm_are_errors(tmp_path, overrides, field):
    with pytest.raises(ConfigError) as info:
        Trainer(tiny(tmp_path, model="tree-lstm", **overrides))
    assert str(info.value).startswith(f"{field}: not for --model tree-lstm"), str(info.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model", ["tree-lstm", "sequence"])
def test_truncated_bptt_with_a_tree_task_is_an_error(tmp_path, model):
    with pytest.raises(ConfigError) as info:
        Trainer(tiny(tmp_path, model=model, tbptt=4))
    assert str(info.value) == "train.tbptt: not for task 'listops' (a batch of trees is read whole)"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"init": "orthogonal"}, "model.init"),
        ({"forget_bias": 1.0}, "model.forget_bias"),
        ({"peephole": True}, "model.peephole"),
        ({"residual": True}, "model.residual"),
        ({"zoneout": 0.1}, "model.zoneout"),
        ({"variational": True, "dropout": 0.1}, "model.variational"),
    ],
)
def test_sequence_model_fields_a_tree_lstm_would_ignore_are_errors(tmp_path, overrides, field):
    """The Tree-LSTM builds its own cells: runner options it never reads must not pass as if
    they had been applied."""
    with pytest.raises(ConfigError) as info:
        Trainer(tiny(tmp_path, model="tree-lstm", **overrides))
    assert str(info.value).startswith(f"{field}: not for --model tree-lstm"), str(info.value)


def test_tree_cell_with_a_sequence_model_is_an_error(tmp_path):
    """--tree-cell nary with --model sequence would train a plain LSTM labelled as asked."""
    with pytest.raises(ConfigError) as info:
        Trainer(tiny(tmp_path, tree_cell="nary"))
    assert str(info.value) == (
        "task.tree_cell: only for --model tree-lstm, got 'nary' with --model sequence"
    )


def test_binary_split_with_only_neutral_sentences_fails_before_training(tmp_path):
    """Dropping neutral roots can empty a split; that must be said up front, not as a
    ZeroDivisionError at the first validation."""
    neutral = write(tmp_path / "neutral.txt", ["(2 (2 a) (2 film))", "(2 (3 nice) (1 dull))"])
    config = tiny_trees(tmp_path, classes="binary").replace(valid=neutral)
    with pytest.raises((ConfigError, DataError)) as info:
        Trainer(config)
    assert "neutral.txt" in str(info.value)


def test_trees_needs_data_and_valid(tmp_path):
    data = write(tmp_path / "train.txt", TREEBANK)
    with pytest.raises(ConfigError, match=r"^task\.valid: task 'trees' needs --valid FILE"):
        RunConfig().replace(task="trees", data=data)
    with pytest.raises(ConfigError, match=r"^task\.data: task 'trees' needs --data FILE"):
        RunConfig().replace(task="trees", valid=data)
    with pytest.raises(ConfigError) as info:
        RunConfig().replace(task="listops", data=data)
    assert str(info.value) == (
        f"task.data: only for task 'trees' (task 'listops' makes its own data), got {data!r}"
    )


# -- command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "classes"), [("--binary", "binary"), ("--fine-grained", "fine"), (None, "fine")]
)
def test_classes_aliases(tmp_path, capsys, flag, classes):
    data = write(tmp_path / "train.txt", TREEBANK)
    args = ["train", "--task", "trees", "--data", data, "--valid", data, "--print-config"]
    assert main(args + ([flag] if flag else [])) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["task"]["classes"] == classes
    assert printed["task"]["data"] == printed["task"]["valid"] == data


def test_the_last_classes_flag_wins(tmp_path, capsys):
    data = write(tmp_path / "train.txt", TREEBANK)
    args = ["train", "--task", "trees", "--data", data, "--valid", data, "--print-config"]
    assert main([*args, "--binary", "--classes", "fine"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["task"]["classes"] == "fine"
    assert main([*args, "--fine-grained", "--binary"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["task"]["classes"] == "binary"


def test_listops_train_size_beyond_what_seq_len_allows_is_a_one_line_error(tmp_path, capsys):
    """Only 400 distinct expressions have 4 tokens: asking for 500 is a config error (exit 2),
    not a ValueError traceback from the generator."""
    args = [
        "train", "--task", "listops", "--seq-len", "4", "--train-size", "500", "--valid-size",
        "10", "--test-size", "10", "--hidden", "8", "--steps", "1", "--quiet",
        "--no-tensorboard", "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit train: error: task.train_size: ")
    assert err.count("\n") == 1


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    args = [
        "train", "--task", "listops", "--model", "tree-lstm", "--tree-cell", "nary",
        "--train-size", "100", "--seq-len", "10", "--valid-size", "20", "--test-size", "20",
        "--hidden", "8", "--steps", "2", "--eval-every", "2", "--batch-size", "8", "--quiet",
        "--no-tensorboard", "--out", str(out),
    ]  # fmt: skip
    assert main(args) == 0
    return out


def test_cli_trains_and_evaluates_a_tree_run(cli_run, capsys):
    summary = json.loads((cli_run / "summary.json").read_text())
    assert summary["cell"] == "tree-lstm (nary)"
    assert main(["evaluate", str(cli_run), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out.splitlines()[-1])
    for split in ("valid", "test"):
        assert scores[split] == pytest.approx(summary[split], rel=1e-6), split


@pytest.mark.parametrize(
    ("command", "extra", "message"),
    [
        ("predict", ["--input", "never-read.jsonl"], "reads trees, not JSON sequences"),
        ("export", ["--format", "onnx"], "export covers sequence models, not listops models"),
    ],
)
def test_predict_and_export_refuse_a_tree_run(cli_run, capsys, command, extra, message):
    assert main([command, str(cli_run), *extra]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith(f"rnnkit {command}: error: ")
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert captured.out == ""
    assert not list(cli_run.glob("model.*"))
