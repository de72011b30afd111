"""The ts-classify task: layouts read alike, padding masked out of every result, the 1-NN
baselines (DTW and Euclidean) against brute-force computations, label and file errors, and a
short training run that learns."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.models import SequenceModel
from rnnkit.tasks import build_task
from rnnkit.tasks.base import stratified_holdout
from rnnkit.tasks.ts_classify import TSClassifyTask, collate
from rnnkit.timeseries import SeriesError
from rnnkit.timeseries.dtw import dtw_distances
from rnnkit.training.config import ConfigError, RunConfig


def waves(n: int, seed: int, *, channels: int = 1) -> tuple[list[np.ndarray], list[str]]:
    """Noisy sine and square waves of random length, phase and period: two classes."""
    rng = np.random.default_rng(seed)
    x, labels = [], []
    for i in range(n):
        T = int(rng.integers(20, 41))
        t = np.arange(T)[:, None] * 2 * np.pi / rng.uniform(8, 14) + rng.uniform(0, 2 * np.pi)
        t = t + np.arange(channels)[None, :]  # channels shifted in phase
        square = i % 2 == 1
        s = np.sign(np.sin(t)) if square else np.sin(t)
        x.append(3 + 2 * s + 0.3 * rng.normal(size=s.shape))
        labels.append("square" if square else "sine")
    return x, labels


def write_wide(path, x, labels) -> str:
    width = max(len(s) for s in x)
    lines = []
    for s, label in zip(x, labels, strict=True):
        cells = [f"{v:.6f}" for v in s[:, 0]] + [""] * (width - len(s))  # trailing gaps
        lines.append(",".join([label, *cells]))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def write_long(path, x, labels, *, time_col="time") -> str:
    C = x[0].shape[1]
    lines = [",".join(["id", time_col, *(f"c{k}" for k in range(C)), "label"])]
    for i, (s, label) in enumerate(zip(x, labels, strict=True)):
        for t in reversed(range(len(s))):  # out of time order on purpose
            lines.append(",".join([f"s{i}", str(t), *(f"{v:.6f}" for v in s[t]), label]))
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def make_task(tmp_path, *, form="wide", n_train=40, n_test=20, channels=1, **kw):
    write = write_wide if form == "wide" else write_long
    train = write(tmp_path / f"train.{form}.csv", *waves(n_train, 0, channels=channels))
    test = write(tmp_path / f"test.{form}.csv", *waves(n_test, 1, channels=channels))
    config = RunConfig().replace(task="ts-classify", data=train, test=test, **kw).task
    task = TSClassifyTask(config)
    task.load()
    return task


def test_wide_and_long_files_give_the_same_task(tmp_path):
    wide, long = make_task(tmp_path), make_task(tmp_path, form="long")
    for split in ("valid", "test"):
        (xw, lw), yw = wide.eval_set(split)
        (xl, ll), yl = long.eval_set(split)
        assert torch.equal(lw, ll) and torch.equal(yw, yl)
        torch.testing.assert_close(xw, xl)
    assert wide.classes == ["sine", "square"] and wide.input_size == 1 and wide.output_size == 2
    assert wide.baseline == long.baseline
    # 10% held out, stratified: 2 of each class's 20 series.
    assert len(wide.data["valid"][1]) == 4 and np.bincount(wide.data["valid"][1]).tolist() == [2, 2]


def test_stratified_holdout_is_proportional_seeded_and_keeps_every_class():
    y = np.array([0] * 50 + [1] * 30 + [2] * 2 + [3])
    held = stratified_holdout(y, 0.1, seed=5)
    assert len(held) == 8 and np.bincount(y[held], minlength=4).tolist() == [5, 3, 0, 0]
    assert np.array_equal(held, stratified_holdout(y, 0.1, seed=5))
    assert not np.array_equal(held, stratified_holdout(y, 0.1, seed=6))
    tiny = np.array([0, 0, 1, 1, 2])
    assert np.bincount(tiny[np.setdiff1d(np.arange(5), stratified_holdout(tiny, 0.5, 0))],
                       minlength=3).min() >= 1  # fmt: skip
    with pytest.raises(SeriesError, match="single training series.*--valid FILE"):
        stratified_holdout(np.array([0, 1, 2]), 0.1, 0)


@pytest.mark.parametrize(
    "cell, bidirectional, pooling",
    [("lstm", False, "last"), ("gru", True, "last"), ("lstm", True, "mean"),
     ("gru", False, "max"), ("rnn", False, "attention")],
)  # fmt: skip
def test_padding_is_masked_not_read(cell, bidirectional, pooling):
    """A series' output is the same alone as batched with longer series, whatever the padding
    holds."""
    torch.manual_seed(0)
    model = SequenceModel(3, 4, cell=cell, hidden_size=8, bidirectional=bidirectional,
                          pooling=pooling).eval()  # fmt: skip
    rng = np.random.default_rng(0)
    series = [rng.normal(size=(T, 3)).astype(np.float32) for T in (5, 12, 9, 1)]
    x, lengths = collate(series)
    garbage = torch.from_numpy(rng.normal(scale=1e3, size=x.shape).astype(np.float32))
    pad = torch.arange(x.shape[1])[None, :, None] >= lengths[:, None, None]
    x = torch.where(pad, garbage, x)
    with torch.no_grad():
        batched = model(x, lengths)
        for i, s in enumerate(series):
            alone = model(torch.from_numpy(s)[None], torch.tensor([len(s)]))
            torch.testing.assert_close(batched[i : i + 1], alone, rtol=1e-5, atol=1e-5)


def test_evaluation_does_not_depend_on_batching(tmp_path):
    task = make_task(tmp_path)
    model = SequenceModel(1, 2, cell="gru", hidden_size=8)
    one = task.evaluate(model, "test", batch_size=1)
    assert task.evaluate(model, "test", batch_size=7) == pytest.approx(one, rel=1e-5)


def brute_force_1nn(train_x, train_y, test_x):
    out = []
    for s in test_x:
        best, label = np.inf, None
        for r, y in zip(train_x, train_y, strict=True):
            n = min(len(s), len(r))
            d = np.sqrt(((s[:n] - r[:n]) ** 2).sum() * max(len(s), len(r)) / n)
            if d < best:
                best, label = d, y
        out.append(label)
    return np.array(out)


@pytest.mark.parametrize("how", ["series", "global", "none"])
def test_baselines_are_brute_force_1nn_on_the_same_normalization(how, tmp_path):
    task = make_task(tmp_path, normalize=how, n_train=30, n_test=25)
    (train_x, train_labels), (test_x, test_labels) = waves(30, 0), waves(25, 1)
    # The files hold 6 decimals.
    train_x = [np.round(s, 6) for s in train_x]
    test_x = [np.round(s, 6) for s in test_x]
    if how == "series":
        z = [(s - s.mean(0)) / s.std(0) for s in train_x + test_x]
        train_x, test_x = z[:30], z[30:]
    elif how == "global":
        kept = [train_x[i] for i in range(30) if i not in set(stratified_holdout(
            np.array([lab == "square" for lab in train_labels]), 0.1, 1234))]  # fmt: skip
        stacked = np.concatenate(kept)
        mean, std = stacked.mean(0), stacked.std(0)
        train_x = [(s - mean) / std for s in train_x]
        test_x = [(s - mean) / std for s in test_x]
    predicted = brute_force_1nn(train_x, train_labels, test_x)
    accuracy = float(np.mean(predicted == np.array(test_labels)))
    assert task.baseline["ed_accuracy"] == pytest.approx(accuracy)
    assert 0 < task.baseline["ed_macro_f1"] <= 1
    # The reported baseline: 1-NN DTW, window 10% (tests/timeseries/test_dtw.py holds
    # dtw_distances to the textbook double loop).
    distances = dtw_distances(test_x, train_x, window=0.1)  # (25, 30)
    predicted = np.array(train_labels)[distances.argmin(axis=1)]
    accuracy = float(np.mean(predicted == np.array(test_labels)))
    assert task.baseline["accuracy"] == pytest.approx(accuracy)
    assert 0 < task.baseline["macro_f1"] <= 1


def test_labels_unseen_in_training_name_the_file(tmp_path):
    x, labels = waves(10, 0)
    train = write_wide(tmp_path / "train.csv", x, labels)
    test = write_wide(tmp_path / "odd.csv", x[:3], ["sine", "triangle", "triangle"])
    config = RunConfig().replace(task="ts-classify", data=train, test=test).task
    with pytest.raises(SeriesError, match=r"odd\.csv: label\(s\) 'triangle' \(2 series\) not "
                       r"among the training file's labels: sine, square"):  # fmt: skip
        TSClassifyTask(config).load()


def load_file(path) -> None:
    config = RunConfig().replace(task="ts-classify", data=str(path), test=str(path))
    TSClassifyTask(config.task).load()


@pytest.mark.parametrize(
    "text, error",
    [
        ("id,time,a,b,label\n1,1,0.5,1,x\n1,2,0.7,2,x,9\n",
         r"f\.csv:3: 6 cells, but the header names 5 columns \(a ragged row\)"),
        ("id,time,a,b,label\n1,1,0.5,1,x\n1,2,0.7\n",
         r"f\.csv:3: 3 cells, but the header names 5 columns \(a ragged row\)"),
        ("id,time,a,b,label\n1,1,0.5,1,x\n1,2,,2,x\n", r"f\.csv:3: column 'a': missing value"),
        ("id,time,a,b,label\n1,1,0.5,1,x\n\n1,2,0.7,oops,x\n",
         r"f\.csv:4: column 'b': 'oops' is not a number"),
        ("id,time,a,label\n1,1,0.5,x\n2,1,0.7,\n", r"f\.csv:3: column 'label': missing value"),
        ("a,1,2,3\n,4,5\n", r"f\.csv:2: column 1: empty label"),
        ("a,1,2,3\nb,4,x,6\n", r"f\.csv:2: column 3: 'x' is not a number"),
        ("a,1,2,3\nb,4,,6\n", r"f\.csv:2: column 3: missing value inside the series"),
        # A cell that is not a number on line 1 makes it a header.
        ("a,1,x,3\nb,4,5,6\n", r"f\.csv: no column 'id'.*read as a long-form header"),
    ],
)  # fmt: skip
def test_bad_files_name_the_line_and_column(text, error, tmp_path):
    path = tmp_path / "f.csv"
    path.write_text(text)
    with pytest.raises(SeriesError, match=error):
        load_file(path)


def test_config_needs_data_and_test(tmp_path):
    from rnnkit.tasks.ts_classify import TSClassifyConfig
    from rnnkit.training.trainer import Trainer

    with pytest.raises(ConfigError, match=r"^task\.data: task 'ts-classify' needs --data FILE "
                       r"\(labelled series: UCR wide form"):  # fmt: skip
        RunConfig().replace(task="ts-classify", test="test.csv")
    with pytest.raises(ConfigError, match=r"^task\.test: task 'ts-classify' needs --test FILE"):
        RunConfig().replace(task="ts-classify", data="train.csv")
    with pytest.raises(ConfigError, match=r"^task\.normalize: expected one of"):
        RunConfig().replace(task="ts-classify", data="a", test="b", normalize="minmax")
    config = RunConfig().replace(task="ts-classify", data="a", test="b", label_col="y")
    assert isinstance(config.task, TSClassifyConfig) and config.task.label_col == "y"
    with pytest.raises(ConfigError, match=r"^horizon: not a field of task 'ts-classify'"):
        config.replace(horizon=3)
    # Refused before any file is read (these do not exist).
    with pytest.raises(ConfigError, match=r"^train\.tbptt: not for task 'ts-classify' \(its "
                       "series have their own lengths"):  # fmt: skip
        Trainer(config.replace(tbptt=5, out=str(tmp_path)))


def test_time_column_and_state_rebuild_the_task_without_data(tmp_path):
    x, labels = waves(20, 0, channels=2)
    train = write_long(tmp_path / "train.csv", x, labels, time_col="date")
    config = RunConfig().replace(task="ts-classify", data=train, test=train,
                                 normalize="global").task  # fmt: skip
    task = build_task(config)
    task.load()
    assert task.input_size == 2 and task.names == ["c0", "c1"]
    state = json.loads(json.dumps(task.state_dict()))
    assert state["classes"] == ["sine", "square"] and len(state["mean"]) == 2
    again = build_task(dataclasses.replace(config, data="gone.csv"), state)
    assert again.input_size == 2 and again.output_size == 2  # no file read
    raw = [torch.from_numpy(s) for s in x[:3]]
    for a, b in zip(again.prepare(raw), task.data["train"][0][:3], strict=False):
        assert a.shape == (len(b), 2)
    np.testing.assert_allclose(again.prepare(raw)[0].numpy(),
                               ((x[0] - task.stats[0]) / task.stats[1]), rtol=1e-5)  # fmt: skip


def test_training_from_the_command_line_beats_chance(tmp_path):
    train = write_wide(tmp_path / "train.csv", *waves(120, 0))
    test = write_long(tmp_path / "test.csv", *waves(60, 1))  # layouts may differ per file
    out = tmp_path / "run"
    code = main(["train", "--task", "ts-classify", "--data", train, "--test", test,
                 "--cell", "gru", "--hidden", "24", "--lr", "1e-2", "--steps", "200",
                 "--batch-size", "32", "--eval-every", "50", "--device", "cpu", "--threads", "1",
                 "--quiet", "--no-tensorboard", "--out", str(out)])  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"]["accuracy"] >= 0.85 and summary["test"]["macro_f1"] >= 0.85
    assert summary["baseline_label"] == "1-NN DTW (window 10%), on the test set"
    assert set(summary["baseline"]) == {"accuracy", "macro_f1", "ed_accuracy", "ed_macro_f1"}
    assert "12 validation held out" in summary["description"]
    # predict normalizes raw series as training did (the task's saved state, no data files).
    x, labels = waves(20, 2)
    seqs = tmp_path / "seqs.jsonl"
    seqs.write_text("".join(json.dumps(s[:, 0].tolist()) + "\n" for s in x))
    assert main(["predict", str(out), "--input", str(seqs), "--output", str(tmp_path / "p")]) == 0
    got = [json.loads(line)["label"] for line in (tmp_path / "p").read_text().splitlines()]
    assert np.mean(np.array(got) == (np.array(labels) == "square")) >= 0.9
