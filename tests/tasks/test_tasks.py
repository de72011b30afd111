"""The built-in tasks: batch shapes, determinism from ``(seed, step)``, the structure each paper
prescribes, and metrics and baselines checked against hand-built predictors."""

import collections
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_digits as sklearn_digits

from rnnkit.tasks import build_task
from rnnkit.tasks.adding import BASELINE_MSE, AddingTask, adding_batch
from rnnkit.tasks.base import classification_scores
from rnnkit.tasks.copy import CopyTask, copy_batch
from rnnkit.tasks.digits import DigitsTask
from rnnkit.training.config import task_config

T = 15  # adding and copy length; copy sequences have T + 20 steps
SIZES = {"valid_size": 64, "test_size": 48}


def make(name):
    if name == "adding":
        return AddingTask(T, seed=3, **SIZES)
    if name == "copy":
        return CopyTask(T, seed=3, **SIZES)
    return DigitsTask(permuted=name == "permuted_digits", seed=3)


NAMES = ["adding", "copy", "digits", "permuted_digits"]
# name -> (x shape without B, x dtype, y shape without B, y dtype, model output without B)
SHAPES = {
    "adding": ((T, 2), torch.float32, (), torch.float32, (1,)),
    "copy": ((T + 20, 10), torch.float32, (T + 20,), torch.long, (T + 20, 10)),
    "digits": ((64, 1), torch.float32, (), torch.long, (10,)),
    "permuted_digits": ((64, 1), torch.float32, (), torch.long, (10,)),
}


# --- every task ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_batches_have_the_documented_shapes_and_dtypes(name):
    task = make(name)
    x_shape, x_dtype, y_shape, y_dtype, out_shape = SHAPES[name]
    x, y = task.train_batch(0, 5, seed=1)
    assert (x.shape, x.dtype, y.shape, y.dtype) == ((5, *x_shape), x_dtype, (5, *y_shape), y_dtype)
    assert task.name == name
    assert (task.input_size, task.output_size) == (x_shape[-1], out_shape[-1])
    for split in ("valid", "test"):
        x, y = task.eval_set(split)
        assert x.shape[1:] == x_shape and x.dtype == x_dtype
        assert y.shape == (len(x), *y_shape) and y.dtype == y_dtype


@pytest.mark.parametrize("name", NAMES)
def test_train_batches_are_a_function_of_seed_and_step(name):
    task = make(name)
    x, y = task.train_batch(7, 16, seed=1)
    x2, y2 = make(name).train_batch(7, 16, seed=1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(x, task.train_batch(8, 16, seed=1)[0])
    assert not torch.equal(x, task.train_batch(7, 16, seed=2)[0])


@pytest.mark.parametrize("name", NAMES)
def test_valid_and_test_sets_are_fixed_and_differ(name):
    task = make(name)
    valid, test = task.eval_set("valid"), task.eval_set("test")
    assert torch.equal(valid[0], make(name).eval_set("valid")[0])
    n = min(len(valid[0]), len(test[0]))
    assert not torch.equal(valid[0][:n], test[0][:n])


@pytest.mark.parametrize("name", NAMES)
def test_score_reports_every_metric_and_its_loss_is_the_training_loss(name):
    task = make(name)
    x, y = task.eval_set("valid")
    output = torch.randn(len(x), *SHAPES[name][4])
    scores = task.score(output, y)
    assert set(scores) == set(task.metrics) | {"loss"}
    assert scores["loss"] == pytest.approx(task.loss(output, y).item(), rel=1e-6)
    assert set(task.baseline) == set(task.metrics)
    assert task.target is not None and task.target[0] in task.metrics


@pytest.mark.parametrize("name", NAMES)
def test_build_task_makes_the_named_task_from_its_config(name):
    fields = {"seq_len": 12, "valid_size": 5, "test_size": 6} if name in ("adding", "copy") else {}
    task = build_task(task_config(name, data_seed=9, **fields))
    assert task.name == name and task.seed == 9
    expected = {"adding": AddingTask, "copy": CopyTask}.get(name, DigitsTask)
    assert type(task) is expected
    if name in ("adding", "copy"):
        assert task.seq_len == 12
        assert len(task.eval_set("valid")[0]) == 5 and len(task.eval_set("test")[0]) == 6
    else:
        assert task.permuted == (name == "permuted_digits")


# --- adding -------------------------------------------------------------------------------


def test_adding_marks_one_value_in_each_half_and_targets_their_sum():
    x, y = adding_batch(200, 11, generator=torch.Generator().manual_seed(0))
    values, markers = x[..., 0], x[..., 1]
    assert ((markers == 0) | (markers == 1)).all()
    assert (markers[:, :5].sum(1) == 1).all() and (markers[:, 5:].sum(1) == 1).all()
    assert ((values >= 0) & (values < 1)).all()
    torch.testing.assert_close(y, (values * markers).sum(1))


def test_adding_constant_predictor_scores_the_baseline():
    task = AddingTask(10, seed=0)
    x, y = adding_batch(20000, 10, generator=torch.Generator().manual_seed(0))
    scores = task.score(torch.ones(len(y), 1), y)
    assert abs(scores["mse"] - 1 / 6) < 0.01
    assert task.baseline == {"mse": BASELINE_MSE} and BASELINE_MSE == pytest.approx(1 / 6)
    assert task.reached({"mse": 0.009}) and not task.reached({"mse": scores["mse"]})


def test_adding_rejects_a_sequence_too_short():
    with pytest.raises(ValueError, match="seq_len"):
        AddingTask(1)


# --- copy ---------------------------------------------------------------------------------


def test_copy_inputs_hold_symbols_blanks_and_one_delimiter_where_the_paper_puts_them():
    x, y = CopyTask(T).train_batch(0, 300, seed=1)
    assert ((x == 0) | (x == 1)).all() and (x.sum(-1) == 1).all()  # one-hot
    inputs = x.argmax(-1)  # (B, T + 20)
    symbols = inputs[:, :10]
    assert ((symbols >= 1) & (symbols <= 8)).all()
    assert set(symbols.unique().tolist()) == set(range(1, 9))
    assert (inputs[:, 10 + T - 1] == 9).all()
    rest = torch.cat([inputs[:, 10 : 10 + T - 1], inputs[:, 10 + T :]], dim=1)
    assert rest.shape[1] == T - 1 + 10 and (rest == 0).all()
    assert (y[:, : T + 10] == 0).all()
    assert torch.equal(y[:, -10:], symbols)


def test_copy_batch_counts_the_blanks_before_the_delimiter():
    x, _ = copy_batch(3, 0, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 21, 10) and (x[:, 10].argmax(-1) == 9).all()
    with pytest.raises(ValueError, match="blanks"):
        copy_batch(3, -1)


def memoryless_logits(n, length):
    """Log-probabilities: blank for sure, then uniform over symbols 1..8 on the last 10 steps."""
    probs = torch.zeros(n, length, 10)
    probs[:, :-10, 0] = 1.0
    probs[:, -10:, 1:9] = 1 / 8
    return probs.log()


def test_copy_memoryless_predictor_scores_the_baseline():
    task = CopyTask(T, seed=0, valid_size=1000)
    x, y = task.eval_set("valid")
    scores = task.score(memoryless_logits(len(y), T + 20), y)
    assert scores["xent"] == pytest.approx(10 * math.log(8) / (T + 20), abs=1e-5)
    assert task.baseline["xent"] == pytest.approx(10 * math.log(8) / (T + 20))
    assert task.baseline["accuracy"] == 1 / 8
    assert abs(scores["accuracy"] - 1 / 8) < 0.02  # argmax of a tie is symbol 1
    assert not task.reached(scores)


def test_copy_accuracy_counts_only_the_recalled_symbols():
    task = CopyTask(T)
    x, y = task.eval_set("test")
    perfect = 20.0 * torch.nn.functional.one_hot(y, 10).float()
    scores = task.score(perfect, y)
    assert scores["accuracy"] == 1.0 and scores["xent"] < 1e-6 and task.reached(scores)
    wrong_blanks = perfect.clone()
    wrong_blanks[:, :-10] = perfect[:, :-10].roll(1, dims=-1)
    assert task.score(wrong_blanks, y)["accuracy"] == 1.0
    half = perfect.clone()
    half[:, -5:] = perfect[:, -5:].roll(1, dims=-1)  # every symbol in the last 5 steps wrong
    assert task.score(half, y)["accuracy"] == 0.5


def test_copy_rejects_a_zero_delay():
    with pytest.raises(ValueError, match="seq_len"):
        CopyTask(0)


# --- digits -------------------------------------------------------------------------------


def test_digits_reads_each_image_row_by_row_scaled_to_unit_range():
    task = DigitsTask(seed=3)
    x, y = task.eval_set("test")
    assert x.min() >= 0 and x.max() == 1.0
    data = sklearn_digits()
    index = task.indices["test"]
    expected = torch.as_tensor(data.data[index.numpy()], dtype=torch.float32) / 16
    assert torch.equal(x.squeeze(-1), expected)
    assert torch.equal(y, torch.as_tensor(data.target[index.numpy()]))


def test_permuted_digits_reorders_the_same_pixels_the_same_way_for_every_image():
    plain, permuted = DigitsTask(seed=3), DigitsTask(permuted=True, seed=3)
    (x, y), (xp, yp) = plain.eval_set("valid"), permuted.eval_set("valid")
    assert torch.equal(y, yp)
    assert torch.equal(x.sort(1).values, xp.sort(1).values)
    assert not torch.equal(x, xp)
    assert torch.equal(permuted.order.sort().values, torch.arange(64))
    assert torch.equal(xp, x[:, permuted.order])  # one order for all images
    assert not torch.equal(permuted.order, DigitsTask(permuted=True, seed=4).order)
    assert torch.equal(plain.order, torch.arange(64))


def test_digits_split_is_disjoint_and_sized_1297_250_250():
    task = DigitsTask(seed=3)
    parts = [task.indices[s] for s in ("train", "valid", "test")]
    assert [len(p) for p in parts] == [1297, 250, 250]
    assert torch.equal(torch.cat(parts).sort().values, torch.arange(1797))
    assert not torch.equal(task.indices["test"], DigitsTask(seed=4).indices["test"])


def test_digits_train_batches_come_from_the_train_split():
    task = DigitsTask(seed=3)
    x, _ = task.train_batch(0, 32, seed=1)
    train = task._gather(task.indices["train"])[0].squeeze(-1)  # (1297, 64)
    matches = (x.squeeze(-1)[:, None, :] == train[None]).all(-1)  # (32, 1297)
    assert matches.any(1).all()


def test_digits_perfect_and_class_prior_predictors():
    task = DigitsTask(seed=3)
    _, y = task.eval_set("test")
    perfect = task.score(20.0 * torch.nn.functional.one_hot(y, 10).float(), y)
    assert perfect["accuracy"] == 1.0 and task.reached(perfect)

    labels = torch.as_tensor(sklearn_digits().target)
    prior = torch.bincount(labels[task.indices["train"]], minlength=10).float() / 1297
    scores = task.score(prior.log().expand(len(y), 10), y)
    assert scores["xent"] == pytest.approx(task.baseline["xent"], abs=1e-5)
    assert 2.2 < task.baseline["xent"] < 2.4  # about log(10): the classes are balanced
    most_common = collections.Counter(y.tolist()).most_common(1)[0][1]
    assert task.baseline["accuracy"] == most_common / 250


@settings(max_examples=300, deadline=None)
@given(pairs=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=1, max_size=80))
def test_classification_scores_equal_scikit_learn(pairs):
    """The numpy macro-F1 is scikit-learn's, bit for bit: every class in either array counts,
    a class never predicted scores 0."""
    from sklearn.metrics import accuracy_score, f1_score

    y, predicted = (np.array(side) for side in zip(*pairs, strict=True))
    scores = classification_scores(predicted, y)
    assert scores["macro_f1"] == f1_score(y, predicted, average="macro", zero_division=0)
    assert scores["accuracy"] == accuracy_score(y, predicted)


def test_classification_scores_refuse_mismatched_or_empty():
    for predicted, y in [([0, 1], [0]), ([], [])]:
        with pytest.raises(ValueError, match="non-empty"):
            classification_scores(np.array(predicted), np.array(y))
