"""The forecast task: no leakage from later periods into training batches, scores on the
original scale, and the three likelihoods' outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.tasks.forecast import ForecastTask
from rnnkit.training.config import RunConfig


def task_for(tmp_path, values, **kw) -> ForecastTask:
    path = tmp_path / "s.csv"
    lines = ["t,y"] + [f"{i},{v}" for i, v in enumerate(values)]
    path.write_text("\n".join(lines) + "\n")
    defaults = dict(task="forecast", data=str(path), time_col="t", target="y", horizon=4,
                    lookback=8, valid_steps=20, test_steps=20)  # fmt: skip
    task = ForecastTask(RunConfig().replace(**{**defaults, **kw}).task)
    task.load()
    return task


def test_training_batches_never_see_validation_or_test_values(tmp_path):
    task = task_for(tmp_path, np.arange(200.0))  # the value is the time index
    end = task.parts.train_end
    assert end == 160
    for step in range(50):
        x, y = task.train_batch(step, 32, seed=0)
        series = y[:, 4].long().numpy()
        seen_in = task.unscale(x.past[..., 0].numpy(), series)
        seen_out = task.unscale(y[:, :4].numpy(), series)
        assert seen_in.max() < end - 0.5 and seen_out.max() < end - 0.5
    _, y_test = task.eval_set("test")
    assert task.unscale(y_test[:, :4].numpy(), np.zeros(len(y_test), int)).min() > 180 - 0.5


@pytest.mark.parametrize("scaling", ["series", "window"])
def test_a_perfect_forecast_scores_zero_and_the_scale_is_undone(scaling, tmp_path):
    rng = np.random.default_rng(0)
    values = 100 + 10 * rng.normal(size=200)
    task = task_for(tmp_path, values, season=1, scaling=scaling)
    x, y = task.eval_set("test")
    scores = task.score(y[:, :4].clone(), y)
    assert scores["mase"] == pytest.approx(0, abs=1e-5) and scores["mae"] == pytest.approx(
        0, abs=1e-4)  # fmt: skip
    off = y[:, :4] + 1.0 / task.scaler.std[0]  # one unit too high on the data's scale
    assert task.score(off, y)["mae"] == pytest.approx(1.0, rel=1e-4)
    # The first test window's targets, back on the data's scale, are the file's values.
    truth = task.unscale(y[:1, :4].numpy(), np.zeros(1, int), y[:1, 5].double().numpy())
    np.testing.assert_allclose(truth[0], values[180:184], rtol=1e-5)
    if scaling == "window":  # inputs end at 0: the model sees changes from the present
        assert (x.past[:, -1, 0] == 0).all()


@pytest.mark.parametrize("likelihood, k", [("none", 1), ("gaussian", 2), ("quantile", 3)])
def test_likelihoods_size_the_head_and_give_intervals(likelihood, k, tmp_path):
    task = task_for(tmp_path, np.sin(np.arange(200) / 5), likelihood=likelihood)
    assert task.output_size == 4 * k
    x, y = task.eval_set("valid")
    out = torch.randn(len(y), task.output_size, requires_grad=True)
    loss = task.loss(out, y)
    loss.backward()
    assert torch.isfinite(loss) and out.grad.abs().sum() > 0
    scores = task.score(out.detach(), y)
    assert ("coverage" in scores) == (likelihood != "none")
    if likelihood != "none":
        point, lower, upper = task.forecast(out.detach())
        assert (lower <= point).all() and (point <= upper).all()
