"""Text classification (--task classify): the held-out split, labels, class weights, unknown
tokens, config refusals, a small end-to-end train, and rnnkit predict through the saved run."""

import json
import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnkit.cli.main import main
from rnnkit.tasks import build_task
from rnnkit.tasks.classify import TextInputs, balanced_weights
from rnnkit.text.parallel import DataError
from rnnkit.text.vocab import UNK
from rnnkit.training import ConfigError, RunConfig, Trainer
from rnnkit.training.config import task_config as config_of

POSITIVE, NEGATIVE = ["good", "great", "superb", "lovely"], ["bad", "awful", "dull", "poor"]
FILLER = "the a movie plot was is and it film story acting but".split()


def sentiment(n: int, seed: int) -> list[tuple[str, str]]:
    """(label, text): filler words with one sentiment word somewhere; the label is its side."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        label = rng.choice(["pos", "neg"])
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 10))]
        cue = rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        words.insert(rng.randrange(len(words) + 1), cue)
        out.append((label, " ".join(words)))
    return out


def write_lines(path, examples):
    path.write_text("".join(f"{label} {text}\n" for label, text in examples))
    return str(path)


def task_config(**overrides):
    return config_of("classify", **overrides)


def test_held_out_validation_is_stratified_and_seeded(tmp_path):
    examples = [("a", f"x{i}") for i in range(60)] + [("b", f"y{i}") for i in range(40)]
    data = write_lines(tmp_path / "d.txt", examples)
    task = build_task(task_config(data=data))
    task.load()
    y_valid = task.data["valid"][1]
    assert len(y_valid) == 10 and np.bincount(y_valid).tolist() == [6, 4]
    assert len(task.data["train"][1]) == 90
    assert task.data["test"] is task.data["valid"]  # no --test: the validation set is reported
    assert "10 validation held out (stratified 10%, data seed 1234)" in task.describe()
    again = build_task(task_config(data=data))
    again.load()
    assert again.data["valid"][0] == task.data["valid"][0]


def test_labels_sorted_numerically_and_unseen_labels_are_errors(tmp_path):
    data = write_lines(tmp_path / "d.txt", [("10", "a"), ("9", "b"), ("2", "c")] * 3)
    valid = write_lines(tmp_path / "v.txt", [("2", "a"), ("7", "b")])
    task = build_task(task_config(data=data, valid=valid, test=data))
    with pytest.raises(DataError, match=r"v\.txt:2: label '7' is not among the training data's"):
        task.load()
    assert task.classes == ["2", "9", "10"]


def test_unknown_tokens_map_to_unk_and_the_vocabulary_follows_min_freq(tmp_path):
    data = write_lines(tmp_path / "d.txt", [("p", "good good film"), ("n", "bad film")] * 2)
    task = build_task(task_config(data=data, valid=data, min_freq=3))
    task.load()
    assert task.vocab.itos[4:] == ["film", "good"]  # 'bad' (2 times) is below min_freq
    assert task.encode("bad film zebra") == [UNK, task.vocab.stoi["film"], UNK]
    assert task.encode("!!!") == [UNK]  # unknown-only text: one <unk>, never empty
    # The codec and labels travel in the state: a rebuilt task needs no data to encode.
    rebuilt = build_task(task_config(data="missing.txt"), task.state_dict())
    assert rebuilt.encode("good zebra") == task.encode("good zebra")
    assert rebuilt.classes == ["n", "p"] and len(rebuilt.vocab) == len(task.vocab)


def test_class_weights_are_inverse_frequency(tmp_path):
    examples = [("a", "x")] * 6 + [("b", "y")] * 3 + [("c", "z")] * 1
    data = write_lines(tmp_path / "d.txt", examples)
    task = build_task(task_config(data=data, valid=data, class_weights="balanced"))
    task.load()
    counts = np.array([6, 3, 1])
    expected = 10 / (3 * counts)  # N / (C * N_c)
    np.testing.assert_allclose(task.weights.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(task.weights.numpy() * counts, [10 / 3] * 3, rtol=1e-6)
    assert balanced_weights(np.array([0, 0, 1]), 3).tolist() == [0.5, 1.0, 0.0]
    logits, y = torch.randn(5, 3), torch.tensor([0, 1, 2, 2, 0])
    manual = F.cross_entropy(logits, y, reduction="none") * task.weights[y]
    torch.testing.assert_close(task.loss(logits, y), manual.sum() / task.weights[y].sum())
    unweighted = build_task(task_config(data=data, valid=data))
    unweighted.load()
    assert unweighted.weights is None


def test_batches_are_bucketed_padded_and_repeatable(tmp_path):
    data = write_lines(tmp_path / "d.txt", sentiment(200, seed=1))
    task = build_task(task_config(data=data, valid=data))
    x, y = task.train_batch(3, 16, seed=5)
    assert isinstance(x, TextInputs) and x.ids.shape[0] == 16 == y.shape[0]
    assert int(x.lengths.max()) == x.ids.shape[1]
    for row, n in zip(x.ids, x.lengths, strict=True):
        assert (row[:n] != 0).all() and (row[n:] == 0).all()
    assert int(x.lengths.max() - x.lengths.min()) <= 2  # one pool sorted by length
    x2, _ = task.train_batch(3, 16, seed=5)
    assert torch.equal(x.ids, x2.ids)


def test_config_needs_data_and_refuses_tbptt(tmp_path):
    with pytest.raises(ConfigError, match=r"^task\.data: task 'classify' needs --data FILE"):
        RunConfig().replace(task="classify")
    with pytest.raises(ConfigError, match=r"^task\.encoding: unknown text encoding 'nope'"):
        RunConfig().replace(task="classify", data="d.txt", encoding="nope")
    data = write_lines(tmp_path / "d.txt", sentiment(20, seed=1))
    config = RunConfig().replace(task="classify", data=data, tbptt=5, out=str(tmp_path / "r"))
    with pytest.raises(ConfigError, match=r"^train\.tbptt: not for task 'classify'"):
        Trainer(config)
    with pytest.raises(ConfigError, match=r"^model\.name: task 'classify' builds 'sequence'"):
        Trainer(config.replace(tbptt=0, model="tree-lstm"))
    with pytest.raises(ConfigError, match=r"^crf: not a field of task 'classify'"):
        config.replace(crf=True)


def test_pretrained_vectors_fill_the_table(tmp_path):
    data = write_lines(tmp_path / "d.txt", sentiment(20, seed=1))
    vectors = tmp_path / "v.txt"
    vectors.write_text("2 3\ngood 1 2 3\nbad -1 -2 -3\n")  # word2vec header, then vectors
    config = RunConfig().replace(task="classify", data=data, embeddings=str(vectors), hidden=4,
                                 quiet=True, out=str(tmp_path / "r"))  # fmt: skip
    trainer = Trainer(config)
    assert trainer.config.task.embed == 3  # the file's dimension, saved with the run
    table = trainer.model.embed.weight
    assert table.shape == (len(trainer.task.vocab), 3)
    torch.testing.assert_close(table[trainer.task.vocab.stoi["bad"]], torch.tensor([-1.0, -2, -3]))
    with pytest.raises(ConfigError, match=r"^task\.embed: 5 differs from the 3 dimensions of "):
        Trainer(config.replace(embed=5, out=str(tmp_path / "r2")))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small bidirectional LSTM with max pooling, trained for a few seconds."""
    root = tmp_path_factory.mktemp("classify")
    train = write_lines(root / "train.txt", sentiment(600, seed=1))
    test = write_lines(root / "test.txt", sentiment(200, seed=2))
    config = RunConfig().replace(
        task="classify", data=train, test=test, cell="lstm", bidirectional=True, pooling="max",
        embed=16, hidden=16, dropout=0.1, lr=1e-2, steps=80, eval_every=40, batch_size=32,
        device="cpu", quiet=True, tensorboard=False, out=str(root / "run"),
    )  # fmt: skip
    return Trainer(config).fit(), test


def test_training_learns_the_sentiment_words(trained):
    run, _ = trained
    assert run.summary["test"]["accuracy"] > 0.95
    assert run.summary["test"]["macro_f1"] > 0.95
    assert run.summary["baseline"]["accuracy"] < 0.6  # the majority class
    assert run.summary["path"] == "fused"


def test_predict_round_trips_through_the_saved_run(trained, tmp_path, capsys):
    run, test = trained
    lines = open(test).read().splitlines()
    labels, texts = zip(*(line.split(" ", 1) for line in lines), strict=True)
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out.jsonl"
    data = run.run_dir.parent / "train.txt"
    data.rename(tmp_path / "train.txt")  # a saved run predicts without its data
    try:
        args = ["predict", str(run.run_dir), "--input", str(source), "--output", str(out)]
        assert main([*args, "--batch-size", "64"]) == 0
    finally:
        (tmp_path / "train.txt").rename(data)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(texts)
    assert list(rows[0]["probabilities"]) == ["neg", "pos"]
    for row in rows:
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-4
        assert row["label"] == max(row["probabilities"], key=row["probabilities"].get)
    # The same labels as the task's own evaluation of the test set, and its accuracy.
    ids, _ = run.task.data["test"]
    predicted = run.task.logits(run.model, ids).argmax(-1).tolist()
    assert [r["label"] for r in rows] == [run.task.classes[k] for k in predicted]
    accuracy = np.mean([r["label"] == gold for r, gold in zip(rows, labels, strict=True)])
    assert accuracy == pytest.approx(run.summary["test"]["accuracy"])


def test_predict_refuses_empty_lines(trained, tmp_path, capsys):
    run, _ = trained
    source = tmp_path / "texts.txt"
    source.write_text("fine film\n\nbad\n")
    assert main(["predict", str(run.run_dir), "--input", str(source)]) == 2
    assert "texts.txt:2: empty line (expected one text per line)" in capsys.readouterr().err


def test_export_refuses_a_text_classifier(trained, capsys):
    run, _ = trained
    assert main(["export", str(run.run_dir), "--format", "torchscript"]) == 2
    assert "export covers sequence models, not classify models" in capsys.readouterr().err
